package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/evaluator"
	"github.com/leadscore/leadscore/internal/storeutil"
	"github.com/leadscore/leadscore/registry"
)

// defaultHorizon is the conversion horizon of a backtest when none is
// given, matching the trainer's label horizon.
const defaultHorizon = 90 * 24 * time.Hour

func runBacktest(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) int {
	fs := newFlagSet("backtest", "backtest --model REF --data DIR|FILE|store [--label COLUMN] [--gate FILE] [--report-dir DIR] [--json]", stderr)
	store := storeFlag(fs)
	modelRef := fs.String("model", "", "the candidate: name@alias, name/versions/N, models/name/versions/N, or an artifact file")
	data := fs.String("data", "", "a history directory (leads, events, outcomes files), a flat table with --label, or 'store' for the history imported into the store")
	label := fs.String("label", "", "the flat table's label column; makes --data a flat table")
	var positive, exclude, missing listFlag
	fs.Var(&positive, "positive", "flat table: label values meaning won (default 1, true, yes, won)")
	fs.Var(&exclude, "exclude", "flat table: columns never read, such as fields filled in after sales contact")
	fs.Var(&missing, "missing", "flat table: COLUMN=VALUE pairs read as missing, such as pdays=-1, beside the values the candidate was trained with, which its artifact records and backtest applies")
	idColumn := fs.String("id-column", "", "flat table: the lead id column")
	timeColumn := fs.String("time-column", "", "flat table: the time column; it dates the evaluation data, which promotion needs")
	cutoff := fs.String("cutoff", "", "history: the cut-off T (RFC 3339 or YYYY-MM-DD); leads are scored as of T and judged on (T, T+horizon]; default: the latest T whose labels are complete")
	horizon := fs.Duration("horizon", defaultHorizon, "history: the conversion horizon")
	champion := fs.String("champion", "", "the model to compare with; default: the candidate model's champion; 'none' for no comparison")
	baseline := fs.String("baseline", "", "the points baseline; default: the model's newest points version, else the points the candidate learned from its own training rows, else (for an artifact without them) the built-in rules fitted before the cut-off; 'none' to skip")
	gate := fs.String("gate", "", "the gate policy: a YAML or JSON file, a stored policy NAME or NAME@REVISION, or 'none'; default: the built-in policy")
	seed := fs.Uint64("seed", 1, "the bootstrap seed; the same seed and data give the same figures")
	register := fs.Bool("register", true, "store the evaluation in the registry (registry candidates only), where promotion finds it")
	reportDir := fs.String("report-dir", "", "write report.json, report.md and report.html into this directory")
	asJSON := fs.Bool("json", false, "print the JSON report on stdout")
	if err := parseFlags(fs, args, env); err != nil {
		return flagExit(err)
	}
	fail := func(err error) int {
		return refusalExitCode(stderr, "backtest", err)
	}
	if *modelRef == "" {
		return fail(leadscore.InvalidField("--model", "", "is required"))
	}
	if *data == "" {
		return fail(leadscore.InvalidField("--data", "", "is required"))
	}
	ref, err := registry.ParseReference("--model", *modelRef)
	if err != nil {
		return fail(err)
	}
	req := registry.BacktestRequest{
		Candidate: *modelRef, Champion: *champion, Baseline: *baseline, Policy: *gate,
		Horizon: *horizon, Seed: *seed, Register: *register && !ref.IsFile(),
	}
	var historyEnd time.Time
	switch {
	case *label != "":
		colMissing, err := columnMissing(missing)
		if err != nil {
			return fail(err)
		}
		req.Data.Flat = &registry.FlatData{Path: *data, Options: dataset.FlatOptions{
			Label: *label, PositiveLabels: positive, IDColumn: *idColumn, TimeColumn: *timeColumn,
			Exclude: exclude, ColumnMissing: colMissing,
		}}
	case *data == "store":
		req.Data.Store = true
	default:
		files, err := historyDir(*data)
		if err != nil {
			return fail(err)
		}
		req.Data.History = &files
		historyEnd = dataset.ObservedUntil(*data)
	}
	if *cutoff != "" {
		t, err := parseTime(*cutoff)
		if err != nil {
			return fail(leadscore.InvalidField("--cutoff", *cutoff, "must be an RFC 3339 time or a date YYYY-MM-DD"))
		}
		req.Cutoff = t
	} else if req.Data.Flat == nil {
		req.HistoryEnd = historyEnd
	}
	if isTerminal(stderr) {
		req.Progress = func(stage string, fraction float64, message string) {
			fmt.Fprintf(stderr, "\r\033[K%-10s %3.0f%% %s", stage, 100*fraction, message)
		}
	}

	// Artifact-file backtests without a registry reference still open the
	// store when it exists, to find a champion or a stored policy; a
	// registry reference needs it.
	var reg *registry.Registry
	if !ref.IsFile() || inRegistry(*champion) || inRegistry(*baseline) || req.Data.Store || storedPolicy(*gate) {
		r, st, err := openRegistry(ctx, *store, true, stderr)
		if err != nil {
			return fail(err)
		}
		defer st.Close()
		reg = r
		if req.Data.Store {
			hs, ok := st.(leadscore.HistoryStore)
			if !ok {
				return fail(fmt.Errorf("the %s store cannot hold lead history", st.Backend()))
			}
			req.HistoryStore = hs
		}
	} else {
		reg = registry.New(nil)
	}
	res, err := reg.Backtest(ctx, req)
	if req.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return fail(err)
	}
	rep := res.Report
	if res.Evaluation != nil {
		// Named as the API names it, so a CI job can pass it to promote.
		rep.Evaluation = storeutil.EvaluationName(res.Evaluation.ID)
	}
	if *reportDir != "" {
		if err := writeReports(*reportDir, rep); err != nil {
			return fail(err)
		}
	}
	if *asJSON {
		out, err := rep.JSON()
		if err != nil {
			return fail(err)
		}
		if _, err := stdout.Write(out); err != nil {
			return exitError
		}
	} else {
		printBacktest(stdout, rep, res.Evaluation)
	}
	if rep.Verdict == evaluator.VerdictFail {
		return exitFail
	}
	return exitOK
}

// refusalExitCode reports a backtest error; every error is exit 2, since
// exit 1 is reserved for a gate that ran and failed.
func refusalExitCode(stderr io.Writer, cmd string, err error) int {
	code := refusalExit(stderr, cmd, err)
	if code == exitFail {
		return exitError
	}
	return code
}

// inRegistry reports whether a --champion or --baseline value is a registry
// reference (and so needs the store) rather than a file, empty or "none".
func inRegistry(s string) bool {
	if s == "" || s == "none" {
		return false
	}
	ref, err := registry.ParseReference("model", s)
	return err != nil || !ref.IsFile() // a malformed reference is reported by the registry
}

// storedPolicy reports whether a --gate value names a stored policy rather
// than a file or a built-in choice.
func storedPolicy(gate string) bool {
	return gate != "" && gate != "none" && gate != registry.DefaultPolicyName && !registry.IsPolicyFile(gate)
}

// historyDir finds the three history files in a directory, as `leadscore
// generate` writes them, in CSV or JSONL, optionally gzipped.
func historyDir(dir string) (dataset.HistoryFiles, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return dataset.HistoryFiles{}, leadscore.InvalidField("--data", dir, "cannot be read: "+err.Error())
	}
	if !st.IsDir() {
		return dataset.HistoryFiles{}, leadscore.InvalidField("--data", dir, "is a file: a flat table needs --label; a history is a directory of leads, events and outcomes files")
	}
	find := func(table string, required bool) (string, error) {
		for _, ext := range []string{".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".tsv"} {
			p := filepath.Join(dir, table+ext)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		if required {
			return "", leadscore.InvalidField("--data", dir, "holds no "+table+" file ("+table+".csv or .jsonl)")
		}
		return "", nil
	}
	var f dataset.HistoryFiles
	if f.Leads, err = find("leads", true); err != nil {
		return f, err
	}
	if f.Events, err = find("events", false); err != nil {
		return f, err
	}
	if f.Outcomes, err = find("outcomes", true); err != nil {
		return f, err
	}
	return f, nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Parse("2006-01-02", s)
}

// writeReports writes the JSON, Markdown and HTML renderings of a report.
func writeReports(dir string, rep *evaluator.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report dir: %w", err)
	}
	js, err := rep.JSON()
	if err != nil {
		return err
	}
	html, err := rep.HTML()
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"report.json": js, "report.md": rep.Markdown(), "report.html": html} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	return nil
}

func printBacktest(w io.Writer, rep *evaluator.Report, ev *leadscore.Evaluation) {
	c := rep.Candidate
	fmt.Fprintf(w, "%s on %d leads (%d converted, base rate %.2f%%)\n", c.Model, c.Leads, c.Conversions, 100*c.BaseRate)
	row := func(m *evaluator.Metrics, role string) {
		if m == nil {
			return
		}
		fmt.Fprintf(w, "  %-9s roc_auc %.4f [%.4f, %.4f]  pr_auc %.4f  lift@10%% %.2f  brier %.4f  ece %.4f  ks %.3f  (%s)\n",
			role, m.RocAUC, m.RocAUCCILower, m.RocAUCCIUpper, m.PrAUC, m.LiftTopDecile, m.Brier, m.ECE, m.KS, m.Model)
	}
	row(rep.Candidate, "candidate")
	row(rep.Champion, "champion")
	row(rep.Baseline, "baseline")
	fmt.Fprintln(w, "  decile  leads  won  close rate  lift")
	for _, d := range c.Deciles {
		fmt.Fprintf(w, "  %6d %6d %4d %10.2f%% %5.2f\n", d.Decile, d.Leads, d.Conversions, 100*d.CloseRate, d.Lift)
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if rep.Gate != nil {
		for _, ch := range rep.Gate.Checks {
			mark := "pass"
			if !ch.Passed {
				mark = "FAIL"
				if ch.Rule.Severity == "warn" {
					mark = "warn"
				}
			}
			fmt.Fprintf(w, "  [%s] %s\n", mark, ch.Message)
		}
	}
	fmt.Fprintf(w, "verdict: %s\n", rep.Verdict)
	if ev != nil {
		fmt.Fprintf(w, "stored as evaluations/%s\n", ev.ID)
	}
}
