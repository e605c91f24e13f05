package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/registry"
)

// scoreErrorsShown is how many of a lenient run's skipped rows are named
// on stderr (and in the JSON summary); the count covers the rest.
const scoreErrorsShown = 5

// maxExplain bounds --explain: more factors than this are not reasons
// anybody reads.
const maxExplain = 50

func runScore(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) int {
	fs := newFlagSet("score", "score --model REF --data FILE|DIR --out FILE|- [--format csv|jsonl] [--explain K] [--at TIME] [--lenient] [--json]", stderr)
	store := storeFlag(fs)
	modelRef := fs.String("model", "", "the model: name@alias, name/versions/N, models/name/versions/N, or an artifact file")
	data := fs.String("data", "", "a flat table, one row per lead (.csv, .tsv or .txt, optionally .gz), or a history directory (leads, events and outcomes files, as generate writes)")
	out := fs.String("out", "", "where the scores go: a .csv or .jsonl file (optionally .gz), or - for stdout")
	format := fs.String("format", "", "the output format, csv or jsonl; default: by --out's extension, csv on stdout")
	idColumn := fs.String("id-column", "", "flat table: the lead id column, the output's first column; default: the row number, in a column named row")
	var missing listFlag
	fs.Var(&missing, "missing", "flat table: COLUMN=VALUE pairs read as missing, such as pdays=-1, beside the values the model was trained with, which the artifact records and score applies")
	at := fs.String("at", "", "history: score as of this time (RFC 3339, YYYY-MM-DD or now), from what was known before it; "+
		"default: the end of observation in the directory's manifest.json, else one second after the latest time in its leads and events. "+
		"Flat table: the score_time written (default: now)")
	explain := fs.Int("explain", 0, "add the top K positive and the top K negative factors of each lead, as a JSON array (slower: exact contributions)")
	lenient := fs.Bool("lenient", false, "skip rows that cannot be scored (a value that does not fit its column), counting them, instead of stopping at the first")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "goroutines featurizing and scoring")
	asJSON := fs.Bool("json", false, "print a summary of the run as JSON on stdout (needs --out FILE)")
	flagsUsage := fs.Usage
	fs.Usage = func() {
		flagsUsage()
		fmt.Fprint(stderr, scoreHelp)
	}
	if err := parseFlags(fs, args, env); err != nil {
		return flagExit(err)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "leadscore score: %v\n", err)
		return exitError
	}
	switch {
	case *modelRef == "":
		return fail(leadscore.InvalidField("--model", "", "is required"))
	case *data == "":
		return fail(leadscore.InvalidField("--data", "", "is required"))
	case *out == "":
		return fail(leadscore.InvalidField("--out", "", "is required: a .csv or .jsonl file, or - for stdout"))
	case *explain < 0 || *explain > maxExplain:
		return fail(leadscore.InvalidField("--explain", *explain, fmt.Sprintf("must be from 0 to %d", maxExplain)))
	case *workers < 1:
		return fail(leadscore.InvalidField("--workers", *workers, "must be at least 1"))
	case *asJSON && *out == "-":
		return fail(leadscore.InvalidField("--json", true, "needs --out FILE: the scores take stdout"))
	}
	outFormat, gz, err := outputFormat(*out, *format)
	if err != nil {
		return fail(err)
	}
	colMissing, err := columnMissing(missing)
	if err != nil {
		return fail(err)
	}
	var asOf time.Time
	if *at != "" {
		if asOf, err = parseScoreTime(*at); err != nil {
			return fail(err)
		}
	}
	info, err := os.Stat(*data)
	if err != nil {
		return fail(leadscore.InvalidField("--data", *data, "cannot be read: "+err.Error()))
	}
	history := info.IsDir()
	if history && (*idColumn != "" || len(missing) > 0) {
		return fail(leadscore.InvalidField("--data", *data, "is a history directory: --id-column and --missing are for a flat table"))
	}

	started := time.Now()
	rm, closeStore, err := loadScoreModel(ctx, *modelRef, *store, stderr)
	if err != nil {
		return fail(err)
	}
	defer closeStore()

	run := &scoreRun{
		model: rm, explain: *explain, lenient: *lenient, workers: *workers,
		summary: scoreSummary{Model: rm.Name, Alias: rm.Alias, Data: *data, Out: *out, Format: outFormat, Workers: *workers},
	}
	if history {
		err = run.openHistory(ctx, *data, asOf)
	} else {
		if asOf.IsZero() {
			asOf = started.UTC().Truncate(time.Second)
		}
		run.at = asOf
		err = run.openFlat(*data, *idColumn, colMissing)
	}
	if err != nil {
		return fail(err)
	}
	defer run.close()
	run.format = newRowFormat(outFormat, run.idName, *explain > 0, rm.Name, rm.Alias, run.at, rm.Model.Metadata.Horizon)
	run.summary.ScoreTime = run.at.Format(time.RFC3339)

	o, err := createOutput(*out, gz, stdout)
	if err != nil {
		return fail(err)
	}
	var stop func()
	if isTerminal(stderr) {
		stop = startScoreProgress(stderr, run)
	}
	err = run.run(ctx, o)
	if stop != nil {
		stop()
	}
	if err == nil {
		err = o.commit()
	} else {
		o.abort()
	}
	if err != nil {
		return fail(err)
	}
	run.finish(time.Since(started))
	run.printSummary(stderr)
	if *asJSON {
		b, err := json.MarshalIndent(run.summary, "", "  ")
		if err != nil {
			return fail(err)
		}
		if _, err := stdout.Write(append(b, '\n')); err != nil {
			return exitError
		}
	}
	return exitOK
}

// scoreHelp follows the flag list of score -h: what the output holds.
const scoreHelp = `
Output: one row per lead, in input order; CSV with a header, or JSON lines.
  the id     the flat table's --id-column (named as in the input), else its
             1-based row number in a column named row; lead_id for a history
  probability, score (1-99), percentile (0-100), tier (very_good, good,
             medium, low), grade (A-D), engagement_level (1-4), cell (A1-D4),
             next_action, model_version, alias, score_time (RFC 3339),
             horizon (seconds, as "7776000s"), raw_output, base_value:
             the API's LeadScore fields; an enum is its value name without
             the prefix, lower case (TIER_VERY_GOOD is very_good, GRADE_A A)
  factors    with --explain K: a JSON array of up to K positive and K negative
             factors, each {feature, group, contribution, value, description}

Features are computed as backtests compute them: a flat table's columns are
the attributes (typed as the model's feature spec says; a model that counts
events needs a history); a history's leads are scored as of --at from the
events before it, every lead created by then, open or closed. A flat table is
streamed in chunks of 4096 rows, in bounded memory; a history is loaded into
memory (about 30 bytes per event while loading and 15 once bound to the
model, plus 4 per event property column).
Exit status: 0 when every row was scored (or skipped with --lenient), 2 when
the command could not run; a failed run leaves no --out file behind.
`

// parseScoreTime reads --at: RFC 3339, a date, or "now".
func parseScoreTime(s string) (time.Time, error) {
	if s == "now" {
		return time.Now().UTC().Truncate(time.Second), nil
	}
	t, err := parseTime(s)
	if err != nil {
		return time.Time{}, leadscore.InvalidField("--at", s, "must be an RFC 3339 time, a date YYYY-MM-DD or now")
	}
	return t.UTC(), nil
}

// loadScoreModel loads --model as a backtest loads its candidate: an
// artifact file needs no store; a registry reference opens --store.
func loadScoreModel(ctx context.Context, ref, store string, stderr io.Writer) (*registry.ResolvedModel, func(), error) {
	parsed, err := registry.ParseReference("--model", ref)
	if err != nil {
		return nil, nil, err
	}
	reg, closeStore := registry.New(nil), func() {}
	if !parsed.IsFile() {
		r, st, err := openRegistry(ctx, store, true, stderr)
		if err != nil {
			return nil, nil, err
		}
		reg, closeStore = r, func() { st.Close() }
	}
	rm, err := reg.LoadModel(ctx, "--model", ref)
	if err != nil {
		closeStore()
		return nil, nil, err
	}
	return rm, closeStore, nil
}
