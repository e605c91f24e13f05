package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/model"
)

// TestRulesExportsWhatTheModelApplies learns points from a flat table,
// exports them with `leadscore rules`, and trains again from the file:
// the second model applies the same points with the same calibration and
// grid, so it scores every lead identically.
func TestRulesExportsWhatTheModelApplies(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	train := writeFlatLeads(t, dir, "train.csv", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), 3)
	flags := []string{"--table", train, "--label", "converted", "--positive", "yes", "--time-column", "signed_up", "--family", "points"}
	learned := filepath.Join(dir, "points.lsm")
	if code, _, errOut := runCommand(t, nil, append([]string{"train", "--out", learned}, flags...)...); code != exitOK {
		t.Fatalf("train points: exit %d: %s", code, errOut)
	}
	code, printed, errOut := runCommand(t, nil, "rules", learned)
	if code != exitOK {
		t.Fatalf("rules: exit %d: %s", code, errOut)
	}
	rules, err := model.ParsePointsRules([]byte(printed))
	if err != nil {
		t.Fatalf("the printed rules do not parse: %v\n%s", err, printed)
	}
	m, err := artifact.ReadFile(learned)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rules.Rules, m.Points.Rules) || !strings.HasPrefix(printed, "# Points rules of "+learned) {
		t.Fatalf("printed rules differ from the model's:\n%s", printed)
	}
	// The size and the industry both matter, so both earn points.
	for _, attr := range []string{"employees", "industry"} {
		if !strings.Contains(printed, "attribute: "+attr) {
			t.Errorf("no rule reads %s:\n%s", attr, printed)
		}
	}

	file := filepath.Join(dir, "points.yaml")
	code, out, errOut := runCommand(t, nil, "rules", learned, "--out", file)
	if code != exitOK || !strings.Contains(out, "wrote ") {
		t.Fatalf("rules --out: exit %d: %s%s", code, out, errOut)
	}
	if written, _ := os.ReadFile(file); string(written) != printed {
		t.Errorf("--out wrote other rules than were printed")
	}
	again := filepath.Join(dir, "again.lsm")
	if code, _, errOut := runCommand(t, nil, append([]string{"train", "--out", again, "--rules", file}, flags...)...); code != exitOK {
		t.Fatalf("train --rules: exit %d: %s", code, errOut)
	}
	m2, err := artifact.ReadFile(again)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m2.Points, m.Points) || !reflect.DeepEqual(m2.Calibration, m.Calibration) || !reflect.DeepEqual(m2.Grid, m.Grid) {
		t.Errorf("the model trained from the exported rules differs from the learned one")
	}

	t.Run("prints another family's points baseline", func(t *testing.T) {
		logistic := filepath.Join(dir, "logistic.lsm")
		args := append([]string{"train", "--out", logistic, "--tune=false"}, flags[:len(flags)-2]...)
		if code, _, errOut := runCommand(t, nil, append(args, "--family", "logistic")...); code != exitOK {
			t.Fatalf("train logistic: exit %d: %s", code, errOut)
		}
		code, out, errOut := runCommand(t, nil, "rules", logistic)
		if code != exitOK || !strings.Contains(out, "the points baseline of "+logistic) {
			t.Fatalf("rules of a logistic model: exit %d, %s", code, errOut)
		}
		// Learned from the same rows as the points model above.
		if rules, err := model.ParsePointsRules([]byte(out)); err != nil || !reflect.DeepEqual(rules.Rules, m.Points.Rules) {
			t.Errorf("the logistic model's baseline is not the points learned from the same rows (%v):\n%s", err, out)
		}
		// A model without a baseline has no rules to print.
		lm, err := artifact.ReadFile(logistic)
		if err != nil {
			t.Fatal(err)
		}
		lm.PointsBaseline = nil
		bare := filepath.Join(dir, "bare.lsm")
		if err := artifact.WriteFile(bare, lm); err != nil {
			t.Fatal(err)
		}
		code, _, errOut = runCommand(t, nil, "rules", bare)
		if code != exitError || !strings.Contains(errOut, "logistic model without a points baseline") {
			t.Errorf("rules of a logistic model without a baseline: exit %d, %s; want exit 2 saying so", code, errOut)
		}
	})
}

// TestFirstChampionPassesOnAFlatTable is the registry's path to a first
// champion on a flat table: with no champion and no points version, the
// candidate is judged against the points it learned from its own
// training rows, and promotion follows a passing backtest.
func TestFirstChampionPassesOnAFlatTable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := filepath.Join(dir, "leadscore.db")
	train := writeInteractingLeads(t, dir, "train.csv", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), 3000, 4)
	later := writeInteractingLeads(t, dir, "later.csv", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), 1500, 5)
	read := []string{"--label", "converted", "--time-column", "signed_up"}
	args := append([]string{"train", "--table", train, "--family", "gbdt", "--out", filepath.Join(dir, "m.lsm"), "--register", "leads", "--store", store}, read...)
	if code, _, errOut := runCommand(t, nil, args...); code != exitOK {
		t.Fatalf("train: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCommand(t, nil, append([]string{"backtest", "--model", "leads/versions/1", "--data", later, "--store", store, "--json"}, read...)...)
	var rep backtestJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("backtest: exit %d, %s: %v", code, errOut, err)
	}
	if code != exitOK || rep.Verdict != "pass" || rep.Champion != nil || rep.Baseline == nil || rep.Baseline.Model != "learned:points" {
		_, text, _ := runCommand(t, nil, append([]string{"backtest", "--model", "leads/versions/1", "--data", later, "--store", store, "--register=false"}, read...)...)
		t.Fatalf("backtest: exit %d, verdict %q, champion %v, baseline %v; want a pass against the learned points\n%s", code, rep.Verdict, rep.Champion, rep.Baseline, text)
	}
	if code, _, errOut := runCommand(t, nil, "promote", "leads/versions/1", "--store", store); code != exitOK {
		t.Fatalf("promote the first champion: exit %d: %s", code, errOut)
	}
}

// writeInteractingLeads writes a flat table of n leads signed up an hour
// apart from start in which large saas companies and small retailers
// convert: an interaction that points, which add up one value at a time,
// cannot express and trees can.
func writeInteractingLeads(t *testing.T, dir, name string, start time.Time, n int, seed uint64) string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 2))
	var b strings.Builder
	b.WriteString("signed_up,employees,industry,converted\n")
	for i := range n {
		emp := r.IntN(1000)
		ind := []string{"saas", "retail", "finance"}[r.IntN(3)]
		size := float64(emp) / 1000
		z := -3.0
		switch ind {
		case "saas":
			z += 4 * size
		case "retail":
			z += 4 * (1 - size)
		}
		won := r.Float64() < 1/(1+math.Exp(-z))
		fmt.Fprintf(&b, "%s,%d,%s,%t\n", start.Add(time.Duration(i)*time.Hour).Format(time.RFC3339), emp, ind, won)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
