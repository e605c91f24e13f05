package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// pointsSpec is a small learned spec with every kind of feature a rule can
// read: categorical, numeric and boolean attributes, page_view refined by
// page, plain event types and the engagement flags.
func pointsSpec(t testing.TB) *FeatureSpec {
	t.Helper()
	b := NewSpecBuilder(SpecOptions{MinCategoryCount: 1, MinRefinementCount: 1})
	for _, l := range []map[string]leadscore.Value{
		{"industry": leadscore.String("software"), "employees": leadscore.Number(120), "partner": leadscore.Bool(true), "seniority": leadscore.String("vp")},
		{"industry": leadscore.String("retail"), "employees": leadscore.Number(15), "seniority": leadscore.String("intern")},
		{"industry": leadscore.String("software"), "partner": leadscore.Bool(false)},
	} {
		if err := b.ObserveLead(l); err != nil {
			t.Fatalf("observe lead: %v", err)
		}
	}
	for _, e := range []struct{ typ, page string }{
		{"page_view", "pricing"}, {"page_view", "blog"}, {"page_view", "pricing"}, {"email_open", ""},
		{"demo_request", ""}, {"contact_sales", ""}, {"unsubscribe", ""}, {"bounce", ""}, {"form_submit", ""},
	} {
		b.ObserveEvent(e.typ, func(string) string { return e.page })
	}
	spec, err := b.Build()
	if err != nil {
		t.Fatalf("build spec: %v", err)
	}
	return spec
}

// synthLikeSpec is a spec learned from leads and events with the synthetic
// history's columns and vocabularies, which the default rules are written
// for.
func synthLikeSpec(t testing.TB) *FeatureSpec {
	t.Helper()
	b := NewSpecBuilder(SpecOptions{MinCategoryCount: 1, MinRefinementCount: 1})
	vocab := map[string][]string{
		"role":         {"engineering", "it", "operations", "executive", "student", "other"},
		"seniority":    {"intern", "individual_contributor", "manager", "director", "vp", "c_level"},
		"industry":     {"software", "healthcare", "retail"},
		"company_size": {"1-10", "11-50", "51-200", "201-1000", "1001-5000", "5001+"},
		"country":      {"US", "GB", "DE"},
		"source":       {"organic_search", "referral", "paid_social"},
		"campaign":     {"google-brand", "g2-profile"},
	}
	for i := range 6 {
		attrs := map[string]leadscore.Value{"annual_revenue": leadscore.Number(float64(i) * 4e6)}
		for key, values := range vocab {
			attrs[key] = leadscore.String(values[i%len(values)])
		}
		if err := b.ObserveLead(attrs); err != nil {
			t.Fatalf("observe lead: %v", err)
		}
	}
	for _, typ := range []string{"page_view", "email_open", "email_click", "form_submit", "webinar_attended",
		"content_download", "demo_request", "contact_sales", "unsubscribe", "bounce"} {
		pages := []string{""}
		if typ == "page_view" {
			pages = []string{"pricing", "docs", "blog", "home"}
		}
		for _, page := range pages {
			b.ObserveEvent(typ, func(string) string { return page })
		}
	}
	spec, err := b.Build()
	if err != nil {
		t.Fatalf("build spec: %v", err)
	}
	return spec
}

func pointsFeature(t testing.TB, spec *FeatureSpec, name string) int {
	t.Helper()
	for j, f := range spec.Features() {
		if f.Name == name {
			return j
		}
	}
	t.Fatalf("no feature %q", name)
	return -1
}

func parseRules(t testing.TB, doc string) *PointsRules {
	t.Helper()
	r, err := ParsePointsRules([]byte(doc))
	if err != nil {
		t.Fatalf("parse rules: %v", err)
	}
	return r
}

func compileRules(t testing.TB, doc string, spec *FeatureSpec) *Points {
	t.Helper()
	p, err := CompilePoints(parseRules(t, doc).Rules, spec)
	if err != nil {
		t.Fatalf("compile rules: %v", err)
	}
	return p
}

// allRules uses every kind of rule, with points that are not whole numbers
// so that sums are not exact by accident.
const allRules = `
calibration: isotonic
rules:
  - name: pricing-visits
    event: page_view
    page: pricing
    points: 5.3
    window_days: 30
    max_points: 30
  - name: page-views
    event: page_view
    points: 0.7
    decay: true
  - name: email-engagement
    event: email_open
    points: 2.1
    decay: true
    max_points: 7.5
  - name: demo
    event: demo_request
    points: 40
    window_days: 90
  - name: target-industry
    attribute: industry
    equals: software
    points: 10.1
  - name: retail
    attribute: industry
    equals: retail
    points: -3.3
  - name: mid-market
    attribute: employees
    min: 100
    max: 1000
    points: 15.2
  - name: tiny
    attribute: employees
    max: 20
    points: -4.4
  - name: partner
    attribute: partner
    equals: true
    points: 6.6
  - name: senior
    attribute: seniority
    equals: vp
    points: 9.9
  - name: unsubscribed
    signal: unsubscribed
    points: -50
  - name: bounced
    signal: bounced
    points: -25.5
  - name: hand-raise
    signal: hand_raise
    points: 12.25
`

func TestParsePointsRulesReadsYAMLAndJSONAlike(t *testing.T) {
	t.Parallel()
	yamlDoc := `
# comments are fine
calibration: platt
rules:
  - {name: pricing, event: page_view, page: pricing, points: 5, window_days: 30, max_points: 30}
  - name: opens
    event: email_open
    points: -2
    decay: true
  - name: software
    attribute: industry
    equals: software
    points: 10
  - name: partner
    attribute: partner
    equals: true
    points: 3
  - name: size-code
    attribute: size_code
    equals: 3
    points: 1
  - name: mid-market
    attribute: employees
    min: 100
    max: 1000.5
    points: 15
  - name: unsubscribed
    signal: unsubscribed
    points: -50
`
	jsonDoc := `{
  "calibration": "platt",
  "rules": [
    {"name": "pricing", "event": "page_view", "page": "pricing", "points": 5, "window_days": 30, "max_points": 30},
    {"name": "opens", "event": "email_open", "points": -2, "decay": true},
    {"name": "software", "attribute": "industry", "equals": "software", "points": 10},
    {"name": "partner", "attribute": "partner", "equals": true, "points": 3},
    {"name": "size-code", "attribute": "size_code", "equals": 3, "points": 1},
    {"name": "mid-market", "attribute": "employees", "min": 100, "max": 1000.5, "points": 15},
    {"name": "unsubscribed", "signal": "unsubscribed", "points": -50}
  ]
}`
	fromYAML := parseRules(t, yamlDoc)
	fromJSON := parseRules(t, "\n  "+jsonDoc)
	if !reflect.DeepEqual(fromYAML, fromJSON) {
		t.Errorf("YAML and JSON differ:\n yaml %+v\n json %+v", fromYAML, fromJSON)
	}
	thirty, minV, maxV := 30.0, 100.0, 1000.5
	soft, yes, three := "software", "true", "3"
	want := &PointsRules{Calibration: "platt", Rules: []PointsRule{
		{Name: "pricing", Event: "page_view", Page: "pricing", Points: 5, WindowDays: 30, MaxPoints: &thirty},
		{Name: "opens", Event: "email_open", Points: -2, Decay: true},
		{Name: "software", Attribute: "industry", Equals: &soft, Points: 10},
		{Name: "partner", Attribute: "partner", Equals: &yes, Points: 3},
		{Name: "size-code", Attribute: "size_code", Equals: &three, Points: 1},
		{Name: "mid-market", Attribute: "employees", Min: &minV, Max: &maxV, Points: 15},
		{Name: "unsubscribed", Signal: "unsubscribed", Points: -50},
	}}
	if !reflect.DeepEqual(fromYAML, want) {
		t.Errorf("got %+v, want %+v", fromYAML, want)
	}
}

func TestParsePointsRulesDefaultsToPlatt(t *testing.T) {
	t.Parallel()
	r := parseRules(t, "rules:\n  - {name: a, signal: bounced, points: -1}\n")
	if got := r.CalibrationMethod(); got != CalibrationPlatt {
		t.Errorf("got calibration %q, want %q", got, CalibrationPlatt)
	}
}

func TestParsePointsRulesRoundTripsThroughJSON(t *testing.T) {
	t.Parallel()
	r := parseRules(t, allRules)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	back := parseRules(t, string(b))
	if !reflect.DeepEqual(r, back) {
		t.Errorf("round trip changed the rules:\n got %+v\nwant %+v", back, r)
	}
}

// checkRuleError asserts err is an EINVALID error whose message and field
// violation name the rule and field.
func checkRuleError(t *testing.T, err error, wantField string, wantMessage ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one on %s", wantField)
	}
	var e *leadscore.Error
	if !errors.As(err, &e) || e.Code != leadscore.EINVALID {
		t.Fatalf("got %v (%T), want an EINVALID *leadscore.Error", err, err)
	}
	if len(e.Fields) != 1 || e.Fields[0].Field != wantField {
		t.Errorf("got field violations %+v, want field %q", e.Fields, wantField)
	}
	for _, w := range wantMessage {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func TestParsePointsRulesNamesTheBadRule(t *testing.T) {
	t.Parallel()
	// Each document's bad rule is its second, "bad", after a good one, so
	// the error must point past the first.
	const good = "  - {name: ok, signal: bounced, points: -1}\n"
	for _, tc := range []struct {
		name, doc, field string
		want             []string
	}{
		{"unknown field", "rules:\n" + good + "  - {name: bad, event: page_view, points: 1, windows_days: 30}\n",
			"rules[1].windows_days", []string{`"bad" (rules[1])`, "windows_days", "not a rule field"}},
		{"unknown field in json", `{"rules": [{"name": "ok", "signal": "bounced", "points": -1}, {"name": "bad", "signal": "bounced", "point": 1}]}`,
			"rules[1].point", []string{`"bad" (rules[1])`, "not a rule field"}},
		{"repeated field", "rules:\n" + good + "  - {name: bad, signal: bounced, points: 1, points: 2}\n",
			"rules[1].points", []string{`"bad" (rules[1])`, "given twice"}},
		{"repeated field in json", `{"rules": [{"name": "ok", "signal": "bounced", "points": -1}, {"name": "bad", "signal": "bounced", "points": 1, "points": 2}]}`,
			"rules[1].points", []string{`"bad" (rules[1])`, "given twice"}},
		{"fractional window", "rules:\n" + good + "  - {name: bad, event: page_view, points: 1, window_days: 30.5}\n",
			"rules[1].window_days", []string{`"bad" (rules[1])`, "whole number", "30.5"}},
		{"fractional window in json", `{"rules": [{"name": "ok", "signal": "bounced", "points": -1}, {"name": "bad", "event": "page_view", "points": 1, "window_days": 30.5}]}`,
			"rules[1].window_days", []string{`"bad" (rules[1])`, "whole number"}},
		{"points as text", "rules:\n" + good + "  - {name: bad, signal: bounced, points: five}\n",
			"rules[1].points", []string{`"bad" (rules[1])`, "must be a number", "five"}},
		{"quoted points", "rules:\n" + good + "  - {name: bad, signal: bounced, points: \"5\"}\n",
			"rules[1].points", []string{"must be a number"}},
		{"null window", "rules:\n" + good + "  - {name: bad, event: page_view, points: 1, window_days: ~}\n",
			"rules[1].window_days", []string{`"bad" (rules[1])`, "whole number"}},
		{"null window in json", `{"rules": [{"name": "ok", "signal": "bounced", "points": -1}, {"name": "bad", "event": "page_view", "points": 1, "window_days": null}]}`,
			"rules[1].window_days", []string{`"bad" (rules[1])`}},
		{"zero points", "rules:\n" + good + "  - {name: bad, signal: bounced, points: 0}\n",
			"rules[1].points", []string{`"bad" (rules[1])`, "must not be zero"}},
		{"missing points", "rules:\n" + good + "  - {name: bad, signal: bounced}\n",
			"rules[1].points", []string{`"bad" (rules[1])`, "must not be zero"}},
		{"infinite points", "rules:\n" + good + "  - {name: bad, signal: bounced, points: .inf}\n",
			"rules[1].points", []string{`"bad" (rules[1])`, "finite"}},
		{"NaN points", "rules:\n" + good + "  - {name: bad, signal: bounced, points: .nan}\n",
			"rules[1].points", []string{`"bad" (rules[1])`, "finite"}},
		{"duplicate name", "rules:\n" + good + "  - {name: ok, signal: unsubscribed, points: -1}\n",
			"rules[1].name", []string{`"ok" (rules[1])`, "also the name of rules[0]"}},
		{"no name", "rules:\n" + good + "  - {signal: unsubscribed, points: -1}\n",
			"rules[1].name", []string{"rules[1]", "is required"}},
		{"name of a list", "rules:\n" + good + "  - {name: [a], signal: unsubscribed, points: -1}\n",
			"rules[1].name", []string{"rules[1]", "must be text"}},
		{"two sources", "rules:\n" + good + "  - {name: bad, event: page_view, signal: bounced, points: 1, window_days: 7}\n",
			"rules[1]", []string{`"bad" (rules[1])`, "exactly one of event, attribute or signal", "event=page_view signal=bounced"}},
		{"no source", "rules:\n" + good + "  - {name: bad, points: 1}\n",
			"rules[1]", []string{`"bad" (rules[1])`, "exactly one of event, attribute or signal"}},
		{"window and decay", "rules:\n" + good + "  - {name: bad, event: email_open, points: 1, window_days: 7, decay: true}\n",
			"rules[1].window_days", []string{`"bad" (rules[1])`, "cannot be combined with decay"}},
		{"no window", "rules:\n" + good + "  - {name: bad, event: email_open, points: 1}\n",
			"rules[1].window_days", []string{`"bad" (rules[1])`, "is required"}},
		{"negative window", "rules:\n" + good + "  - {name: bad, event: email_open, points: 1, window_days: -7}\n",
			"rules[1].window_days", []string{`"bad" (rules[1])`, "positive"}},
		{"decay as text", "rules:\n" + good + "  - {name: bad, event: email_open, points: 1, decay: yes}\n",
			"rules[1].decay", []string{`"bad" (rules[1])`, "true or false"}},
		{"cap below one event", "rules:\n" + good + "  - {name: bad, event: email_open, points: -5, window_days: 7, max_points: 3}\n",
			"rules[1].max_points", []string{`"bad" (rules[1])`, "less than the 5 points"}},
		{"negative cap", "rules:\n" + good + "  - {name: bad, event: email_open, points: -5, window_days: 7, max_points: -20}\n",
			"rules[1].max_points", []string{`"bad" (rules[1])`, "positive"}},
		{"bad event type", "rules:\n" + good + "  - {name: bad, event: Page View, points: 1, window_days: 7}\n",
			"rules[1].event", []string{`"bad" (rules[1])`, "event type"}},
		{"equals with min", "rules:\n" + good + "  - {name: bad, attribute: employees, equals: x, min: 1, points: 1}\n",
			"rules[1].equals", []string{`"bad" (rules[1])`, "cannot be combined"}},
		{"attribute without test", "rules:\n" + good + "  - {name: bad, attribute: employees, points: 1}\n",
			"rules[1]", []string{`"bad" (rules[1])`, "needs equals, or min and/or max"}},
		{"empty range", "rules:\n" + good + "  - {name: bad, attribute: employees, min: 10, max: 10, points: 1}\n",
			"rules[1].max", []string{`"bad" (rules[1])`, "greater than min 10"}},
		{"equals a list", "rules:\n" + good + "  - {name: bad, attribute: industry, equals: [a, b], points: 1}\n",
			"rules[1].equals", []string{`"bad" (rules[1])`, "one value"}},
		{"equals null", "rules:\n" + good + "  - {name: bad, attribute: industry, equals: null, points: 1}\n",
			"rules[1].equals", []string{`"bad" (rules[1])`, "one value"}},
		{"empty equals", "rules:\n" + good + "  - {name: bad, attribute: industry, equals: '', points: 1}\n",
			"rules[1].equals", []string{`"bad" (rules[1])`, "must not be empty"}},
		{"page on an attribute rule", "rules:\n" + good + "  - {name: bad, attribute: industry, equals: x, page: pricing, points: 1}\n",
			"rules[1].page", []string{`"bad" (rules[1])`, "is for event rules"}},
		{"window on a signal rule", "rules:\n" + good + "  - {name: bad, signal: bounced, window_days: 7, points: 1}\n",
			"rules[1].window_days", []string{`"bad" (rules[1])`, "is for event rules"}},
		{"min on an event rule", "rules:\n" + good + "  - {name: bad, event: email_open, decay: true, min: 1, points: 1}\n",
			"rules[1].min", []string{`"bad" (rules[1])`, "is for attribute rules"}},
		{"unknown signal", "rules:\n" + good + "  - {name: bad, signal: churned, points: 1}\n",
			"rules[1].signal", []string{`"bad" (rules[1])`, "hand_raise, unsubscribed or bounced"}},
		{"rule not a mapping", "rules:\n" + good + "  - just text\n",
			"rules[1]", []string{"rules[1]", "mapping"}},
		{"rule not an object", `{"rules": [{"name": "ok", "signal": "bounced", "points": -1}, 5]}`,
			"rules[1]", []string{"rules[1]", "object"}},
		{"name too long", "rules:\n" + good + "  - {name: " + strings.Repeat("x", 65) + ", signal: bounced, points: 1}\n",
			"rules[1].name", []string{"rules[1]", "longer than 64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParsePointsRules([]byte(tc.doc))
			checkRuleError(t, err, tc.field, tc.want...)
		})
	}
}

func TestParsePointsRulesRefusesBadFiles(t *testing.T) {
	t.Parallel()
	const rule = "  - {name: a, signal: bounced, points: -1}\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", "", "is empty"},
		{"only comments", "# nothing\n", "is empty"},
		{"no rules", "calibration: platt\n", "at least one rule"},
		{"empty rules", "rules: []\n", "at least one rule"},
		{"bad calibration", "calibration: sigmoid\nrules:\n" + rule, `must be "platt" or "isotonic"`},
		{"calibration a number", "calibration: 3\nrules:\n" + rule, `must be "platt" or "isotonic"`},
		{"unknown top-level field", "calibraton: platt\nrules:\n" + rule, "not a field of a points rules file"},
		{"unknown top-level field in json", `{"rule": []}`, "not a field of a points rules file"},
		{"rules not a list", "rules: {name: a}\n", "must be a list of rules"},
		{"rules not a list in json", `{"rules": {"name": "a"}}`, "must be a list of rules"},
		{"two documents", "rules:\n" + rule + "---\nrules:\n" + rule, "single YAML document"},
		{"not a mapping", "- a\n- b\n", "must be a mapping"},
		{"bad yaml", "rules: [\n", "is not valid YAML"},
		{"bad json", `{"rules": [}`, "is not valid JSON"},
		{"json with trailing data", `{"rules": [{"name": "a", "signal": "bounced", "points": -1}]} {}`, "is not valid JSON"},
		{"repeated top-level field", "rules:\n" + rule + "rules:\n" + rule, "given twice"},
		{"too large", "# " + strings.Repeat("x", MaxPointsRulesBytes), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParsePointsRules([]byte(tc.doc))
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			if leadscore.ErrorCode(err) != leadscore.EINVALID {
				t.Errorf("got code %q, want %q", leadscore.ErrorCode(err), leadscore.EINVALID)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestCompilePointsNamesTheRuleTheSpecCannotScore(t *testing.T) {
	t.Parallel()
	spec := pointsSpec(t)
	const good = "  - {name: ok, signal: bounced, points: -1}\n"
	for _, tc := range []struct {
		name, rule, field string
		want              []string
	}{
		{"unknown attribute", "{name: bad, attribute: country, equals: US, points: 1}",
			"rules[1].attribute", []string{`"bad" (rules[1])`, "not an attribute of the spec", "industry"}},
		{"unknown event type", "{name: bad, event: webinar_attended, points: 1, window_days: 30}",
			"rules[1].event", []string{`"bad" (rules[1])`, "not an event type the spec counts", "page_view"}},
		{"page without its own kind", "{name: bad, event: page_view, page: careers, points: 1, window_days: 30}",
			"rules[1].page", []string{`"bad" (rules[1])`, "no event kind of its own", "page_view.pricing"}},
		{"window not in the spec", "{name: bad, event: email_open, points: 1, window_days: 14}",
			"rules[1].window_days", []string{`"bad" (rules[1])`, "one of the spec's windows 7, 30, 90"}},
		{"cap over several kinds", "{name: bad, event: page_view, points: 1, window_days: 30, max_points: 10}",
			"rules[1].max_points", []string{`"bad" (rules[1])`, "cannot cap page_view events counted as 3 kinds"}},
		{"equals on a number", "{name: bad, attribute: employees, equals: 100, points: 1}",
			"rules[1].equals", []string{`"bad" (rules[1])`, "employees is numeric"}},
		{"range on a category", "{name: bad, attribute: industry, min: 1, points: 1}",
			"rules[1].min", []string{`"bad" (rules[1])`, "industry is categorical"}},
		{"range on a boolean", "{name: bad, attribute: partner, max: 1, points: 1}",
			"rules[1].max", []string{`"bad" (rules[1])`, "partner is true or false"}},
		{"boolean equals text", "{name: bad, attribute: partner, equals: maybe, points: 1}",
			"rules[1].equals", []string{`"bad" (rules[1])`, "must be true or false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rules := parseRules(t, "rules:\n"+good+"  - "+tc.rule+"\n")
			_, err := CompilePoints(rules.Rules, spec)
			checkRuleError(t, err, tc.field, tc.want...)
		})
	}
}

func TestCompilePointsRefusesAMissingOrBadSpec(t *testing.T) {
	t.Parallel()
	rules := parseRules(t, allRules).Rules
	if _, err := CompilePoints(rules, nil); leadscore.ErrorCode(err) != leadscore.EINVALID {
		t.Errorf("nil spec: got %v, want EINVALID", err)
	}
	bad := pointsSpec(t)
	bad.WindowDays = nil
	if _, err := CompilePoints(rules, bad); leadscore.ErrorCode(err) != leadscore.EINVALID {
		t.Errorf("spec without windows: got %v, want EINVALID", err)
	}
}

func TestCompilePointsLetsARareCategoryMatchNothing(t *testing.T) {
	t.Parallel()
	spec := pointsSpec(t)
	p := compileRules(t, `
rules:
  - {name: healthcare, attribute: industry, equals: healthcare, points: 10}
  - {name: software, attribute: industry, equals: software, points: 5}
`, spec)
	if got, want := p.Unmatched(), []string{"healthcare"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got unmatched %v, want %v", got, want)
	}
	if len(p.Terms) != 1 || p.Terms[0].Rule != 1 {
		t.Errorf("got terms %+v, want only the software rule's", p.Terms)
	}
	row := make([]float64, spec.Width())
	industry := pointsFeature(t, spec, "attr.industry")
	row[industry] = float64(len(spec.Features()[industry].Categories)) // "other"
	if got := p.Raw(row); got != 0 {
		t.Errorf("a lead of another industry got %v points, want 0", got)
	}
	if err := p.Validate(spec); err != nil {
		t.Errorf("validate: %v", err)
	}

	_, err := CompilePoints(parseRules(t, "rules:\n  - {name: healthcare, attribute: industry, equals: healthcare, points: 10}\n").Rules, spec)
	if err == nil || !strings.Contains(err.Error(), "no rule can give points") || !strings.Contains(err.Error(), "healthcare") {
		t.Errorf("got %v, want an error that no rule can give points, naming healthcare", err)
	}
}

func TestCompilePointsOrdersTermsByFeature(t *testing.T) {
	t.Parallel()
	spec := pointsSpec(t)
	p := compileRules(t, allRules, spec)
	kinds := 0
	for _, k := range spec.Kinds {
		if k.Type == "page_view" {
			kinds++
		}
	}
	perRule := map[string]int{}
	for k, term := range p.Terms {
		if k > 0 && term.Feature < p.Terms[k-1].Feature {
			t.Fatalf("term %d reads feature %d after feature %d", k, term.Feature, p.Terms[k-1].Feature)
		}
		perRule[p.Rules[term.Rule].Name]++
	}
	if perRule["page-views"] != kinds {
		t.Errorf("page-views compiled into %d terms, want one per page_view kind (%d)", perRule["page-views"], kinds)
	}
	if len(perRule) != len(p.Rules) {
		t.Errorf("got terms for %d rules, want all %d", len(perRule), len(p.Rules))
	}
	if err := p.Validate(spec); err != nil {
		t.Errorf("validate: %v", err)
	}
}

func TestDefaultPointsRulesCompileAgainstTheSyntheticColumns(t *testing.T) {
	t.Parallel()
	rules, err := ParsePointsRules(DefaultPointsRules)
	if err != nil {
		t.Fatalf("parse default rules: %v", err)
	}
	spec := synthLikeSpec(t)
	p, err := CompilePoints(rules.Rules, spec)
	if err != nil {
		t.Fatalf("compile default rules: %v", err)
	}
	if u := p.Unmatched(); len(u) > 0 {
		t.Errorf("default rules %v match nothing in the synthetic vocabularies", u)
	}
	if err := p.Validate(spec); err != nil {
		t.Errorf("validate: %v", err)
	}
	var pos, neg int
	for _, r := range rules.Rules {
		if r.Points > 0 {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		t.Errorf("default rules give %d positive and %d negative rules, want both", pos, neg)
	}
}

// TestPointsScoresWhatTheRulesSay computes the features of one lead through
// the real pipeline and checks each rule's points by hand.
func TestPointsScoresWhatTheRulesSay(t *testing.T) {
	t.Parallel()
	spec := pointsSpec(t)
	p := compileRules(t, allRules, spec)
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	var events []leadscore.Event
	add := func(typ, page string, ago time.Duration) {
		e := leadscore.Event{ID: fmt.Sprint(len(events)), LeadID: "L", Type: typ, OccurredAt: at.Add(-ago)}
		if page != "" {
			e.Properties = map[string]string{"page": page}
		}
		events = append(events, e)
	}
	for d := range 8 { // 8 pricing visits in 30 days: 8 × 5.3 = 42.4, capped at 30
		add("page_view", "pricing", time.Duration(d+1)*day)
	}
	add("page_view", "pricing", 60*day) // outside the window
	add("demo_request", "", 10*day)
	add("unsubscribe", "", 5*day)
	fit := []leadscore.Value{
		leadscore.Number(150), leadscore.String("software"), {}, leadscore.String("intern"),
	}
	var attrs []string
	for _, f := range spec.Fit {
		attrs = append(attrs, f.Attribute)
	}
	if want := []string{"employees", "industry", "partner", "seniority"}; !reflect.DeepEqual(attrs, want) {
		t.Fatalf("spec attributes %v, want %v", attrs, want)
	}
	f, err := NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float64, spec.Width())
	if err := f.Compute(fit, at.Add(-365*day).Unix(), spec.ActivityFromEvents(events), at.Unix(), row); err != nil {
		t.Fatal(err)
	}
	decayed := func(kind string) float64 { return row[pointsFeature(t, spec, "events."+kind+".decayed")] }
	pageViews := 0.0
	for _, k := range spec.Kinds {
		if k.Type == "page_view" {
			pageViews += 0.7 * decayed(k.Name)
		}
	}
	want := map[string]float64{
		"pricing-visits":   30,
		"page-views":       pageViews,
		"email-engagement": 0,
		"demo":             40,
		"target-industry":  10.1,
		"retail":           0,
		"mid-market":       15.2,
		"tiny":             0,
		"partner":          0, // missing
		"senior":           0, // intern
		"unsubscribed":     -50,
		"bounced":          0,
		"hand-raise":       12.25,
	}
	for _, term := range p.Terms {
		name := p.Rules[term.Rule].Name
		want[name] -= term.value(row[term.Feature])
	}
	for name, left := range want {
		if math.Abs(left) > 1e-12 {
			t.Errorf("rule %s: off by %v points", name, -left)
		}
	}
	total := 30 + pageViews + 40 + 10.1 + 15.2 - 50 + 12.25
	if got := p.Raw(row); math.Abs(got-total) > 1e-9 {
		t.Errorf("got %v points, want %v", got, total)
	}
}

func TestPointsGiveMissingValuesNoPoints(t *testing.T) {
	t.Parallel()
	spec := pointsSpec(t)
	p := compileRules(t, allRules, spec)
	row := make([]float64, spec.Width())
	for j := range row {
		row[j] = math.NaN()
	}
	if got := p.Raw(row); got != 0 {
		t.Errorf("an all-missing row got %v points, want 0", got)
	}
	out := make([]float64, spec.Width())
	if base := p.Contributions(row, out); base != 0 {
		t.Errorf("got base %v, want 0", base)
	}
	for j, c := range out {
		if c != 0 {
			t.Errorf("feature %d contributes %v for a missing value, want 0", j, c)
		}
	}
	// A range whose lower bound is open still gives a missing number no
	// points: unknown is not small.
	tiny := pointsFeature(t, spec, "attr.employees")
	row = make([]float64, spec.Width())
	row[tiny] = math.NaN()
	row[pointsFeature(t, spec, "attr.industry")] = math.NaN()
	if got := p.Raw(row); got != 0 {
		t.Errorf("a lead of unknown size got %v points, want 0", got)
	}
}

// randomRow draws a feature row of spec with missing values, counts,
// decayed counts, categories (including "other") and flags.
func randomRow(rng *rand.Rand, features []Feature, row []float64) {
	for j, f := range features {
		switch {
		case rng.IntN(8) == 0:
			row[j] = math.NaN()
		case f.Kind == KindCategorical:
			row[j] = float64(rng.IntN(len(f.Categories) + 1))
		case f.Kind == KindBoolean:
			row[j] = float64(rng.IntN(2))
		case strings.HasSuffix(f.Name, ".decayed"):
			row[j] = rng.ExpFloat64() * 3
		case strings.HasPrefix(f.Name, "events."):
			row[j] = float64(rng.IntN(12))
		default:
			row[j] = rng.Float64() * 2000
		}
	}
}

func TestPointsContributionsAddUpToRawExactly(t *testing.T) {
	t.Parallel()
	spec := pointsSpec(t)
	p := compileRules(t, allRules, spec)
	features := spec.Features()
	rng := rand.New(rand.NewPCG(4, 2))
	row := make([]float64, len(features))
	out := make([]float64, len(features))
	nonzero := 0
	for i := range 20000 {
		randomRow(rng, features, row)
		raw := p.Raw(row)
		sum := p.Contributions(row, out)
		for _, c := range out {
			sum += c
		}
		if sum != raw {
			t.Fatalf("row %d: base + contributions = %v, raw = %v (off by %g)", i, sum, raw, sum-raw)
		}
		if raw != 0 {
			nonzero++
		}
	}
	if nonzero < 15000 {
		t.Errorf("only %d of 20000 random rows scored points; the test is not exercising the rules", nonzero)
	}
}

func TestPointsContributionsGoToTheFeaturesRead(t *testing.T) {
	t.Parallel()
	spec := pointsSpec(t)
	p := compileRules(t, allRules, spec)
	row := make([]float64, spec.Width())
	row[pointsFeature(t, spec, "attr.industry")] = math.NaN()
	row[pointsFeature(t, spec, "attr.employees")] = 500
	row[pointsFeature(t, spec, "events.page_view.pricing.count_30d")] = 2
	out := make([]float64, spec.Width())
	p.Contributions(row, out)
	want := map[string]float64{"attr.employees": 15.2, "events.page_view.pricing.count_30d": 10.6}
	for j, f := range spec.Features() {
		if out[j] != want[f.Name] {
			t.Errorf("%s: got %v, want %v", f.Name, out[j], want[f.Name])
		}
	}
	// Stale values in out are overwritten, not added to.
	p.Contributions(row, out)
	if got := out[pointsFeature(t, spec, "attr.employees")]; got != 15.2 {
		t.Errorf("second call: got %v, want 15.2", got)
	}
}

func TestPointsAllocatesNothing(t *testing.T) {
	spec := pointsSpec(t)
	p := compileRules(t, allRules, spec)
	features := spec.Features()
	row := make([]float64, len(features))
	out := make([]float64, len(features))
	randomRow(rand.New(rand.NewPCG(1, 1)), features, row)
	var sink float64
	if n := testing.AllocsPerRun(100, func() { sink += p.Raw(row) }); n != 0 {
		t.Errorf("Raw allocates %v times per row, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { sink += p.Contributions(row, out) }); n != 0 {
		t.Errorf("Contributions allocates %v times per row, want 0", n)
	}
	_ = sink
}

func TestPointsOpsReadAsNamesInJSON(t *testing.T) {
	t.Parallel()
	for _, op := range []PointsOp{PointsPerUnit, PointsEquals, PointsRange} {
		b, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		var back PointsOp
		if err := json.Unmarshal(b, &back); err != nil || back != op {
			t.Errorf("%s: round trip gave %v, %v", b, back, err)
		}
		if string(b) != `"`+op.String()+`"` {
			t.Errorf("got %s, want the name %q", b, op)
		}
	}
	if _, err := json.Marshal(PointsOp(0)); err == nil {
		t.Error("marshal of op 0: got no error")
	}
	var op PointsOp
	if err := json.Unmarshal([]byte(`"times"`), &op); err == nil {
		t.Error(`unmarshal of "times": got no error`)
	}
}

func TestPointsRoundTripsThroughJSON(t *testing.T) {
	t.Parallel()
	spec := pointsSpec(t)
	p := compileRules(t, allRules, spec)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Points
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Validate(spec); err != nil {
		t.Fatalf("validate the loaded points: %v", err)
	}
	if !reflect.DeepEqual(p, &back) {
		t.Errorf("round trip changed the points:\n got %+v\nwant %+v", back, *p)
	}
}

func TestPointsValidateRefusesCorruptModels(t *testing.T) {
	t.Parallel()
	spec := pointsSpec(t)
	find := func(p *Points, op PointsOp) *PointsTerm {
		for k := range p.Terms {
			if p.Terms[k].Op == op {
				return &p.Terms[k]
			}
		}
		t.Fatalf("no %s term", op)
		return nil
	}
	for _, tc := range []struct {
		name   string
		mutate func(p *Points, spec *FeatureSpec)
		want   string
	}{
		{"no terms", func(p *Points, _ *FeatureSpec) { p.Terms = nil }, "at least one term"},
		{"no rules", func(p *Points, _ *FeatureSpec) { p.Rules = nil }, "at least one rule"},
		{"bad rule", func(p *Points, _ *FeatureSpec) { p.Rules[2].Points = math.NaN() }, `"email-engagement" (rules[2])`},
		{"rule index out of range", func(p *Points, _ *FeatureSpec) { p.Terms[0].Rule = len(p.Rules) }, "must index one of the 13 rules"},
		{"negative rule index", func(p *Points, _ *FeatureSpec) { p.Terms[0].Rule = -1 }, "must index one of"},
		{"feature out of range", func(p *Points, s *FeatureSpec) { p.Terms[len(p.Terms)-1].Feature = s.Width() }, "must index one of the spec's"},
		{"negative feature", func(p *Points, _ *FeatureSpec) { p.Terms[0].Feature = -1 }, "must index one of the spec's"},
		{"feature name mismatch", func(p *Points, _ *FeatureSpec) { p.Terms[0].FeatureName = "attr.country" }, "compiled against another spec"},
		{"terms out of order", func(p *Points, _ *FeatureSpec) {
			p.Terms[0], p.Terms[len(p.Terms)-1] = p.Terms[len(p.Terms)-1], p.Terms[0]
		}, "ordered by feature"},
		{"points differ from the rule", func(p *Points, _ *FeatureSpec) { p.Terms[0].Points *= 2 }, "must equal the"},
		{"infinite cap", func(p *Points, _ *FeatureSpec) { find(p, PointsPerUnit).Cap = math.Inf(1) }, "does not compile rule"},
		{"negative cap", func(p *Points, _ *FeatureSpec) { find(p, PointsPerUnit).Cap = -1 }, "does not compile rule"},
		{"code out of range", func(p *Points, _ *FeatureSpec) { find(p, PointsEquals).Code = 99 }, "does not compile rule"},
		{"fractional code", func(p *Points, _ *FeatureSpec) { find(p, PointsEquals).Code = 0.5 }, "does not compile rule"},
		{"NaN bound", func(p *Points, _ *FeatureSpec) { find(p, PointsRange).Min = math.NaN() }, "does not compile rule"},
		{"unknown op", func(p *Points, _ *FeatureSpec) { p.Terms[0].Op = 9 }, "does not compile rule"},
		{"op swapped", func(p *Points, _ *FeatureSpec) { find(p, PointsRange).Op = PointsPerUnit }, "does not compile rule"},
		{"term reads another rule's feature", func(p *Points, s *FeatureSpec) {
			for k := range p.Terms {
				if p.Rules[p.Terms[k].Rule].Name == "demo" {
					p.Terms[k].Rule = 0 // pricing-visits, 5.3 points
					p.Terms[k].Points = 5.3
				}
			}
		}, "is not a feature rule"},
		{"term missing", func(p *Points, _ *FeatureSpec) { p.Terms = p.Terms[1:] }, "fewer than the rules compile to"},
		{"term twice", func(p *Points, _ *FeatureSpec) { p.Terms = append([]PointsTerm{p.Terms[0]}, p.Terms...) }, "are not the"},
		{"spec changed under the rules", func(_ *Points, s *FeatureSpec) {
			s.Fit[1].Categories = []string{"retail", "software"}
		}, "does not compile rule"},
		{"spec lost an event kind", func(_ *Points, s *FeatureSpec) {
			s.Kinds = s.Kinds[1:]
		}, "compiled against another spec"},
		{"invalid spec", func(_ *Points, s *FeatureSpec) { s.Version = 0 }, "feature_spec.version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := compileRules(t, allRules, spec)
			s := pointsSpec(t)
			tc.mutate(p, s)
			err := p.Validate(s)
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			if leadscore.ErrorCode(err) != leadscore.EINVALID {
				t.Errorf("got code %q, want %q", leadscore.ErrorCode(err), leadscore.EINVALID)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	var nilPoints *Points
	if err := nilPoints.Validate(spec); err == nil {
		t.Error("nil points: got no error")
	}
	if err := compileRules(t, allRules, spec).Validate(nil); err == nil {
		t.Error("nil spec: got no error")
	}
}

// FuzzPointsValidate feeds arbitrary JSON to Validate as a loaded points
// model: it must never panic, and a model it accepts must score any row of
// the spec's width without panicking, with contributions that add up.
func FuzzPointsValidate(f *testing.F) {
	spec := pointsSpec(f)
	p := compileRules(f, allRules, spec)
	seed, err := json.Marshal(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"rules": [], "terms": []}`))
	f.Add([]byte(`{"rules": [{"name": "a", "signal": "bounced", "points": -1}], "terms": [{"rule": 0, "feature": 99999, "op": "equals", "points": -1, "code": 1}]}`))
	f.Add([]byte(strings.Replace(string(seed), `"feature":0`, `"feature":-1`, 1)))
	f.Add([]byte(strings.Replace(string(seed), `"code":1`, `"code":1e308`, 1)))
	f.Add([]byte(strings.Replace(string(seed), `"rule":0`, `"rule":9999999999`, 1)))
	width := spec.Width()
	features := spec.Features()
	f.Fuzz(func(t *testing.T, data []byte) {
		var q Points
		if json.Unmarshal(data, &q) != nil {
			return
		}
		if err := q.Validate(spec); err != nil {
			if leadscore.ErrorCode(err) != leadscore.EINVALID {
				t.Fatalf("got code %q for %v, want %q", leadscore.ErrorCode(err), err, leadscore.EINVALID)
			}
			return
		}
		row := make([]float64, width)
		out := make([]float64, width)
		randomRow(rand.New(rand.NewPCG(uint64(len(data)), 7)), features, row)
		raw := q.Raw(row)
		sum := q.Contributions(row, out)
		for _, c := range out {
			sum += c
		}
		if sum != raw {
			t.Fatalf("accepted model: contributions add up to %v, raw %v", sum, raw)
		}
	})
}

// FuzzParsePointsRules feeds arbitrary documents to the parser: it must
// never panic, must classify every refusal as EINVALID, and what it accepts
// must survive a JSON round trip unchanged.
func FuzzParsePointsRules(f *testing.F) {
	f.Add([]byte(allRules))
	f.Add(DefaultPointsRules)
	f.Add([]byte(`{"rules": [{"name": "a", "attribute": "x", "equals": true, "points": 1}]}`))
	f.Add([]byte("rules:\n  - &r {name: a, signal: bounced, points: -1}\n  - *r\n"))
	f.Add([]byte("rules:\n  - {name: a, event: e, window_days: 0x1e, points: 1e3}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParsePointsRules(data)
		if err != nil {
			if leadscore.ErrorCode(err) != leadscore.EINVALID {
				t.Fatalf("got code %q for %v, want %q", leadscore.ErrorCode(err), err, leadscore.EINVALID)
			}
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("marshal accepted rules: %v", err)
		}
		back, err := ParsePointsRules(b)
		if err != nil {
			t.Fatalf("accepted rules do not parse back from JSON: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(r, back) {
			t.Fatalf("JSON round trip changed the rules:\n got %+v\nwant %+v", back, r)
		}
	})
}

func BenchmarkPointsRaw(b *testing.B) {
	spec := pointsSpec(b)
	p := compileRules(b, allRules, spec)
	features := spec.Features()
	rows := make([][]float64, 256)
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range rows {
		rows[i] = make([]float64, len(features))
		randomRow(rng, features, rows[i])
	}
	b.ReportAllocs()
	var sink float64
	i := 0
	for b.Loop() {
		sink += p.Raw(rows[i&255])
		i++
	}
	_ = sink
}
