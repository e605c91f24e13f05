package trainer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/evaluator"
	"github.com/leadscore/leadscore/model"
)

// Config says which family to train and how.
type Config struct {
	// Family is the model family, or FamilyAuto to choose it on the inner
	// fold of the training rows (see auto.go).
	Family model.Family
	// Seed drives every random choice; the same seed and data give the
	// same model.
	Seed uint64
	// Logistic, GBDT and PointsRules configure their families. Without
	// PointsRules the points are learned from the training rows (see
	// LearnPoints).
	Logistic    LogisticOptions
	GBDT        GBDTOptions
	PointsRules []byte
	// Calibration is model.CalibrationPlatt (the default) or
	// model.CalibrationIsotonic, for logistic and gbdt; the points rules
	// file names its own. The map is fitted on out-of-fold outputs of the
	// training rows (see oof.go).
	Calibration string
	// CalibrationFolds is the number of out-of-fold models the logistic
	// and gbdt calibration is fitted from; zero means 5, or 3 above
	// 100,000 training rows (see oof.go).
	CalibrationFolds int
	// Grid controls the grid's cut points and policy.
	Grid model.GridOptions
	// Tune, when set, has Train choose the logistic C and knots, or the
	// gbdt depth, min child weight and number of trees, on an inner
	// validation fold of the training rows (never the held-out rows) and
	// refit the choice on all of them; the fields it tunes in Logistic and
	// GBDT are ignored. Points has nothing to tune and ignores it.
	Tune *TuneOptions
	// Refit, for logistic and gbdt, fits the family a second time, with
	// the same (chosen) parameters, on the training and the held-out rows
	// together, after the held-out rows have measured the first fit; the
	// second fit keeps the first one's calibration, fitted on the training
	// rows' out-of-fold outputs, as scikit-learn's
	// CalibratedClassifierCV(ensemble=False) keeps its map (see oof.go for
	// why the held-out rows do not join the map). The model then learns
	// from the latest rows too, which matters when conversion patterns
	// drift, at the price that the held-out figures describe the first
	// fit. Points has nothing to refit and ignores it.
	Refit bool
	// Progress, when set, is told the stage being worked on.
	Progress func(stage string)
	// NoPointsBaseline skips the points baseline Train otherwise learns
	// from the same rows and stores in the model (see pointsBaseline).
	NoPointsBaseline bool
}

// Data is a prepared training set: feature rows of one spec, split into a
// training part the family and its calibration are fitted on and a
// held-out part the validation metrics are measured on, which fits
// nothing (unless Config.Refit folds it into the final fit after
// measuring).
type Data struct {
	Spec        *model.FeatureSpec
	TrainRows   []float64
	TrainLabels []bool
	ValidRows   []float64
	ValidLabels []bool
	// TrainTimes, when set, holds each training row's time in Unix
	// seconds: its snapshot time for a history, its time column for a
	// flat table. Tuning takes its inner fold by it.
	TrainTimes []int64
	// Shuffled says the held-out rows were drawn at random, so an inner
	// fold is drawn at random too rather than taken from the latest rows.
	Shuffled bool
	// Start and End bound the history the rows come from; Horizon is the
	// labels' horizon (zero for a flat table).
	Start, End time.Time
	Horizon    time.Duration
}

// Report says what training did, for the `train --json` summary.
type Report struct {
	Family         model.Family             `json:"family"`
	Features       int                      `json:"features"`
	TrainRows      int                      `json:"train_rows"`
	TrainPositives int                      `json:"train_positives"`
	ValidRows      int                      `json:"valid_rows"`
	ValidPositives int                      `json:"valid_positives"`
	Validation     map[string]float64       `json:"validation"`
	Timings        map[string]time.Duration `json:"-"`
	Seconds        map[string]float64       `json:"seconds"`
	Reliability    []model.ReliabilityBin   `json:"reliability"`
	// FamilyChoice says how the family was chosen when Config.Family was
	// FamilyAuto (see auto.go); Family is then the family chosen.
	FamilyChoice *FamilyChoice `json:"family_choice,omitempty"`
	// Tuning says how the hyperparameters were chosen; nil when they were
	// given.
	Tuning *TuningReport `json:"tuning,omitempty"`
	// Refit says the artifact's family was fitted again on the training
	// and held-out rows (Config.Refit); Validation and Reliability then
	// describe the first fit.
	Refit bool `json:"refit,omitempty"`
	// Calibration says how the calibration map was fitted, and any
	// fallback it took.
	Calibration *CalibrationReport `json:"calibration,omitempty"`
	// Drift compares the held-out rows with the training rows.
	Drift *DriftReport `json:"drift,omitempty"`
}

// Train fits a model of cfg.Family to d: the family on the training rows,
// the calibration on their out-of-fold outputs (see oof.go), the grid on
// the training population, and measures on the held-out rows, which fitted
// none of them, the metrics the artifact reports. With
// cfg.Tune the family's hyperparameters are first chosen on an inner fold
// of the training rows (see tune.go) and recorded in the report and the
// artifact's parameters.
func Train(ctx context.Context, d *Data, cfg Config) (*model.Model, *Report, error) {
	features := d.Spec.Features()
	w := len(features)
	if w == 0 || len(d.TrainRows) != len(d.TrainLabels)*w || len(d.ValidRows) != len(d.ValidLabels)*w {
		return nil, nil, leadscore.InvalidField("data", len(d.TrainRows), fmt.Sprintf("rows must have %d features", w))
	}
	if len(d.ValidLabels) == 0 {
		return nil, nil, leadscore.InvalidField("data", 0, "needs held-out rows to measure the model on")
	}
	if cfg.Family == FamilyAuto {
		return trainAuto(ctx, d, cfg)
	}
	progress := cfg.Progress
	if progress == nil {
		progress = func(string) {}
	}
	tune := cfg.Tune != nil && (cfg.Family == model.FamilyLogistic || cfg.Family == model.FamilyGBDT)
	if tune {
		if err := cfg.Tune.check(); err != nil {
			return nil, nil, err
		}
	}
	rep := &Report{
		Family: cfg.Family, Features: w,
		TrainRows: len(d.TrainLabels), TrainPositives: count(d.TrainLabels),
		ValidRows: len(d.ValidLabels), ValidPositives: count(d.ValidLabels),
		Timings: map[string]time.Duration{}, Seconds: map[string]float64{},
	}
	m := &model.Model{Family: cfg.Family, Spec: d.Spec}
	params := map[string]string{}
	// refit fits the family again on other rows with the parameters the
	// first fit used (set in the family's case below).
	var refit func(rows []float64, labels []bool) error
	// foldFit fits the family with the final fit's parameters on other
	// rows, for the out-of-fold outputs the calibration is fitted on.
	var foldFit foldFitter
	start := time.Now()
	progress("fitting " + string(cfg.Family))
	switch cfg.Family {
	case model.FamilyLogistic:
		opts := cfg.Logistic
		if tune {
			var err error
			if opts, rep.Tuning, err = tuneLogistic(ctx, features, d, opts, cfg.Seed, *cfg.Tune, progress); err != nil {
				return nil, nil, err
			}
			progress("fitting logistic")
		}
		// record notes what a fit holds; untuned plain fits record nothing
		// new, so that their artifacts stay byte for byte what they were
		// before knots and pairs existed.
		record := func(fit *linearFit) {
			m.Logistic = fit.lin
			params["iterations"] = strconv.Itoa(fit.iterations)
			if opts.Knots > 0 {
				params["hinges"] = strconv.Itoa(fit.lin.Encoding.HingeCount())
			}
			delete(params, "pairs")
			if len(fit.lin.Encoding.Pairs) > 0 {
				params["pairs"] = describePairs(features, fit.lin.Encoding.Pairs, fit.pairs)
			}
		}
		fit, err := fitLinear(ctx, features, d.TrainRows, d.TrainLabels, opts)
		if err != nil {
			return nil, nil, err
		}
		record(fit)
		// The out-of-fold models keep the first fit's encoding (its knots
		// and pairs) and fit only their weights, as the gbdt ones keep its
		// tree count: searching pairs again five times would cost more
		// than the fit. The knots are quantiles, which no label moves; the
		// pairs were chosen on all the training rows, fold rows included,
		// a selection the folds share while the weights, which carry the
		// fit, are their own.
		enc := fit.lin.Encoding
		foldFit = func(ctx context.Context, rows []float64, labels []bool) (rawBatch, error) {
			fit, err := fitEncoded(ctx, enc, w, rows, labels, opts)
			if err != nil {
				return nil, err
			}
			s := fit.lin.Compile()
			return func(x, out []float64) error {
				for i := range out {
					out[i] = s.Raw(x[i*w : (i+1)*w])
				}
				return nil
			}, nil
		}
		refit = func(rows []float64, labels []bool) error {
			fit, err := fitLinear(ctx, features, rows, labels, opts)
			if err != nil {
				return err
			}
			record(fit)
			return nil
		}
		params["C"] = strconv.FormatFloat(orDefault(opts.C, 1), 'g', -1, 64)
		if opts.Knots > 0 || tune {
			params["knots"] = strconv.Itoa(opts.Knots)
		}
		if opts.Interactions > 0 || tune {
			params["interactions"] = strconv.Itoa(opts.Interactions)
		}
	case model.FamilyGBDT:
		opts := cfg.GBDT
		if opts.Seed == 0 {
			opts.Seed = cfg.Seed
		}
		// Tuning and early stopping watch a fold of the training rows (the
		// latest snapshots), never the held-out rows: those calibrate the
		// model and measure it, and must stay unseen. Untuned early
		// stopping keeps the model fitted on the other four fifths.
		fitRows, fitLabels := d.TrainRows, d.TrainLabels
		var valid *GBDTValidation
		if tune {
			var err error
			if opts, rep.Tuning, err = tuneGBDT(ctx, features, d, opts, *cfg.Tune, progress); err != nil {
				return nil, nil, err
			}
			params["min_child_weight"] = fmtFloat(orDefault(opts.MinChildWeight, 1))
			params["tune_max_trees"] = strconv.Itoa(cmp.Or(cfg.Tune.MaxTrees, defaultTuneMaxTrees))
			params["tune_early_stopping_rounds"] = strconv.Itoa(cmp.Or(cfg.Tune.EarlyStoppingRounds, defaultTuneEarlyStopping))
			progress("fitting gbdt")
		} else if opts.EarlyStoppingRounds > 0 {
			cut := len(d.TrainLabels) * 4 / 5
			fitRows, fitLabels = d.TrainRows[:cut*w], d.TrainLabels[:cut]
			valid = &GBDTValidation{X: d.TrainRows[cut*w:], Labels: d.TrainLabels[cut:]}
			params["early_stopping_rounds"] = strconv.Itoa(opts.EarlyStoppingRounds)
		}
		g, _, err := FitGBDT(ctx, fitRows, w, features, fitLabels, valid, opts)
		if err != nil {
			return nil, nil, err
		}
		m.GBDT = g
		// The out-of-fold models and the refit keep the tree count the
		// first fit ended with (early stopping may have cut it).
		same := opts
		same.NumTrees, same.EarlyStoppingRounds = len(g.Trees), 0
		foldFit = func(ctx context.Context, rows []float64, labels []bool) (rawBatch, error) {
			g, _, err := FitGBDT(ctx, rows, w, features, labels, nil, same)
			if err != nil {
				return nil, err
			}
			return func(x, out []float64) error { return g.PredictBatchParallel(x, out, same.Threads) }, nil
		}
		refit = func(rows []float64, labels []bool) error {
			g2, _, err := FitGBDT(ctx, rows, w, features, labels, nil, same)
			if err != nil {
				return err
			}
			m.GBDT = g2
			return nil
		}
		params["num_trees"] = strconv.Itoa(len(g.Trees))
		params["max_depth"] = strconv.Itoa(int(orDefault(float64(opts.MaxDepth), 6)))
		params["learning_rate"] = strconv.FormatFloat(orDefault(opts.LearningRate, 0.1), 'g', -1, 64)
		params["categorical_splits"] = cmp.Or(opts.CategoricalSplits, CategoricalOneVsRest)
	case model.FamilyPoints:
		p, cal, err := fitPointsFamily(ctx, d, cfg.PointsRules, params)
		if err != nil {
			return nil, nil, err
		}
		m.Points, m.Calibration = p, cal
		rep.Calibration = &CalibrationReport{
			Method: cal.Method, Rows: len(d.TrainLabels), Positives: rep.TrainPositives,
			FoldDetail: "the rules' points on every training row (the rules were fitted on no rows, so none is out of fold)",
		}
	default:
		return nil, nil, leadscore.InvalidField("family", cfg.Family, "must be auto, points, logistic or gbdt")
	}
	rep.Timings["fit"] = time.Since(start)

	// The calibration is fitted on the training rows' out-of-fold raw
	// outputs (see oof.go); the held-out rows fit nothing.
	start = time.Now()
	progress("calibrating")
	raw := func(s *model.Scorer, rows []float64) []float64 {
		out := make([]float64, len(rows)/w)
		for i := range out {
			out[i] = s.Raw(rows[i*w : (i+1)*w])
		}
		return out
	}
	var folds *calibrationFolds
	var oofRaw []float64
	if m.Calibration == nil {
		var err error
		if folds, err = newCalibrationFolds(d, cfg.CalibrationFolds, cfg.Seed); err != nil {
			return nil, nil, err
		}
		if oofRaw, err = outOfFold(ctx, d, w, folds, foldFit, progress); err != nil {
			return nil, nil, fmt.Errorf("calibrate %s: %w", cfg.Family, err)
		}
		cal, why, err := fitCalibrationMap(cfg.Calibration, oofRaw, d.TrainLabels)
		if err != nil {
			return nil, nil, fmt.Errorf("calibrate %s: %w", cfg.Family, err)
		}
		m.Calibration = cal
		rep.Calibration = &CalibrationReport{
			Method: cal.Method, Folds: len(folds.members), Fold: folds.method,
			FoldDetail: fmt.Sprintf("%s on the out-of-fold raw outputs of the %d training rows: %s",
				cmp.Or(cfg.Calibration, model.CalibrationPlatt), len(d.TrainLabels), folds.detail),
			Rows: len(d.TrainLabels), Positives: rep.TrainPositives,
		}
		if why != "" {
			rep.Calibration.Fallback = fallbackNote(why, latestFoldDrift(folds, oofRaw, d.TrainLabels))
		}
	}
	rep.Timings["calibrate"] = time.Since(start)

	// Held-out metrics, with the calibrated model (the grid does not
	// change a raw output or a probability).
	if m.Grid == nil {
		m.Grid = placeholderGrid()
	}
	s, err := model.NewScorer(m)
	if err != nil {
		return nil, nil, err
	}
	validRaw := raw(s, d.ValidRows)
	validProb := make([]float64, len(validRaw))
	for i, r := range validRaw {
		validProb[i] = m.Calibration.Probability(r)
	}
	rep.Validation = map[string]float64{}
	if auc, err := evaluator.ROCAUC(validRaw, d.ValidLabels); err == nil {
		rep.Validation["roc_auc"] = auc
	}
	if v, err := evaluator.Brier(validProb, d.ValidLabels); err == nil {
		rep.Validation["brier"] = v
	}
	if v, err := evaluator.LogLoss(validProb, d.ValidLabels); err == nil {
		rep.Validation["log_loss"] = v
	}
	bins, ece, err := evaluator.Reliability(validProb, d.ValidLabels, 10)
	if err == nil {
		rep.Validation["ece"] = ece
		for _, b := range bins {
			rep.Reliability = append(rep.Reliability, model.ReliabilityBin(b))
		}
	}
	// The held-out rows against the training rows, both scored out of
	// sample (points rules saw no rows, so their in-sample outputs are).
	trainRaw := oofRaw
	if trainRaw == nil {
		trainRaw = raw(s, d.TrainRows)
	}
	rep.Drift = describeDrift("the training rows", trainRaw, d.TrainLabels, "the held-out rows", validRaw, d.ValidLabels, m.Calibration)
	if cfg.Refit && refit != nil {
		start = time.Now()
		progress("refitting " + string(cfg.Family) + " on the training and held-out rows")
		rows := append(slices.Clip(d.TrainRows), d.ValidRows...)
		labels := append(slices.Clip(d.TrainLabels), d.ValidLabels...)
		if err := refit(rows, labels); err != nil {
			return nil, nil, fmt.Errorf("refit %s: %w", cfg.Family, err)
		}
		// The map keeps its shape and takes the refitted family's level:
		// the mean probability over the rows it was fitted on is their
		// rate (see anchorToRate). Up to maxGridRows evenly spaced rows
		// measure the mean.
		s, err := model.NewScorer(m)
		if err != nil {
			return nil, nil, fmt.Errorf("refit %s: %w", cfg.Family, err)
		}
		sample := gridSample(len(labels), maxAnchorRows)
		anchorRaw := make([]float64, len(sample))
		for k, i := range sample {
			anchorRaw[k] = s.Raw(rows[i*w : (i+1)*w])
		}
		rate := float64(count(labels)) / float64(len(labels))
		m.Calibration = anchorToRate(m.Calibration, anchorRaw, rate)
		if err := m.Calibration.Validate(); err != nil {
			return nil, nil, fmt.Errorf("refit %s: the re-anchored calibration: %w", cfg.Family, err)
		}
		if rep.Calibration != nil {
			rep.Calibration.Refit = fmt.Sprintf("the map's level re-anchored to the refitted family: its mean probability over the %d training and held-out rows is their rate, %.4f; its shape is the out-of-fold one", len(labels), rate)
			params["calibration_refit"] = rep.Calibration.Refit
		}
		params["refit"] = fmt.Sprintf("fitted again on the %d training and %d held-out rows after measuring, keeping the calibration's shape at the refit's level; the validation metrics describe the first fit", len(d.TrainLabels), len(d.ValidLabels))
		rep.Refit = true
		rep.Timings["refit"] = time.Since(start)
	}

	// The grid's cut points come from the training population.
	start = time.Now()
	progress("placing the grid")
	if err := placeGrid(ctx, m, d.TrainRows, w, len(d.TrainLabels), cfg.Grid); err != nil {
		return nil, nil, fmt.Errorf("train %s: %w", cfg.Family, err)
	}
	rep.Timings["grid"] = time.Since(start)

	if !cfg.NoPointsBaseline {
		start = time.Now()
		progress("learning the points baseline")
		if m.PointsBaseline, err = pointsBaseline(ctx, d, cfg, params); err != nil {
			return nil, nil, err
		}
		rep.Timings["points_baseline"] = time.Since(start)
	}

	for k, v := range rep.Timings {
		rep.Seconds[k] = v.Seconds()
	}
	if rep.Tuning != nil {
		rep.Tuning.parameters(params)
	}
	params["calibration"] = m.Calibration.Method
	if c := rep.Calibration; c != nil {
		params["calibration_fit"] = c.FoldDetail
		if c.Fallback != "" {
			params["calibration_fallback"] = c.Fallback
		}
	}
	if rep.Drift != nil && rep.Drift.Detected {
		params["drift"] = rep.Drift.Summary
	}
	params["seed"] = strconv.FormatUint(cfg.Seed, 10)
	m.Metadata = model.Metadata{
		TrainerVersion:    trainerVersion(),
		Seed:              cfg.Seed,
		DataSHA256:        hashData(d),
		DataStart:         d.Start,
		DataEnd:           d.End,
		Horizon:           d.Horizon,
		Parameters:        params,
		ValidationMetrics: rep.Validation,
		Reliability:       rep.Reliability,
	}
	if err := m.Validate(); err != nil {
		return nil, nil, fmt.Errorf("train %s: the trained model does not validate: %w", cfg.Family, err)
	}
	return m, rep, nil
}

// linearFit is a fitted logistic regression and how it was fitted.
type linearFit struct {
	lin        *model.Linear
	iterations int
	// pairs are the statistics of the pairs the model holds, in its
	// order.
	pairs []pairScore
}

// fitLinear fits logistic regression over the linear encoding of the
// training rows (knots as opts.Knots says): the additive model, then, when
// opts.Interactions asks for pairs and the additive model's residuals show
// some (see pairs.go), the model with them.
func fitLinear(ctx context.Context, features []model.Feature, rows []float64, labels []bool, opts LogisticOptions) (*linearFit, error) {
	if opts.Knots < 0 || opts.Knots > model.MaxKnots {
		return nil, leadscore.InvalidField("knots", opts.Knots, fmt.Sprintf("must be from 0 to %d", model.MaxKnots))
	}
	enc, err := model.FitLinearEncodingWith(features, rows, model.LinearEncodingOptions{Knots: opts.Knots})
	if err != nil {
		return nil, err
	}
	additive, err := fitEncoded(ctx, enc, len(features), rows, labels, opts)
	if err != nil {
		return nil, err
	}
	return addPairs(ctx, features, rows, labels, additive, opts)
}

// addPairs fits the model again with the pairs the additive fit's
// residuals show, up to opts.Interactions of them; it returns the additive
// fit when none is asked for or none is found.
func addPairs(ctx context.Context, features []model.Feature, rows []float64, labels []bool, additive *linearFit, opts LogisticOptions) (*linearFit, error) {
	if opts.Interactions < 0 || opts.Interactions > model.MaxPairs {
		return nil, leadscore.InvalidField("interactions", opts.Interactions, fmt.Sprintf("must be from 0 to %d", model.MaxPairs))
	}
	if opts.Interactions == 0 {
		return additive, nil
	}
	pairs, scores, err := choosePairs(ctx, features, rows, labels, additive.lin, opts.Interactions)
	if err != nil || len(pairs) == 0 {
		return additive, err
	}
	fit, err := fitEncoded(ctx, additive.lin.Encoding.WithPairs(pairs), len(features), rows, labels, opts)
	if err != nil {
		return nil, err
	}
	fit.pairs = scores
	return fit, nil
}

// fitEncoded fits logistic regression over the design vectors enc gives
// the rows (w features wide).
func fitEncoded(ctx context.Context, enc *model.LinearEncoding, w int, rows []float64, labels []bool, opts LogisticOptions) (*linearFit, error) {
	x, means := newDesign(enc, w, rows, len(labels))
	if enc.Pairs != nil {
		// Pair columns are shrunk harder than the additive ones (see
		// pairs.go).
		x.scale = make([]float64, enc.Width)
		for j := range x.scale {
			x.scale[j] = 1
			if j >= enc.FirstPairColumn() {
				x.scale[j] = pairPenaltyScale
			}
		}
	}
	fit, err := fitDesign(ctx, x, labels, opts)
	if err != nil {
		return nil, err
	}
	return &linearFit{
		lin:        &model.Linear{Encoding: enc, Weights: fit.Weights, Intercept: fit.Intercept, Means: means},
		iterations: fit.Iterations,
	}, nil
}

// maxGridRows bounds the training rows the grid's cut points are learned
// from.
const maxGridRows = 10000

// maxAnchorRows bounds the rows whose mean probability re-anchors a refit's
// calibration: the mean of 50,000 probabilities is within about 0.001 of
// the mean of all.
const maxAnchorRows = 50000

// gridSample returns up to max evenly spaced indexes of n rows.
func gridSample(n, max int) []int {
	k := min(n, max)
	out := make([]int, k)
	for i := range out {
		out[i] = int(int64(i) * int64(n) / int64(k))
	}
	return out
}

// scoreRows scores the given rows on every core, each worker with its own
// scorer, and hands each result to fn with its position in rows.
func scoreRows(ctx context.Context, m *model.Model, data []float64, w int, rows []int, fn func(k int, sc *model.Scored)) error {
	workers := max(1, min(runtime.GOMAXPROCS(0), len(rows)))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := model.NewScorer(m)
			if err != nil {
				errs[g] = err
				return
			}
			var sc model.Scored
			for k := g; k < len(rows); k += workers {
				if k%1024 == g {
					if err := ctx.Err(); err != nil {
						errs[g] = err
						return
					}
				}
				i := rows[k]
				if err := s.Score(data[i*w:(i+1)*w], &sc); err != nil {
					errs[g] = err
					return
				}
				fn(k, &sc)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// placeGrid fits m's grid, with the basis of its family, to the population
// of n rows (w features wide) in rows.
func placeGrid(ctx context.Context, m *model.Model, rows []float64, w, n int, opts model.GridOptions) error {
	// Quartiles are as good from ten thousand rows as from millions, so
	// the grid is fitted on an evenly spaced sample of the population.
	sample := gridSample(n, maxGridRows)
	k := len(sample)
	// The scorer computes the sums of the basis the grid will have, so
	// the cut points are learned from what serving reads.
	basis := gridBasis(m.Family)
	m.Grid.Basis = basis
	fitSums, engSums, probs, raws := make([]float64, k), make([]float64, k), make([]float64, k), make([]float64, k)
	if err := scoreRows(ctx, m, rows, w, sample, func(k int, sc *model.Scored) {
		fitSums[k], engSums[k], probs[k], raws[k] = sc.FitSum, sc.EngagementSum, sc.Probability, sc.Raw
	}); err != nil {
		return err
	}
	g, err := model.FitGrid(fitSums, engSums, probs, raws, opts)
	if err != nil {
		return err
	}
	g.Basis = basis
	m.Grid = g
	return nil
}

// gridBasis is the grid basis of a newly trained model of the family. A
// GBDT's grid is read from its tree-path attribution, which scoring gets
// from the prediction walk, rather than from TreeSHAP, which costs
// hundreds of predictions a row. A logistic regression's and a points
// model's contributions are linear and cheap, and keep the basis their
// grids always had.
func gridBasis(f model.Family) model.GridBasis {
	if f == model.FamilyGBDT {
		return model.GridBasisTreePath
	}
	return model.GridBasisContributions
}

// placeholderGrid is a valid grid used only while the real one is fitted:
// the grid of a one-lead population.
func placeholderGrid() *model.Grid {
	g, err := model.FitGrid([]float64{0}, []float64{0}, []float64{0.5}, []float64{0}, model.GridOptions{})
	if err != nil {
		panic(fmt.Sprintf("trainer: the placeholder grid does not fit: %v", err))
	}
	return g
}

// hashData is the SHA-256 of the training and held-out rows and labels,
// recorded so that a model's data can be recognised.
func hashData(d *Data) string {
	h := sha256.New()
	var buf [8]byte
	for _, part := range [][]float64{d.TrainRows, d.ValidRows} {
		for _, v := range part {
			binary.LittleEndian.PutUint64(buf[:], math.Float64bits(v))
			h.Write(buf[:])
		}
	}
	for _, part := range [][]bool{d.TrainLabels, d.ValidLabels} {
		for _, l := range part {
			if l {
				h.Write([]byte{1})
			} else {
				h.Write([]byte{0})
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// trainerVersion is the module version or VCS revision of this build.
func trainerVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			return info.Main.Path + "@" + s.Value
		}
	}
	return info.Main.Path + "@" + info.Main.Version
}

func count(labels []bool) int {
	n := 0
	for _, l := range labels {
		if l {
			n++
		}
	}
	return n
}

func orDefault(v, d float64) float64 {
	if v == 0 {
		return d
	}
	return v
}
