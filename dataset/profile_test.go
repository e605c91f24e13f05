package dataset

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// placeholderExport is a CRM export with a dropdown whose unchosen default
// is "Select", an "unknown" answer, a numeric field with words in some
// rows, and a -1 sentinel.
const placeholderExport = `id,specialization,job,visits,pdays,score,won
1,Select,admin,3,-1,0.5,yes
2,Finance,unknown,4,-1,1.5,no
3,Select,admin,none,-1,2.5,no
4,Marketing,unknown,5,10,3.5,no
5,Finance,admin,6,-1,NA,yes
6,Select,tech,7,20,5.5,no
7,Finance,tech,?,-1,6.5,no
8,Marketing,admin,8,-1,7.5,yes
`

func profileByName(t *testing.T, ft *FlatTable) map[string]model.ColumnProfile {
	t.Helper()
	out := map[string]model.ColumnProfile{}
	for _, p := range ft.Profile() {
		out[p.Name] = p
	}
	if err := model.ValidateProfile(ft.Profile()); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDefaultMissingValuesReadSelectAsMissing(t *testing.T) {
	t.Parallel()
	ft, err := readFlatText(t, placeholderExport, FlatOptions{Label: "won", IDColumn: "id", Types: map[string]ColumnType{"visits": ColumnCategorical}})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ft.Categorical("specialization")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(spec.Levels(), "Select") {
		t.Errorf("levels %q: Select is read as a category", spec.Levels())
	}
	p := profileByName(t, ft)
	sp := p["specialization"]
	if sp.Kind != model.ColumnCategorical || sp.MissingShare != 3.0/8 || sp.Distinct != 2 ||
		len(sp.MissingValues) != 1 || sp.MissingValues[0] != (model.ValueCount{Value: "Select", Rows: 3}) {
		t.Errorf("specialization profile %+v", sp)
	}
	// "unknown" may be a real answer: pointed out, not read as missing.
	if job := p["job"]; job.MissingShare != 0 || len(job.Placeholders) != 1 || job.Placeholders[0] != (model.ValueCount{Value: "unknown", Rows: 2}) {
		t.Errorf("job profile %+v", job)
	}
	// A mostly numeric column: its word is a placeholder; "?" is missing.
	if v := p["visits"]; len(v.Placeholders) != 1 || v.Placeholders[0].Value != "none" || len(v.MissingValues) != 1 || v.MissingValues[0].Value != "?" {
		t.Errorf("visits profile %+v", v)
	}
	if pd := p["pdays"]; pd.Kind != model.ColumnNumeric || pd.Distinct != 3 || len(pd.Placeholders) != 1 || pd.Placeholders[0] != (model.ValueCount{Value: "-1", Rows: 6}) {
		t.Errorf("pdays profile %+v", pd)
	}
	if s := p["score"]; s.Kind != model.ColumnNumeric || s.MissingShare != 1.0/8 || s.Distinct != 7 || len(s.Placeholders) != 0 {
		t.Errorf("score profile %+v", s)
	}
	if p["won"].Kind != model.ColumnLabel || p["id"].Kind != model.ColumnID {
		t.Errorf("label %+v, id %+v", p["won"], p["id"])
	}
}

func TestMissingValuesCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	opts := FlatOptions{Label: "won", NoDefaultMissing: true, MissingTokens: []string{"NA"}}
	ft, err := readFlatText(t, placeholderExport, opts)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ft.Categorical("specialization")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(spec.Levels(), "Select") {
		t.Errorf("levels %q: with the defaults off, Select is a category", spec.Levels())
	}
	r := ft.Reading()
	if !slices.Equal(r.MissingValues, []string{"", "NA"}) {
		t.Errorf("reading %+v, want the empty value and NA", r)
	}
}

func TestWithReadingReadsAsTrainingDid(t *testing.T) {
	t.Parallel()
	trained, err := readFlatText(t, placeholderExport, FlatOptions{Label: "won", MissingTokens: []string{"none"}, ColumnMissing: map[string][]string{"pdays": {"-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := trained.Reading()
	if !slices.Contains(r.MissingValues, "none") || !slices.Contains(r.MissingValues, "Select") || !slices.Equal(r.ColumnMissing["pdays"], []string{"-1"}) {
		t.Fatalf("reading %+v", r)
	}
	// A later read with other defaults in force reads as the model did.
	opts := FlatOptions{Label: "won", NoDefaultMissing: true}.WithReading(r)
	again, err := readFlatText(t, placeholderExport, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"visits", "pdays", "specialization"} {
		a, _ := trained.Column(name)
		b, _ := again.Column(name)
		if a.Missing != b.Missing || a.Type != b.Type {
			t.Errorf("%s: trained %+v, read again %+v", name, a, b)
		}
	}
	// A model from before readings were recorded reads with the old list.
	tokens, noDefaults, _ := ReadingOptions(model.Reading{})
	if !noDefaults || strings.Join(tokens, ",") != ",NA,N/A,null,NULL" {
		t.Errorf("legacy reading: %q, no defaults %v", tokens, noDefaults)
	}
}

func TestProfileCapsDistinctCounting(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("amount,won\n")
	for i := range ProfileDistinctCap + 500 {
		b.WriteString(strconv.Itoa(i) + ",no\n")
	}
	ft, err := readFlatText(t, b.String(), FlatOptions{Label: "won"})
	if err != nil {
		t.Fatal(err)
	}
	if p := profileByName(t, ft)["amount"]; p.Distinct != ProfileDistinctCap || !p.DistinctCapped {
		t.Errorf("amount profile %+v, want %d distinct, capped", p, ProfileDistinctCap)
	}
}

func TestHistoryProfile(t *testing.T) {
	t.Parallel()
	b := NewHistoryBuilder()
	day0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		attrs := map[string]leadscore.Value{"size": leadscore.Number(float64(i % 4)), "trial": leadscore.Bool(i%2 == 0)}
		if i < 3 {
			attrs["source"] = leadscore.String("unknown")
		} else if i < 8 {
			attrs["source"] = leadscore.String([]string{"web", "ads"}[i%2])
		}
		if err := b.AddLead(leadscore.Lead{ID: "l" + strconv.Itoa(i), CreatedAt: day0, Attributes: attrs}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]model.ColumnProfile{}
	for _, p := range h.Profile() {
		got[p.Name] = p
	}
	if err := model.ValidateProfile(h.Profile()); err != nil {
		t.Fatal(err)
	}
	if p := got["source"]; p.Kind != model.ColumnCategorical || p.MissingShare != 0.2 || p.Distinct != 3 ||
		len(p.Placeholders) != 1 || p.Placeholders[0] != (model.ValueCount{Value: "unknown", Rows: 3}) {
		t.Errorf("source profile %+v", p)
	}
	if p := got["size"]; p.Kind != model.ColumnNumeric || p.Distinct != 4 || p.MissingShare != 0 {
		t.Errorf("size profile %+v", p)
	}
	if p := got["trial"]; p.Kind != model.ColumnBoolean || p.Distinct != 2 {
		t.Errorf("trial profile %+v", p)
	}
}

func TestRecordedColumnsMayBeAbsent(t *testing.T) {
	t.Parallel()
	// Trained with --missing on a column the scored table lacks.
	r := model.Reading{MissingValues: []string{"", "NA"}, ColumnMissing: map[string][]string{"duration": {"0"}}}
	if _, err := readFlatText(t, "amount,won\n1,yes\n", FlatOptions{Label: "won"}.WithReading(r)); err != nil {
		t.Errorf("a recorded column the table lacks: %v", err)
	}
	// One the caller names is still checked.
	if _, err := readFlatText(t, "amount,won\n1,yes\n", FlatOptions{Label: "won", ColumnMissing: map[string][]string{"pdays": {"-1"}}}.WithReading(r)); err == nil {
		t.Error("a --missing column the table lacks: no error")
	}
}
