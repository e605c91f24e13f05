package registry_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/dataset/synth"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/postgres/pgtest"
	"github.com/leadscore/leadscore/registry"
	"github.com/leadscore/leadscore/sqlite"
	"github.com/leadscore/leadscore/trainer"
)

// fixture is a generated history with artifacts trained on its first part:
// what a data team has after `generate` and `train`.
type fixture struct {
	dir       string
	files     dataset.HistoryFiles
	end       time.Time
	trainedTo time.Time
	// artifacts by name: "logistic", "gbdt", "logistic-strong-l2".
	artifacts map[string][]byte
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

func history(t *testing.T) fixture {
	t.Helper()
	fixOnce.Do(func() {
		ctx := context.Background()
		dir, err := os.MkdirTemp("", "registry-test-")
		if err != nil {
			fixErr = err
			return
		}
		cfg := synth.DefaultConfig()
		cfg.Leads, cfg.Seed = 6000, 7
		if _, fixErr = synth.Generate(ctx, dir, cfg); fixErr != nil {
			return
		}
		fix.dir, fix.end = dir, cfg.End()
		fix.files = dataset.HistoryFiles{Leads: filepath.Join(dir, "leads.csv"), Events: filepath.Join(dir, "events.csv"), Outcomes: filepath.Join(dir, "outcomes.csv")}
		h, _, err := dataset.LoadHistory(ctx, fix.files, dataset.ReadOptions{})
		if err != nil {
			fixErr = err
			return
		}
		// Train on the first year; backtests judge the last six months.
		fix.trainedTo = cfg.Start.AddDate(1, 0, 0)
		d, err := trainer.FromHistory(ctx, h, trainer.HistoryOptions{ObservedUntil: fix.trainedTo})
		if err != nil {
			fixErr = err
			return
		}
		fix.artifacts = map[string][]byte{}
		for name, c := range map[string]trainer.Config{
			"logistic":           {Family: model.FamilyLogistic, Seed: 1},
			"logistic-strong-l2": {Family: model.FamilyLogistic, Seed: 1, Logistic: trainer.LogisticOptions{C: 0.001}},
			"gbdt":               {Family: model.FamilyGBDT, Seed: 1, GBDT: trainer.GBDTOptions{NumTrees: 40, MaxDepth: 3}},
			"points":             {Family: model.FamilyPoints, PointsRules: model.DefaultPointsRules},
		} {
			m, _, err := trainer.Train(ctx, d, c)
			if err != nil {
				fixErr = err
				return
			}
			if fix.artifacts[name], err = artifact.Marshal(m); err != nil {
				fixErr = err
				return
			}
		}
	})
	if fixErr != nil {
		t.Fatalf("prepare generated history and artifacts: %v", fixErr)
	}
	return fix
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fix.dir != "" {
		os.RemoveAll(fix.dir)
	}
	os.Exit(code)
}

type store interface {
	leadscore.Store
	leadscore.RegistryStore
}

// backends runs fn against a fresh, migrated store of each backend.
func backends(t *testing.T, fn func(t *testing.T, st store)) {
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "leadscore.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		fn(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		db := pgtest.Open(t)
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		fn(t, db)
	})
}

func register(t *testing.T, reg *registry.Registry, name string) leadscore.ModelVersion {
	t.Helper()
	v, _, err := reg.RegisterVersion(t.Context(), registry.NewVersion{
		Model: "default", Artifact: history(t).artifacts[name], Actor: "test", CreateModel: true, Description: name,
	})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return v
}

func backtestVersion(t *testing.T, reg *registry.Registry, v leadscore.ModelVersion) *registry.BacktestResult {
	t.Helper()
	f := history(t)
	res, err := reg.Backtest(t.Context(), registry.BacktestRequest{
		Candidate: v.Ref().Name(), Data: registry.BacktestData{History: &f.files},
		Cutoff: f.trainedTo.AddDate(0, 1, 0), Horizon: 90 * 24 * time.Hour, HistoryEnd: f.end, Seed: 1, Register: true, Actor: "test",
	})
	if err != nil {
		t.Fatalf("backtest %s: %v", v.Ref().Name(), err)
	}
	return res
}

func wantCode(t *testing.T, err error, code leadscore.Code, says string) *leadscore.Error {
	t.Helper()
	if leadscore.ErrorCode(err) != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
	var le *leadscore.Error
	errors.As(err, &le)
	text := le.Message
	for _, v := range le.Preconditions {
		text += "\n" + v.Subject + ": " + v.Description
	}
	if !strings.Contains(text, says) {
		t.Fatalf("error %q does not say %q", text, says)
	}
	return le
}

// TestGatedPromotion walks a model's life: a version without an evaluation
// is refused, a passing backtest against the points baseline makes the
// first champion, a later version is judged against that champion, an
// evaluation stops counting when the champion moves, a forced promotion
// needs a reason, and a rollback restores the previous champion; the
// history records every move with its evaluation.
func TestGatedPromotion(t *testing.T) {
	backends(t, func(t *testing.T, st store) {
		ctx := t.Context()
		reg := registry.New(st)
		// On this small history (about 100 conversions after the cut-off)
		// the trees beat the points baseline, while a weakly regularised
		// logistic regression overfits and loses to it.
		v1 := register(t, reg, "gbdt")
		v2 := register(t, reg, "logistic-strong-l2")
		v3 := register(t, reg, "logistic")
		if v1.Version != 1 || v2.Version != 2 || v3.Version != 3 {
			t.Fatalf("versions numbered %d, %d, %d; want 1, 2, 3", v1.Version, v2.Version, v3.Version)
		}
		if !v1.Lineage.DataEnd.Equal(history(t).trainedTo) && v1.Lineage.DataEnd.After(history(t).trainedTo) {
			t.Fatalf("lineage data end %s is after the training cut-off %s", v1.Lineage.DataEnd, history(t).trainedTo)
		}

		_, _, err := reg.Promote(ctx, registry.Promotion{Version: v1.Ref(), Actor: "test"})
		le := wantCode(t, err, leadscore.EPRECONDITION, "no stored evaluation")
		if le.Preconditions[0].Subject != v1.Ref().Name() {
			t.Errorf("violation subject = %q, want %q", le.Preconditions[0].Subject, v1.Ref().Name())
		}

		res := backtestVersion(t, reg, v1)
		if res.Report.Champion != nil || res.Report.Baseline == nil {
			t.Fatalf("first backtest compared with champion %v and baseline %v; want no champion and a baseline", res.Report.Champion, res.Report.Baseline)
		}
		if res.Report.Verdict != "pass" {
			t.Fatalf("gbdt against the points baseline: verdict %s, checks %+v", res.Report.Verdict, res.Report.Gate)
		}
		a, change, err := reg.Promote(ctx, registry.Promotion{Version: v1.Ref(), Actor: "test", RequestID: "promote-v1"})
		if err != nil {
			t.Fatalf("promote v1 after a passing backtest: %v", err)
		}
		if a.Version != 1 || change.Seq != 1 || change.Evaluation != res.Evaluation.ID || change.Kind != leadscore.AliasPromote {
			t.Fatalf("promotion = %+v, %+v; want champion 1, seq 1, evaluation %s", a, change, res.Evaluation.ID)
		}
		// A retry with the same request id returns the first result.
		a2, change2, err := reg.Promote(ctx, registry.Promotion{Version: v1.Ref(), Actor: "test", RequestID: "promote-v1"})
		if err != nil || change2.Seq != 1 || a2.Revision != a.Revision {
			t.Fatalf("retried promotion = %+v, %+v, %v; want the first result", a2, change2, err)
		}

		// v3 (the overfitted logistic regression) fails its gate against
		// v1, and the registry refuses it.
		res3 := backtestVersion(t, reg, v3)
		if res3.Report.Verdict != "fail" || res3.Evaluation.ChampionVersion != 1 || res3.Evaluation.Passed == nil || *res3.Evaluation.Passed {
			t.Fatalf("overfitted candidate: verdict %s, evaluation %+v; want a stored failure against champion 1", res3.Report.Verdict, res3.Evaluation)
		}
		_, _, err = reg.Promote(ctx, registry.Promotion{Version: v3.Ref(), Actor: "test"})
		wantCode(t, err, leadscore.EPRECONDITION, "it failed gate policy default revision 1")

		// v2 is judged against v1; then v3 is forced in, and v2's
		// evaluation no longer counts, whatever its verdict.
		res2 := backtestVersion(t, reg, v2)
		if res2.Report.Champion == nil || res2.Evaluation.ChampionVersion != 1 {
			t.Fatalf("second backtest compared with %+v; want champion version 1", res2.Evaluation)
		}
		_, _, err = reg.Promote(ctx, registry.Promotion{Version: v3.Ref(), Actor: "test", Force: true})
		wantCode(t, err, leadscore.EINVALID, "reason")
		_, forced, err := reg.Promote(ctx, registry.Promotion{Version: v3.Ref(), Actor: "oncall", Force: true, Reason: "incident 42: v1 scores drift"})
		if err != nil || forced.Kind != leadscore.AliasForce || forced.FromVersion != 1 || forced.ToVersion != 3 {
			t.Fatalf("forced promotion = %+v, %v", forced, err)
		}
		_, _, err = reg.Promote(ctx, registry.Promotion{Version: v2.Ref(), Actor: "test"})
		wantCode(t, err, leadscore.EPRECONDITION, "compared with champion version 1, but version 3 is champion now")

		// A stale etag is refused before the gate is asked.
		_, _, err = reg.Promote(ctx, registry.Promotion{Version: v1.Ref(), Actor: "test", ExpectRevision: a.Revision, Force: true, Reason: "stale"})
		wantCode(t, err, leadscore.EABORTED, "")

		rolled, rb, err := reg.RollbackAlias(ctx, registry.Rollback{Alias: leadscore.AliasRef{Model: "default", Alias: "champion"}, Reason: "v3 was a mistake", Actor: "oncall"})
		if err != nil || rolled.Version != 1 || rb.Kind != leadscore.AliasRollback || rb.Seq != 3 {
			t.Fatalf("rollback = %+v, %+v, %v; want champion 1 at seq 3", rolled, rb, err)
		}
		hist, err := st.ListAliasHistory(ctx, leadscore.AliasRef{Model: "default", Alias: "champion"}, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range hist {
			got = append(got, string(c.Kind))
		}
		if strings.Join(got, ",") != "rollback,force,promote" {
			t.Fatalf("history kinds newest first = %v, want rollback, force, promote", got)
		}
		if hist[1].Reason != "incident 42: v1 scores drift" || hist[1].Actor != "oncall" || hist[2].Evaluation != res.Evaluation.ID {
			t.Fatalf("history entries lost who, why or the evaluation: %+v", hist)
		}
	})
}

// TestBacktestOfArtifactFileNeedsNoStore checks the CI path: an artifact
// file backtested on history files with the built-in policy.
func TestBacktestOfArtifactFileNeedsNoStore(t *testing.T) {
	f := history(t)
	path := filepath.Join(t.TempDir(), "candidate.lsm")
	if err := os.WriteFile(path, f.artifacts["logistic"], 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := registry.New(nil).Backtest(t.Context(), registry.BacktestRequest{
		Candidate: path, Data: registry.BacktestData{History: &f.files}, HistoryEnd: f.end, Seed: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Evaluation != nil || res.Report.Gate == nil || res.Report.Candidate.Model != path {
		t.Fatalf("report = %+v, evaluation %+v; want a gated, unstored report on %s", res.Report, res.Evaluation, path)
	}
	wantCutoff := f.end.Add(-dataset.DefaultHorizon)
	if !res.Report.Data.Cutoff.Equal(wantCutoff) {
		t.Errorf("default cut-off = %s, want the history end minus the horizon, %s", res.Report.Data.Cutoff, wantCutoff)
	}
}

// TestLoaderFollowsAliasMoves checks that a loader swaps in a moved
// champion only once it is loaded completely.
func TestLoaderFollowsAliasMoves(t *testing.T) {
	backends(t, func(t *testing.T, st store) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		reg := registry.New(st)
		v1 := register(t, reg, "logistic")
		v2 := register(t, reg, "gbdt")
		champion := leadscore.AliasRef{Model: "default", Alias: "champion"}
		if _, _, err := reg.Promote(ctx, registry.Promotion{Version: v1.Ref(), Force: true, Reason: "bootstrap", Actor: "test"}); err != nil {
			t.Fatal(err)
		}
		loaded := make(chan *registry.Loaded, 10)
		l := registry.NewLoader(reg, []leadscore.AliasRef{champion}, slogDiscard())
		l.OnLoad = func(x *registry.Loaded) { loaded <- x }
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		first := receive(t, loaded)
		if first.Version.Version != 1 || first.Model == nil || first.Model.Family != model.FamilyLogistic {
			t.Fatalf("first load = %+v, want version 1, a logistic model", first)
		}
		start := time.Now()
		if _, _, err := reg.Promote(ctx, registry.Promotion{Version: v2.Ref(), Force: true, Reason: "move", Actor: "test"}); err != nil {
			t.Fatal(err)
		}
		second := receive(t, loaded)
		if second.Version.Version != 2 || second.Model.Family != model.FamilyGBDT {
			t.Fatalf("after the move loaded %+v, want version 2", second)
		}
		if cur := l.Current(champion); cur != second {
			t.Fatalf("Current = %+v, want the second load", cur)
		}
		t.Logf("the move was loaded %s after the promotion returned", time.Since(start))
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	})
}

func receive(t *testing.T, c <-chan *registry.Loaded) *registry.Loaded {
	t.Helper()
	select {
	case x := <-c:
		return x
	case <-time.After(10 * time.Second):
		t.Fatal("no load within 10 s")
		return nil
	}
}
