package model

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestFormatPointsRulesReadsBackToTheSameRules(t *testing.T) {
	t.Parallel()
	f := func(v float64) *float64 { return &v }
	s := func(v string) *string { return &v }
	// Values YAML would read as something else unquoted, text that needs
	// escapes, and numbers a short form would change.
	rules := &PointsRules{Calibration: CalibrationIsotonic, Rules: []PointsRule{
		{Name: "pricing-30d", Event: "page_view", Page: "pricing", WindowDays: 30, Points: 5, MaxPoints: f(30)},
		{Name: "email clicks", Event: "email_click", Decay: true, Points: 2.5},
		{Name: "true", Attribute: "enterprise", Equals: s("true"), Points: 7},
		{Name: "null", Attribute: "segment", Equals: s("null"), Points: -3},
		{Name: "yes", Attribute: "segment", Equals: s("yes"), Points: 1},
		{Name: "1.50", Attribute: "segment", Equals: s("1.50"), Points: 2},
		{Name: `quote " and \ back`, Attribute: "segment", Equals: s("line\nbreak\ttab"), Points: 3},
		{Name: "ünïcode — ok", Attribute: "city", Equals: s("Zürich"), Points: 4},
		{Name: "# not a comment: really", Attribute: "city", Equals: s("- item"), Points: 6},
		{Name: "revenue>=10000000", Attribute: "revenue", Min: f(1e7), Points: 10},
		{Name: "0.3<=score<1e-7", Attribute: "score", Min: f(0.1 + 0.2), Max: f(1e22), Points: -1e-7},
		{Name: "any size", Attribute: "employees", Min: f(-math.MaxFloat64), Points: 12},
		{Name: "unsubscribed", Signal: SignalUnsubscribed, Points: -20},
	}}
	doc := FormatPointsRules(rules, "learned from\nthe training rows\n")
	if !strings.HasPrefix(string(doc), "# learned from\n# the training rows\n\n") {
		t.Errorf("the comment does not open the file:\n%s", doc)
	}
	back, err := ParsePointsRules(doc)
	if err != nil {
		t.Fatalf("the rendered rules do not parse: %v\n%s", err, doc)
	}
	if !reflect.DeepEqual(back, rules) {
		t.Errorf("the rendered rules read back differently:\n got %+v\nwant %+v\n%s", back, rules, doc)
	}
}

func TestFormatPointsRulesWritesPlainKeysBare(t *testing.T) {
	t.Parallel()
	s := "software"
	doc := string(FormatPointsRules(&PointsRules{Rules: []PointsRule{{Name: "industry", Attribute: "industry", Equals: &s, Points: 10}}}, ""))
	want := "calibration: platt\n\nrules:\n  - name: industry\n    attribute: industry\n    equals: software\n    points: 10\n"
	if doc != want {
		t.Errorf("got\n%s\nwant\n%s", doc, want)
	}
}
