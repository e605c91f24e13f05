package xgbimport_test

import (
	"math"
	"testing"

	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/model/xgbimport"
)

// boosterOf is a booster of one stump on feature 0 with the given names,
// all numeric: enough for Map.
func boosterOf(names ...string) *xgbimport.Booster {
	types := make([]string, len(names))
	for i := range types {
		types[i] = "float"
	}
	return &xgbimport.Booster{
		Objective: xgbimport.ObjectiveLogistic, BaseScore: 0.5, FeatureNames: names, FeatureTypes: types,
		Trees: []xgbimport.Tree{{Nodes: []xgbimport.Node{
			{Left: 1, Right: 2, Feature: 0, Threshold: 0.5, Cover: 10},
			{Left: -1, Right: -1, Value: -1, Cover: 6},
			{Left: -1, Right: -1, Value: 1, Cover: 4},
		}}},
	}
}

var mappingAttrs = []xgbimport.Attribute{
	{Column: "Lead Source", Key: "lead_source", Kind: model.KindCategorical, Categories: []string{"ads", "web"}},
	{Column: "job", Key: "job", Kind: model.KindCategorical, Categories: []string{"admin.", "blue-collar"}},
	{Column: "job_title", Key: "job_title", Kind: model.KindCategorical, Categories: []string{"cto", "vp"}},
	{Column: "housing", Key: "housing", Kind: model.KindBoolean},
	{Column: "age", Key: "age", Kind: model.KindNumeric},
}

func TestMapResolvesFeatureNames(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		feature string
		want    xgbimport.Input
	}{
		{"column_name_reads_the_value", "age", xgbimport.Input{Feature: "age", Attribute: "age", Encoding: xgbimport.EncodingValue}},
		{"get_dummies_name_is_one_hot", "job_admin.", xgbimport.Input{Feature: "job_admin.", Attribute: "job", Encoding: xgbimport.EncodingOneHot, Category: "admin."}},
		{"column_with_spaces_keeps_its_name", "Lead Source_web", xgbimport.Input{Feature: "Lead Source_web", Attribute: "lead_source", Encoding: xgbimport.EncodingOneHot, Category: "web"}},
		{"key_prefix_also_matches", "lead_source_ads", xgbimport.Input{Feature: "lead_source_ads", Attribute: "lead_source", Encoding: xgbimport.EncodingOneHot, Category: "ads"}},
		{"seen_value_decides_between_prefixes", "job_title_cto", xgbimport.Input{Feature: "job_title_cto", Attribute: "job_title", Encoding: xgbimport.EncodingOneHot, Category: "cto"}},
		{"boolean_dummy", "housing_yes", xgbimport.Input{Feature: "housing_yes", Attribute: "housing", Encoding: xgbimport.EncodingOneHot, Category: "yes"}},
		{"category_the_data_lacks_still_maps", "job_retired", xgbimport.Input{Feature: "job_retired", Attribute: "job", Encoding: xgbimport.EncodingOneHot, Category: "retired"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			mp, err := xgbimport.Map(boosterOf(c.feature), mappingAttrs, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := mp.Inputs[0]; got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestMapRefusesWhatItCannotResolve(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		features []string
		explicit map[string]xgbimport.Input
		field    string
	}{
		{"unmapped_feature", []string{"age", "revenue"}, nil, "feature revenue"},
		// job_title_x could be job = "title_x" or job_title = "x", and
		// the data holds neither value.
		{"ambiguous_feature", []string{"job_title_x"}, nil, "feature job_title_x"},
		{"one_hot_of_a_numeric_attribute", []string{"age"}, map[string]xgbimport.Input{"age": {Attribute: "age", Category: "30"}}, "feature age"},
		{"boolean_dummy_of_another_value", []string{"housing_maybe", "age"}, map[string]xgbimport.Input{"housing_maybe": {Attribute: "housing", Category: "maybe"}}, "feature housing_maybe"},
		{"categorical_attribute_read_as_a_number", []string{"job"}, nil, "feature job"},
		{"two_features_for_one_value", []string{"job_admin.", "x"}, map[string]xgbimport.Input{"x": {Attribute: "job", Category: "admin."}}, "feature x"},
		{"explicit_mapping_to_no_attribute", []string{"x"}, map[string]xgbimport.Input{"x": {Attribute: "nope"}}, "mapping.x"},
		{"explicit_mapping_of_no_feature", []string{"age"}, map[string]xgbimport.Input{"zzz": {Attribute: "age"}}, "mapping.zzz"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := xgbimport.Map(boosterOf(c.features...), mappingAttrs, c.explicit, false)
			assertField(t, err, c.field)
		})
	}
}

func TestConvertOneHotSplits(t *testing.T) {
	t.Parallel()
	// A stump on a one-hot feature: 1 goes right (value 1), 0 left (-1).
	for _, c := range []struct {
		name    string
		feature string
		sparse  bool
		// values of the attribute's column, and the margin each must give.
		values []float64
		want   []float64
	}{
		// job's categories are the one-hot ones: admin. = 0; an unseen
		// value reads as 1, missing as NaN (all dummies 0).
		{"categorical_dummy", "job_admin.", false, []float64{0, 1, math.NaN()}, []float64{1, -1, -1}},
		{"boolean_dummy_of_yes", "housing_yes", false, []float64{1, 0, math.NaN()}, []float64{1, -1, -1}},
		{"boolean_dummy_of_no", "housing_no", false, []float64{0, 1, math.NaN()}, []float64{1, -1, -1}},
		// With sparse zeros a 0 is missing to XGBoost and takes the
		// default direction, which the stump sends right.
		{"sparse_zero_takes_the_default", "job_admin.", true, []float64{0, 1, math.NaN()}, []float64{1, 1, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := boosterOf(c.feature)
			b.Trees[0].Nodes[0].DefaultLeft = false
			mp, err := xgbimport.Map(b, mappingAttrs, nil, c.sparse)
			if err != nil {
				t.Fatal(err)
			}
			spec, g, err := xgbimport.Convert(b, mp, mappingAttrs)
			if err != nil {
				t.Fatal(err)
			}
			row := make([]float64, spec.Width())
			for i, v := range c.values {
				row[0] = v
				if got := g.Predict(row); got != c.want[i] {
					t.Errorf("column value %v: got margin %v, want %v", v, got, c.want[i])
				}
			}
		})
	}
}
