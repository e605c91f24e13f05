package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/registry"
	"github.com/leadscore/leadscore/trainer"
)

// listFlag is a comma-separated list flag that may also be repeated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

func runTrain(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) int {
	fs := newFlagSet("train", "train --data DIR|FILE [--label COLUMN] --out FILE [flags]", stderr)
	dataPath := fs.String("data", "", "a history directory holding leads.csv, events.csv and outcomes.csv (as `leadscore generate` writes), or a flat table file, one row per lead, with --label")
	history := fs.String("history", "", "deprecated: --data DIR")
	table := fs.String("table", "", "deprecated: --data FILE")
	label := fs.String("label", "", "the flat table's label column")
	missingValues := missingValuesVar(fs)
	var positive, exclude, missing listFlag
	fs.Var(&positive, "positive", "label values meaning won (default 1, true, yes, won)")
	fs.Var(&exclude, "exclude", "columns or attributes never used as features, such as fields filled in after sales contact")
	fs.Var(&missing, "missing", "COLUMN=VALUE pairs read as missing in a flat table, such as pdays=-1")
	timeColumn := fs.String("time-column", "", "the flat table's time column, ordering the held-out split")
	fs.Bool("random-split", false, "split a flat table at random (seeded) instead of in order; "+
		"with --test-table, say that the two tables were split at random, so that --tune's inner fold is drawn at random too")
	testTable := fs.String("test-table", "", "a held-out flat table with the same columns, instead of splitting --table")
	family := fs.String("family", string(trainer.FamilyAuto), "the model family: auto (choose among points, logistic and gbdt on the inner fold, "+
		"the simplest within one standard error of the best fold ROC AUC), points, logistic or gbdt")
	rules := fs.String("rules", "", "the points rules file (YAML or JSON), for --family points; default: learn integer points per value, bin, event kind and window from the training rows ('leadscore rules' prints them)")
	fs.String("calibration", model.CalibrationPlatt, "how raw outputs map to probabilities: platt or isotonic")
	seed := fs.Uint64("seed", 1, "the random seed; the same seed and data give a byte-identical artifact")
	fs.Bool("tune", true, "logistic and gbdt: choose C, knots (0, 8) and interactions (0, 8), or the depth (2, 3, 4, 6), min child weight (1, 5) and number of trees, "+
		"on an inner fold of the training rows (the latest fifth by time; never the held-out rows), then refit on all of them; "+
		"an explicit --c, --knots, --interactions or --depth is the only value tried, an explicit --trees caps the trees (default 1000); --tune=false trains with the flags' values")
	fs.Int("trees", registry.DefaultTrees, "gbdt: the number of trees (with --tune: the most early stopping may keep, default 1000)")
	fs.Int("depth", registry.DefaultDepth, "gbdt: the maximum depth of a tree (with --tune: chosen unless given)")
	fs.Float64("learning-rate", registry.DefaultLearningRate, "gbdt: the learning rate")
	fs.String("categorical-splits", registry.DefaultCategoricalSplits, "gbdt: one_vs_rest (as one-hot encoding) or partition (as LightGBM)")
	fs.Int("early-stopping", 0, "gbdt: stop when the log loss on the latest fifth of the training rows has not improved for this many trees "+
		"(0: off; with --tune: the patience on the inner fold, default 50)")
	fs.Float64("c", registry.DefaultC, "logistic: the inverse L2 regularisation strength, as scikit-learn's C (with --tune: chosen from 0.01 to 10 unless given)")
	fs.Int("knots", 0, fmt.Sprintf("logistic: hinge knots per numeric feature, at its training quantiles, so its effect can bend (0 to %d; with --tune: 0 or 8 unless given)", model.MaxKnots))
	fs.Int("interactions", 0, fmt.Sprintf("logistic: the most pairs of interacting features to add, each only if the additive fit's residuals show its interaction significantly (0 to %d; with --tune: 0 or 8 unless given)", model.MaxPairs))
	fs.Bool("refit", true, "logistic and gbdt: after the held-out rows have measured the model, fit it again with the same parameters on the training and held-out rows, keeping the calibration (the held-out figures then describe the first fit); off with --test-table, whose rows are for judging only")
	until := fs.String("until", "", "history: learn only from what was known before this time (RFC 3339 or YYYY-MM-DD), so a backtest can judge the model on what came after; default: the whole history")
	out := fs.String("out", "", "the artifact file to write")
	registerModel := fs.String("register", "", "also register the artifact as the next version of this model in --store")
	store := storeFlag(fs)
	actor := actorFlag(fs)
	asJSON := fs.Bool("json", false, "print a JSON summary (validation metrics, timings) on stdout")
	if err := parseFlags(fs, args, env); err != nil {
		return flagExit(err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "leadscore train: "+format+"\n", a...)
		return exitError
	}
	if *out == "" {
		return fail("--out is required")
	}
	// The training parameters are read as a training job's are: a flag
	// given (or set by its environment variable) is the only value tuning
	// tries.
	params := map[string]string{}
	for _, name := range registry.TrainParameterNames() {
		if f := strings.ReplaceAll(name, "_", "-"); given[f] {
			params[name] = fs.Lookup(f).Value.String()
		}
	}
	flagName := func(name string) string { return "--" + strings.ReplaceAll(name, "_", "-") }
	settings, err := registry.TrainConfig(flagName, model.Family(*family), *seed, params, *testTable != "")
	if err != nil {
		return fail("%v", err)
	}
	src, err := resolveTrainData(*dataPath, *history, *table, *label, stderr)
	if err != nil {
		return fail("%v", err)
	}
	tokens, noDefaults := missingValues.options()
	var rulesFile []byte
	if *rules != "" {
		if rulesFile, err = os.ReadFile(*rules); err != nil {
			return fail("--rules: %v", err)
		}
	}
	progress := func(string, float64, string) {}
	if isTerminal(stderr) {
		progress = func(_ string, _ float64, line string) { fmt.Fprintf(stderr, "\r\033[K%s…", line) }
		defer fmt.Fprint(stderr, "\r\033[K")
	}
	started := time.Now()

	req := registry.TrainRequest{
		Exclude:  exclude,
		Progress: progress,
		// Told before fitting, which may take minutes.
		Read: func(notes []string, profile []model.ColumnProfile, rows int) {
			if isTerminal(stderr) {
				fmt.Fprint(stderr, "\r\033[K")
			}
			printReadingNotes(stderr, notes, profile, rows)
		},
	}
	if src.history {
		// The directory is read as backtest and score read it: CSV or
		// JSON lines, optionally gzipped.
		files, ferr := historyDir(src.path)
		if ferr != nil {
			return fail("%v", ferr)
		}
		req.Data.History = &files
		req.Reading = dataset.ReadOptions{MissingTokens: tokens, NoDefaultMissing: noDefaults}
		if *until != "" {
			t, perr := parseTime(*until)
			if perr != nil {
				return fail("invalid --until %q: want an RFC 3339 time or a date YYYY-MM-DD", *until)
			}
			req.Until = t
		}
	} else {
		colMissing, cerr := columnMissing(missing)
		if cerr != nil {
			return fail("%v", cerr)
		}
		req.Data.Flat = &registry.FlatData{Path: src.path, Options: dataset.FlatOptions{
			Label: *label, PositiveLabels: positive, TimeColumn: *timeColumn,
			ColumnMissing: colMissing, MissingTokens: tokens, NoDefaultMissing: noDefaults,
		}}
		req.TestTable = *testTable
	}

	req.Config = settings.Config
	req.Config.PointsRules = rulesFile
	req.RandomSplit = settings.RandomSplit
	trained, err := registry.Train(ctx, req)
	if err != nil {
		if isTerminal(stderr) {
			fmt.Fprint(stderr, "\r\033[K")
		}
		return fail("%v", err)
	}
	m, rep := trained.Model, trained.Report
	notes, reading, profile := trained.Notes, trained.Reading, trained.Profile
	if ch := rep.FamilyChoice; ch != nil {
		if isTerminal(stderr) {
			fmt.Fprint(stderr, "\r\033[K")
		}
		fmt.Fprintf(stderr, "family auto: chose %s: %s\n", ch.Chosen, ch.Reason)
	}
	progress("writing", 1, "writing "+*out)
	if err := artifact.WriteFile(*out, m); err != nil {
		return fail("%v", err)
	}
	written, err := os.ReadFile(*out)
	if err != nil {
		return fail("%v", err)
	}
	var registered *leadscore.ModelVersion
	if *registerModel != "" {
		progress("registering", 1, "registering "+*registerModel)
		reg, st, rerr := openRegistry(ctx, *store, true, stderr)
		if rerr != nil {
			return fail("%v", rerr)
		}
		source := registry.TrainingSource{Kind: req.SourceKind(), Files: trained.Files, Options: req.Options(params)}
		v, _, rerr := reg.RegisterVersion(ctx, registry.NewVersion{Model: *registerModel, Artifact: written, Actor: *actor, Source: source, CreateModel: true})
		st.Close()
		if rerr != nil {
			return fail("register %s: %s", *out, describeError(rerr))
		}
		registered = &v
	}
	rep.Seconds["total"] = time.Since(started).Seconds()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		var version string
		if registered != nil {
			version = registered.Ref().Name()
		}
		var baseline map[string]float64
		if b := m.PointsBaseline; b != nil {
			baseline = b.Metadata.ValidationMetrics
		}
		if err := enc.Encode(struct {
			Artifact     string `json:"artifact"`
			SHA256       string `json:"artifact_sha256"`
			ModelVersion string `json:"model_version,omitempty"`
			*trainer.Report
			// PointsBaseline holds the held-out figures of the points
			// learned from the same rows, which backtests judge the
			// model against.
			PointsBaseline map[string]float64 `json:"points_baseline,omitempty"`
			// Notes and Profile say how the data was read: a column
			// dropped, and each column's kind, missing share, distinct
			// values and placeholder-looking values.
			Notes   []string              `json:"notes,omitempty"`
			Reading model.Reading         `json:"reading"`
			Profile []model.ColumnProfile `json:"profile"`
		}{*out, artifact.SHA256(written), version, rep, baseline, notes, reading, profile}); err != nil {
			return fail("write json: %v", err)
		}
		return exitOK
	}
	fmt.Fprintf(stdout, "trained %s on %d rows (%d won), held out %d (%d won)\n",
		rep.Family, rep.TrainRows, rep.TrainPositives, rep.ValidRows, rep.ValidPositives)
	if tr := rep.Tuning; tr != nil {
		fmt.Fprintf(stdout, "tuned: %s; candidates fitted on %d training rows (%d won) and judged by ROC AUC on %d (%d won): %s\n",
			tr.FoldDetail, tr.FitRows, tr.FitPositives, tr.FoldRows, tr.FoldPositives, tuneChoice(tr))
	}
	fmt.Fprintf(stdout, "held-out ROC AUC %.4f, Brier %.4f, ECE %.4f, log loss %.4f\n",
		rep.Validation["roc_auc"], rep.Validation["brier"], rep.Validation["ece"], rep.Validation["log_loss"])
	if b := m.PointsBaseline; b != nil {
		fmt.Fprintf(stdout, "points baseline (%d rules learned from the same rows; backtests judge the model against it): held-out ROC AUC %.4f\n",
			len(b.Points.Rules), b.Metadata.ValidationMetrics["roc_auc"])
	}
	if rep.Drift != nil && rep.Drift.Detected {
		fmt.Fprintf(stdout, "%s\n", rep.Drift.Summary)
	}
	if c := rep.Calibration; c != nil && c.Fallback != "" {
		fmt.Fprintf(stdout, "calibration: %s\n", c.Fallback)
	}
	if rep.Refit {
		fmt.Fprintf(stdout, "then refitted on the training and held-out rows (%d), keeping the calibration's shape at the refit's rate; the figures above are the first fit's\n", rep.TrainRows+rep.ValidRows)
	}
	fmt.Fprintf(stdout, "wrote %s (sha256 %s) in %s\n", *out, artifact.SHA256(written), time.Since(started).Round(time.Millisecond))
	if registered != nil {
		fmt.Fprintf(stdout, "registered %s\n", registered.Ref().Name())
	}
	return exitOK
}

// tuneChoice describes the chosen candidate of a tuning.
func tuneChoice(tr *trainer.TuningReport) string {
	if tr.Fallback != "" {
		return tr.Fallback
	}
	c := tr.Candidates[tr.Chosen]
	what := fmt.Sprintf("C %g", c.C)
	if c.Knots > 0 {
		what += fmt.Sprintf(", %d knots", c.Knots)
	}
	if c.Interactions > 0 {
		what += fmt.Sprintf(", %d of up to %d pairs", c.Pairs, c.Interactions)
	}
	if c.MaxDepth > 0 {
		what = fmt.Sprintf("depth %d, min child weight %g, %d trees", c.MaxDepth, c.MinChildWeight, c.Trees)
	}
	return fmt.Sprintf("%s (inner ROC AUC %.4f, best of %d)", what, c.ROCAUC, len(tr.Candidates))
}

var _ flag.Value = (*listFlag)(nil)
