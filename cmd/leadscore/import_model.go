package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/model/xgbimport"
	"github.com/leadscore/leadscore/registry"
	"github.com/leadscore/leadscore/trainer"
)

func runImportModel(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) int {
	fs := newFlagSet("import-model", "import-model --format xgboost-json MODEL.json --reference FILE --label COLUMN --out FILE [flags]", stderr)
	format := fs.String("format", trainer.SourceFormatXGBoostJSON, "the model file's format: xgboost-json (XGBoost's save_model(\"m.json\"))")
	reference := fs.String("reference", "", "a labelled flat table of leads like those the model will score (the training table, or a later one): "+
		"its columns are the attributes the model's features map to, and the grid, the percentiles and the calibration are fitted on it")
	label := fs.String("label", "", "the reference table's label column")
	timeColumn := fs.String("time-column", "", "the reference table's time column; when it is the training table, its time span is the version's training window")
	trainedFrom := fs.String("trained-from", "", "the start of the data the model was trained on (RFC 3339 or YYYY-MM-DD), with --trained-until; default: the reference table's time span")
	trainedUntil := fs.String("trained-until", "", "the end of the data the model was trained on: a promotion to champion needs a backtest on later data")
	missingValues := missingValuesVar(fs)
	var positive, missing, mapping listFlag
	fs.Var(&positive, "positive", "label values meaning won (default 1, true, yes, won)")
	fs.Var(&missing, "missing", "COLUMN=VALUE pairs read as missing in the reference table, such as pdays=-1")
	fs.Var(&mapping, "map", "FEATURE=ATTRIBUTE (the attribute's value) or FEATURE=ATTRIBUTE=VALUE (a one-hot column of that value), "+
		"for features the naming rules do not map (a feature named like a column reads it; COLUMN_VALUE is a one-hot column); repeatable")
	sparse := fs.Bool("sparse-zeros", false, "the model was trained on a sparse matrix (scikit-learn's OneHotEncoder output by default), where XGBoost reads a zero as missing")
	calibration := fs.String("calibration", "none", "none (XGBoost's own probability, sigmoid(margin)), or platt or isotonic fitted on the reference table")
	out := fs.String("out", "", "the artifact file to write")
	registerModel := fs.String("register", "", "also register the artifact as the next version of this model in --store")
	store := storeFlag(fs)
	actor := actorFlag(fs)
	pos, err := parseFlagsAndArgs(fs, args, env, 1, 1)
	if err != nil {
		return flagExit(err)
	}
	fail := func(err error) int { return refusalExit(stderr, "import-model", err) }
	switch {
	case *format != trainer.SourceFormatXGBoostJSON:
		return fail(leadscore.InvalidField("--format", *format, "must be xgboost-json"))
	case *out == "":
		return fail(leadscore.InvalidField("--out", "", "is required"))
	case *reference == "" || *label == "":
		return fail(leadscore.InvalidField("--reference", *reference, "and --label are required: a labelled table of leads fits the grid"))
	}
	explicit, err := mappingFlags(mapping)
	if err != nil {
		return fail(err)
	}
	colMissing, err := columnMissing(missing)
	if err != nil {
		return fail(err)
	}
	var window [2]time.Time
	for i, v := range []struct{ flag, value string }{{"--trained-from", *trainedFrom}, {"--trained-until", *trainedUntil}} {
		if v.value == "" {
			continue
		}
		if window[i], err = parseTime(v.value); err != nil {
			return fail(leadscore.InvalidField(v.flag, v.value, "must be an RFC 3339 time or a date YYYY-MM-DD"))
		}
	}
	tokens, noDefaults := missingValues.options()
	table, err := dataset.ReadFlatTable(ctx, *reference, dataset.FlatOptions{
		Label: *label, PositiveLabels: positive, TimeColumn: *timeColumn, ColumnMissing: colMissing, MissingTokens: tokens, NoDefaultMissing: noDefaults,
	})
	if err != nil {
		return fail(fmt.Errorf("--reference: %w", err))
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	m, err := trainer.ImportXGBoost(ctx, f, trainer.XGBoostImport{
		Reference: table, Reading: table.Reading(), Mapping: explicit, SparseZeros: *sparse, Calibration: *calibration,
		DataStart: window[0], DataEnd: window[1],
	})
	if err != nil {
		return fail(fmt.Errorf("%s: %w", pos[0], err))
	}
	m.Metadata.Profile = table.Profile()
	if err := artifact.WriteFile(*out, m); err != nil {
		return fail(err)
	}
	p := m.Metadata.Parameters
	fmt.Fprintf(stdout, "imported %s (XGBoost %s, %s, %s trees, sha256 %s)\n", pos[0], p["xgboost_version"], p["objective"], p["trees"], p["source_sha256"][:12])
	fmt.Fprintf(stdout, "features: %d mapped to %d attributes: %s\n", len(m.GBDT.Sources), len(m.Spec.Fit), attributeList(m.Spec.Fit))
	// XGBoost's file does not name a categorical feature's categories: they
	// are read from the reference, in the order pandas gives category
	// codes. Print them so that a team can check them against its own.
	var mp xgbimport.Mapping
	if err := json.Unmarshal([]byte(p["feature_mapping"]), &mp); err != nil {
		return fail(err)
	}
	for _, in := range mp.Inputs {
		if in.Encoding != xgbimport.EncodingCategoryCode {
			continue
		}
		for _, f := range m.Spec.Fit {
			if f.Attribute == in.Attribute {
				fmt.Fprintf(stdout, "categorical feature %s: codes 0 to %d are %s\n", in.Feature, len(f.Categories)-1, strings.Join(f.Categories, ", "))
			}
		}
	}
	fmt.Fprintf(stdout, "reference: %d rows of %s; calibration: %s\n", table.Len(), *reference, p["calibration"])
	if md := m.Metadata; !md.DataEnd.IsZero() {
		fmt.Fprintf(stdout, "training window: %s to %s (%s)\n", md.DataStart.Format(time.DateOnly), md.DataEnd.Format(time.DateOnly), p["training_window"])
	} else {
		fmt.Fprintf(stdout, "training window: %s\n", p["training_window"])
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	if *registerModel == "" {
		return exitOK
	}
	written, err := os.ReadFile(*out)
	if err != nil {
		return fail(err)
	}
	reg, st, err := openRegistry(ctx, *store, true, stderr)
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	v, _, err := reg.RegisterVersion(ctx, registry.NewVersion{
		Model: *registerModel, Artifact: written, Actor: *actor, CreateModel: true,
		Description: "imported from " + *format + " " + pos[0],
	})
	if err != nil {
		return fail(fmt.Errorf("register %s: %w", *out, err))
	}
	fmt.Fprintf(stdout, "registered %s (%s, sha256 %s)\n", v.Ref().Name(), v.Family, v.ArtifactSHA256[:12])
	return exitOK
}

// mappingFlags reads --map FEATURE=ATTRIBUTE[=VALUE] pairs.
func mappingFlags(pairs []string) (map[string]xgbimport.Input, error) {
	out := map[string]xgbimport.Input{}
	for _, kv := range pairs {
		parts := strings.SplitN(kv, "=", 3)
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			return nil, leadscore.InvalidField("--map", kv, "must be FEATURE=ATTRIBUTE or FEATURE=ATTRIBUTE=VALUE")
		}
		in := xgbimport.Input{Attribute: parts[1]}
		if len(parts) == 3 {
			in.Encoding, in.Category = xgbimport.EncodingOneHot, parts[2]
		}
		out[parts[0]] = in
	}
	return out, nil
}

// attributeList names the attributes a model reads.
func attributeList(fit []model.FitFeature) string {
	names := make([]string, len(fit))
	for i, f := range fit {
		names[i] = f.Attribute
	}
	return strings.Join(names, ", ")
}
