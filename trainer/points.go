package trainer

import (
	"context"
	"fmt"
	"math"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// FitPoints builds the points baseline from a rules file (YAML or JSON, see
// model.ParsePointsRules): it compiles the rules against spec and fits the
// calibration the file names (Platt by default, or isotonic) on held-out
// rows and labels. The points themselves are not learned: they are the
// marketing team's guesses, and measuring what those guesses are worth is
// the baseline's job. Only the map from points to a probability is fitted,
// so that the baseline's scores can be compared with the learned families'
// on the same scale. Without a file, Train learns the points instead (see
// LearnPoints) and builds them through this same function.
func FitPoints(rulesFile []byte, spec *model.FeatureSpec, heldOutRows []float64, labels []bool) (*model.Points, *model.Calibration, error) {
	rules, err := model.ParsePointsRules(rulesFile)
	if err != nil {
		return nil, nil, err
	}
	p, err := model.CompilePoints(rules.Rules, spec)
	if err != nil {
		return nil, nil, err
	}
	w := spec.Width()
	if len(heldOutRows) != len(labels)*w {
		return nil, nil, leadscore.InvalidField("held_out_rows", len(heldOutRows), fmt.Sprintf("must be %d rows of %d features", len(labels), w))
	}
	raw := make([]float64, len(labels))
	for i := range raw {
		row := heldOutRows[i*w : (i+1)*w]
		for j, x := range row {
			if math.IsInf(x, 0) {
				return nil, nil, leadscore.InvalidField(fmt.Sprintf("held_out_rows[%d][%d]", i, j), x, "must be finite or missing (NaN)")
			}
		}
		raw[i] = p.Raw(row)
	}
	var cal *model.Calibration
	switch rules.CalibrationMethod() {
	case model.CalibrationIsotonic:
		cal, err = FitIsotonic(raw, labels)
	default:
		cal, err = fitPlattScaled(raw, labels)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("calibrate points rules: %w", err)
	}
	return p, cal, nil
}

// fitPointsFamily builds Train's points model from rulesFile, or, when it
// is nil, from rules LearnPoints learns from the training rows. Learned
// rules are rendered as a rules file and built from it exactly as a
// hand-written one is, so that what `leadscore rules` exports and `train
// --rules` reads back is the model. params notes where the rules came
// from.
func fitPointsFamily(ctx context.Context, d *Data, rulesFile []byte, params map[string]string) (*model.Points, *model.Calibration, error) {
	if rulesFile == nil {
		rules, err := LearnPoints(ctx, d)
		if err != nil {
			return nil, nil, err
		}
		rulesFile = model.FormatPointsRules(rules, "")
		params["points_rules"] = fmt.Sprintf("learned from the training rows: %d rules, %d points double the odds", len(rules.Rules), PointsPerDoubling)
	}
	// The map is fitted on the training rows, so the held-out rows stay
	// unseen and only measure. Learned rules were fitted on those rows
	// too, so their map is fitted in sample: integer points learned with
	// a penalty leave it little to exploit.
	return FitPoints(rulesFile, d.Spec, d.TrainRows, d.TrainLabels)
}

// pointsBaseline learns the points baseline Train stores in a model fitted
// to d: points learned from the same training rows and calibrated on the
// same training rows, so that a backtest judges the model against the
// simple baseline on equal information and never against one that saw
// the rows it is judged on. A model of learned points gets its own
// double. When no points can be learned (no attribute or signal a rule can
// read, say) the model has no baseline and params says why.
func pointsBaseline(ctx context.Context, d *Data, cfg Config, params map[string]string) (*model.Model, error) {
	b, _, err := Train(ctx, d, Config{Family: model.FamilyPoints, Seed: cfg.Seed, Grid: cfg.Grid, NoPointsBaseline: true})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		params["points_baseline"] = "none: " + leadscore.ErrorMessage(err)
		return nil, nil
	}
	return b, nil
}

// fitPlattScaled fits Platt scaling to raw outputs of any scale. Points run
// to tens or hundreds where log-odds stay near zero, and Newton's method
// started at A = 1 overshoots on such inputs; fitting on standardised
// outputs and mapping the parameters back gives the same map, well
// conditioned: A·raw + B = A'·(raw − mean)/sd + B'.
func fitPlattScaled(raw []float64, labels []bool) (*model.Calibration, error) {
	var mean, sq float64
	for _, r := range raw {
		mean += r
	}
	if len(raw) > 0 {
		mean /= float64(len(raw))
	}
	for _, r := range raw {
		sq += (r - mean) * (r - mean)
	}
	sd := 1.0
	if len(raw) > 0 && sq > 0 {
		sd = math.Sqrt(sq / float64(len(raw)))
	}
	z := make([]float64, len(raw))
	for i, r := range raw {
		z[i] = (r - mean) / sd
	}
	c, err := FitPlatt(z, labels)
	if err != nil {
		return nil, err
	}
	c.A, c.B = c.A/sd, c.B-c.A*mean/sd
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("fit platt scaling: %w", err)
	}
	return c, nil
}
