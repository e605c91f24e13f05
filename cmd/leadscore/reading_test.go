package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/model"
)

// writeCRMExport writes a CRM export as some tools write them: every line
// ends with the delimiter, a dropdown's unchosen default reads "Select",
// and "unknown" is an answer. The label follows the specialization and
// the visits.
func writeCRMExport(t *testing.T, dir, name string, n int, seed uint64, start time.Time) string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 3))
	var b strings.Builder
	b.WriteString("created,specialization,job,visits,won,\n")
	for i := range n {
		spec := []string{"Select", "Finance", "Marketing", "Operations"}[r.IntN(4)]
		job := []string{"admin", "tech", "unknown"}[r.IntN(3)]
		visits := r.IntN(20)
		p := 0.05 + 0.02*float64(visits)
		if spec == "Finance" {
			p += 0.2
		}
		fmt.Fprintf(&b, "%s,%s,%s,%d,%s,\n", start.Add(time.Duration(i)*time.Hour).Format(time.RFC3339), spec, job, visits,
			map[bool]string{true: "yes", false: "no"}[r.Float64() < p])
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// trainSummary is the part of train --json that says how data was read.
type trainSummary struct {
	Notes   []string              `json:"notes"`
	Reading model.Reading         `json:"reading"`
	Profile []model.ColumnProfile `json:"profile"`
}

func (s trainSummary) column(name string) model.ColumnProfile {
	for _, c := range s.Profile {
		if c.Name == name {
			return c
		}
	}
	return model.ColumnProfile{}
}

func TestTrainReadsARealExport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	export := writeCRMExport(t, dir, "export.csv", 2000, 1, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	art := filepath.Join(dir, "crm.lsm")
	code, out, errOut := runCommand(t, nil, "train", "--data", export, "--label", "won", "--positive", "yes", "--time-column", "created",
		"--family", "logistic", "--tune=false", "--out", art, "--json")
	if code != exitOK {
		t.Fatalf("train: exit %d: %s", code, errOut)
	}
	// The notes reach the person on stderr and in the JSON summary.
	for _, want := range []string{"column 6 has no name in the header", `column "job": "unknown"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
	var sum trainSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Notes) != 1 || !strings.Contains(sum.Notes[0], "column 6") {
		t.Errorf("notes %q", sum.Notes)
	}
	spec := sum.column("specialization")
	if spec.Kind != model.ColumnCategorical || spec.Distinct != 3 || len(spec.MissingValues) != 1 || spec.MissingValues[0].Value != "Select" ||
		!(spec.MissingShare > 0.2 && spec.MissingShare < 0.3) {
		t.Errorf("specialization profile %+v: want Select read as missing in about a quarter of the rows", spec)
	}
	if job := sum.column("job"); len(job.Placeholders) != 1 || job.Placeholders[0].Value != "unknown" {
		t.Errorf("job profile %+v: want unknown pointed out", job)
	}
	if sum.column("won").Kind != model.ColumnLabel || sum.column("created").Kind != model.ColumnTime || sum.column("visits").Kind != model.ColumnNumeric {
		t.Errorf("profile kinds %+v", sum.Profile)
	}
	m, err := artifact.ReadFile(art)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m.Metadata.Reading.MissingValues, "Select") || len(m.Metadata.Profile) != 5 {
		t.Errorf("artifact reading %+v, %d profiled columns; want Select recorded and five columns", m.Metadata.Reading, len(m.Metadata.Profile))
	}

	// Turned off, the defaults leave Select a category.
	off := filepath.Join(dir, "off.lsm")
	code, out, errOut = runCommand(t, nil, "train", "--data", export, "--label", "won", "--positive", "yes", "--missing-values=",
		"--family", "logistic", "--tune=false", "--out", off, "--json")
	if code != exitOK {
		t.Fatalf("train --missing-values=: exit %d: %s", code, errOut)
	}
	sum = trainSummary{}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if got := sum.column("specialization"); got.Distinct != 4 || got.MissingShare != 0 || !slices.Equal(sum.Reading.MissingValues, []string{""}) {
		t.Errorf("with the defaults off: specialization %+v, reading %+v", got, sum.Reading)
	}
}

func TestScoreAndBacktestReadAsTrainingDid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	export := writeCRMExport(t, dir, "export.csv", 2000, 1, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	art := filepath.Join(dir, "crm.lsm")
	// Trained with "unknown" read as missing too: score must do the same
	// without being told.
	if code, _, errOut := runCommand(t, nil, "train", "--data", export, "--label", "won", "--positive", "yes", "--time-column", "created",
		"--missing-values", "NA,Select,unknown", "--family", "logistic", "--tune=false", "--out", art); code != exitOK {
		t.Fatalf("train: exit %d: %s", code, errOut)
	}
	table := filepath.Join(dir, "new.csv")
	rows := "id,specialization,job,visits,\n" +
		"a,Select,unknown,5,\n" +
		"b,,,5,\n" +
		"c,Finance,admin,5,\n"
	if err := os.WriteFile(table, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	scores := filepath.Join(dir, "scores.csv")
	code, out, errOut := runCommand(t, nil, "score", "--model", art, "--data", table, "--id-column", "id", "--out", scores, "--json")
	if code != exitOK {
		t.Fatalf("score: exit %d: %s", code, errOut)
	}
	var summary struct {
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(out), &summary); err != nil {
		t.Fatal(err)
	}
	if len(summary.Warnings) != 1 || !strings.Contains(summary.Warnings[0], "column 5 has no name") {
		t.Errorf("score warnings %q: want the unnamed column noted", summary.Warnings)
	}
	f, err := os.Open(scores)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	prob := slices.Index(recs[0], "probability")
	if len(recs) != 4 || prob < 0 {
		t.Fatalf("scores %q", recs)
	}
	if recs[1][prob] != recs[2][prob] || recs[1][prob] == recs[3][prob] {
		t.Errorf("probabilities %s (Select, unknown), %s (empty), %s (Finance, admin): the placeholders must score as missing",
			recs[1][prob], recs[2][prob], recs[3][prob])
	}

	later := writeCRMExport(t, dir, "later.csv", 1500, 2, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	code, out, errOut = runCommand(t, nil, "backtest", "--model", art, "--data", later, "--label", "won", "--positive", "yes",
		"--time-column", "created", "--gate", "none", "--baseline", "none", "--json")
	if code != exitOK {
		t.Fatalf("backtest: exit %d: %s", code, errOut)
	}
	var rep struct {
		Warnings   []string `json:"warnings"`
		Evaluation string   `json:"evaluation"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, "column 6 has no name") }) || rep.Evaluation != "" {
		t.Errorf("backtest of an artifact file: warnings %q, evaluation %q; want the note and no stored evaluation", rep.Warnings, rep.Evaluation)
	}
}

func TestTrainDataFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	export := writeCRMExport(t, dir, "export.csv", 600, 1, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	out := filepath.Join(dir, "m.lsm")
	tests := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"a file needs a label", []string{"--data", export}, exitError, "needs --label"},
		{"a directory takes no label", []string{"--data", dir, "--label", "won"}, exitError, "history directory"},
		{"data named twice", []string{"--data", export, "--table", export, "--label", "won"}, exitError, "exactly one"},
		{"no such data", []string{"--data", filepath.Join(dir, "none.csv"), "--label", "won"}, exitError, "cannot be read"},
		{"the deprecated --table still works", []string{"--table", export, "--label", "won", "--positive", "yes"}, exitOK, "--table is deprecated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"train", "--family", "logistic", "--tune=false", "--out", out}, tt.args...)
			code, _, errOut := runCommand(t, nil, args...)
			if code != tt.code || !strings.Contains(errOut, tt.says) {
				t.Errorf("exit %d, stderr %q; want exit %d saying %q", code, errOut, tt.code, tt.says)
			}
		})
	}
}
