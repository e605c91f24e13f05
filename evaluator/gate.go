package evaluator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/leadscore/leadscore"
)

// The severities of a gate rule.
const (
	// SeverityFail rules decide the verdict.
	SeverityFail = "fail"
	// SeverityWarn rules that fail are reported as warnings and do not
	// fail the gate.
	SeverityWarn = "warn"
)

// Limits of a policy file.
const (
	// MaxPolicyBytes is the largest policy file read.
	MaxPolicyBytes = 1 << 20
	// MaxPolicyRules is the most rules a policy may hold.
	MaxPolicyRules = 1000
)

// gateTolerance absorbs floating-point noise at a bound: 0.793 - 0.788 is
// 0.005000000000000004, which must pass "at most 0.005".
const gateTolerance = 1e-12

// metricDef is one metric a gate rule may name.
type metricDef struct {
	name   string
	higher bool
	value  func(m *Metrics) float64
}

// metricDefs are the metrics known by name, in the order MetricNames lists
// them.
var metricDefs = []metricDef{
	{"roc_auc", true, func(m *Metrics) float64 { return m.RocAUC }},
	{"roc_auc_ci_lower", true, func(m *Metrics) float64 { return m.RocAUCCILower }},
	{"roc_auc_ci_upper", true, func(m *Metrics) float64 { return m.RocAUCCIUpper }},
	{"pr_auc", true, func(m *Metrics) float64 { return m.PrAUC }},
	{"log_loss", false, func(m *Metrics) float64 { return m.LogLoss }},
	{"brier", false, func(m *Metrics) float64 { return m.Brier }},
	{"ece", false, func(m *Metrics) float64 { return m.ECE }},
	{"ks", true, func(m *Metrics) float64 { return m.KS }},
	{"lift_top_decile", true, func(m *Metrics) float64 { return m.LiftTopDecile }},
	{"leads", true, func(m *Metrics) float64 { return float64(m.Leads) }},
	{"conversions", true, func(m *Metrics) float64 { return float64(m.Conversions) }},
	{"top_two_tiers_lead_share", true, func(m *Metrics) float64 { return m.Acceptance.TopTwoTiersLeadShare }},
	{"top_two_tiers_conversion_share", true, func(m *Metrics) float64 { return m.Acceptance.TopTwoTiersConversionShare }},
	{"top_to_bottom_close_rate_ratio", true, topToBottomRatio},
}

// topToBottomRatio is the acceptance ratio, +Inf when the bottom tier has
// no conversions but the top tier has some: the ratio is unbounded and
// passes any minimum.
func topToBottomRatio(m *Metrics) float64 {
	a := m.Acceptance
	if a.BottomTierConversions == 0 && len(m.Tiers) > 0 && m.Tiers[0].Conversions > 0 {
		return math.Inf(1)
	}
	return a.TopToBottomCloseRateRatio
}

func lookupMetric(name string) (metricDef, bool) {
	for _, d := range metricDefs {
		if d.name == name {
			return d, true
		}
	}
	return metricDef{}, false
}

// MetricNames lists the metrics a gate rule may name.
func MetricNames() []string {
	out := make([]string, len(metricDefs))
	for i, d := range metricDefs {
		out[i] = d.name
	}
	return out
}

// HigherIsBetter reports whether a larger value of the named metric is
// better (false for the losses log_loss, brier and ece), and whether the
// metric is known.
func HigherIsBetter(name string) (higher, known bool) {
	d, ok := lookupMetric(name)
	return d.higher, ok
}

// MetricValue returns the named figure of m: any of MetricNames, the
// acceptance figures included. It is false for an unknown name or a nil m.
// top_to_bottom_close_rate_ratio is +Inf when the bottom tier has no
// conversions and the top tier has some.
func MetricValue(m *Metrics, name string) (float64, bool) {
	d, ok := lookupMetric(name)
	if !ok || m == nil {
		return 0, false
	}
	return d.value(m), true
}

// DefaultPolicy is the gate applied when none is named: the candidate may
// lose at most 0.005 ROC AUC against the reference and must lift the top
// decile at least 2×; MadKudu's acceptance figures (15–35% of leads in the
// top two tiers, holding at least 60% of conversions, the top tier
// converting at least 10× the bottom one) are checked as warnings.
func DefaultPolicy() *GatePolicy {
	f := func(v float64) *float64 { return &v }
	return &GatePolicy{
		Description: "leadscore default: no worse than the reference's ROC AUC by more than 0.005 and a top-decile lift of at least 2; MadKudu's acceptance figures as warnings",
		Rules: []GateRule{
			{Metric: "roc_auc", HigherIsBetter: true, MaxRegression: f(0.005), Severity: SeverityFail},
			{Metric: "lift_top_decile", HigherIsBetter: true, MinValue: f(2), Severity: SeverityFail},
			{Metric: "top_two_tiers_lead_share", HigherIsBetter: true, MinValue: f(0.15), MaxValue: f(0.35), Severity: SeverityWarn},
			{Metric: "top_two_tiers_conversion_share", HigherIsBetter: true, MinValue: f(0.6), Severity: SeverityWarn},
			{Metric: "top_to_bottom_close_rate_ratio", HigherIsBetter: true, MinValue: f(10), Severity: SeverityWarn},
		},
	}
}

// policyError is an EINVALID error naming a field of a policy, formatted
// as "rules[2].max_regression: -0.1: must be >= 0".
func policyError(field, value, reason string) *leadscore.Error {
	desc := reason
	if value != "" {
		desc = value + ": " + reason
	}
	return &leadscore.Error{
		Code:    leadscore.EINVALID,
		Message: field + ": " + desc,
		Fields:  []leadscore.FieldViolation{{Field: field, Description: desc}},
	}
}

// inPolicy prefixes an error's message with the policy's name.
func inPolicy(name string, err error) error {
	var e *leadscore.Error
	if name == "" || !errors.As(err, &e) {
		return err
	}
	c := *e
	c.Message = name + ": " + e.Message
	return &c
}

func formatBound(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// bounds returns a rule's bounds by field name, in field order.
func (r *GateRule) bounds() []struct {
	field string
	v     *float64
} {
	return []struct {
		field string
		v     *float64
	}{
		{"min_value", r.MinValue}, {"max_value", r.MaxValue}, {"max_regression", r.MaxRegression},
		{"max_relative_regression", r.MaxRelativeRegression}, {"min_improvement", r.MinImprovement},
	}
}

// relative reports whether the rule compares with a reference.
func (r *GateRule) relative() bool {
	return r.MaxRegression != nil || r.MaxRelativeRegression != nil || r.MinImprovement != nil
}

// CheckChampionGrade refuses a policy too weak to judge champions: it
// must hold at least one fail-severity rule comparing the candidate with
// its reference (the champion, or the points baseline for a first
// champion) through max_regression, max_relative_regression or
// min_improvement. A policy of warnings only, or of absolute floors only
// (min_value: 0), would let a candidate far worse than the champion pass.
func CheckChampionGrade(p *GatePolicy) error {
	if p != nil {
		for _, r := range p.Rules {
			if r.severity() == SeverityFail && r.relative() {
				return nil
			}
		}
	}
	return policyError("rules", "", "a policy that judges champions needs at least one fail rule comparing the candidate with the champion or baseline (max_regression, max_relative_regression or min_improvement)")
}

// severity returns the rule's severity with the default filled in.
func (r *GateRule) severity() string {
	if r.Severity == "" {
		return SeverityFail
	}
	return r.Severity
}

// validate checks one rule; i is its index, for the errors.
func (r *GateRule) validate(i int) error {
	field := fmt.Sprintf("rules[%d]", i)
	if r.Metric == "" {
		return policyError(field+".metric", "", "is required")
	}
	d, ok := lookupMetric(r.Metric)
	if !ok {
		return policyError(field+".metric", strconv.Quote(r.Metric), "unknown metric; the metrics are "+strings.Join(MetricNames(), ", "))
	}
	if r.HigherIsBetter != d.higher {
		way := "lower"
		if d.higher {
			way = "higher"
		}
		return policyError(field+".higher_is_better", strconv.FormatBool(r.HigherIsBetter), fmt.Sprintf("contradicts %s, for which %s is better; leave it out", r.Metric, way))
	}
	switch r.Severity {
	case "", SeverityFail, SeverityWarn:
	default:
		return policyError(field+".severity", strconv.Quote(r.Severity), `must be "fail" or "warn"`)
	}
	set := 0
	for _, b := range r.bounds() {
		if b.v == nil {
			continue
		}
		set++
		switch {
		case math.IsNaN(*b.v) || math.IsInf(*b.v, 0):
			return policyError(field+"."+b.field, formatBound(*b.v), "must be a finite number")
		case *b.v < 0:
			return policyError(field+"."+b.field, formatBound(*b.v), "must be >= 0")
		}
	}
	if set == 0 {
		return policyError(field, "", "needs a bound: min_value, max_value, max_regression, max_relative_regression or min_improvement")
	}
	if r.MinValue != nil && r.MaxValue != nil {
		lo, hi := *r.MinValue, *r.MaxValue
		if !d.higher {
			lo, hi = hi, lo
		}
		if lo > hi {
			return policyError(field+".max_value", formatBound(*r.MaxValue), fmt.Sprintf("leaves no value of %s that meets min_value %s", r.Metric, formatBound(*r.MinValue)))
		}
	}
	return nil
}

// Validate checks a policy completely, naming the first bad rule and field:
// at least one rule, each naming a known metric with HigherIsBetter as the
// metric has it, a severity of "fail" or "warn" (empty means "fail"), and at
// least one finite, non-negative bound.
func (p *GatePolicy) Validate() error {
	if p == nil {
		return policyError("policy", "", "is required")
	}
	if len(p.Rules) == 0 {
		return policyError("rules", "", "needs at least one rule")
	}
	if len(p.Rules) > MaxPolicyRules {
		return policyError("rules", strconv.Itoa(len(p.Rules)), fmt.Sprintf("at most %d rules", MaxPolicyRules))
	}
	for i := range p.Rules {
		if err := p.Rules[i].validate(i); err != nil {
			return err
		}
	}
	return nil
}

// PolicyJSON encodes a valid policy in the one form it is stored in:
// compact JSON, fields in schema order, every default written out
// (higher_is_better, severity), numbers in their shortest form. Equal
// policies give equal bytes, and ParsePolicy reads them back unchanged.
func PolicyJSON(p *GatePolicy) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c := GatePolicy{Description: p.Description, Rules: make([]GateRule, len(p.Rules))}
	for i, r := range p.Rules {
		r.Severity = r.severity()
		c.Rules[i] = r
	}
	return json.Marshal(c)
}

// ParsePolicy reads a gate policy written in YAML or JSON (JSON is read as
// YAML). It is strict: an unknown field, an unknown metric, a missing
// metric, a negative or non-finite bound, a rule without a bound, a
// higher_is_better that contradicts the metric or a value of the wrong type
// is an EINVALID error naming the policy (name, such as the file path), the
// rule's index and the field, such as
// "policy.yaml: rules[2].max_regression: -0.1: must be >= 0".
// higher_is_better defaults from the metric and severity to "fail".
func ParsePolicy(data []byte, name string) (*GatePolicy, error) {
	p, err := parsePolicy(data)
	if err != nil {
		return nil, inPolicy(name, err)
	}
	return p, nil
}

var (
	policyFields = []string{"description", "rules"}
	ruleFields   = []string{"metric", "higher_is_better", "min_value", "max_value", "max_regression", "max_relative_regression", "min_improvement", "severity"}
)

func parsePolicy(data []byte) (*GatePolicy, error) {
	if len(data) > MaxPolicyBytes {
		return nil, policyError("policy", fmt.Sprintf("%d bytes", len(data)), fmt.Sprintf("is larger than %d bytes", MaxPolicyBytes))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, policyError("policy", "", "is empty")
		}
		return nil, policyError("policy", "", "is not valid YAML or JSON: "+err.Error())
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, policyError("policy", "", "must be one YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, policyError("policy", "", "must be a mapping with a rules list")
	}
	p := &GatePolicy{}
	hasRules := false
	err := eachField(root, "", policyFields, func(key string, v *yaml.Node) error {
		switch key {
		case "description":
			return scalar(v, "description", "!!str", &p.Description)
		default: // rules
			hasRules = true
			if v.Kind != yaml.SequenceNode {
				return policyError("rules", "", "must be a list of rules")
			}
			if len(v.Content) > MaxPolicyRules {
				return policyError("rules", strconv.Itoa(len(v.Content)), fmt.Sprintf("at most %d rules", MaxPolicyRules))
			}
			for i, item := range v.Content {
				r, err := parseRule(i, item)
				if err != nil {
					return err
				}
				p.Rules = append(p.Rules, r)
			}
			return nil
		}
	})
	if err != nil {
		return nil, err
	}
	if !hasRules {
		return nil, policyError("rules", "", "is required")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// eachField calls fn for every key of a mapping node in order, refusing
// unknown and repeated keys.
func eachField(m *yaml.Node, prefix string, known []string, fn func(key string, v *yaml.Node) error) error {
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		field := prefix + k.Value
		if k.Kind != yaml.ScalarNode || !contains(known, k.Value) {
			return policyError(field, "", "unknown field; the fields are "+strings.Join(known, ", "))
		}
		if seen[k.Value] {
			return policyError(field, "", "is given twice")
		}
		seen[k.Value] = true
		if err := fn(k.Value, v); err != nil {
			return err
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scalar decodes a scalar node of the given YAML tag into out.
func scalar(v *yaml.Node, field, tag string, out any) error {
	want := map[string]string{"!!str": "a string", "!!bool": "true or false", "!!float": "a number"}[tag]
	ok := v.Kind == yaml.ScalarNode && (v.Tag == tag || tag == "!!float" && v.Tag == "!!int")
	if !ok {
		return policyError(field, strconv.Quote(v.Value), "must be "+want)
	}
	if err := v.Decode(out); err != nil {
		return policyError(field, strconv.Quote(v.Value), "must be "+want)
	}
	return nil
}

// parseRule reads rule i, filling higher_is_better from the metric when
// it is left out.
func parseRule(i int, node *yaml.Node) (GateRule, error) {
	prefix := fmt.Sprintf("rules[%d].", i)
	var r GateRule
	if node.Kind != yaml.MappingNode {
		return r, policyError(fmt.Sprintf("rules[%d]", i), "", "must be a mapping with a metric and a bound")
	}
	var higher *bool
	err := eachField(node, prefix, ruleFields, func(key string, v *yaml.Node) error {
		field := prefix + key
		number := func(dst **float64) error {
			var f float64
			if err := scalar(v, field, "!!float", &f); err != nil {
				return err
			}
			*dst = &f
			return nil
		}
		switch key {
		case "metric":
			return scalar(v, field, "!!str", &r.Metric)
		case "higher_is_better":
			var b bool
			if err := scalar(v, field, "!!bool", &b); err != nil {
				return err
			}
			higher = &b
			return nil
		case "severity":
			return scalar(v, field, "!!str", &r.Severity)
		case "min_value":
			return number(&r.MinValue)
		case "max_value":
			return number(&r.MaxValue)
		case "max_regression":
			return number(&r.MaxRegression)
		case "max_relative_regression":
			return number(&r.MaxRelativeRegression)
		default: // min_improvement
			return number(&r.MinImprovement)
		}
	})
	if err != nil {
		return r, err
	}
	if r.Metric == "" {
		return r, policyError(prefix+"metric", "", "is required")
	}
	d, ok := lookupMetric(r.Metric)
	if !ok {
		return r, policyError(prefix+"metric", strconv.Quote(r.Metric), "unknown metric; the metrics are "+strings.Join(MetricNames(), ", "))
	}
	r.HigherIsBetter = d.higher
	if higher != nil {
		r.HigherIsBetter = *higher
	}
	if r.Severity == "" {
		r.Severity = SeverityFail
	}
	return r, nil
}

// Apply judges a candidate's metrics under a policy. reference is the
// champion's metrics when there is a champion, else the baseline's, and
// referenceKind says which ("champion" or "baseline"); policyName names
// the policy in the result. Every rule is checked, none skipped: a metric
// the candidate lacks, an invalid rule, or a relative bound
// (max_regression, max_relative_regression, min_improvement) without a
// reference fails its check. min_value and max_value need only the
// candidate. The gate passes when every fail-severity check passes;
// failed warn-severity checks are returned for the report's warnings.
func Apply(policy *GatePolicy, candidate, reference *Metrics, referenceKind, policyName string) GateResult {
	res := GateResult{Policy: policyName, Reference: referenceKind, Passed: true, Checks: []GateCheck{}}
	if reference == nil {
		res.Reference = ReferenceNone
	}
	if policy == nil {
		return res
	}
	for i, r := range policy.Rules {
		c := check(i, r, candidate, reference, res.Reference)
		if !c.Passed && c.Rule.Severity == SeverityFail {
			res.Passed = false
		}
		res.Checks = append(res.Checks, c)
	}
	return res
}

// check applies rule i.
func check(i int, r GateRule, candidate, reference *Metrics, refKind string) GateCheck {
	r.Severity = r.severity()
	if d, ok := lookupMetric(r.Metric); ok {
		// The metric decides the direction, so that a rule built in code
		// without HigherIsBetter is judged the right way round.
		r.HigherIsBetter = d.higher
	}
	c := GateCheck{Rule: r}
	if err := r.validate(i); err != nil {
		c.Message = "invalid rule: " + leadscore.ErrorMessage(err)
		return c
	}
	cv, ok := MetricValue(candidate, r.Metric)
	if !ok {
		c.Message = fmt.Sprintf("the candidate has no %s", r.Metric)
		return c
	}
	c.CandidateValue = finitePtr(cv)
	higher := r.HigherIsBetter
	// A rule with several bounds says why it failed with the failed
	// bounds only; a rule that held says every bound it met.
	var met, missed []string
	passed := true
	judge := func(ok bool, msg string) {
		passed = passed && ok
		if ok {
			met = append(met, msg)
		} else {
			missed = append(missed, msg)
		}
	}
	name := r.Metric + " " + num(cv)
	if r.MinValue != nil {
		b := *r.MinValue
		if higher {
			judge(cv >= b-gateTolerance, pick(cv >= b-gateTolerance, name+" is at least "+num(b), name+" is below the minimum "+num(b)))
		} else {
			judge(cv <= b+gateTolerance, pick(cv <= b+gateTolerance, name+" is at most "+num(b), name+" is above the maximum "+num(b)))
		}
	}
	if r.MaxValue != nil {
		b := *r.MaxValue
		if higher {
			judge(cv <= b+gateTolerance, pick(cv <= b+gateTolerance, name+" is at most "+num(b), name+" is above the maximum "+num(b)))
		} else {
			judge(cv >= b-gateTolerance, pick(cv >= b-gateTolerance, name+" is at least "+num(b), name+" is below the minimum "+num(b)))
		}
	}
	if r.relative() {
		rv, ok := MetricValue(reference, r.Metric)
		switch {
		case reference == nil:
			judge(false, fmt.Sprintf("%s cannot be compared: no reference was available (no champion and no baseline)", name))
		case !ok:
			judge(false, fmt.Sprintf("the %s has no %s", refKind, r.Metric))
		default:
			c.ReferenceValue = finitePtr(rv)
			regression := rv - cv
			if !higher {
				regression = cv - rv
			}
			if math.IsNaN(regression) { // both unbounded
				regression = 0
			}
			against := fmt.Sprintf("%s %s", refKind, num(rv))
			moved := fmt.Sprintf("%s regressed %s against %s", name, num(regression), against)
			if regression <= 0 {
				moved = fmt.Sprintf("%s improved %s on %s", name, num(-regression), against)
			}
			if r.MaxRegression != nil {
				b := *r.MaxRegression
				ok := regression <= b+gateTolerance
				judge(ok, moved+pick(ok, "; a regression of at most "+num(b)+" is allowed", "; at most "+num(b)+" allowed"))
			}
			if r.MaxRelativeRegression != nil {
				b := *r.MaxRelativeRegression
				ok := regression <= b*math.Abs(rv)+gateTolerance
				rel := fmt.Sprintf("%s (%s of the %s's value)", moved, pct(regression, rv), refKind)
				judge(ok, rel+pick(ok, "; a regression of at most "+pctOf(b)+" is allowed", "; at most "+pctOf(b)+" allowed"))
			}
			if r.MinImprovement != nil {
				b := *r.MinImprovement
				ok := -regression >= b-gateTolerance
				judge(ok, moved+pick(ok, "; an improvement of at least "+num(b)+" is required", "; an improvement of at least "+num(b)+" required"))
			}
		}
	}
	c.Passed = passed
	if passed {
		c.Message = strings.Join(met, "; ")
	} else {
		c.Message = strings.Join(missed, "; ")
	}
	return c
}

func pick(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

func finitePtr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// num formats a figure for people: three significant digits, "unbounded"
// for infinity.
func num(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "unbounded"
	case math.IsInf(v, -1):
		return "-unbounded"
	case math.Abs(v) >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// pct formats a regression as a percentage of the reference's value.
func pct(regression, ref float64) string {
	if ref == 0 {
		return "n/a"
	}
	return pctOf(math.Abs(regression) / math.Abs(ref))
}

func pctOf(f float64) string { return strconv.FormatFloat(f*100, 'g', 3, 64) + "%" }
