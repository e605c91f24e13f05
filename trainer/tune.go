package trainer

// How Train tunes, and why:
//
//   - The inner fold is carved from the training rows only, the way the
//     held-out rows were carved from the whole: when the training rows
//     have times and were not split at random, the latest fifth by time
//     (whole snapshots: every row at the cut-off time or later) is the
//     inner validation fold, and the candidates are fitted on the rows
//     whose labels were complete by the cut-off (time + horizon ≤ cut-off),
//     as FromHistory leaves a one-horizon gap before the held-out rows.
//     Without the gap a lead won in April is a positive row at the March
//     snapshot (inner training) and again at the April one (inner fold),
//     which rewards memorising leads: deep trees and many of them. Without
//     times the rows are taken in their order (the time or file order of a
//     flat table) and the last fifth is the fold, as early stopping does;
//     after a random outer split the fold is a seeded random fifth.
//   - The held-out rows calibrate the model and measure it; the tuner never
//     sees them.
//   - Each gbdt candidate (a depth and a min child weight) grows up to
//     MaxTrees trees with early stopping on the fold's log loss, so the
//     number of trees is chosen too; depth 2 is in the grid because
//     conversion data is often close to additive, where trees of pairs
//     of splits generalise better than deeper ones. Each logistic
//     candidate is one C, one number of knots (0, the plain linear
//     encoding, or K hinges per numeric feature, placed on the rows the
//     candidate is fitted on) and one most number of pairs (0, additive,
//     or up to P pairs that the additive fit's residuals show significant
//     interactions for; see pairs.go), the knots varying slowest and the
//     pairs next, so that every plain candidate comes first and every
//     additive one before its paired one. A paired candidate starts from
//     the additive candidate of the same C and knots. The candidate with
//     the highest ROC AUC on the fold wins (earlier in the grid on a tie,
//     so the simpler model wins a tie):
//     the calibration is refitted on the held-out rows afterwards, so only
//     the ranking of the raw output carries over.
//   - When the chosen C, depth or min child weight is the lowest or the
//     highest value tried, up to three values beyond it are tried, and
//     the default cap on the trees doubles when the chosen candidate kept
//     every tree (see tune_widen.go): an optimum on an edge may lie beyond.
//   - The chosen values are refitted on all the training rows with the
//     chosen number of trees kept, not scaled up by the ratio of rows: the
//     gap can leave the candidates half the rows, and a count never
//     measured (twice as many trees) is a guess where the kept count is
//     the one the fold measured; the fold's loss curve is flat near its
//     minimum, so keeping errs on the cheap side.

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/evaluator"
	"github.com/leadscore/leadscore/model"
)

// TuneOptions say which hyperparameters Train chooses on an inner
// validation fold of the training rows, and among which values. Each nil
// or zero field means its default.
type TuneOptions struct {
	// Depths are the gbdt tree depths tried; nil means 2, 3, 4 and 6.
	Depths []int
	// MinChildWeights are the gbdt least child hessian sums tried; nil
	// means 1 and 5.
	MinChildWeights []float64
	// MaxTrees is the most trees a gbdt candidate grows; early stopping on
	// the fold chooses how many are kept. Zero means 1000, doubled (up to
	// three times) when the chosen candidate keeps them all.
	MaxTrees int
	// EarlyStoppingRounds stops a gbdt candidate when the fold's log loss
	// has not improved for this many trees. Zero means 50.
	EarlyStoppingRounds int
	// Cs are the logistic inverse regularisation strengths tried; nil
	// means 0.01, 0.03, 0.1, 0.3, 1, 3 and 10.
	Cs []float64
	// Knots are the logistic hinge knot counts tried with each C (see
	// LogisticOptions.Knots); nil means 0 and 8.
	Knots []int
	// Interactions are the most logistic pairs tried with each C and
	// number of knots (see LogisticOptions.Interactions); nil means 0 and
	// 8.
	Interactions []int

	// pretuned is the tuning automatic family choice did on the same data
	// and fold (see auto.go), so that Train does not repeat it.
	pretuned *pretuned
}

// pretuned is a family's tuning report on a Data.
type pretuned struct {
	data   *Data
	family model.Family
	report *TuningReport
}

// done returns the tuning already done for family on d, or nil.
func (t TuneOptions) done(d *Data, family model.Family) *TuningReport {
	if p := t.pretuned; p != nil && p.data == d && p.family == family {
		return p.report
	}
	return nil
}

// Default tuning grids.
var (
	defaultTuneDepths          = []int{2, 3, 4, 6}
	defaultTuneMinChildWeights = []float64{1, 5}
	defaultTuneCs              = []float64{0.01, 0.03, 0.1, 0.3, 1, 3, 10}
	// Eight knots, at the ninths of a feature's training values: enough
	// to bend a U-shaped or saturating effect, with a ninth of the rows
	// in each segment of a continuous feature. Fixed before any benchmark
	// was run, not chosen by one.
	defaultTuneKnots = []int{0, 8}
	// Up to eight pairs, each only if its interaction is significant
	// (see pairs.go). Fixed before any benchmark was run.
	defaultTuneInteractions = []int{0, 8}
)

const (
	defaultTuneMaxTrees      = 1000
	defaultTuneEarlyStopping = 50
)

// TuningReport says how the hyperparameters were chosen.
type TuningReport struct {
	// Fold is how the inner validation fold was taken: "time",
	// "row_order" or "random"; FoldDetail says it in words.
	Fold       string `json:"fold"`
	FoldDetail string `json:"fold_detail"`
	// FitRows are the training rows the candidates were fitted on,
	// FoldRows those they were judged on; the rest of the training rows
	// (a time fold's gap) were used by neither, until the refit.
	FitRows       int `json:"fit_rows"`
	FitPositives  int `json:"fit_positives"`
	FoldRows      int `json:"fold_rows"`
	FoldPositives int `json:"fold_positives"`
	// Criterion is the fold metric the choice maximises.
	Criterion  string          `json:"criterion"`
	Candidates []TuneCandidate `json:"candidates"`
	// Chosen indexes Candidates.
	Chosen int `json:"chosen"`
	// Refit says how the final family was fitted from the choice.
	Refit string `json:"refit"`
	// Fallback is set when the fold could not tell the candidates apart
	// (no candidate ranked its rows better than MinFoldAUC): the choice is
	// then noise, so the family is fitted with the parameters it was given,
	// as untuned training would, and this says why.
	Fallback string `json:"fallback,omitempty"`
	// Widened says, one line for each value tried beyond the grid, which
	// grid was widened because its best value lay on an edge (see
	// tune_widen.go).
	Widened []string `json:"widened,omitempty"`

	// foldRaw are the chosen candidate's raw outputs on the fold's rows.
	foldRaw []float64
}

// MinFoldAUC is the fold ROC AUC a tuning candidate must beat for the fold
// to count as informative. Below it every candidate ranks the fold's rows
// about as well as a coin, which happens when the fold's period differs
// from the rest of the training rows (a campaign that changed who
// converts): picking the "best" of such candidates would pick noise, such
// as a one-tree model. Fixed before it was tried on any data.
const MinFoldAUC = 0.55

// uninformative reports whether the fold could not tell the candidates
// apart, recording the fallback in the report.
func (r *TuningReport) uninformative(untuned string) bool {
	best := r.Candidates[r.Chosen].ROCAUC
	if best >= MinFoldAUC {
		return false
	}
	r.Fallback = fmt.Sprintf("no candidate ranked the fold's rows better than ROC AUC %.2f (best %.4f), so the fold cannot choose; fitted with %s instead",
		MinFoldAUC, best, untuned)
	r.Refit = r.Fallback
	return true
}

// TuneCandidate is one setting tried and how it did on the fold.
type TuneCandidate struct {
	MaxDepth       int     `json:"max_depth,omitempty"`
	MinChildWeight float64 `json:"min_child_weight,omitempty"`
	// Trees is the number of trees early stopping kept.
	Trees int     `json:"trees,omitempty"`
	C     float64 `json:"c,omitempty"`
	// Knots is a logistic candidate's hinge knots per numeric feature;
	// zero (and left out) for the plain linear encoding.
	Knots int `json:"knots,omitempty"`
	// Interactions is the most pairs a logistic candidate could add, and
	// Pairs those it added (only significant ones are); zero (and left
	// out) for an additive candidate.
	Interactions int `json:"interactions,omitempty"`
	Pairs        int `json:"pairs,omitempty"`
	// Iterations are the logistic optimiser's.
	Iterations int `json:"iterations,omitempty"`
	// LogLoss and ROCAUC are measured on the fold with the candidate's raw
	// (uncalibrated) output.
	LogLoss float64 `json:"log_loss"`
	ROCAUC  float64 `json:"roc_auc"`
	Seconds float64 `json:"seconds"`
}

// check reports the first bad grid value as an EINVALID error.
func (t TuneOptions) check() error {
	for _, v := range t.Depths {
		if v < 1 || v > gbdtMaxDepth {
			return leadscore.InvalidField("tune.depths", v, fmt.Sprintf("must be from 1 to %d", gbdtMaxDepth))
		}
	}
	for _, v := range t.MinChildWeights {
		if !(v > 0) || math.IsInf(v, 0) {
			return leadscore.InvalidField("tune.min_child_weights", v, "must be a positive number")
		}
	}
	for _, v := range t.Cs {
		if !(v > 0) || math.IsInf(v, 0) {
			return leadscore.InvalidField("tune.cs", v, "must be a positive number")
		}
	}
	for _, v := range t.Knots {
		if v < 0 || v > model.MaxKnots {
			return leadscore.InvalidField("tune.knots", v, fmt.Sprintf("must be from 0 to %d", model.MaxKnots))
		}
	}
	for _, v := range t.Interactions {
		if v < 0 || v > model.MaxPairs {
			return leadscore.InvalidField("tune.interactions", v, fmt.Sprintf("must be from 0 to %d", model.MaxPairs))
		}
	}
	switch {
	case t.MaxTrees < 0 || t.MaxTrees > 100_000:
		return leadscore.InvalidField("tune.max_trees", t.MaxTrees, "must be from 1 to 100000, or 0 for the default")
	case t.EarlyStoppingRounds < 0:
		return leadscore.InvalidField("tune.early_stopping_rounds", t.EarlyStoppingRounds, "must not be negative")
	}
	return nil
}

// tuneFoldFraction is the share of the training rows the inner fold takes.
const tuneFoldFraction = 0.2

// innerFold is a split of the training rows, by index, into the rows
// candidates are fitted on and the rows they are judged on.
type innerFold struct {
	fit, valid []int
	method     string
	detail     string
}

// newInnerFold carves the inner validation fold from d's training rows
// (and never from its held-out rows), as the package comment describes.
func newInnerFold(d *Data, seed uint64) (*innerFold, error) {
	n := len(d.TrainLabels)
	if n < 2 {
		return nil, leadscore.InvalidField("data", n, "tuning needs training rows to carve an inner fold from")
	}
	if d.TrainTimes != nil && len(d.TrainTimes) != n {
		return nil, leadscore.InvalidField("data.train_times", len(d.TrainTimes), fmt.Sprintf("must hold one time per training row (%d)", n))
	}
	f := &innerFold{}
	switch {
	case d.Shuffled:
		rng := rand.New(rand.NewPCG(seed, 0x74756e65)) // "tune"
		for i := range n {
			if rng.Float64() < tuneFoldFraction {
				f.valid = append(f.valid, i)
			} else {
				f.fit = append(f.fit, i)
			}
		}
		f.method = "random"
		f.detail = fmt.Sprintf("a random %.0f%% of the training rows (seed %d), as the held-out rows were drawn at random", 100*tuneFoldFraction, seed)
	case d.TrainTimes != nil && slices.Min(d.TrainTimes) < slices.Max(d.TrainTimes):
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(d.TrainTimes[a], d.TrainTimes[b]) })
		cut := d.TrainTimes[order[n-max(1, int(float64(n)*tuneFoldFraction))]]
		if cut == d.TrainTimes[order[0]] {
			// The earliest time holds more than four fifths of the rows:
			// start the fold at the next time instead.
			k, _ := slices.BinarySearchFunc(order, cut+1, func(i int, t int64) int { return cmp.Compare(d.TrainTimes[i], t) })
			cut = d.TrainTimes[order[k]]
		}
		gap := int64(d.Horizon / time.Second)
		for i, t := range d.TrainTimes {
			switch {
			case t >= cut:
				f.valid = append(f.valid, i)
			case t+gap <= cut:
				f.fit = append(f.fit, i)
			}
		}
		f.method = "time"
		at := time.Unix(cut, 0).UTC().Format(time.RFC3339)
		if gap > 0 {
			f.detail = fmt.Sprintf("the training rows from %s on; candidates fitted on the rows whose %s labels were complete by then", at, days(d.Horizon))
		} else {
			f.detail = fmt.Sprintf("the training rows from %s on; candidates fitted on the earlier ones", at)
		}
	default:
		cut := n - int(float64(n)*tuneFoldFraction)
		for i := range n {
			if i < cut {
				f.fit = append(f.fit, i)
			} else {
				f.valid = append(f.valid, i)
			}
		}
		f.method = "row_order"
		f.detail = fmt.Sprintf("the last %.0f%% of the training rows in their (time or file) order", 100*tuneFoldFraction)
	}
	for _, part := range []struct {
		name string
		rows []int
	}{{"fitted on", f.fit}, {"validated on", f.valid}} {
		pos := 0
		for _, i := range part.rows {
			if d.TrainLabels[i] {
				pos++
			}
		}
		if pos == 0 || pos == len(part.rows) {
			return nil, leadscore.InvalidField("tune", fmt.Sprintf("%d of %d rows won", pos, len(part.rows)),
				fmt.Sprintf("the inner fold's rows %s (%s) need both outcomes; train on more history or without tuning", part.name, f.detail))
		}
	}
	return f, nil
}

// days formats a duration in whole days when it is one.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d-day", d/(24*time.Hour))
	}
	return d.String()
}

// rowsOf copies the given training rows and their labels.
func rowsOf(d *Data, w int, idx []int) ([]float64, []bool) {
	x := make([]float64, 0, len(idx)*w)
	y := make([]bool, len(idx))
	for k, i := range idx {
		x = append(x, d.TrainRows[i*w:(i+1)*w]...)
		y[k] = d.TrainLabels[i]
	}
	return x, y
}

// tuneGBDT chooses the depth, the min child weight and the number of trees
// on the inner fold and returns opts with them set, ready to be refitted
// on all the training rows. When t carries the tuning that automatic
// family choice already did on d, it is used rather than repeated.
func tuneGBDT(ctx context.Context, features []model.Feature, d *Data, opts GBDTOptions, t TuneOptions, progress func(string)) (GBDTOptions, *TuningReport, error) {
	if rep := t.done(d, model.FamilyGBDT); rep != nil {
		return applyGBDT(opts, rep, d), rep, nil
	}
	f, err := newInnerFold(d, opts.Seed)
	if err != nil {
		return opts, nil, err
	}
	rep, err := tuneGBDTOn(ctx, features, d, f, opts, t, progress)
	if err != nil {
		return opts, nil, err
	}
	return applyGBDT(opts, rep, d), rep, nil
}

// tuneGBDTOn tries the gbdt grid on the fold f of d, widening it where the
// best value lies on an edge (see tune_widen.go).
func tuneGBDTOn(ctx context.Context, features []model.Feature, d *Data, f *innerFold, opts GBDTOptions, t TuneOptions, progress func(string)) (*TuningReport, error) {
	w := len(features)
	fitX, fitY := rowsOf(d, w, f.fit)
	valX, valY := rowsOf(d, w, f.valid)
	depths := orGrid(t.Depths, defaultTuneDepths)
	mcws := orGrid(t.MinChildWeights, defaultTuneMinChildWeights)
	maxTrees := cmp.Or(t.MaxTrees, defaultTuneMaxTrees)
	patience := cmp.Or(t.EarlyStoppingRounds, defaultTuneEarlyStopping)
	rep := newTuningReport(f, d)
	z := make([]float64, len(valY))
	treeCap := maxTrees
	try := func(depth int, mcw float64, of string) error {
		progress(fmt.Sprintf("tuning gbdt: depth %d, min child weight %g (%s)", depth, mcw, of))
		start := time.Now()
		o := opts
		o.MaxDepth, o.MinChildWeight, o.NumTrees, o.EarlyStoppingRounds = depth, mcw, treeCap, patience
		g, gr, err := FitGBDT(ctx, fitX, w, features, fitY, &GBDTValidation{X: valX, Labels: valY}, o)
		if err != nil {
			return fmt.Errorf("tune gbdt (depth %d, min child weight %g): %w", depth, mcw, err)
		}
		if err := g.PredictBatchParallel(valX, z, o.Threads); err != nil {
			return fmt.Errorf("tune gbdt: %w", err)
		}
		auc, err := evaluator.ROCAUC(z, valY)
		if err != nil {
			return fmt.Errorf("tune gbdt: %w", err)
		}
		rep.add(TuneCandidate{
			MaxDepth: depth, MinChildWeight: mcw, Trees: gr.Trees,
			LogLoss: gr.ValidLoss[gr.Trees-1], ROCAUC: auc, Seconds: time.Since(start).Seconds(),
		}, z)
		return nil
	}
	for _, depth := range depths {
		for _, mcw := range mcws {
			if err := try(depth, mcw, fmt.Sprintf("%d of %d", len(rep.Candidates)+1, len(depths)*len(mcws))); err != nil {
				return nil, err
			}
		}
	}
	err := rep.widen([]*gridAxis{
		{name: "depth", values: intsToFloats(depths), at: func(c TuneCandidate) float64 { return float64(c.MaxDepth) },
			linear: true, lo: 1, hi: gbdtMaxDepth},
		{name: "min child weight", values: slices.Clone(mcws), at: func(c TuneCandidate) float64 { return c.MinChildWeight },
			lo: minTuneMinChildWeight, hi: maxTuneMinChildWeight},
	}, func(axis string, v float64) error {
		c := rep.Candidates[rep.Chosen]
		if axis == "depth" {
			return try(int(v), c.MinChildWeight, "widening")
		}
		return try(c.MaxDepth, v, "widening")
	})
	if err != nil {
		return nil, err
	}
	// The default cap on the trees is an edge too: a chosen candidate
	// whose early stopping never stopped may want more (see
	// tune_widen.go). A cap given is kept.
	for range maxWidenings {
		c := rep.Candidates[rep.Chosen]
		if t.MaxTrees != 0 || c.Trees < treeCap || treeCap*2 > maxTuneTrees {
			break
		}
		treeCap *= 2
		rep.Widened = append(rep.Widened, fmt.Sprintf("%d trees, the cap, were all kept: tried up to %d", c.Trees, treeCap))
		if err := try(c.MaxDepth, c.MinChildWeight, "widening"); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// applyGBDT returns opts with the choice of rep set, or unchanged when the
// fold could not choose.
func applyGBDT(opts GBDTOptions, rep *TuningReport, d *Data) GBDTOptions {
	if rep.uninformative(fmt.Sprintf("the untuned parameters (depth %d, %d trees) on all %d training rows",
		cmp.Or(opts.MaxDepth, 6), cmp.Or(opts.NumTrees, 200), len(d.TrainLabels))) {
		return opts
	}
	c := rep.Candidates[rep.Chosen]
	opts.MaxDepth, opts.MinChildWeight, opts.NumTrees, opts.EarlyStoppingRounds = c.MaxDepth, c.MinChildWeight, c.Trees, 0
	rep.Refit = fmt.Sprintf("depth %d, min child weight %g and %d trees (the count early stopping kept, not scaled) fitted on all %d training rows",
		c.MaxDepth, c.MinChildWeight, c.Trees, len(d.TrainLabels))
	return opts
}

// tuneLogistic chooses C, the number of knots and the number of pairs on
// the inner fold and returns opts with them set, ready to be refitted on
// all the training rows. When t carries the tuning that automatic family
// choice already did on d, it is used rather than repeated.
func tuneLogistic(ctx context.Context, features []model.Feature, d *Data, opts LogisticOptions, seed uint64, t TuneOptions, progress func(string)) (LogisticOptions, *TuningReport, error) {
	if rep := t.done(d, model.FamilyLogistic); rep != nil {
		return applyLogistic(opts, rep, d), rep, nil
	}
	f, err := newInnerFold(d, seed)
	if err != nil {
		return opts, nil, err
	}
	rep, err := tuneLogisticOn(ctx, features, d, f, opts, t, progress)
	if err != nil {
		return opts, nil, err
	}
	return applyLogistic(opts, rep, d), rep, nil
}

// tuneLogisticOn tries the logistic grid on the fold f of d, widening the
// C grid where the best C lies on an edge (see tune_widen.go). A
// candidate with pairs starts from the additive candidate with the same C
// and knots, fitted once for both.
func tuneLogisticOn(ctx context.Context, features []model.Feature, d *Data, f *innerFold, opts LogisticOptions, t TuneOptions, progress func(string)) (*TuningReport, error) {
	w := len(features)
	fitX, fitY := rowsOf(d, w, f.fit)
	valX, valY := rowsOf(d, w, f.valid)
	cs := orGrid(t.Cs, defaultTuneCs)
	knots := orGrid(t.Knots, defaultTuneKnots)
	interactions := orGrid(t.Interactions, defaultTuneInteractions)
	rep := newTuningReport(f, d)
	z := make([]float64, len(valY))
	type key struct {
		knots int
		c     float64
	}
	additive := map[key]*linearFit{}
	try := func(c float64, k, pairs int, of string) error {
		progress(fmt.Sprintf("tuning logistic: C %g, %d knots, %d pairs (%s)", c, k, pairs, of))
		start := time.Now()
		o := opts
		o.C, o.Knots, o.Interactions = c, k, pairs
		fit := additive[key{k, c}]
		var err error
		if fit == nil {
			if fit, err = fitLinear(ctx, features, fitX, fitY, LogisticOptions{C: c, Knots: k, MaxIter: o.MaxIter, Tol: o.Tol}); err != nil {
				return fmt.Errorf("tune logistic (C %g, %d knots): %w", c, k, err)
			}
			additive[key{k, c}] = fit
		}
		if fit, err = addPairs(ctx, features, fitX, fitY, fit, o); err != nil {
			return fmt.Errorf("tune logistic (C %g, %d knots, %d pairs): %w", c, k, pairs, err)
		}
		s := fit.lin.Compile()
		for i := range z {
			z[i] = s.Raw(valX[i*w : (i+1)*w])
		}
		auc, err := evaluator.ROCAUC(z, valY)
		if err != nil {
			return fmt.Errorf("tune logistic: %w", err)
		}
		rep.add(TuneCandidate{
			C: c, Knots: k, Interactions: pairs, Pairs: len(fit.lin.Encoding.Pairs), Iterations: fit.iterations,
			LogLoss: logLoss(z, valY, 1), ROCAUC: auc, Seconds: time.Since(start).Seconds(),
		}, z)
		return nil
	}
	total := len(cs) * len(knots) * len(interactions)
	for _, k := range knots {
		for _, pairs := range interactions {
			for _, c := range cs {
				if err := try(c, k, pairs, fmt.Sprintf("%d of %d", len(rep.Candidates)+1, total)); err != nil {
					return nil, err
				}
			}
		}
	}
	err := rep.widen([]*gridAxis{
		{name: "C", values: slices.Clone(cs), at: func(c TuneCandidate) float64 { return c.C }, lo: minTuneC, hi: maxTuneC},
	}, func(_ string, v float64) error {
		c := rep.Candidates[rep.Chosen]
		return try(v, c.Knots, c.Interactions, "widening")
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// applyLogistic returns opts with the choice of rep set, or unchanged when
// the fold could not choose.
func applyLogistic(opts LogisticOptions, rep *TuningReport, d *Data) LogisticOptions {
	if rep.uninformative(fmt.Sprintf("the untuned parameters (C %g, %d knots, %d pairs) on all %d training rows",
		orDefault(opts.C, 1), opts.Knots, opts.Interactions, len(d.TrainLabels))) {
		return opts
	}
	c := rep.Candidates[rep.Chosen]
	// The refit may add as many pairs as the chosen candidate had, not as
	// many as it was allowed: more rows make more pairs significant, and
	// the fold measured a model with this many (on bank marketing's time
	// split, one pair on the fold became four on all the training rows,
	// and the three the fold never saw cost 0.05 of test AUC).
	opts.C, opts.Knots, opts.Interactions = c.C, c.Knots, c.Pairs
	rep.Refit = fmt.Sprintf("C %g with %d knots and up to %d pairs (as many as the chosen candidate had) fitted on all %d training rows (knots placed and pairs chosen on them)",
		c.C, c.Knots, c.Pairs, len(d.TrainLabels))
	return opts
}

func newTuningReport(f *innerFold, d *Data) *TuningReport {
	rep := &TuningReport{
		Fold: f.method, FoldDetail: f.detail,
		FitRows: len(f.fit), FoldRows: len(f.valid),
		Criterion: "roc_auc",
	}
	for _, i := range f.fit {
		if d.TrainLabels[i] {
			rep.FitPositives++
		}
	}
	for _, i := range f.valid {
		if d.TrainLabels[i] {
			rep.FoldPositives++
		}
	}
	return rep
}

// add records a candidate and its raw outputs z on the fold, keeping the
// best candidate (the highest fold AUC, the earliest on a tie: the
// simpler one, as the grids run from simpler to richer) and a copy of its
// outputs, which automatic family choice compares across families.
func (r *TuningReport) add(c TuneCandidate, z []float64) {
	r.Candidates = append(r.Candidates, c)
	if len(r.Candidates) == 1 || c.ROCAUC > r.Candidates[r.Chosen].ROCAUC {
		r.Chosen = len(r.Candidates) - 1
		r.foldRaw = append(r.foldRaw[:0], z...)
	}
}

// parameters records the tuning in an artifact's metadata parameters,
// beside the chosen values the family records.
func (r *TuningReport) parameters(params map[string]string) {
	params["tuned"] = "true"
	params["tune_fold"] = r.Fold + ": " + r.FoldDetail
	params["tune_criterion"] = "inner-fold " + r.Criterion
	grid := make([]string, len(r.Candidates))
	for i, c := range r.Candidates {
		var s string
		if c.MaxDepth > 0 {
			s = fmt.Sprintf("depth %d mcw %s trees %d", c.MaxDepth, fmtFloat(c.MinChildWeight), c.Trees)
		} else {
			s = "C " + fmtFloat(c.C) + " knots " + strconv.Itoa(c.Knots)
			if c.Interactions > 0 {
				s += fmt.Sprintf(" pairs %d of %d", c.Pairs, c.Interactions)
			}
		}
		grid[i] = s + " auc " + strconv.FormatFloat(c.ROCAUC, 'f', 4, 64)
	}
	params["tune_candidates"] = strings.Join(grid, "; ")
	params["tune_fold_roc_auc"] = strconv.FormatFloat(r.Candidates[r.Chosen].ROCAUC, 'f', 6, 64)
	if r.Fallback != "" {
		params["tune_fallback"] = r.Fallback
	}
	if len(r.Widened) > 0 {
		params["tune_widened"] = strings.Join(r.Widened, "; ")
	}
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// orGrid is grid, or def when grid is empty.
func orGrid[T any](grid, def []T) []T {
	if len(grid) == 0 {
		return def
	}
	return grid
}
