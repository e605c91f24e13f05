package registry

import (
	"context"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/evaluator"
)

// BacktestData says which rows a backtest scores. Exactly one field is set.
type BacktestData struct {
	// History is three history files scored as of a cut-off.
	History *dataset.HistoryFiles
	// Store is the history kept in the registry's own store, scored as of
	// a cut-off. It needs a store that holds history.
	Store bool
	// Flat is one row per lead with a label column, every row scored.
	Flat *FlatData
}

// FlatData names a flat table and how to read it.
type FlatData struct {
	Path    string
	Options dataset.FlatOptions
}

// BacktestRequest is one backtest of a candidate.
type BacktestRequest struct {
	// Candidate is a registry reference ("name@alias", "name/versions/N",
	// "models/name/versions/N") or an artifact file path.
	Candidate string
	// Champion is the reference to compare with. Empty means the current
	// champion of the candidate's model (none for an artifact file); "none"
	// means no champion.
	Champion string
	// Baseline is the points model to compare with. Empty means the
	// newest active points version of the candidate's model, or else the
	// built-in points rules fitted on history before the cut-off; "none"
	// means no baseline.
	Baseline string
	Data     BacktestData
	// Cutoff and Horizon define a history backtest.
	Cutoff  time.Time
	Horizon time.Duration
	// Policy is a gate policy: "" for the default, "name" for its newest
	// revision, "name@revision", or a file path (YAML or JSON); "none"
	// applies no gate.
	Policy string
	// Seed seeds the bootstrap confidence intervals.
	Seed uint64
	// Register stores the evaluation in the registry, where promotion can
	// find it. It needs a registry candidate.
	Register bool
	// JobID is the evaluation job running the backtest, if any.
	JobID string
	// Progress, when set, is told how far the backtest has come.
	Progress func(stage string, fraction float64, message string)
}

// BacktestResult is a backtest's report and, when it was registered, the
// stored evaluation.
type BacktestResult struct {
	Report     *evaluator.Report
	Evaluation *leadscore.Evaluation
}

// Backtest runs a backtest: it resolves the candidate, the champion and
// the baseline, reads the data, scores every row with each model through
// the shared featurizer, applies the gate policy and, when asked, stores
// the evaluation.
func (r *Registry) Backtest(ctx context.Context, req BacktestRequest) (*BacktestResult, error) {
	return nil, leadscore.Errorf(leadscore.EUNAVAILABLE, "backtests are being wired up")
}
