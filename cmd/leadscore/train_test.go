package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/artifact"
)

func TestTrainWritesAByteIdenticalArtifactForTheSameSeed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	history := filepath.Join(dir, "history")
	if code, _, errOut := runCommand(t, nil, "generate", "--out", history, "--leads", "1500", "--seed", "3"); code != exitOK {
		t.Fatalf("generate: exit %d: %s", code, errOut)
	}
	// Tuning is train's default; --tune=false trains with the flags'
	// values. --trees 20 is the untuned count and the tuned cap.
	tests := []struct {
		family string
		tune   bool
	}{
		{"points", false},
		{"logistic", true},
		{"logistic", false},
		{"gbdt", true},
		{"gbdt", false},
		{"auto", true},
	}
	for _, tt := range tests {
		family := tt.family
		name := family + map[bool]string{true: "/tuned", false: "/untuned"}[tt.tune]
		t.Run(name, func(t *testing.T) {
			args := []string{"train", "--data", history, "--family", family, "--trees", "20"}
			if !tt.tune {
				args = append(args, "--tune=false")
			} else {
				// Tuning only C (and the gbdt's grid) keeps the test's
				// four tuned trainings short under -race; what is tuned
				// does not change what the test checks.
				args = append(args, "--knots", "0", "--interactions", "0")
			}
			a, b := filepath.Join(dir, strings.ReplaceAll(name, "/", "-")+"-a.lsm"), filepath.Join(dir, strings.ReplaceAll(name, "/", "-")+"-b.lsm")
			code, out, errOut := runCommand(t, nil, append(args, "--out", a, "--json")...)
			if code != exitOK {
				t.Fatalf("train: exit %d: %s", code, errOut)
			}
			var summary struct {
				Family     string             `json:"family"`
				Artifact   string             `json:"artifact"`
				SHA256     string             `json:"artifact_sha256"`
				Validation map[string]float64 `json:"validation"`
				Tuning     *struct {
					Fold       string            `json:"fold"`
					Candidates []json.RawMessage `json:"candidates"`
					Chosen     int               `json:"chosen"`
				} `json:"tuning"`
			}
			if err := json.Unmarshal([]byte(out), &summary); err != nil {
				t.Fatalf("--json output is not JSON: %v\n%s", err, out)
			}
			if auc := summary.Validation["roc_auc"]; !(auc > 0.5 && auc < 1) {
				t.Errorf("held-out roc_auc %v, want a number between 0.5 and 1", auc)
			}
			// auto trains the family it chose, and points has nothing to
			// tune.
			tuned := tt.tune && summary.Family != "points"
			if family != "auto" && summary.Family != family {
				t.Errorf("trained %q, want %q", summary.Family, family)
			}
			switch {
			case tuned && (summary.Tuning == nil || summary.Tuning.Fold != "time" || len(summary.Tuning.Candidates) < 2):
				t.Errorf("tuning summary %+v, want the time fold and the candidates tried", summary.Tuning)
			case !tuned && summary.Tuning != nil:
				t.Errorf("untuned training reported a tuning: %+v", summary.Tuning)
			}
			if code, _, errOut := runCommand(t, nil, append(args, "--out", b)...); code != exitOK {
				t.Fatalf("second train: exit %d: %s", code, errOut)
			}
			da, _ := os.ReadFile(a)
			db, _ := os.ReadFile(b)
			if !bytes.Equal(da, db) || len(da) == 0 {
				t.Errorf("two trainings with the same seed wrote different artifacts")
			}
			if got := artifact.SHA256(da); got != summary.SHA256 {
				t.Errorf("summary sha256 %s, file's %s", summary.SHA256, got)
			}
			m, err := artifact.ReadFile(a)
			if err != nil {
				t.Fatalf("the artifact does not load: %v", err)
			}
			if string(m.Family) != summary.Family {
				t.Errorf("artifact family %q, want %q", m.Family, summary.Family)
			}
			if got, want := m.Metadata.Parameters["tuned"] == "true", tuned; got != want {
				t.Errorf("artifact parameters say tuned %v, want %v", got, want)
			}
		})
	}
}

func TestTrainTuneTriesOnlyTheValuesGiven(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	history := filepath.Join(dir, "history")
	if code, _, errOut := runCommand(t, nil, "generate", "--out", history, "--leads", "1500", "--seed", "4"); code != exitOK {
		t.Fatalf("generate: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCommand(t, nil, "train", "--history", history, "--family", "gbdt", "--depth", "4", "--trees", "30",
		"--out", filepath.Join(dir, "m.lsm"), "--json")
	if code != exitOK {
		t.Fatalf("train: exit %d: %s", code, errOut)
	}
	var summary struct {
		Tuning struct {
			Candidates []struct {
				MaxDepth       int     `json:"max_depth"`
				MinChildWeight float64 `json:"min_child_weight"`
				Trees          int     `json:"trees"`
			} `json:"candidates"`
			Widened []string `json:"widened"`
		} `json:"tuning"`
	}
	if err := json.Unmarshal([]byte(out), &summary); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	var got []string
	for _, c := range summary.Tuning.Candidates {
		got = append(got, fmt.Sprintf("depth %d mcw %g", c.MaxDepth, c.MinChildWeight))
		if c.Trees < 1 || c.Trees > 30 {
			t.Errorf("a candidate kept %d trees, want 1 to the --trees cap of 30", c.Trees)
		}
	}
	// The min child weight, not given, is tuned: its grid (1, 5) may widen
	// beyond an edge (a candidate each, recorded), the depth never.
	widened := 0
	for _, w := range summary.Tuning.Widened {
		if strings.Contains(w, ": tried ") {
			widened++
		}
	}
	if want := []string{"depth 4 mcw 1", "depth 4 mcw 5"}; len(got) != len(want)+widened || !slices.Equal(got[:min(2, len(got))], want) {
		t.Errorf("candidates %q (%d widened: %q), want %q and the widened ones", got, widened, summary.Tuning.Widened, want)
	}
	for _, c := range got {
		if !strings.HasPrefix(c, "depth 4 ") {
			t.Errorf("candidate %q, want only the depth given", c)
		}
	}
}

// TestTrainTunesOnARandomFoldAfterARandomSplit: tables split at random
// elsewhere (--test-table with --random-split) are tuned on a random fold
// of the training rows, and tables in their own order on the last rows.
func TestTrainTunesOnARandomFoldAfterARandomSplit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, from, to int) string {
		var b strings.Builder
		b.WriteString("age,channel,y\n")
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "%d,%s,%s\n", 20+i%50, []string{"web", "phone", "event"}[i%3], map[bool]string{true: "yes", false: "no"}[(i*7919)%100 < 10+i%50/2])
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	train, test := write("train.csv", 0, 2000), write("test.csv", 2000, 2500)
	for _, tt := range []struct {
		name  string
		flags []string
		fold  string
	}{
		{"in order", nil, "row_order"},
		{"random split", []string{"--random-split"}, "random"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"train", "--table", train, "--test-table", test, "--label", "y", "--positive", "yes",
				"--family", "logistic", "--out", filepath.Join(dir, tt.fold+".lsm"), "--json"}, tt.flags...)
			code, out, errOut := runCommand(t, nil, args...)
			if code != exitOK {
				t.Fatalf("train: exit %d: %s", code, errOut)
			}
			var summary struct {
				Tuning struct {
					Fold string `json:"fold"`
				} `json:"tuning"`
			}
			if err := json.Unmarshal([]byte(out), &summary); err != nil {
				t.Fatalf("--json output is not JSON: %v\n%s", err, out)
			}
			if got := summary.Tuning.Fold; got != tt.fold {
				t.Errorf("inner fold %q, want %q", got, tt.fold)
			}
		})
	}
}

func TestTrainRefusesBadFlags(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "m.lsm")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no output", []string{"train", "--history", "x"}, "--out"},
		{"no input", []string{"train", "--out", out}, "--history"},
		{"both inputs", []string{"train", "--history", "x", "--table", "y", "--out", out}, "exactly one"},
		{"table without label", []string{"train", "--table", "y", "--out", out}, "--label"},
		{"unknown family", []string{"train", "--history", "x", "--family", "forest", "--out", out}, `"forest"`},
		{"missing history", []string{"train", "--history", filepath.Join(t.TempDir(), "none"), "--out", out}, "cannot be read"},
		{"history without leads", []string{"train", "--data", t.TempDir(), "--out", out}, "holds no leads file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCommand(t, nil, tt.args...)
			if code != exitError || !strings.Contains(errOut, tt.want) {
				t.Errorf("got exit %d, stderr %q; want exit %d mentioning %s", code, errOut, exitError, tt.want)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused training wrote an artifact")
	}
}

// TestTrainLogisticKnotsAndInteractions: --knots and --interactions are
// the only values tuning tries when given, a table whose outcome hangs on
// a combination of two columns gets that pair, and values out of range
// are refused naming the flag.
func TestTrainLogisticKnotsAndInteractions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("age,channel,visits,y\n")
	for i := range 6000 {
		age, channel, visits := 20+(i*37)%50, []string{"web", "phone", "event"}[(i*13)%3], (i*7)%10
		// Phone calls convert older people, the web younger ones.
		rate := 5 + visits
		if (channel == "phone") == (age >= 45) {
			rate += 30
		}
		fmt.Fprintf(&b, "%d,%s,%d,%s\n", age, channel, visits, map[bool]string{true: "yes", false: "no"}[(i*7919)%100 < rate])
	}
	table := filepath.Join(dir, "t.csv")
	if err := os.WriteFile(table, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	artifactPath := filepath.Join(dir, "m.lsm")
	code, out, errOut := runCommand(t, nil, "train", "--table", table, "--label", "y", "--family", "logistic", "--random-split",
		"--knots", "0", "--interactions", "4", "--out", artifactPath, "--json")
	if code != exitOK {
		t.Fatalf("train: exit %d: %s", code, errOut)
	}
	var summary struct {
		Tuning struct {
			Candidates []struct {
				Knots        int `json:"knots"`
				Interactions int `json:"interactions"`
				Pairs        int `json:"pairs"`
			} `json:"candidates"`
			Chosen int `json:"chosen"`
		} `json:"tuning"`
	}
	if err := json.Unmarshal([]byte(out), &summary); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	cands := summary.Tuning.Candidates
	if len(cands) != 7 {
		t.Fatalf("%d candidates, want the 7 Cs with 0 knots and up to 4 pairs", len(cands))
	}
	for i, c := range cands {
		if c.Knots != 0 || c.Interactions != 4 {
			t.Errorf("candidate %d: %d knots and up to %d pairs, want 0 and 4", i, c.Knots, c.Interactions)
		}
	}
	m, err := artifact.ReadFile(artifactPath)
	if err != nil {
		t.Fatal(err)
	}
	pairs := m.Logistic.Encoding.Pairs
	features := m.Spec.Features()
	if len(pairs) == 0 || cands[summary.Tuning.Chosen].Pairs == 0 {
		t.Fatalf("no pair chosen for a table whose outcome hangs on age × channel (parameters %v)", m.Metadata.Parameters)
	}
	if a, b := features[pairs[0].A.Feature].Name, features[pairs[0].B.Feature].Name; !strings.Contains(a+b, "age") || !strings.Contains(a+b, "channel") {
		t.Errorf("the first pair is %s × %s, want age × channel", a, b)
	}
	for _, tt := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--interactions", "65"}, "interactions"},
		{[]string{"--interactions", "-1", "--tune=false"}, "interactions"},
		{[]string{"--knots", "16", "--tune=false"}, "knots"},
	} {
		args := append([]string{"train", "--table", table, "--label", "y", "--family", "logistic", "--out", filepath.Join(dir, "bad.lsm")}, tt.flags...)
		code, _, errOut := runCommand(t, nil, args...)
		if code != exitError || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d naming %s", tt.flags, code, errOut, exitError, tt.want)
		}
	}
}
