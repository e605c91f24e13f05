package artifact_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/model"
)

func TestReadingAndProfileRoundTrip(t *testing.T) {
	t.Parallel()
	m := tinyModel(model.FamilyLogistic)
	m.Metadata.Reading = model.Reading{
		MissingValues: []string{"", "NA", "Select"},
		ColumnMissing: map[string][]string{"pdays": {"-1"}},
	}
	m.Metadata.Profile = []model.ColumnProfile{
		{Name: "won", Kind: model.ColumnLabel},
		{Name: "specialization", Kind: model.ColumnCategorical, MissingShare: 0.375, Distinct: 2,
			MissingValues: []model.ValueCount{{Value: "Select", Rows: 3}}, Placeholders: []model.ValueCount{{Value: "unknown", Rows: 2}}},
		{Name: "region", Kind: model.ColumnCategorical, Group: true, Distinct: 4},
		{Name: "amount", Kind: model.ColumnNumeric, Distinct: 1000, DistinctCapped: true},
		{Name: "notes", Kind: model.ColumnExcluded, MissingShare: 1},
	}
	got, err := artifact.Unmarshal(mustMarshal(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Metadata.Reading, m.Metadata.Reading) {
		t.Errorf("reading %+v, want %+v", got.Metadata.Reading, m.Metadata.Reading)
	}
	if !reflect.DeepEqual(got.Metadata.Profile, m.Metadata.Profile) {
		t.Errorf("profile %+v, want %+v", got.Metadata.Profile, m.Metadata.Profile)
	}
	// A model without them loads with none.
	plain, err := artifact.Unmarshal(mustMarshal(t, tinyModel(model.FamilyLogistic)))
	if err != nil {
		t.Fatal(err)
	}
	if plain.Metadata.Reading.MissingValues != nil || plain.Metadata.Profile != nil {
		t.Errorf("a model without a reading loads with %+v and %+v", plain.Metadata.Reading, plain.Metadata.Profile)
	}
}

func TestMarshalRefusesABadProfile(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		p     model.ColumnProfile
		field string
	}{
		"an unknown kind":    {model.ColumnProfile{Name: "a", Kind: "text"}, "metadata.profile[0].kind"},
		"a share above one":  {model.ColumnProfile{Name: "a", Kind: model.ColumnNumeric, MissingShare: 1.5}, "metadata.profile[0].missing_share"},
		"no name":            {model.ColumnProfile{Kind: model.ColumnNumeric}, "metadata.profile[0].name"},
		"a negative count":   {model.ColumnProfile{Name: "a", Kind: model.ColumnNumeric, Distinct: -1}, "metadata.profile[0].distinct"},
		"negative value row": {model.ColumnProfile{Name: "a", Kind: model.ColumnNumeric, Placeholders: []model.ValueCount{{Value: "-1", Rows: -2}}}, "metadata.profile[0].values[0].rows"},
	} {
		m := tinyModel(model.FamilyGBDT)
		m.Metadata.Profile = []model.ColumnProfile{tc.p}
		_, err := artifact.Marshal(m)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got %v, want an error naming %s", name, err, tc.field)
		}
	}
}
