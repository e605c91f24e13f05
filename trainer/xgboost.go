package trainer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/model/xgbimport"
)

// SourceFormatXGBoostJSON names XGBoost's JSON model format in an imported
// version's lineage (parameter source_format).
const SourceFormatXGBoostJSON = "xgboost-json"

// XGBoostImport says how to import an XGBoost model.
type XGBoostImport struct {
	// Limit bounds the model file's size; 0 is xgbimport.MaxBytes.
	Limit int64
	// Reference is a labelled flat table of leads like those the model
	// will score: the grid's cut points and the percentiles are learned
	// from it, and the calibration when Calibration asks. Its columns are
	// the attributes the model's features map to. Required.
	Reference *dataset.FlatTable
	// Reading is how Reference was read, recorded so that backtests read
	// their data alike.
	Reading model.Reading
	// Mapping maps features by name ahead of the naming rules (see
	// xgbimport.Map).
	Mapping map[string]xgbimport.Input
	// SparseZeros says the model was trained on a sparse matrix, where a
	// zero is missing.
	SparseZeros bool
	// Calibration is "platt" or "isotonic" to fit that map on Reference,
	// or "" (or "none") for XGBoost's own probability, sigmoid(margin).
	Calibration string
	// Grid controls the grid.
	Grid model.GridOptions
	// DataStart and DataEnd bound the data the model was trained on, as
	// its owner states them; a promotion to champion needs a backtest on
	// data after DataEnd. Both zero take the reference table's time span
	// when it has a time column (the reference is the training table).
	DataStart, DataEnd time.Time
}

// ImportXGBoost reads an XGBoost JSON model from r and returns it as a
// leadscore model of family gbdt: the spec reads the attributes its
// features map to, the ensemble scores and explains as XGBoost does, and
// the calibration and grid are fitted on the reference table as training
// fits them. Its lineage (Metadata.Parameters) records the source format,
// the file's SHA-256, the feature mapping and the reference data's hash.
func ImportXGBoost(ctx context.Context, r io.Reader, opts XGBoostImport) (*model.Model, error) {
	if opts.Reference == nil {
		return nil, leadscore.InvalidField("reference", "", "is required: a labelled table of leads fits the grid and percentiles")
	}
	h := sha256.New()
	b, err := xgbimport.Read(io.TeeReader(r, h), opts.Limit)
	if err != nil {
		return nil, err
	}
	fileHash := hex.EncodeToString(h.Sum(nil))
	attrs, err := FlatAttributes(opts.Reference)
	if err != nil {
		return nil, err
	}
	mp, err := xgbimport.Map(b, attrs, opts.Mapping, opts.SparseZeros)
	if err != nil {
		return nil, err
	}
	spec, g, err := xgbimport.Convert(b, mp, attrs)
	if err != nil {
		return nil, err
	}
	m := &model.Model{Family: model.FamilyGBDT, Spec: spec, GBDT: g, Calibration: identityCalibration(), Grid: placeholderGrid()}
	rows, err := FlatRows(ctx, opts.Reference, spec)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	n, w := opts.Reference.Len(), spec.Width()
	labels := make([]bool, n)
	for i := range labels {
		labels[i] = opts.Reference.Label(i)
	}
	params := map[string]string{
		"source_format":   SourceFormatXGBoostJSON,
		"source_sha256":   fileHash,
		"reference_file":  opts.Reference.File(),
		"xgboost_version": b.Version,
		"objective":       b.Objective,
		"base_score":      strconv.FormatFloat(float64(b.BaseScore), 'g', -1, 32),
		"trees":           fmt.Sprintf("%d of %d", len(b.Trees), b.TreesInFile),
		"calibration":     "sigmoid(margin), XGBoost's own probability",
	}
	if b.BestIteration >= 0 {
		params["best_iteration"] = strconv.Itoa(b.BestIteration)
	}
	mapping, err := json.Marshal(mp)
	if err != nil {
		return nil, err
	}
	params["feature_mapping"] = string(mapping)
	if opts.Calibration != "" && opts.Calibration != "none" {
		s, err := model.NewScorer(m)
		if err != nil {
			return nil, err
		}
		raw := make([]float64, n)
		for i := range raw {
			raw[i] = s.Raw(rows[i*w : (i+1)*w])
		}
		cal, why, err := fitCalibrationMap(opts.Calibration, raw, labels)
		if err != nil {
			return nil, fmt.Errorf("calibrate on the reference: %w", err)
		}
		m.Calibration = cal
		params["calibration"] = fmt.Sprintf("%s on the %d reference rows", opts.Calibration, n)
		if why != "" {
			params["calibration"] = fmt.Sprintf("sigmoid(margin): %s on the %d reference rows gave no increasing map (%s)", opts.Calibration, n, why)
		}
	}
	if err := placeGrid(ctx, m, rows, w, n, opts.Grid); err != nil {
		return nil, fmt.Errorf("place the grid on the reference: %w", err)
	}
	if m.PointsBaseline, err = importedBaseline(ctx, opts, spec, params); err != nil {
		return nil, err
	}
	refHash := hashData(&Data{TrainRows: rows, TrainLabels: labels})
	params["reference_sha256"] = refHash
	start, end := opts.DataStart, opts.DataEnd
	switch {
	case !start.IsZero() || !end.IsZero():
		if start.IsZero() || end.IsZero() || !start.Before(end) {
			return nil, leadscore.InvalidField("data_window", fmt.Sprintf("%s to %s", start.Format(time.RFC3339), end.Format(time.RFC3339)), "needs a start before its end")
		}
		params["training_window"] = "as stated at import"
	case opts.Reference.HasTimes():
		times := opts.Reference.Times()
		lo, hi := slices.Min(times), slices.Max(times)
		start, end = time.Unix(0, lo).UTC(), time.Unix(0, hi).UTC()
		params["training_window"] = "the reference table's time span"
	default:
		params["training_window"] = "unknown: a champion needs a forced promotion"
	}
	m.Metadata = model.Metadata{
		TrainerVersion: trainerVersion(),
		DataSHA256:     refHash,
		DataStart:      start,
		DataEnd:        end,
		Parameters:     params,
		Reading:        opts.Reading,
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("the imported model does not validate: %w", err)
	}
	return m, nil
}

// importedBaseline learns the points baseline an imported model is judged
// against from the reference table, as training learns one from its rows:
// the simple model on equal information, so it reads only the attributes
// the imported model reads. When the reference gives no points model, the
// version has no baseline and params say why.
func importedBaseline(ctx context.Context, opts XGBoostImport, spec *model.FeatureSpec, params map[string]string) (*model.Model, error) {
	var exclude []string
	for _, c := range opts.Reference.Columns() {
		key := attributeKey(c.Name)
		if c.Role == dataset.RoleFeature && !slices.ContainsFunc(spec.Fit, func(f model.FitFeature) bool { return f.Attribute == key }) {
			exclude = append(exclude, key)
		}
	}
	d, err := FromFlatTable(ctx, opts.Reference, FlatSplit{Spec: model.SpecOptions{Exclude: exclude}})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		params["points_baseline"] = "none: " + leadscore.ErrorMessage(err)
		return nil, nil
	}
	b, err := pointsBaseline(ctx, d, Config{Seed: 1, Grid: opts.Grid}, params)
	if b != nil {
		b.Metadata.Reading = opts.Reading
	}
	return b, err
}

// FlatAttributes describes each feature column of a flat table as an
// attribute an imported model may read: its column name, its key, its
// kind, and a categorical column's values sorted (the order of a pandas
// category column's codes).
func FlatAttributes(t *dataset.FlatTable) ([]xgbimport.Attribute, error) {
	var out []xgbimport.Attribute
	for _, info := range t.Columns() {
		if info.Role != dataset.RoleFeature {
			continue
		}
		a := xgbimport.Attribute{Column: info.Name, Key: attributeKey(info.Name)}
		switch info.Type {
		case dataset.ColumnNumeric:
			a.Kind = model.KindNumeric
		case dataset.ColumnBoolean:
			a.Kind = model.KindBoolean
		case dataset.ColumnCategorical:
			a.Kind = model.KindCategorical
			c, err := t.Categorical(info.Name)
			if err != nil {
				return nil, err
			}
			a.Categories = slices.Sorted(slices.Values(c.Levels()))
		default:
			continue
		}
		out = append(out, a)
	}
	return out, nil
}
