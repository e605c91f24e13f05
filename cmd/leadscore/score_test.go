package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/trainer"
)

// writeScoreTable writes a flat table of n leads: an id column whose name
// a person typed, fit attributes of the three kinds with some missing, and
// a label. bad, when set, replaces row bad's employees with "twelve".
func writeScoreTable(t *testing.T, dir, name string, n int, seed uint64, bad int) string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 2))
	var b strings.Builder
	b.WriteString("Lead ID,employees,industry,customer,annual revenue,converted\n")
	for i := 1; i <= n; i++ {
		emp := strconv.Itoa(r.IntN(500))
		if r.IntN(20) == 0 {
			emp = "NA"
		}
		if i == bad {
			emp = "twelve"
		}
		ind := []string{"saas", "retail", "finance", `"health, care"`, ""}[r.IntN(5)]
		cust := []string{"yes", "no"}[r.IntN(2)]
		p := 0.04 + 0.2*float64(i%500)/500
		if ind == "saas" {
			p += 0.1
		}
		fmt.Fprintf(&b, "L-%05d,%s,%s,%s,%.2f,%s\n", i, emp, ind, cust, r.Float64()*1e6, map[bool]string{true: "yes", false: "no"}[r.Float64() < p])
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// trainFlat trains a model of a family on a flat table into dir.
func trainFlat(t *testing.T, dir, table, family string) string {
	t.Helper()
	art := filepath.Join(dir, family+".lsm")
	code, _, errOut := runCommand(t, nil, "train", "--table", table, "--label", "converted", "--positive", "yes", "--exclude", "Lead ID",
		"--family", family, "--tune=false", "--trees", "30", "--depth", "4", "--out", art)
	if code != exitOK {
		t.Fatalf("train %s: exit %d: %s", family, code, errOut)
	}
	return art
}

// scoreOutputRow is an output row read back: its id and fields by name.
type scoreOutputRow struct {
	id     string
	fields map[string]string
}

// readScoreOutput reads a CSV or JSONL output (gzipped when its name ends
// in .gz) into rows, with the first column's name.
func readScoreOutput(t *testing.T, data []byte, name string) (idName string, rows []scoreOutputRow) {
	t.Helper()
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
		name = strings.TrimSuffix(name, ".gz")
	}
	if strings.HasSuffix(name, ".jsonl") {
		for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			dec := json.NewDecoder(strings.NewReader(line))
			dec.UseNumber()
			var obj map[string]any
			if err := dec.Decode(&obj); err != nil {
				t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, line)
			}
			// The first field is the id: find its name in the text.
			key := line[2 : strings.Index(line[2:], `"`)+2]
			if i == 0 {
				idName = key
			}
			row := scoreOutputRow{id: fmt.Sprint(obj[key]), fields: map[string]string{}}
			for k, v := range obj {
				switch v := v.(type) {
				case string:
					row.fields[k] = v
				case json.Number:
					row.fields[k] = v.String()
				default:
					b, _ := json.Marshal(v)
					row.fields[k] = string(b)
				}
			}
			rows = append(rows, row)
		}
		return idName, rows
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("the output is not CSV: %v", err)
	}
	header := recs[0]
	for _, rec := range recs[1:] {
		row := scoreOutputRow{id: rec[0], fields: map[string]string{}}
		for j, v := range rec {
			row.fields[header[j]] = v
		}
		rows = append(rows, row)
	}
	return header[0], rows
}

func parseFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return f
}

// TestScoreFlatTableAgreesWithBacktests checks that leadscore score and a
// backtest score a flat table alike: every output probability equals
// Scorer.Score on trainer.FlatRows of the same table, in every format, in
// the input's order and with its ids.
func TestScoreFlatTableAgreesWithBacktests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	train := writeScoreTable(t, dir, "train.csv", 1500, 1, 0)
	later := writeScoreTable(t, dir, "later.csv", 1200, 2, 0)
	for _, family := range []string{"gbdt", "logistic"} {
		art := trainFlat(t, dir, train, family)
		m, err := artifact.ReadFile(art)
		if err != nil {
			t.Fatal(err)
		}
		table, err := dataset.ReadFlatTable(context.Background(), later, dataset.FlatOptions{Label: "converted", IDColumn: "Lead ID"})
		if err != nil {
			t.Fatal(err)
		}
		feats, err := trainer.FlatRows(context.Background(), table, m.Spec)
		if err != nil {
			t.Fatal(err)
		}
		scorer, err := model.NewScorer(m)
		if err != nil {
			t.Fatal(err)
		}
		width := m.Spec.Width()
		want := make([]model.Scored, table.Len())
		for i := range want {
			if err := scorer.Score(feats[i*width:(i+1)*width], &want[i]); err != nil {
				t.Fatal(err)
			}
		}
		for _, out := range []string{"scores.csv", "scores.jsonl", "scores.csv.gz", "scores.jsonl.gz"} {
			t.Run(family+"/"+out, func(t *testing.T) {
				path := filepath.Join(dir, family+"-"+out)
				code, stdout, errOut := runCommand(t, nil, "score", "--model", art, "--data", later, "--id-column", "Lead ID", "--out", path, "--workers", "3")
				if code != exitOK {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				if stdout != "" || !strings.Contains(errOut, "1200 rows scored, 0 skipped") {
					t.Errorf("stdout %q, stderr %q; want nothing on stdout and the summary on stderr", stdout, errOut)
				}
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				idName, rows := readScoreOutput(t, data, out)
				if idName != "Lead ID" || len(rows) != table.Len() {
					t.Fatalf("first column %q and %d rows, want \"Lead ID\" and %d", idName, len(rows), table.Len())
				}
				for i, row := range rows {
					if row.id != table.ID(i) {
						t.Fatalf("row %d has id %q, want %q: the input's order is lost", i+1, row.id, table.ID(i))
					}
					w := want[i]
					if got := parseFloat(t, row.fields["probability"]); math.Abs(got-w.Probability) > 1e-9 {
						t.Fatalf("row %d probability %v, the backtest path %v", i+1, got, w.Probability)
					}
					checks := map[string]string{
						"score": strconv.Itoa(w.Score), "tier": w.Tier.String(), "grade": w.Cell.Grade.String(),
						"engagement_level": strconv.Itoa(int(w.Cell.Level)), "cell": w.Cell.String(), "next_action": w.Action,
						"model_version": art, "alias": "",
					}
					for k, v := range checks {
						if row.fields[k] != v {
							t.Fatalf("row %d %s = %q, want %q", i+1, k, row.fields[k], v)
						}
					}
					if got := parseFloat(t, row.fields["raw_output"]); math.Abs(got-w.Raw) > 1e-9 {
						t.Fatalf("row %d raw_output %v, want %v", i+1, got, w.Raw)
					}
					if _, err := time.Parse(time.RFC3339, row.fields["score_time"]); err != nil {
						t.Fatalf("row %d score_time %q is not RFC 3339", i+1, row.fields["score_time"])
					}
				}
			})
		}
	}
}

// TestScoreWithoutIDsNumbersRows checks the row column of a table scored
// without --id-column, on stdout.
func TestScoreWithoutIDsNumbersRows(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	art := trainFlat(t, dir, writeScoreTable(t, dir, "train.csv", 1500, 1, 0), "logistic")
	table := writeScoreTable(t, dir, "later.csv", 50, 3, 0)
	code, out, errOut := runCommand(t, nil, "score", "--model", art, "--data", table, "--out", "-", "--format", "jsonl", "--at", "2025-03-01")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	idName, rows := readScoreOutput(t, []byte(out), "stdout.jsonl")
	if idName != "row" || len(rows) != 50 {
		t.Fatalf("first field %q and %d rows, want row and 50", idName, len(rows))
	}
	for i, row := range rows {
		if row.id != strconv.Itoa(i+1) || row.fields["score_time"] != "2025-03-01T00:00:00Z" {
			t.Fatalf("row %d: id %q, score_time %q; want %d and --at", i+1, row.id, row.fields["score_time"], i+1)
		}
	}
}

// TestScoreHistoryAsOfATime checks that a history is scored as backtests
// score it: Binding.Row as of --at and Scorer.Score, every lead created by
// then, in file order.
func TestScoreHistoryAsOfATime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	history := filepath.Join(dir, "history")
	if code, _, errOut := runCommand(t, nil, "generate", "--out", history, "--leads", "1500", "--seed", "5"); code != exitOK {
		t.Fatalf("generate: exit %d: %s", code, errOut)
	}
	art := filepath.Join(dir, "gbdt.lsm")
	if code, _, errOut := runCommand(t, nil, "train", "--history", history, "--until", "2025-01-01", "--family", "gbdt", "--tune=false", "--trees", "30", "--depth", "4", "--out", art); code != exitOK {
		t.Fatalf("train: exit %d: %s", code, errOut)
	}
	m, err := artifact.ReadFile(art)
	if err != nil {
		t.Fatal(err)
	}
	files, err := historyDir(history)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := dataset.LoadHistory(context.Background(), files, dataset.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bind, err := h.Bind(m.Spec)
	if err != nil {
		t.Fatal(err)
	}
	scorer, err := model.NewScorer(m)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at, want string // --at, and the score_time it means
	}{
		{"2025-02-15", "2025-02-15T00:00:00Z"},
		{"", dataset.ObservedUntil(history).Format(time.RFC3339)}, // the manifest's end
	}
	for _, tt := range tests {
		t.Run("at="+tt.at, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "scores.jsonl")
			args := []string{"score", "--model", art, "--data", history, "--out", out, "--json"}
			if tt.at != "" {
				args = append(args, "--at", tt.at)
			}
			code, stdout, errOut := runCommand(t, nil, args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var summary scoreSummary
			if err := json.Unmarshal([]byte(stdout), &summary); err != nil {
				t.Fatalf("--json printed %q: %v", stdout, err)
			}
			at, _ := time.Parse(time.RFC3339, tt.want)
			var wantIDs []string
			for i := range h.Len() {
				if !h.Created(i).After(at) {
					wantIDs = append(wantIDs, h.LeadID(i))
				}
			}
			if summary.Rows != len(wantIDs) || summary.NotCreated != h.Len()-len(wantIDs) || summary.ScoreTime != tt.want {
				t.Fatalf("summary %+v; want %d rows, %d not yet created, score time %s", summary, len(wantIDs), h.Len()-len(wantIDs), tt.want)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			idName, rows := readScoreOutput(t, data, out)
			if idName != "lead_id" || len(rows) != len(wantIDs) {
				t.Fatalf("first field %q and %d rows, want lead_id and %d", idName, len(rows), len(wantIDs))
			}
			row := make([]float64, bind.Width())
			var want model.Scored
			for i, r := range rows {
				if r.id != wantIDs[i] {
					t.Fatalf("row %d is lead %s, want %s", i+1, r.id, wantIDs[i])
				}
				lead, _ := h.LeadIndex(r.id)
				if err := bind.Row(lead, at, row); err != nil {
					t.Fatal(err)
				}
				if err := scorer.Score(row, &want); err != nil {
					t.Fatal(err)
				}
				if got := parseFloat(t, r.fields["probability"]); math.Abs(got-want.Probability) > 1e-9 || r.fields["cell"] != want.Cell.String() {
					t.Fatalf("lead %s: probability %v cell %s, Binding.Row + Score give %v %s", r.id, got, r.fields["cell"], want.Probability, want.Cell)
				}
				if r.fields["score_time"] != tt.want || r.fields["horizon"] != "7776000s" {
					t.Fatalf("lead %s: score_time %q horizon %q, want %s and 7776000s", r.id, r.fields["score_time"], r.fields["horizon"], tt.want)
				}
			}
		})
	}
}

// TestScoreExplainAddsFactors checks --explain K: a factors field of up to
// K positive factors, strongest first, then up to K negative ones, as
// model.TopFactors gives them.
func TestScoreExplainAddsFactors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	art := trainFlat(t, dir, writeScoreTable(t, dir, "train.csv", 1500, 1, 0), "gbdt")
	table := writeScoreTable(t, dir, "later.csv", 200, 4, 0)
	for _, out := range []string{"x.csv", "x.jsonl"} {
		path := filepath.Join(dir, out)
		if code, _, errOut := runCommand(t, nil, "score", "--model", art, "--data", table, "--id-column", "Lead ID", "--out", path, "--explain", "1"); code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		data, _ := os.ReadFile(path)
		_, rows := readScoreOutput(t, data, out)
		explained := 0
		for _, r := range rows {
			var factors []struct {
				Feature      string  `json:"feature"`
				Group        string  `json:"group"`
				Contribution float64 `json:"contribution"`
				Value        *string `json:"value"`
				Description  string  `json:"description"`
			}
			if err := json.Unmarshal([]byte(r.fields["factors"]), &factors); err != nil {
				t.Fatalf("%s: lead %s factors %q: %v", out, r.id, r.fields["factors"], err)
			}
			if len(factors) > 2 || len(factors) == 2 && !(factors[0].Contribution > 0 && factors[1].Contribution < 0) {
				t.Fatalf("%s: lead %s has factors %+v; want at most one positive, then one negative", out, r.id, factors)
			}
			for _, f := range factors {
				if !strings.HasPrefix(f.Feature, "attr.") || f.Group != "fit" || f.Description == "" || f.Value == nil {
					t.Fatalf("%s: lead %s factor %+v lacks a field", out, r.id, f)
				}
			}
			if len(factors) > 0 {
				explained++
			}
		}
		if explained < len(rows)/2 {
			t.Fatalf("%s: only %d of %d leads have factors", out, explained, len(rows))
		}
	}
	// Without --explain there is no factors column.
	path := filepath.Join(dir, "plain.csv")
	if code, _, errOut := runCommand(t, nil, "score", "--model", art, "--data", table, "--out", path); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	data, _ := os.ReadFile(path)
	if header, _, _ := strings.Cut(string(data), "\n"); strings.Contains(header, "factors") {
		t.Fatalf("header %q has factors without --explain", header)
	}
}

// TestScoreBadCell checks that a value that does not fit its column stops
// a run, naming the row, the column and the value and leaving no output,
// and that --lenient skips and counts the row instead.
func TestScoreBadCell(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	art := trainFlat(t, dir, writeScoreTable(t, dir, "train.csv", 1500, 1, 0), "logistic")
	// Row 5000 falls in the second chunk, so later chunks are in flight.
	table := writeScoreTable(t, dir, "bad.csv", 9000, 5, 5000)
	out := filepath.Join(dir, "scores.csv")
	code, _, errOut := runCommand(t, nil, "score", "--model", art, "--data", table, "--out", out)
	if code != exitError {
		t.Fatalf("exit %d, want 2: %s", code, errOut)
	}
	for _, says := range []string{"row 5000", `"employees"`, `"twelve"`, "bad.csv:5001"} {
		if !strings.Contains(errOut, says) {
			t.Errorf("stderr %q does not say %s", errOut, says)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 { // train.csv, logistic.lsm, bad.csv and nothing else
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the failed run left files behind: %v", names)
	}

	code, stdout, errOut := runCommand(t, nil, "score", "--model", art, "--data", table, "--id-column", "Lead ID", "--out", out, "--lenient", "--json")
	if code != exitOK {
		t.Fatalf("--lenient: exit %d: %s", code, errOut)
	}
	var summary scoreSummary
	if err := json.Unmarshal([]byte(stdout), &summary); err != nil {
		t.Fatal(err)
	}
	if summary.Rows != 8999 || summary.Skipped != 1 || len(summary.Errors) != 1 || !strings.Contains(summary.Errors[0], "row 5000") {
		t.Fatalf("summary %+v; want 8999 rows, 1 skipped, naming row 5000", summary)
	}
	if !strings.Contains(errOut, "1 skipped") || !strings.Contains(errOut, "skipped row 5000") {
		t.Errorf("stderr %q does not report the skipped row", errOut)
	}
	data, _ := os.ReadFile(out)
	_, rows := readScoreOutput(t, data, out)
	if len(rows) != 8999 || rows[4998].id != "L-04999" || rows[4999].id != "L-05001" {
		t.Fatalf("%d rows around the gap: %v, %v; want 8999 with L-05000 left out", len(rows), rows[4998].id, rows[4999].id)
	}
}

// TestScoreRefuses checks the runs that cannot start: exit 2 with a
// message saying why.
func TestScoreRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	table := writeScoreTable(t, dir, "train.csv", 1500, 1, 0)
	art := trainFlat(t, dir, table, "logistic")
	noColumn := writeTemp(t, "narrow.csv", "employees,converted\n12,yes\n")
	history := filepath.Join(dir, "history")
	if err := os.Mkdir(history, 0o755); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "store", "leadscore.db")
	out := filepath.Join(dir, "scores.csv")
	tests := []struct {
		name string
		args []string
		says string
	}{
		{"no model", []string{"--data", table, "--out", out}, "--model"},
		{"no data", []string{"--model", art, "--out", out}, "--data"},
		{"no out", []string{"--model", art, "--data", table}, "--out"},
		{"missing artifact", []string{"--model", filepath.Join(dir, "nope.lsm"), "--data", table, "--out", out}, "nope.lsm"},
		{"model not in the registry", []string{"--model", "default@champion", "--store", store, "--data", table, "--out", out}, "champion"},
		{"unknown extension", []string{"--model", art, "--data", table, "--out", filepath.Join(dir, "scores.xlsx")}, "unknown extension"},
		{"unknown format", []string{"--model", art, "--data", table, "--out", out, "--format", "parquet"}, "--format"},
		{"missing data", []string{"--model", art, "--data", filepath.Join(dir, "nope.csv"), "--out", out}, "nope.csv"},
		{"a column the model reads is absent", []string{"--model", art, "--data", noColumn, "--out", out}, "no column for"},
		{"unknown id column", []string{"--model", art, "--data", table, "--out", out, "--id-column", "id"}, `"id"`},
		{"history flags", []string{"--model", art, "--data", history, "--out", out, "--id-column", "id"}, "flat table"},
		{"empty history directory", []string{"--model", art, "--data", history, "--out", out}, "leads"},
		{"bad --at", []string{"--model", art, "--data", table, "--out", out, "--at", "yesterday"}, "--at"},
		{"bad --explain", []string{"--model", art, "--data", table, "--out", out, "--explain", "-1"}, "--explain"},
		{"json on stdout", []string{"--model", art, "--data", table, "--out", "-", "--json"}, "--json"},
		{"bad flag", []string{"--model", art, "--data", table, "--out", out, "--no-such-flag"}, "no-such-flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCommand(t, nil, append([]string{"score"}, tt.args...)...)
			if code != exitError || !strings.Contains(errOut, tt.says) {
				t.Fatalf("exit %d, stderr %q; want 2 and a message saying %s", code, errOut, tt.says)
			}
		})
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused run wrote %s", out)
	}
}

// TestScoreHelp checks that -h documents the output's fields and their
// spellings and is not an error.
func TestScoreHelp(t *testing.T) {
	t.Parallel()
	code, _, errOut := runCommand(t, nil, "score", "-h")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, says := range []string{"--model", "--explain", "very_good", "engagement_level", "7776000s", "bounded memory"} {
		if !strings.Contains(errOut, says) {
			t.Errorf("help does not mention %s", says)
		}
	}
}

func TestScoreOutputFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		out, format string
		want        string
		gz          bool
		bad         bool
	}{
		{"s.csv", "", formatCSV, false, false},
		{"S.CSV.GZ", "", formatCSV, true, false},
		{"s.jsonl", "", formatJSONL, false, false},
		{"s.ndjson.gz", "", formatJSONL, true, false},
		{"s.txt", "jsonl", formatJSONL, false, false},
		{"s.csv", "jsonl", formatJSONL, false, false},
		{"-", "", formatCSV, false, false},
		{"-", "jsonl", formatJSONL, false, false},
		{"s.xlsx", "", "", false, true},
		{"s.csv", "xml", "", false, true},
	}
	for _, tt := range tests {
		got, gz, err := outputFormat(tt.out, tt.format)
		if (err != nil) != tt.bad || got != tt.want || gz != tt.gz {
			t.Errorf("outputFormat(%q, %q) = %q, %v, %v; want %q, %v, error %v", tt.out, tt.format, got, gz, err, tt.want, tt.gz, tt.bad)
		}
	}
}

// TestScoreFieldEscaping checks that ids and names survive CSV and JSON.
func TestScoreFieldEscaping(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"plain", "a,b", `say "hi"`, "two\nlines", " padded ", "tab\there", "é\u2028\x01", "bad\xffutf8"} {
		rec, err := csv.NewReader(bytes.NewReader(append(appendCSVField(nil, s), '\n'))).Read()
		if err != nil || len(rec) != 1 || rec[0] != s {
			t.Errorf("CSV field of %q reads back as %q, %v", s, rec, err)
		}
		var got string
		if err := json.Unmarshal(appendJSONString(nil, s), &got); err != nil || got != strings.ToValidUTF8(s, "\ufffd") {
			t.Errorf("JSON string of %q reads back as %q, %v", s, got, err)
		}
	}
}

// TestPipelineKeepsOrderInBoundedMemory runs the scoring pipeline with
// workers that finish out of order and a slow writer: the writer must see
// the chunks in read order, and no more chunks than the pool holds may be
// in flight, however far the reader could run ahead.
func TestPipelineKeepsOrderInBoundedMemory(t *testing.T) {
	t.Parallel()
	type chunk struct{ seq int }
	const chunks, poolSize = 300, 4
	pool := make([]*chunk, poolSize)
	for i := range pool {
		pool[i] = &chunk{}
	}
	var next, inFlight, maxInFlight atomic.Int64
	wrote := 0
	p := pipeline[*chunk]{
		pool:    pool,
		workers: 3,
		read: func(_ context.Context, c *chunk) error {
			n := next.Add(1) - 1
			if n == chunks {
				return io.EOF
			}
			c.seq = int(n)
			if f := inFlight.Add(1); f > maxInFlight.Load() {
				maxInFlight.Store(f)
			}
			return nil
		},
		work: func(_ context.Context, _ int, c *chunk) error {
			// Early chunks take longest, so later ones finish first.
			for range (7 - c.seq%7) * 50 {
				runtime.Gosched()
			}
			return nil
		},
		write: func(c *chunk) error {
			if c.seq != wrote {
				return fmt.Errorf("wrote chunk %d, want %d", c.seq, wrote)
			}
			wrote++
			for range 100 {
				runtime.Gosched()
			}
			inFlight.Add(-1)
			return nil
		},
	}
	if err := p.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if wrote != chunks {
		t.Fatalf("wrote %d chunks, want %d", wrote, chunks)
	}
	if m := maxInFlight.Load(); m > poolSize {
		t.Fatalf("%d chunks in flight, the pool holds %d", m, poolSize)
	}
}

// TestPipelineStopsAtTheFirstError checks that an error of any stage, or
// the end of the context, stops the pipeline and is returned.
func TestPipelineStopsAtTheFirstError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name                string
		ctx                 context.Context
		readErr, workErr, w int // the chunk whose stage fails, or -1
		want                error
	}{
		{"read", context.Background(), 5, -1, -1, boom},
		{"work", context.Background(), -1, 5, -1, boom},
		{"write", context.Background(), -1, -1, 5, boom},
		{"context", ctx, -1, -1, -1, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var next atomic.Int64
			written := 0
			p := pipeline[*int]{
				pool:    []*int{new(int), new(int), new(int)},
				workers: 2,
				read: func(_ context.Context, c *int) error {
					*c = int(next.Add(1) - 1)
					if *c == tt.readErr {
						return boom
					}
					return nil // endless: only an error stops it
				},
				work: func(_ context.Context, _ int, c *int) error {
					if *c == tt.workErr {
						return boom
					}
					return nil
				},
				write: func(c *int) error {
					if *c == tt.w {
						return boom
					}
					written++
					return nil
				},
			}
			if err := p.run(tt.ctx); !errors.Is(err, tt.want) {
				t.Fatalf("run returned %v, want %v", err, tt.want)
			}
			if tt.name != "context" && written > 5 {
				t.Fatalf("%d chunks written past the failing chunk 5", written)
			}
		})
	}
}

// TestScoreHistoryLenient checks a history with a bad lead and a bad
// event: a strict run stops naming the lead's line, a lenient one skips
// the lead as a row and warns that a lead lost an event.
func TestScoreHistoryLenient(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	history := filepath.Join(dir, "history")
	if code, _, errOut := runCommand(t, nil, "generate", "--out", history, "--leads", "300", "--seed", "6"); code != exitOK {
		t.Fatalf("generate: exit %d: %s", code, errOut)
	}
	appendLine := func(file, line string) {
		f, err := os.OpenFile(filepath.Join(history, file), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
	}
	leads, err := os.ReadFile(filepath.Join(history, "leads.csv"))
	if err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(string(leads), "\n")
	appendLine("leads.csv", "LX,,,not-a-time"+strings.Repeat(",", strings.Count(header, ",")-3)+"\n")
	appendLine("events.csv", "EX,L000001,page_view,not-a-time\n")
	art := trainFlat(t, dir, writeScoreTable(t, dir, "train.csv", 1500, 1, 0), "logistic")
	out := filepath.Join(dir, "scores.csv")
	code, _, errOut := runCommand(t, nil, "score", "--model", art, "--data", history, "--out", out)
	if code != exitError || !strings.Contains(errOut, "leads.csv:302") || !strings.Contains(errOut, "not-a-time") {
		t.Fatalf("strict: exit %d, stderr %q; want 2 naming leads.csv:302 and the value", code, errOut)
	}
	code, stdout, errOut := runCommand(t, nil, "score", "--model", art, "--data", history, "--out", out, "--lenient", "--json")
	if code != exitOK {
		t.Fatalf("lenient: exit %d: %s", code, errOut)
	}
	var summary scoreSummary
	if err := json.Unmarshal([]byte(stdout), &summary); err != nil {
		t.Fatal(err)
	}
	if summary.Rows != 300 || summary.Skipped != 1 || len(summary.Errors) != 2 {
		t.Fatalf("summary %+v; want 300 rows, the bad lead skipped, both errors kept", summary)
	}
	warned := strings.Join(summary.Warnings, "\n")
	for _, says := range []string{"a bad event record", `"employees"`, `"customer"`} {
		if !strings.Contains(warned, says) || !strings.Contains(errOut, says) {
			t.Errorf("warnings %q (stderr %q) do not mention %s", warned, errOut, says)
		}
	}
}

// TestScoreRegistryReference checks a model named through the registry:
// an alias resolves to its version, and the output names both.
func TestScoreRegistryReference(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := filepath.Join(dir, "store", "leadscore.db")
	table := writeScoreTable(t, dir, "train.csv", 1500, 1, 0)
	art := trainFlat(t, dir, table, "logistic")
	for _, args := range [][]string{
		{"register", "--model", "default", art, "--store", store},
		{"promote", "default/versions/1", "--force", "--reason", "the first model", "--store", store},
	} {
		if code, _, errOut := runCommand(t, nil, args...); code != exitOK {
			t.Fatalf("%s: exit %d: %s", args[0], code, errOut)
		}
	}
	tests := []struct{ ref, version, alias string }{
		{"default@champion", "models/default/versions/1", "champion"},
		{"default/versions/1", "models/default/versions/1", ""},
		{"models/default/versions/1", "models/default/versions/1", ""},
	}
	for _, tt := range tests {
		code, out, errOut := runCommand(t, map[string]string{"LEADSCORE_STORE": store}, "score", "--model", tt.ref, "--data", table, "--out", "-")
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", tt.ref, code, errOut)
		}
		_, rows := readScoreOutput(t, []byte(out), "stdout.csv")
		if len(rows) != 1500 || rows[0].fields["model_version"] != tt.version || rows[0].fields["alias"] != tt.alias {
			t.Fatalf("%s: %d rows, the first %v; want 1500 naming %s and alias %q", tt.ref, len(rows), rows[0].fields, tt.version, tt.alias)
		}
	}
}
