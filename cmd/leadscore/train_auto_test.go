package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/artifact"
)

// TestTrainChoosesTheFamilyByDefault trains a flat table without --family:
// train chooses among points, logistic and gbdt on the inner fold, says
// which won and why on stderr, and records every candidate in --json and
// in the artifact. The built-in points rules count events, which a flat
// table has none of, so points is reported with its error and skipped.
func TestTrainChoosesTheFamilyByDefault(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("age,channel,y\n")
	for i := range 2500 {
		age, channel := 20+(i*37)%50, []string{"web", "phone", "event"}[(i*13)%3]
		rate := 5 + (age-20)/2
		if channel == "event" {
			rate += 15
		}
		fmt.Fprintf(&b, "%d,%s,%s\n", age, channel, map[bool]string{true: "yes", false: "no"}[(i*7919)%100 < rate])
	}
	table := filepath.Join(dir, "t.csv")
	if err := os.WriteFile(table, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	art := filepath.Join(dir, "m.lsm")
	code, out, errOut := runCommand(t, nil, "train", "--table", table, "--label", "y", "--trees", "40", "--out", art, "--json")
	if code != exitOK {
		t.Fatalf("train: exit %d: %s", code, errOut)
	}
	var summary struct {
		Family       string `json:"family"`
		FamilyChoice struct {
			Chosen     string `json:"chosen"`
			Reason     string `json:"reason"`
			Candidates []struct {
				Family string  `json:"family"`
				Error  string  `json:"error"`
				ROCAUC float64 `json:"roc_auc"`
			} `json:"candidates"`
		} `json:"family_choice"`
	}
	if err := json.Unmarshal([]byte(out), &summary); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	ch := summary.FamilyChoice
	if summary.Family != ch.Chosen || (ch.Chosen != "logistic" && ch.Chosen != "gbdt") {
		t.Errorf("trained %q, chose %q; want logistic or gbdt", summary.Family, ch.Chosen)
	}
	if want := "family auto: chose " + ch.Chosen + ": " + ch.Reason; !strings.Contains(errOut, want) {
		t.Errorf("stderr %q does not say %q", errOut, want)
	}
	var families []string
	for _, c := range ch.Candidates {
		families = append(families, c.Family)
		// Learned points train on a flat table too: every family is a
		// candidate.
		if c.Error != "" {
			t.Errorf("%s: error %q", c.Family, c.Error)
		}
		if !(c.ROCAUC > 0.5) {
			t.Errorf("%s: fold ROC AUC %v, want above 0.5 on a table with signal", c.Family, c.ROCAUC)
		}
	}
	if got := strings.Join(families, ","); got != "points,logistic,gbdt" {
		t.Errorf("candidates %s, want points,logistic,gbdt", got)
	}
	m, err := artifact.ReadFile(art)
	if err != nil {
		t.Fatal(err)
	}
	if p := m.Metadata.Parameters; string(m.Family) != ch.Chosen || p["family_choice"] != "auto: "+ch.Reason || !strings.Contains(p["family_candidates"], "points auc ") {
		t.Errorf("artifact family %s, parameters family_choice %q, family_candidates %q", m.Family, p["family_choice"], p["family_candidates"])
	}
}
