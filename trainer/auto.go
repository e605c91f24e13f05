package trainer

// How Train chooses the family when asked for FamilyAuto, and why:
//
//   - Every family in autoFamilies is fitted on the same inner fold that
//     tuning uses (see tune.go: the latest fifth of the training rows by
//     time, or a seeded random fifth after a random split; never the
//     held-out rows), and judged by the ROC AUC of its raw outputs on the
//     fold's rows. With tuning on, a tuned family is tuned on that fold
//     exactly as Config.Tune would tune it, and its figure is its chosen
//     candidate's; the tuning is then reused by the final fit rather than
//     repeated. A family without tuning (points, or any family with
//     tuning off) is trained by Train on the fold's fitting rows, with the
//     fold's rows as its held-out rows.
//   - A family that cannot be fitted on the fold (the built-in points
//     rules are event-based and compile against no flat table) is reported
//     with its error and takes no part.
//   - The fold is a sample, so two families' fold AUCs differ by noise
//     even when neither ranks better. The noise of a difference is its
//     standard error by DeLong's method on the fold's rows (see
//     evaluator.PairedROCAUC), which accounts for both families ranking the
//     same leads. The choice is the simplest family (points, then
//     logistic, then gbdt) whose fold AUC is within one standard error of
//     the best one's: the one-standard-error rule of Breiman, Friedman,
//     Olshen and Stone's CART. A simpler family explains its scores more
//     plainly and drifts less, so it needs no more than a tie to win.

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/evaluator"
	"github.com/leadscore/leadscore/model"
)

// FamilyAuto asks Train to choose the family on the inner fold of the
// training rows, as auto.go describes, and train it.
const FamilyAuto model.Family = "auto"

// autoFamilies are the families automatic choice tries, simplest first:
// a tie within the fold's noise goes to the earlier one.
var autoFamilies = []model.Family{model.FamilyPoints, model.FamilyLogistic, model.FamilyGBDT}

// autoRule is the choice rule in words, as the report and the artifact
// record it.
const autoRule = "the simplest family (points, then logistic, then gbdt) whose inner-fold ROC AUC is within one standard error of the best one's, " +
	"the standard error being DeLong's for the paired difference of the two AUCs on the fold's rows"

// FamilyChoice says how the family was chosen.
type FamilyChoice struct {
	// Fold and FoldDetail say how the inner fold was taken, as a tuning
	// report does; FoldRows and FoldPositives are the rows judged.
	Fold          string `json:"fold"`
	FoldDetail    string `json:"fold_detail"`
	FitRows       int    `json:"fit_rows"`
	FoldRows      int    `json:"fold_rows"`
	FoldPositives int    `json:"fold_positives"`
	// Rule is the choice rule in words.
	Rule       string            `json:"rule"`
	Candidates []FamilyCandidate `json:"candidates"`
	// Chosen is the family trained; Reason says why it won.
	Chosen model.Family `json:"chosen"`
	Reason string       `json:"reason"`
}

// FamilyCandidate is one family tried on the fold.
type FamilyCandidate struct {
	Family model.Family `json:"family"`
	// Error says why the family could not be fitted on the fold; it then
	// took no part in the choice and the figures below are zero.
	Error string `json:"error,omitempty"`
	// ROCAUC is measured on the fold with the family's raw outputs.
	ROCAUC float64 `json:"roc_auc"`
	// BelowBest is the best family's fold AUC minus this one's, and
	// BelowBestSE the standard error of that difference.
	BelowBest   float64 `json:"below_best"`
	BelowBestSE float64 `json:"below_best_se"`
	// Setting says what was fitted, in words.
	Setting string `json:"setting,omitempty"`
	// Tuning is the family's tuning on the fold, when it was tuned.
	Tuning  *TuningReport `json:"tuning,omitempty"`
	Seconds float64       `json:"seconds"`

	raw []float64
}

// trainAuto chooses the family on the inner fold and trains it with cfg,
// reusing the chosen family's tuning, and records the choice in the
// report and the artifact's parameters.
func trainAuto(ctx context.Context, d *Data, cfg Config) (*model.Model, *Report, error) {
	start := time.Now()
	choice, err := chooseFamily(ctx, d, cfg)
	if err != nil {
		return nil, nil, err
	}
	chosen := time.Since(start)
	cfg.Family = choice.Chosen
	if cfg.Tune != nil {
		t := *cfg.Tune
		for _, c := range choice.Candidates {
			if c.Family == choice.Chosen && c.Tuning != nil {
				t.pretuned = &pretuned{data: d, family: c.Family, report: c.Tuning}
			}
		}
		cfg.Tune = &t
	}
	m, rep, err := Train(ctx, d, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("train the chosen family %s: %w", choice.Chosen, err)
	}
	choice.parameters(m.Metadata.Parameters)
	rep.FamilyChoice = choice
	// The chosen family's tuning was done while choosing: its time is
	// here, not in "fit".
	rep.Timings["choose_family"] = chosen
	rep.Seconds["choose_family"] = chosen.Seconds()
	return m, rep, nil
}

// chooseFamily fits every family of autoFamilies on the inner fold of d
// and chooses one, as auto.go describes.
func chooseFamily(ctx context.Context, d *Data, cfg Config) (*FamilyChoice, error) {
	if cfg.Tune != nil {
		if err := cfg.Tune.check(); err != nil {
			return nil, err
		}
	}
	progress := cfg.Progress
	if progress == nil {
		progress = func(string) {}
	}
	f, err := newInnerFold(d, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("choose the family on the inner fold (or name the family to train): %w", err)
	}
	labels := make([]bool, len(f.valid))
	for k, i := range f.valid {
		labels[k] = d.TrainLabels[i]
	}
	choice := &FamilyChoice{
		Fold: f.method, FoldDetail: f.detail, FitRows: len(f.fit), FoldRows: len(f.valid),
		FoldPositives: count(labels), Rule: autoRule,
	}
	for _, fam := range autoFamilies {
		progress("choosing the family: trying " + string(fam))
		start := time.Now()
		c, err := tryFamily(ctx, d, f, cfg, fam, labels)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			c = FamilyCandidate{Family: fam, Error: err.Error()}
		}
		c.Seconds = time.Since(start).Seconds()
		choice.Candidates = append(choice.Candidates, c)
	}
	if err := choice.choose(labels); err != nil {
		return nil, err
	}
	return choice, nil
}

// tryFamily fits one family on the fold f of d and measures it on the
// fold's rows. Logistic and gbdt are tuned on the fold as Config.Tune
// says, or fitted on its fitting rows with the configured parameters; any
// other family is trained by Train with the fold as its data, so that a
// family Train learns to fit joins the choice as it is.
func tryFamily(ctx context.Context, d *Data, f *innerFold, cfg Config, fam model.Family, labels []bool) (FamilyCandidate, error) {
	c := FamilyCandidate{Family: fam}
	features := d.Spec.Features()
	w := len(features)
	progress := cfg.Progress
	if progress == nil {
		progress = func(string) {}
	}
	gbdt := cfg.GBDT
	if gbdt.Seed == 0 {
		gbdt.Seed = cfg.Seed
	}
	var err error
	switch {
	case fam == model.FamilyLogistic && cfg.Tune != nil:
		c.Tuning, err = tuneLogisticOn(ctx, features, d, f, cfg.Logistic, *cfg.Tune, progress)
	case fam == model.FamilyGBDT && cfg.Tune != nil:
		c.Tuning, err = tuneGBDTOn(ctx, features, d, f, gbdt, *cfg.Tune, progress)
	case fam == model.FamilyLogistic:
		fitX, fitY := rowsOf(d, w, f.fit)
		valX, _ := rowsOf(d, w, f.valid)
		var fit *linearFit
		if fit, err = fitLinear(ctx, features, fitX, fitY, cfg.Logistic); err == nil {
			s := fit.lin.Compile()
			c.raw = make([]float64, len(labels))
			for i := range c.raw {
				c.raw[i] = s.Raw(valX[i*w : (i+1)*w])
			}
			c.Setting = fmt.Sprintf("untuned: C %g, %d knots, up to %d pairs", orDefault(cfg.Logistic.C, 1), cfg.Logistic.Knots, cfg.Logistic.Interactions)
		}
	case fam == model.FamilyGBDT:
		// Untuned early stopping watches the fold, as tuning's does.
		fitX, fitY := rowsOf(d, w, f.fit)
		valX, _ := rowsOf(d, w, f.valid)
		var valid *GBDTValidation
		if gbdt.EarlyStoppingRounds > 0 {
			valid = &GBDTValidation{X: valX, Labels: labels}
		}
		var g *model.GBDT
		if g, _, err = FitGBDT(ctx, fitX, w, features, fitY, valid, gbdt); err == nil {
			c.raw = make([]float64, len(labels))
			err = g.PredictBatchParallel(valX, c.raw, gbdt.Threads)
			c.Setting = fmt.Sprintf("untuned: depth %d, %d trees", cmp.Or(gbdt.MaxDepth, 6), len(g.Trees))
		}
	default:
		c.raw, err = trainOnFold(ctx, d, f, cfg, fam)
		c.Setting = "as configured"
	}
	if err != nil {
		return c, err
	}
	if t := c.Tuning; t != nil {
		c.raw = t.foldRaw
		c.Setting = "tuned: " + describeCandidate(t.Candidates[t.Chosen])
		if t.Candidates[t.Chosen].ROCAUC < MinFoldAUC {
			c.Setting += fmt.Sprintf(" (below fold ROC AUC %.2f, so the final fit falls back to the untuned parameters)", MinFoldAUC)
		}
	}
	c.ROCAUC, err = evaluator.ROCAUC(c.raw, labels)
	return c, err
}

// trainOnFold trains fam with Train on the fold's fitting rows, the fold's
// rows held out, and returns its raw outputs on the fold's rows.
func trainOnFold(ctx context.Context, d *Data, f *innerFold, cfg Config, fam model.Family) ([]float64, error) {
	sub := f.data(d)
	cfg.Family, cfg.Tune, cfg.Refit, cfg.Progress = fam, nil, false, nil
	m, _, err := Train(ctx, sub, cfg)
	if err != nil {
		return nil, err
	}
	s, err := model.NewScorer(m)
	if err != nil {
		return nil, err
	}
	w := d.Spec.Width()
	raw := make([]float64, len(sub.ValidLabels))
	for i := range raw {
		raw[i] = s.Raw(sub.ValidRows[i*w : (i+1)*w])
	}
	return raw, nil
}

// choose applies the rule to the candidates measured, setting Chosen,
// Reason and each candidate's distance from the best.
func (ch *FamilyChoice) choose(labels []bool) error {
	best := -1
	var failed []string
	for i, c := range ch.Candidates {
		if c.Error != "" {
			failed = append(failed, fmt.Sprintf("%s: %s", c.Family, c.Error))
			continue
		}
		if best < 0 || c.ROCAUC > ch.Candidates[best].ROCAUC {
			best = i
		}
	}
	if best < 0 {
		return leadscore.InvalidField("family", string(FamilyAuto), "no family could be fitted on the inner fold ("+strings.Join(failed, "; ")+")")
	}
	b := &ch.Candidates[best]
	chosen := -1
	for i := range ch.Candidates {
		c := &ch.Candidates[i]
		if c.Error != "" {
			continue
		}
		if i != best {
			// With fewer than two won or two other rows on the fold the
			// standard error is undefined; the difference is then taken as
			// it is (no noise), so only an exact tie goes to the simpler family.
			_, _, se, err := evaluator.PairedROCAUC(b.raw, c.raw, labels)
			if err != nil {
				se = 0
			}
			c.BelowBest, c.BelowBestSE = b.ROCAUC-c.ROCAUC, se
		}
		if chosen < 0 && c.BelowBest <= c.BelowBestSE {
			chosen = i
		}
	}
	c := ch.Candidates[chosen]
	ch.Chosen = c.Family
	var others []string
	for i, o := range ch.Candidates {
		switch {
		case i == chosen:
		case o.Error != "":
			others = append(others, fmt.Sprintf("%s could not be fitted", o.Family))
		case i == best:
			others = append(others, fmt.Sprintf("%s ranked it %.4f, %.4f higher, within one standard error (%.4f), so the simpler family wins the tie",
				o.Family, o.ROCAUC, c.BelowBest, c.BelowBestSE))
		case i < chosen:
			others = append(others, fmt.Sprintf("the simpler %s ranked it %.4f, %.4f below the best, beyond one standard error (%.4f)",
				o.Family, o.ROCAUC, o.BelowBest, o.BelowBestSE))
		default:
			others = append(others, fmt.Sprintf("%s ranked it %.4f (%.4f below the best)", o.Family, o.ROCAUC, o.BelowBest))
		}
	}
	ch.Reason = fmt.Sprintf("%s ranked the inner fold's %d rows with ROC AUC %.4f", c.Family, ch.FoldRows, c.ROCAUC)
	if len(others) > 0 {
		ch.Reason += "; " + strings.Join(others, "; ")
	}
	return nil
}

// parameters records the choice in an artifact's metadata parameters.
func (ch *FamilyChoice) parameters(params map[string]string) {
	params["family_choice"] = "auto: " + ch.Reason
	params["family_choice_rule"] = ch.Rule
	params["family_choice_fold"] = ch.Fold + ": " + ch.FoldDetail
	var cands []string
	for _, c := range ch.Candidates {
		if c.Error != "" {
			cands = append(cands, fmt.Sprintf("%s error %s", c.Family, c.Error))
			continue
		}
		cands = append(cands, fmt.Sprintf("%s auc %s below_best %s se %s (%s)", c.Family,
			strconv.FormatFloat(c.ROCAUC, 'f', 4, 64), strconv.FormatFloat(c.BelowBest, 'f', 4, 64),
			strconv.FormatFloat(c.BelowBestSE, 'f', 4, 64), c.Setting))
	}
	params["family_candidates"] = strings.Join(cands, "; ")
}

// data is the fold as a Data of its own: the fitting rows to train on and
// the fold's rows held out.
func (f *innerFold) data(d *Data) *Data {
	w := d.Spec.Width()
	sub := &Data{Spec: d.Spec, Shuffled: d.Shuffled, Start: d.Start, End: d.End, Horizon: d.Horizon}
	sub.TrainRows, sub.TrainLabels = rowsOf(d, w, f.fit)
	sub.ValidRows, sub.ValidLabels = rowsOf(d, w, f.valid)
	if d.TrainTimes != nil {
		sub.TrainTimes = make([]int64, len(f.fit))
		for k, i := range f.fit {
			sub.TrainTimes[k] = d.TrainTimes[i]
		}
	}
	return sub
}

// describeCandidate says what a tuning candidate is, in words.
func describeCandidate(c TuneCandidate) string {
	if c.MaxDepth > 0 {
		return fmt.Sprintf("depth %d, min child weight %g, %d trees", c.MaxDepth, c.MinChildWeight, c.Trees)
	}
	s := fmt.Sprintf("C %g, %d knots", c.C, c.Knots)
	if c.Interactions > 0 {
		s += fmt.Sprintf(", %d of up to %d pairs", c.Pairs, c.Interactions)
	}
	return s
}
