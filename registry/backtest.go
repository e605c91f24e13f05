package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/evaluator"
	"github.com/leadscore/leadscore/evaluator/backtest"
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
	// points the candidate learned from its own training rows, or else
	// (a candidate without them) the built-in points rules fitted on
	// history before the cut-off; "none" means no baseline.
	Baseline string
	Data     BacktestData
	// Cutoff and Horizon define a history backtest. A zero Cutoff means
	// the latest one whose labels are complete: HistoryEnd (or the last
	// time in the history) minus the horizon.
	Cutoff  time.Time
	Horizon time.Duration
	// HistoryEnd is when the history was observed until, when known (a
	// generated history's manifest says); events stop before it.
	HistoryEnd time.Time
	// HistoryStore is the store Data.Store reads.
	HistoryStore leadscore.HistoryStore
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
	// Actor is who runs the backtest, recorded with a policy file it
	// stores; empty means "leadscore".
	Actor string
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
//
// A registered evaluation is what promotion reads, so it must compare with
// what promotion will compare with: the model's current champion. A
// registered backtest therefore takes no champion override.
func (r *Registry) Backtest(ctx context.Context, req BacktestRequest) (*BacktestResult, error) {
	progress := func(stage string, fraction float64, message string) {
		if req.Progress != nil {
			req.Progress(stage, fraction, message)
		}
	}
	if req.Horizon < 0 {
		return nil, leadscore.InvalidField("horizon", req.Horizon.String(), "must be positive")
	}
	if req.Horizon == 0 {
		req.Horizon = dataset.DefaultHorizon
	}
	progress("models", 0, "loading the candidate")
	cand, err := r.resolveModel(ctx, "candidate", req.Candidate)
	if err != nil {
		return nil, err
	}
	if req.Register {
		switch {
		case cand.version == nil:
			return nil, leadscore.InvalidField("candidate", req.Candidate, "is an artifact file: only a registered version's evaluation can be stored; register it first")
		case req.Champion != "":
			return nil, leadscore.InvalidField("champion", req.Champion, "a stored evaluation always compares with the model's current champion; leave the champion unset")
		case r.store == nil:
			return nil, leadscore.InvalidField("register", true, "no store is open")
		}
	}
	champ, err := r.resolveChampion(ctx, req, cand)
	if err != nil {
		return nil, err
	}
	base, err := r.resolveBaseline(ctx, req, cand)
	if err != nil {
		return nil, err
	}
	actor := req.Actor
	if actor == "" {
		actor = "leadscore"
	}
	policy, policyName, policyRec, err := r.policy(ctx, req.Policy, actor)
	if err != nil {
		return nil, err
	}
	if req.Data.History != nil && req.HistoryEnd.IsZero() {
		// A generated history's manifest says when observation ended.
		req.HistoryEnd = dataset.ObservedUntil(filepath.Dir(req.Data.History.Leads))
	}
	progress("reading", 0.05, "reading the data")
	// The data is read as the candidate's training data was: the values
	// it learned as missing must not come back as categories.
	reading := cand.model.Metadata.Reading
	if req.Data.Flat != nil {
		flat := *req.Data.Flat
		flat.Options = flat.Options.WithReading(reading)
		req.Data.Flat = &flat
	}
	h, table, source, _, err := loadData(ctx, req.Data, req.HistoryStore, dataset.ReadOptions{}.WithReading(reading))
	if err != nil {
		return nil, err
	}
	models := backtest.Models{Candidate: backtest.Model{Name: cand.name, Model: cand.model}}
	if champ != nil {
		models.Champion = backtest.Model{Name: champ.name, Model: champ.model}
	}
	if base != nil {
		models.Baseline = backtest.Model{Name: base.name, Model: base.model}
	}
	stages := 0
	opts := backtest.Options{
		Seed: req.Seed, Policy: policy, PolicyName: policyName, Source: source,
		ObservedUntil: req.HistoryEnd, NoBaseline: req.Baseline == "none", Now: r.now,
		Progress: func(stage string) {
			stages++
			progress("scoring", min(0.95, 0.1+0.12*float64(stages)), stage)
		},
	}
	var rep *evaluator.Report
	if table != nil {
		rep, err = backtest.Flat(ctx, table, models, opts)
	} else {
		cutoff := req.Cutoff
		if cutoff.IsZero() {
			cutoff = defaultCutoff(h, req.HistoryEnd, req.Horizon)
		}
		rep, err = backtest.History(ctx, h, cutoff, req.Horizon, models, opts)
	}
	if err != nil {
		return nil, err
	}
	if table != nil {
		rep.Warnings = append(rep.Warnings, table.Stats().Notes...)
	}
	res := &BacktestResult{Report: rep}
	if !req.Register {
		progress("done", 1, rep.Verdict)
		return res, nil
	}
	progress("storing", 0.97, "storing the evaluation")
	ev, err := r.RecordEvaluation(ctx, *cand.version, champ, rep, policyRec, req.JobID)
	if err != nil {
		return nil, err
	}
	res.Evaluation = &ev
	progress("done", 1, rep.Verdict)
	return res, nil
}

// RecordEvaluation stores a backtest of a registered version. The report's
// champion must be the version's model's champion (or none), since
// promotion reads the evaluation as a comparison with it.
func (r *Registry) RecordEvaluation(ctx context.Context, v leadscore.ModelVersion, champ *resolved, rep *evaluator.Report, policy leadscore.GatePolicyRecord, jobID string) (leadscore.Evaluation, error) {
	report, err := rep.JSON()
	if err != nil {
		return leadscore.Evaluation{}, err
	}
	ev := leadscore.Evaluation{
		ID:        NewID("ev"),
		JobID:     jobID,
		Model:     v.Model,
		Version:   v.Version,
		DataStart: rep.Data.WindowStart,
		DataEnd:   rep.Data.WindowEnd,
		Report:    report,
		CreatedAt: r.clock(),
	}
	if champ != nil {
		if champ.version == nil || champ.version.Model != v.Model {
			return leadscore.Evaluation{}, leadscore.InvalidField("champion", champ.name, "is not a version of "+leadscore.ModelName(v.Model))
		}
		ev.ChampionVersion = champ.version.Version
	}
	if rep.Baseline != nil {
		ev.Baseline = rep.Baseline.Model
	}
	if rep.Gate != nil {
		if policy.Name == "" {
			return leadscore.Evaluation{}, leadscore.Errorf(leadscore.EINTERNAL, "a gated evaluation needs its stored policy")
		}
		passed := rep.Gate.Passed
		ev.Passed = &passed
		ev.GatePolicy, ev.GatePolicyRevision = policy.Name, policy.Revision
	}
	if err := r.store.CreateEvaluation(ctx, ev); err != nil {
		return leadscore.Evaluation{}, err
	}
	return ev, nil
}

// NewID returns a new random id with a prefix, such as "ev-3f9c...": 80
// random bits, so ids never collide across processes.
func NewID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("read random bytes: %v", err))
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}
