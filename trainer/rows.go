package trainer

import (
	"context"
	"fmt"
	"slices"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/model"
)

// FlatRows computes the feature rows of every row of a flat table under a
// model's spec, row-major, exactly as training computes a flat table's rows
// (FromFlatTable): the feature columns become attributes keyed by
// AttributeKey, and each row is featurized with no events. A backtest uses
// it so that a model is judged on the features it was trained on. It
// refuses a spec that counts events (a flat table has none) or reads an
// attribute the table has no feature column for, since both would score
// every row on made-up zeros or missing values.
func FlatRows(ctx context.Context, t *dataset.FlatTable, spec *model.FeatureSpec) ([]float64, error) {
	if spec == nil {
		return nil, leadscore.InvalidField("spec", "nil", "is required")
	}
	if len(spec.Kinds) > 0 {
		return nil, leadscore.InvalidField("spec.kinds", len(spec.Kinds),
			"the model counts events, which a flat table does not have; backtest it on a history")
	}
	f, err := model.NewFeaturizer(spec)
	if err != nil {
		return nil, err
	}
	leads, err := flatLeads(t)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, c := range t.Columns() {
		if c.Role == dataset.RoleFeature {
			keys = append(keys, attributeKey(c.Name))
		}
	}
	for i, ff := range spec.Fit {
		if !slices.Contains(keys, ff.Attribute) {
			return nil, leadscore.InvalidField(fmt.Sprintf("spec.fit[%d].attribute", i), ff.Attribute,
				fmt.Sprintf("the model reads an attribute that %s has no feature column for", t.File()))
		}
	}
	w := f.Width()
	out := make([]float64, t.Len()*w)
	fit := make([]leadscore.Value, len(spec.Fit))
	for i := range leads {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		for j, ff := range spec.Fit {
			fit[j] = leads[i][ff.Attribute]
		}
		if err := f.Compute(fit, 0, model.Activity{}, 0, out[i*w:(i+1)*w]); err != nil {
			return nil, fmt.Errorf("row %d: %w", i+1, err)
		}
	}
	return out, nil
}

// AttributeKey returns the attribute key a flat table's column becomes
// (its name in lower case with every run of other characters than letters
// and digits replaced by "_"), so that other packages find a column by the
// name a model's spec gives it.
func AttributeKey(column string) string { return attributeKey(column) }
