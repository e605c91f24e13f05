package registry

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/trainer"
)

// Training parameters by name: a training job's parameters and the
// command line's train flags of the same names (a dash for the
// underscore) are read by TrainConfig alike, so the two train the same
// model from the same words.
const (
	ParamTune              = "tune"
	ParamTrees             = "trees"
	ParamDepth             = "depth"
	ParamLearningRate      = "learning_rate"
	ParamCategoricalSplits = "categorical_splits"
	ParamEarlyStopping     = "early_stopping"
	ParamC                 = "c"
	ParamKnots             = "knots"
	ParamInteractions      = "interactions"
	ParamRefit             = "refit"
	ParamCalibration       = "calibration"
	ParamRandomSplit       = "random_split"
)

// The parameters' defaults, which train's flags show.
const (
	DefaultTrees             = 200
	DefaultDepth             = 6
	DefaultLearningRate      = 0.1
	DefaultCategoricalSplits = "one_vs_rest"
	DefaultC                 = 1.0
)

// TrainParameterNames lists every parameter TrainConfig reads.
func TrainParameterNames() []string {
	return []string{ParamTune, ParamTrees, ParamDepth, ParamLearningRate, ParamCategoricalSplits, ParamEarlyStopping,
		ParamC, ParamKnots, ParamInteractions, ParamRefit, ParamCalibration, ParamRandomSplit}
}

// TrainSettings are what a request's family, seed and parameters decide.
type TrainSettings struct {
	Config trainer.Config
	// RandomSplit splits a flat table at random.
	RandomSplit bool
}

// TrainConfig reads a family, a seed and parameters by name into a
// trainer configuration. A parameter given is the only value tuning tries
// (or, for trees, the most it grows); one left out is tuned, or takes its
// default. field names a parameter (or "family") in errors, such as
// "training_job.parameters.trees" or "--trees". A test table rules out
// refitting (its rows are for judging only).
func TrainConfig(field func(name string) string, family model.Family, seed uint64, params map[string]string, testTable bool) (TrainSettings, error) {
	var out TrainSettings
	switch family {
	case trainer.FamilyAuto, model.FamilyPoints, model.FamilyLogistic, model.FamilyGBDT:
	default:
		return out, leadscore.InvalidField(field("family"), family, "must be auto, points, logistic or gbdt")
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range params {
			if !yield(k) {
				return
			}
		}
	}) {
		if !slices.Contains(TrainParameterNames(), k) {
			return out, leadscore.InvalidField(field(k), params[k], "is not a training parameter; the parameters are "+strings.Join(TrainParameterNames(), ", "))
		}
	}
	p := paramReader{field: field, params: params}
	tune := p.bool(ParamTune, true)
	trees := p.int(ParamTrees, DefaultTrees, 1, 100000)
	depth := p.int(ParamDepth, DefaultDepth, 1, 32)
	rate := p.float(ParamLearningRate, DefaultLearningRate, 0, 1)
	splits := p.oneOf(ParamCategoricalSplits, DefaultCategoricalSplits, "one_vs_rest", "partition")
	earlyStop := p.int(ParamEarlyStopping, 0, 0, 1000000)
	c := p.float(ParamC, DefaultC, 0, 1e6)
	knots := p.int(ParamKnots, 0, 0, model.MaxKnots)
	interactions := p.int(ParamInteractions, 0, 0, model.MaxPairs)
	refit := p.bool(ParamRefit, true)
	calibration := p.oneOf(ParamCalibration, model.CalibrationPlatt, model.CalibrationPlatt, model.CalibrationIsotonic)
	out.RandomSplit = p.bool(ParamRandomSplit, false)
	if p.err != nil {
		return out, p.err
	}
	if testTable && p.given(ParamRefit) && refit {
		return out, leadscore.InvalidField(field(ParamRefit), "true", "trains on the held-out rows, and the rows of a test table are for judging only")
	}
	var tuneOpts *trainer.TuneOptions
	if tune {
		tuneOpts = &trainer.TuneOptions{EarlyStoppingRounds: earlyStop}
		if p.given(ParamDepth) {
			tuneOpts.Depths = []int{depth}
		}
		if p.given(ParamTrees) {
			tuneOpts.MaxTrees = trees
		}
		if p.given(ParamC) {
			tuneOpts.Cs = []float64{c}
		}
		if p.given(ParamKnots) {
			tuneOpts.Knots = []int{knots}
		}
		if p.given(ParamInteractions) {
			tuneOpts.Interactions = []int{interactions}
		}
	}
	out.Config = trainer.Config{
		Refit:       refit && !testTable,
		Family:      family,
		Seed:        seed,
		Logistic:    trainer.LogisticOptions{C: c, Knots: knots, Interactions: interactions},
		GBDT:        trainer.GBDTOptions{NumTrees: trees, MaxDepth: depth, LearningRate: rate, EarlyStoppingRounds: earlyStop, CategoricalSplits: splits, Seed: seed},
		Calibration: calibration,
		Tune:        tuneOpts,
	}
	return out, nil
}

// paramReader reads parameters, keeping the first error.
type paramReader struct {
	field  func(string) string
	params map[string]string
	err    error
}

func (p *paramReader) given(name string) bool {
	_, ok := p.params[name]
	return ok
}

func (p *paramReader) fail(name, value, reason string) {
	if p.err == nil {
		p.err = leadscore.InvalidField(p.field(name), value, reason)
	}
}

func (p *paramReader) bool(name string, def bool) bool {
	v, ok := p.params[name]
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, v, "must be true or false")
	}
	return b
}

func (p *paramReader) int(name string, def, lo, hi int) int {
	v, ok := p.params[name]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.fail(name, v, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
	}
	return n
}

func (p *paramReader) float(name string, def, lo, hi float64) float64 {
	v, ok := p.params[name]
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	// NaN fails both comparisons, so it is refused too.
	if err != nil || !(f > lo && f <= hi) {
		p.fail(name, v, fmt.Sprintf("must be a number above %g and at most %g", lo, hi))
	}
	return f
}

func (p *paramReader) oneOf(name, def string, allowed ...string) string {
	v, ok := p.params[name]
	if !ok {
		return def
	}
	if !slices.Contains(allowed, v) {
		p.fail(name, v, "must be one of "+strings.Join(allowed, ", "))
	}
	return v
}
