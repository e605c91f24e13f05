package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// xgbTestdata is where the importer's golden XGBoost files are.
var xgbTestdata = filepath.Join("..", "..", "model", "xgbimport", "testdata")

// splitTable writes the header and the first n rows of a CSV file to
// earlier, and the header and the rest to later.
func splitTable(t *testing.T, src string, n int, earlier, later string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	if err := os.WriteFile(earlier, []byte(strings.Join(lines[:n+1], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(later, []byte(lines[0]+strings.Join(lines[n+1:], "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestImportModelToChampion imports an XGBoost model as the README does,
// backtests it on later leads and promotes it through the gate.
func TestImportModelToChampion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	train, later := filepath.Join(dir, "leads-train.csv"), filepath.Join(dir, "leads-later.csv")
	splitTable(t, filepath.Join(xgbTestdata, "synth.csv"), 3600, train, later)
	store, art := filepath.Join(dir, "leadscore.db"), filepath.Join(dir, "xgb.lsm")
	code, out, errOut := runCommand(t, nil, "import-model", "--format", "xgboost-json", filepath.Join(xgbTestdata, "synth.model.json"),
		"--reference", train, "--label", "y", "--time-column", "signed_up", "--calibration", "platt", "--out", art, "--register", "xgb", "--store", store)
	if code != exitOK {
		t.Fatalf("import-model: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"binary:logitraw", "9 mapped to 6 attributes", "calibration: platt", "registered models/xgb/versions/1 (gbdt"} {
		if !strings.Contains(out, want) {
			t.Errorf("import-model output lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = runCommand(t, nil, "backtest", "--model", "xgb/versions/1", "--data", later, "--label", "y", "--time-column", "signed_up", "--store", store)
	if code != exitOK || !strings.Contains(out, "verdict: pass") {
		t.Fatalf("backtest: exit %d, want a pass\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCommand(t, nil, "promote", "xgb/versions/1", "--store", store)
	if code != exitOK {
		t.Fatalf("promote: exit %d\n%s%s", code, out, errOut)
	}
}

func TestImportModelRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.json")
	if err := os.WriteFile(corrupt, []byte(`{"learner": {"feature_names": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	model, table := filepath.Join(xgbTestdata, "synth.model.json"), filepath.Join(xgbTestdata, "synth.csv")
	out := filepath.Join(dir, "out.lsm")
	// After the parallel subtests: none of them wrote the artifact.
	t.Cleanup(func() {
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("a refused import wrote %s", out)
		}
	})
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"another_format", []string{"--format", "onnx", model, "--reference", table, "--label", "y", "--out", out}, "--format"},
		{"no_reference", []string{model, "--label", "y", "--out", out}, "--reference"},
		{"corrupt_model", []string{corrupt, "--reference", table, "--label", "y", "--out", out}, "is not valid JSON"},
		{"unmappable_feature", []string{filepath.Join(xgbTestdata, "bank.model.json"), "--reference", table, "--label", "y", "--out", out}, "is not mapped"},
		{"bad_mapping_flag", []string{model, "--reference", table, "--label", "y", "--out", out, "--map", "visits"}, "--map"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, _, errOut := runCommand(t, nil, append([]string{"import-model"}, c.args...)...)
			if code == exitOK || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, stderr %q: want a failure naming %s", code, errOut, c.want)
			}
		})
	}
}
