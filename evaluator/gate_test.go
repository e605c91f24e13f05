package evaluator

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/leadscore/leadscore"
)

func TestParsePolicyRefusesBadPolicies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc string
		field     string
		message   string
	}{
		{"empty", "", "policy", "p.yaml: policy: is empty"},
		{"not a mapping", "- 1\n", "policy", "p.yaml: policy: must be a mapping with a rules list"},
		{"no rules key", "description: x\n", "rules", "p.yaml: rules: is required"},
		{"no rules", "rules: []\n", "rules", "p.yaml: rules: needs at least one rule"},
		{"unknown top-level field", "rule: []\n", "rule", "p.yaml: rule: unknown field; the fields are description, rules"},
		{"unknown rule field", "rules:\n- metric: roc_auc\n  max_regresion: 0.1\n", "rules[0].max_regresion", ""},
		{"missing metric", "rules:\n- min_value: 1\n", "rules[0].metric", "p.yaml: rules[0].metric: is required"},
		{"unknown metric", "rules:\n- {metric: roc_auc, min_value: 0.5}\n- metric: auc\n  min_value: 0.5\n", "rules[1].metric", `p.yaml: rules[1].metric: "auc": unknown metric; the metrics are roc_auc, `},
		{"negative bound", "rules:\n- {metric: roc_auc, min_value: 0.5}\n- {metric: ks, min_value: 0.1}\n- metric: roc_auc\n  max_regression: -0.1\n", "rules[2].max_regression", "p.yaml: rules[2].max_regression: -0.1: must be >= 0"},
		{"infinite bound", "rules:\n- {metric: roc_auc, min_value: .inf}\n", "rules[0].min_value", "p.yaml: rules[0].min_value: +Inf: must be a finite number"},
		{"bound as text", "rules:\n- {metric: roc_auc, min_value: \"0.5\"}\n", "rules[0].min_value", `p.yaml: rules[0].min_value: "0.5": must be a number`},
		{"no bound", "rules:\n- {metric: roc_auc, severity: warn}\n", "rules[0]", "p.yaml: rules[0]: needs a bound"},
		{"contradicting direction", "rules:\n- {metric: log_loss, higher_is_better: true, max_regression: 0.01}\n", "rules[0].higher_is_better", "p.yaml: rules[0].higher_is_better: true: contradicts log_loss, for which lower is better"},
		{"bad severity", "rules:\n- {metric: ks, min_value: 0.1, severity: error}\n", "rules[0].severity", `p.yaml: rules[0].severity: "error": must be "fail" or "warn"`},
		{"repeated field", "rules:\n- {metric: ks, min_value: 0.1, min_value: 0.2}\n", "rules[0].min_value", ""},
		{"empty band", "rules:\n- {metric: ks, min_value: 0.5, max_value: 0.4}\n", "rules[0].max_value", ""},
		{"two documents", "rules:\n- {metric: ks, min_value: 0.1}\n---\nrules: []\n", "policy", ""},
		{"bad JSON", `{"rules": [`, "policy", ""},
		{"rule not a mapping", "rules:\n- roc_auc\n", "rules[0]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tt.doc), "p.yaml")
			var e *leadscore.Error
			if !errors.As(err, &e) || e.Code != leadscore.EINVALID {
				t.Fatalf("got %v, want EINVALID", err)
			}
			if len(e.Fields) != 1 || e.Fields[0].Field != tt.field {
				t.Errorf("got fields %+v, want %s", e.Fields, tt.field)
			}
			if tt.message != "" && !strings.HasPrefix(err.Error(), tt.message) {
				t.Errorf("got %q, want it to start %q", err.Error(), tt.message)
			}
		})
	}
}

func TestParsePolicyReadsYAMLAndJSON(t *testing.T) {
	t.Parallel()
	yamlDoc := `
description: stricter than the default
rules:
  - metric: roc_auc
    max_regression: 0.01
  - metric: log_loss
    max_relative_regression: 0.05
    severity: warn
  - metric: top_two_tiers_lead_share
    min_value: 0.15
    max_value: 0.35
`
	jsonDoc := `{"description": "stricter than the default", "rules": [
		{"metric": "roc_auc", "max_regression": 0.01},
		{"metric": "log_loss", "higher_is_better": false, "max_relative_regression": 0.05, "severity": "warn"},
		{"metric": "top_two_tiers_lead_share", "min_value": 0.15, "max_value": 0.35}]}`
	a, err := ParsePolicy([]byte(yamlDoc), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParsePolicy([]byte(jsonDoc), "b.json")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("YAML and JSON differ:\n%+v\n%+v", a, b)
	}
	if !a.Rules[0].HigherIsBetter || a.Rules[1].HigherIsBetter || a.Rules[0].Severity != SeverityFail || a.Rules[1].Severity != SeverityWarn {
		t.Errorf("defaults: %+v", a.Rules)
	}
	canon, err := PolicyJSON(a)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"description":"stricter than the default","rules":[` +
		`{"metric":"roc_auc","higher_is_better":true,"max_regression":0.01,"severity":"fail"},` +
		`{"metric":"log_loss","higher_is_better":false,"max_relative_regression":0.05,"severity":"warn"},` +
		`{"metric":"top_two_tiers_lead_share","higher_is_better":true,"min_value":0.15,"max_value":0.35,"severity":"fail"}]}`
	if string(canon) != want {
		t.Errorf("canonical JSON:\ngot  %s\nwant %s", canon, want)
	}
	back, err := ParsePolicy(canon, "canonical")
	if err != nil || !reflect.DeepEqual(back, a) {
		t.Errorf("canonical JSON reads back as %+v, %v", back, err)
	}
}

func TestDefaultPolicy(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	doc, err := PolicyJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePolicy(doc, "default")
	if err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("the default policy does not survive its canonical JSON: %+v, %v", back, err)
	}
	var fails, warns []string
	for _, r := range p.Rules {
		if r.Severity == SeverityFail {
			fails = append(fails, r.Metric)
		} else {
			warns = append(warns, r.Metric)
		}
	}
	if !slices.Equal(fails, []string{"roc_auc", "lift_top_decile"}) ||
		!slices.Equal(warns, []string{"top_two_tiers_lead_share", "top_two_tiers_conversion_share", "top_to_bottom_close_rate_ratio"}) {
		t.Errorf("fail rules %v, warn rules %v", fails, warns)
	}
}

// metricsFor builds metrics with the figures the gate reads.
func metricsFor(auc, lift, leadShare, convShare, ratio float64, bottomConv int) *Metrics {
	return &Metrics{
		RocAUC: auc, LiftTopDecile: lift, LogLoss: 0.3,
		Tiers: []Group{{Key: "very_good", Conversions: 5}},
		Acceptance: Acceptance{TopTwoTiersLeadShare: leadShare, TopTwoTiersConversionShare: convShare,
			TopToBottomCloseRateRatio: ratio, BottomTierConversions: bottomConv},
	}
}

func TestApplyDefaultPolicy(t *testing.T) {
	t.Parallel()
	champion := metricsFor(0.793, 3, 0.3, 0.7, 12, 2)
	tests := []struct {
		name      string
		candidate *Metrics
		reference *Metrics
		passed    bool
		failed    []string // metrics of the failed checks
		message   string   // of the first failed check
	}{
		{"better on everything", metricsFor(0.80, 3.1, 0.3, 0.7, 12, 2), champion, true, nil, ""},
		{"within the allowed regression", metricsFor(0.788, 3.1, 0.3, 0.7, 12, 2), champion, true, nil, ""},
		{"AUC regressed too far", metricsFor(0.781, 3.1, 0.3, 0.7, 12, 2), champion, false, []string{"roc_auc"},
			"roc_auc 0.781 regressed 0.012 against champion 0.793; at most 0.005 allowed"},
		{"lift too low", metricsFor(0.80, 1.87, 0.3, 0.7, 12, 2), champion, false, []string{"lift_top_decile"},
			"lift_top_decile 1.87 is below the minimum 2"},
		{"acceptance figures only warn", metricsFor(0.80, 3.1, 0.5, 0.55, 4, 2), champion, true,
			[]string{"top_two_tiers_lead_share", "top_two_tiers_conversion_share", "top_to_bottom_close_rate_ratio"},
			"top_two_tiers_lead_share 0.5 is above the maximum 0.35"},
		{"unbounded ratio passes", metricsFor(0.80, 3.1, 0.3, 0.7, 0, 0), champion, true, nil, ""},
		{"no reference fails the relative rule", metricsFor(0.80, 3.1, 0.3, 0.7, 12, 2), nil, false, []string{"roc_auc"},
			"roc_auc 0.8 cannot be compared: no reference was available (no champion and no baseline)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Apply(DefaultPolicy(), tt.candidate, tt.reference, ReferenceChampion, "gatePolicies/default/revisions/1")
			var failed []string
			var first string
			for _, c := range res.Checks {
				if !c.Passed {
					failed = append(failed, c.Rule.Metric)
					if first == "" {
						first = c.Message
					}
				}
			}
			if res.Passed != tt.passed || !slices.Equal(failed, tt.failed) {
				t.Errorf("passed %v, failed %v; want %v, %v", res.Passed, failed, tt.passed, tt.failed)
			}
			if first != tt.message {
				t.Errorf("message %q, want %q", first, tt.message)
			}
			if len(res.Checks) != 5 || res.Policy != "gatePolicies/default/revisions/1" {
				t.Errorf("result %+v", res)
			}
			if tt.reference == nil && res.Reference != ReferenceNone {
				t.Errorf("reference %q, want %q", res.Reference, ReferenceNone)
			}
		})
	}
}

func TestApplyNeverSkipsARule(t *testing.T) {
	t.Parallel()
	one := 1.0
	p := &GatePolicy{Rules: []GateRule{
		{Metric: "no_such_metric", MinValue: &one},
		{Metric: "ks", MinValue: &one, Severity: SeverityWarn},
	}}
	res := Apply(p, metricsFor(0.8, 3, 0.3, 0.7, 12, 2), nil, ReferenceBaseline, "p")
	if res.Passed || res.Checks[0].Passed || !strings.Contains(res.Checks[0].Message, "unknown metric") {
		t.Errorf("an unknown metric: %+v", res)
	}
	res = Apply(p, nil, nil, ReferenceBaseline, "p")
	if res.Passed || res.Checks[1].Message != "the candidate has no ks" {
		t.Errorf("no candidate: %+v", res.Checks[1])
	}
}

func TestApplyRelativeBounds(t *testing.T) {
	t.Parallel()
	f := func(v float64) *float64 { return &v }
	ref := &Metrics{LogLoss: 0.30, RocAUC: 0.80}
	tests := []struct {
		name   string
		rule   GateRule
		cand   *Metrics
		passed bool
		msg    string
	}{
		{"log loss within 5%", GateRule{Metric: "log_loss", MaxRelativeRegression: f(0.05)}, &Metrics{LogLoss: 0.31}, true, ""},
		{"log loss past 5%", GateRule{Metric: "log_loss", MaxRelativeRegression: f(0.05)}, &Metrics{LogLoss: 0.32}, false,
			"log_loss 0.32 regressed 0.02 against baseline 0.3 (6.67% of the baseline's value); at most 5% allowed"},
		{"lower log loss is an improvement", GateRule{Metric: "log_loss", MinImprovement: f(0.01)}, &Metrics{LogLoss: 0.28}, true,
			"log_loss 0.28 improved 0.02 on baseline 0.3; an improvement of at least 0.01 is required"},
		{"too small an improvement", GateRule{Metric: "roc_auc", MinImprovement: f(0.01)}, &Metrics{RocAUC: 0.805}, false,
			"roc_auc 0.805 improved 0.005 on baseline 0.8; an improvement of at least 0.01 required"},
		{"max value on a loss is a floor", GateRule{Metric: "log_loss", MaxValue: f(0.05)}, &Metrics{LogLoss: 0.01}, false,
			"log_loss 0.01 is below the minimum 0.05"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Apply(&GatePolicy{Rules: []GateRule{tt.rule}}, tt.cand, ref, ReferenceBaseline, "p")
			c := res.Checks[0]
			if c.Passed != tt.passed || res.Passed != tt.passed || (tt.msg != "" && c.Message != tt.msg) {
				t.Errorf("got %v %q, want %v %q", c.Passed, c.Message, tt.passed, tt.msg)
			}
			if c.CandidateValue == nil || (c.ReferenceValue == nil) == tt.rule.relative() {
				t.Errorf("values missing: %+v", c)
			}
		})
	}
}

func TestNewReportWarnsAndJudges(t *testing.T) {
	t.Parallel()
	cand := metricsFor(0.985, 3, 0.5, 0.7, 12, 2)
	cand.Conversions = 40
	cand.Importance = []Importance{{Feature: "attr.lead_quality", Group: "fit", Share: 0.63}}
	base := metricsFor(0.7, 2, 0.3, 0.7, 12, 2)
	r, err := NewReport(ReportInput{Candidate: cand, Baseline: base, Policy: DefaultPolicy(), PolicyName: "default", Warnings: []string{"mine"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"mine",
		"candidate ROC AUC 0.985 is above 0.97: possible leakage; check that no feature is filled in after the outcome (lead quality, rep tags, close dates)",
		"feature attr.lead_quality carries 63% of the importance: check it is known before the cut-off",
		"only 40 conversions: the figures are unstable; a backtest needs 100 or more to be trusted",
		"gate warning: top_two_tiers_lead_share 0.5 is above the maximum 0.35",
	}
	if !slices.Equal(r.Warnings, want) {
		t.Errorf("warnings:\n%q\nwant\n%q", r.Warnings, want)
	}
	if r.Verdict != VerdictPass || r.Gate.Reference != ReferenceBaseline || len(r.Deltas) != len(ComparedMetrics) || r.Deltas[0].Reference != ReferenceBaseline {
		t.Errorf("verdict %s, gate %+v, deltas %+v", r.Verdict, r.Gate, r.Deltas)
	}
	if d := r.Deltas[0]; d.Metric != "roc_auc" || !near(d.Delta, 0.285, 1e-12) {
		t.Errorf("roc_auc delta %+v", d)
	}
	r, _ = NewReport(ReportInput{Candidate: cand})
	if r.Verdict != VerdictNone || r.Gate != nil || len(r.Deltas) != 0 || r.Deltas == nil {
		t.Errorf("no gate: verdict %s, gate %+v, deltas %#v", r.Verdict, r.Gate, r.Deltas)
	}
}

func TestCompareOrder(t *testing.T) {
	t.Parallel()
	a, b, c := &Metrics{RocAUC: 0.8, LogLoss: 0.3}, &Metrics{RocAUC: 0.79, LogLoss: 0.32}, &Metrics{RocAUC: 0.7, LogLoss: 0.4}
	d := Compare(a, b, c)
	if len(d) != 2*len(ComparedMetrics) || d[0].Reference != ReferenceChampion || d[len(ComparedMetrics)].Reference != ReferenceBaseline {
		t.Fatalf("got %+v", d)
	}
	if !near(d[0].Delta, 0.01, 1e-12) || d[2].Metric != "log_loss" || !near(d[2].Delta, -0.02, 1e-12) {
		t.Errorf("got %+v", d[:3])
	}
}

func TestHashRows(t *testing.T) {
	t.Parallel()
	ids := []string{"a", "bc"}
	labels := []bool{true, false}
	h1 := HashRows(2, func(i int) string { return ids[i] }, func(i int) bool { return labels[i] })
	ids2 := []string{"ab", "c"}
	h2 := HashRows(2, func(i int) string { return ids2[i] }, func(i int) bool { return labels[i] })
	if h1 == h2 || len(h1) != 64 {
		t.Errorf("ids that run together hash alike: %s %s", h1, h2)
	}
}

// FuzzParsePolicy holds the policy parser to its contract on any input:
// an EINVALID error, or a valid policy whose canonical JSON reads back as
// the same policy.
func FuzzParsePolicy(f *testing.F) {
	doc, _ := PolicyJSON(DefaultPolicy())
	f.Add(doc)
	f.Add([]byte("rules:\n- metric: roc_auc\n  max_regression: 0.005\n- {metric: log_loss, max_relative_regression: 0.1, severity: warn}\n"))
	f.Add([]byte("rules:\n- metric: ks\n  min_value: -1\n"))
	f.Add([]byte("{\"rules\": [{\"metric\": \"ece\", \"min_value\": 0.05, \"max_value\": 0.01}]}"))
	f.Add([]byte("rules: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data, "fuzz")
		if err != nil {
			if leadscore.ErrorCode(err) != leadscore.EINVALID {
				t.Fatalf("got %v, want EINVALID", err)
			}
			return
		}
		canon, err := PolicyJSON(p)
		if err != nil {
			t.Fatalf("a parsed policy does not encode: %v", err)
		}
		back, err := ParsePolicy(canon, "canonical")
		if err != nil || !reflect.DeepEqual(back, p) {
			t.Fatalf("canonical JSON %s reads back as %+v, %v; want %+v", canon, back, err, p)
		}
	})
}
