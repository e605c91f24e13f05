package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// workflow is a generated history with two models trained on its first
// year and registered in an embedded store: what a data team has before
// its first backtest.
type workflow struct {
	dir, history, store string
	gbdt, logistic      string
}

var (
	wfOnce sync.Once
	wf     workflow
	wfErr  error
)

// trainedUntil is where the workflow's models stop learning; backtests
// judge them on what came after.
const trainedUntil = "2025-01-01"

func setupWorkflow(t *testing.T) workflow {
	t.Helper()
	wfOnce.Do(func() {
		dir, err := os.MkdirTemp("", "leadscore-backtest-")
		if err != nil {
			wfErr = err
			return
		}
		wf = workflow{dir: dir, history: filepath.Join(dir, "history"), store: filepath.Join(dir, "store", "leadscore.db"),
			gbdt: filepath.Join(dir, "gbdt.lsm"), logistic: filepath.Join(dir, "logistic.lsm")}
		steps := [][]string{
			{"generate", "--out", wf.history, "--leads", "6000", "--seed", "7"},
			{"train", "--data", wf.history, "--until", trainedUntil, "--family", "gbdt", "--tune=false", "--trees", "40", "--depth", "3", "--out", wf.gbdt, "--register", "default", "--store", wf.store},
			{"train", "--data", wf.history, "--until", trainedUntil, "--family", "logistic", "--tune=false", "--out", wf.logistic, "--register", "default", "--store", wf.store},
		}
		for _, args := range steps {
			if code, _, errOut := runCommand(t, nil, args...); code != exitOK {
				wfErr = fmt.Errorf("%s: exit %d: %s", args[0], code, errOut)
				return
			}
		}
	})
	if wfErr != nil {
		t.Fatalf("prepare the workflow: %v", wfErr)
	}
	return wf
}

// backtestJSON is the part of the JSON report CI pipelines read; the
// field names are the documented, stable ones.
type backtestJSON struct {
	Verdict   string `json:"verdict"`
	Candidate struct {
		Model         string  `json:"model"`
		RocAUC        float64 `json:"roc_auc"`
		PrAUC         float64 `json:"pr_auc"`
		LogLoss       float64 `json:"log_loss"`
		Brier         float64 `json:"brier"`
		ECE           float64 `json:"ece"`
		KS            float64 `json:"ks"`
		LiftTopDecile float64 `json:"lift_top_decile"`
		Deciles       []struct {
			CloseRate float64 `json:"close_rate"`
			Lift      float64 `json:"lift"`
		} `json:"deciles"`
	} `json:"candidate"`
	Champion *struct {
		Model string `json:"model"`
	} `json:"champion"`
	Baseline *struct {
		Model string `json:"model"`
	} `json:"baseline"`
}

func TestBacktestExitCodes(t *testing.T) {
	w := setupWorkflow(t)
	failing := filepath.Join(t.TempDir(), "strict.yaml")
	if err := os.WriteFile(failing, []byte("description: an AUC no lead model reaches\nrules:\n  - metric: roc_auc\n    min_value: 0.99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"backtest", "--data", w.history, "--cutoff", "2025-02-01", "--store", filepath.Join(t.TempDir(), "unused.db")}
	tests := []struct {
		name string
		args []string
		want int
		says string
	}{
		{"gate passes", []string{"--model", w.gbdt}, exitOK, "verdict: pass"},
		{"no gate", []string{"--model", w.gbdt, "--gate", "none"}, exitOK, "verdict: none"},
		{"gate fails", []string{"--model", w.gbdt, "--gate", failing}, exitFail, "verdict: fail"},
		{"cut-off inside the training window", []string{"--model", w.gbdt, "--cutoff", "2024-12-01"}, exitError, "before the end of the candidate's training data"},
		{"labels incomplete", []string{"--model", w.gbdt, "--cutoff", "2025-06-01"}, exitError, "leaves the labels incomplete"},
		{"missing artifact", []string{"--model", filepath.Join(t.TempDir(), "nope.lsm")}, exitError, "nope.lsm"},
		{"bad policy", []string{"--model", w.gbdt, "--gate", writeTemp(t, "bad.yaml", "rules:\n  - metric: roc_auc\n    max_regression: -1\n")}, exitError, "rules[0].max_regression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{}, base...), tt.args...)
			// A later --cutoff overrides the base one.
			code, out, errOut := runCommand(t, nil, args...)
			if code != tt.want {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.want, out, errOut)
			}
			if !strings.Contains(out+errOut, tt.says) {
				t.Fatalf("output does not say %q:\nstdout: %s\nstderr: %s", tt.says, out, errOut)
			}
		})
	}
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBacktestGatesPromotion walks the registry path of the command line:
// promotion refused without a backtest, a registered backtest with its
// three reports, promotion, the audited history, and rollback.
func TestBacktestGatesPromotion(t *testing.T) {
	w := setupWorkflow(t)
	// Each test works on its own copy of the store.
	store := filepath.Join(t.TempDir(), "leadscore.db")
	copyFile(t, w.store, store)
	code, _, errOut := runCommand(t, nil, "promote", "default/versions/1", "--store", store)
	if code != exitFail || !strings.Contains(errOut, "no stored evaluation") {
		t.Fatalf("promote without a backtest: exit %d, stderr %s; want exit 1 naming the missing evaluation", code, errOut)
	}

	reports := filepath.Join(t.TempDir(), "report")
	code, out, errOut := runCommand(t, nil, "backtest", "--model", "default/versions/1", "--data", w.history, "--cutoff", "2025-02-01",
		"--store", store, "--report-dir", reports, "--json")
	if code != exitOK {
		t.Fatalf("registered backtest: exit %d\n%s", code, errOut)
	}
	var rep backtestJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output is not the report: %v\n%s", err, out)
	}
	if rep.Verdict != "pass" || rep.Candidate.Model != "models/default/versions/1" || rep.Champion != nil || rep.Baseline == nil {
		t.Fatalf("report verdict %q candidate %q champion %v baseline %v; want a pass of version 1 against the baseline only", rep.Verdict, rep.Candidate.Model, rep.Champion, rep.Baseline)
	}
	if len(rep.Candidate.Deciles) != 10 || !(rep.Candidate.RocAUC > 0.5) || !(rep.Candidate.PrAUC > 0) || !(rep.Candidate.LogLoss > 0) ||
		!(rep.Candidate.Brier > 0) || !(rep.Candidate.KS > 0) || rep.Candidate.LiftTopDecile != rep.Candidate.Deciles[0].Lift {
		t.Fatalf("report figures incomplete: %+v", rep.Candidate)
	}
	for _, name := range []string{"report.json", "report.md", "report.html"} {
		if fi, err := os.Stat(filepath.Join(reports, name)); err != nil || fi.Size() == 0 {
			t.Errorf("--report-dir did not write %s: %v", name, err)
		}
	}

	code, out, errOut = runCommand(t, nil, "promote", "default/versions/1", "--store", store, "--actor", "ci", "--json")
	if code != exitOK {
		t.Fatalf("promote after a passing backtest: exit %d\n%s", code, errOut)
	}
	// Version 2 (logistic) is now judged against champion 1.
	code, out, errOut = runCommand(t, nil, "backtest", "--model", "default@2", "--data", w.history, "--cutoff", "2025-02-01", "--store", store, "--json")
	if code != exitOK && code != exitFail {
		t.Fatalf("backtest of version 2: exit %d\n%s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Champion == nil || rep.Champion.Model != "models/default/versions/1" {
		t.Fatalf("version 2 was not compared with champion 1: %v %+v", err, rep.Champion)
	}

	code, out, errOut = runCommand(t, nil, "models", "default@champion", "--store", store, "--json")
	if code != exitOK {
		t.Fatalf("models: exit %d\n%s", code, errOut)
	}
	var hist struct {
		History []struct {
			Sequence   int    `json:"sequence"`
			Kind       string `json:"kind"`
			Actor      string `json:"actor"`
			Evaluation string `json:"evaluation"`
		} `json:"history"`
	}
	if err := json.Unmarshal([]byte(out), &hist); err != nil || len(hist.History) != 1 {
		t.Fatalf("history = %s (%v); want one entry", out, err)
	}
	if h := hist.History[0]; h.Kind != "promote" || h.Actor != "ci" || !strings.HasPrefix(h.Evaluation, "evaluations/ev-") {
		t.Fatalf("history entry %+v; want a promotion by ci with its evaluation", h)
	}
	code, _, errOut = runCommand(t, nil, "rollback", "default@champion", "--store", store, "--reason", "test")
	if code != exitFail || !strings.Contains(errOut, "roll back") {
		t.Fatalf("rollback of a first champion: exit %d, %s; want exit 1, nothing to roll back to", code, errOut)
	}
	code, _, errOut = runCommand(t, nil, "rollback", "default@champion", "--store", store)
	if code != exitError || !strings.Contains(errOut, "reason") {
		t.Fatalf("rollback without a reason: exit %d, %s; want exit 2 naming the reason", code, errOut)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBacktestFlatTable checks the same command on a flat CSV with a label,
// judged on a later table than the model was trained on.
func TestBacktestFlatTable(t *testing.T) {
	dir := t.TempDir()
	train := writeFlatLeads(t, dir, "train.csv", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), 1)
	later := writeFlatLeads(t, dir, "later.csv", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), 2)
	art := filepath.Join(dir, "flat.lsm")
	if code, _, errOut := runCommand(t, nil, "train", "--table", train, "--label", "converted", "--positive", "yes", "--time-column", "signed_up", "--family", "logistic", "--out", art); code != exitOK {
		t.Fatalf("train: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCommand(t, nil, "backtest", "--model", art, "--data", later, "--label", "converted", "--positive", "yes", "--time-column", "signed_up", "--gate", "none", "--json")
	if code != exitOK {
		t.Fatalf("flat backtest: exit %d: %s", code, errOut)
	}
	var rep backtestJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if !(rep.Candidate.RocAUC > 0.6) || len(rep.Candidate.Deciles) != 10 {
		t.Fatalf("flat backtest figures %+v; want an AUC above 0.6 and ten deciles", rep.Candidate)
	}
	// The table the model was trained on is refused: it flatters.
	code, _, errOut = runCommand(t, nil, "backtest", "--model", art, "--data", train, "--label", "converted", "--positive", "yes", "--time-column", "signed_up", "--gate", "none")
	if code != exitError || !strings.Contains(errOut, "training data") {
		t.Fatalf("backtest on the training table: exit %d, %s; want exit 2 naming the training data", code, errOut)
	}
}

// writeFlatLeads writes a flat table of 1,500 leads signed up an hour
// apart from start: conversion rises with the company size and is higher
// in saas.
func writeFlatLeads(t *testing.T, dir, name string, start time.Time, seed uint64) string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString("signed_up,employees,industry,converted\n")
	for i := range 1500 {
		emp := r.IntN(500)
		ind := []string{"saas", "retail", "finance"}[r.IntN(3)]
		p := 0.03 + 0.25*float64(emp)/500
		if ind == "saas" {
			p += 0.1
		}
		fmt.Fprintf(&b, "%s,%d,%s,%s\n", start.Add(time.Duration(i)*time.Hour).Format(time.RFC3339), emp, ind, map[bool]string{true: "yes", false: "no"}[r.Float64() < p])
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
