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
	"time"

	"github.com/leadscore/leadscore"
)

// JSON returns the report as indented JSON with a trailing newline. Fields
// appear in the order of the Go structs, so two reports of the same inputs
// differ only in created_at. Lists that are empty are written as [] rather
// than null, so readers such as jq see one shape.
func (r *Report) JSON() ([]byte, error) {
	data, err := json.MarshalIndent(r.withEmptyLists(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	return append(data, '\n'), nil
}

// ReadReport reads a report written by JSON. It refuses a report of another
// schema version, fields this version does not know, a verdict other than
// "pass", "fail" or "none", and a report without a candidate.
func ReadReport(data []byte) (*Report, error) {
	// The version is checked first, on its own, so that a report from a
	// newer leadscore is refused for its version rather than for the first
	// field this version does not know.
	var probe struct {
		SchemaVersion *int `json:"schema_version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, leadscore.Errorf(leadscore.EINVALID, "read report: %v", err)
	}
	switch {
	case probe.SchemaVersion == nil:
		return nil, leadscore.InvalidField("schema_version", "", "is missing: this is not a leadscore backtest report")
	case *probe.SchemaVersion != ReportSchemaVersion:
		return nil, leadscore.InvalidField("schema_version", *probe.SchemaVersion,
			fmt.Sprintf("is unknown: this leadscore reads report schema version %d; read the report with the leadscore release that wrote it", ReportSchemaVersion))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Report
	if err := dec.Decode(&r); err != nil {
		return nil, leadscore.Errorf(leadscore.EINVALID, "read report: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, leadscore.Errorf(leadscore.EINVALID, "read report: data after the report's closing brace")
	}
	switch r.Verdict {
	case VerdictPass, VerdictFail, VerdictNone:
	default:
		return nil, leadscore.InvalidField("verdict", r.Verdict, `must be "pass", "fail" or "none"`)
	}
	if r.Candidate == nil {
		return nil, leadscore.InvalidField("candidate", "null", "is required")
	}
	return &r, nil
}

// withEmptyLists returns a shallow copy of r whose nil lists are empty, for
// JSON. r itself is not changed.
func (r *Report) withEmptyLists() *Report {
	c := *r
	c.Candidate = c.Candidate.withEmptyLists()
	c.Champion = c.Champion.withEmptyLists()
	c.Baseline = c.Baseline.withEmptyLists()
	c.Deltas = emptyIfNil(c.Deltas)
	c.Warnings = emptyIfNil(c.Warnings)
	if c.Gate != nil {
		g := *c.Gate
		g.Checks = emptyIfNil(g.Checks)
		c.Gate = &g
	}
	return &c
}

func (m *Metrics) withEmptyLists() *Metrics {
	if m == nil {
		return nil
	}
	c := *m
	c.Deciles = emptyIfNil(c.Deciles)
	c.Reliability = emptyIfNil(c.Reliability)
	c.ReliabilityQuantiles = emptyIfNil(c.ReliabilityQuantiles)
	c.Tiers = emptyIfNil(c.Tiers)
	c.Grades = emptyIfNil(c.Grades)
	c.Cells = emptyIfNil(c.Cells)
	c.Campaigns = emptyIfNil(c.Campaigns)
	c.Sources = emptyIfNil(c.Sources)
	c.Histogram.Converted = emptyIfNil(c.Histogram.Converted)
	c.Histogram.Other = emptyIfNil(c.Histogram.Other)
	c.Importance = emptyIfNil(c.Importance)
	return &c
}

func emptyIfNil[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	return s
}

// keyMetric is one of the headline metrics both renderings compare.
type keyMetric struct {
	Name   string // the JSON name, as in Delta.Metric and GateRule.Metric
	Label  string
	Higher bool // whether a higher value is better
	value  func(*Metrics) float64
}

// keyMetrics are the headline metrics, in the order they are shown.
var keyMetrics = []keyMetric{
	{"roc_auc", "ROC AUC", true, func(m *Metrics) float64 { return m.RocAUC }},
	{"pr_auc", "PR AUC", true, func(m *Metrics) float64 { return m.PrAUC }},
	{"log_loss", "Log loss", false, func(m *Metrics) float64 { return m.LogLoss }},
	{"brier", "Brier score", false, func(m *Metrics) float64 { return m.Brier }},
	{"ece", "ECE", false, func(m *Metrics) float64 { return m.ECE }},
	{"ks", "KS", true, func(m *Metrics) float64 { return m.KS }},
	{"lift_top_decile", "Top-decile lift", true, func(m *Metrics) float64 { return m.LiftTopDecile }},
}

// reportModel is one of the report's models with its role.
type reportModel struct {
	Role    string // "candidate", "champion" or "baseline"
	Label   string // "Candidate", ...
	Colour  string // the model's colour in every chart
	Metrics *Metrics
}

// The models' colours: blue, orange and grey stay distinguishable for the
// common forms of colour blindness and in greyscale print.
const (
	colourCandidate = "#2563eb"
	colourChampion  = "#e69f00"
	colourBaseline  = "#8b95a5"
)

// models returns the report's models that are present, candidate first.
func (r *Report) models() []reportModel {
	var out []reportModel
	for _, m := range []reportModel{
		{"candidate", "Candidate", colourCandidate, r.Candidate},
		{ReferenceChampion, "Champion", colourChampion, r.Champion},
		{ReferenceBaseline, "Baseline", colourBaseline, r.Baseline},
	} {
		if m.Metrics != nil {
			out = append(out, m)
		}
	}
	return out
}

// reference returns the champion or the baseline metrics by role.
func (r *Report) reference(role string) *Metrics {
	switch role {
	case ReferenceChampion:
		return r.Champion
	case ReferenceBaseline:
		return r.Baseline
	}
	return nil
}

// delta returns candidate minus reference for a key metric: the report's
// own Delta when it has one, else the difference of the two models' values.
// There is none without the reference model.
func (r *Report) delta(k keyMetric, role string) (float64, bool) {
	ref := r.reference(role)
	if ref == nil || r.Candidate == nil {
		return 0, false
	}
	for _, d := range r.Deltas {
		if d.Metric == k.Name && d.Reference == role {
			return d.Delta, true
		}
	}
	return k.value(r.Candidate) - k.value(ref), true
}

// deltaQuality says whether a delta is an improvement: "better", "worse"
// or "same" (it rounds to zero as shown).
func deltaQuality(metric string, higher bool, d float64) string {
	if formatMetricDelta(metric, d) == formatMetricDelta(metric, 0) || math.IsNaN(d) {
		return "same"
	}
	if (d > 0) == higher {
		return "better"
	}
	return "worse"
}

// percentMetrics are metrics that are shares, shown as percentages.
var percentMetrics = map[string]bool{
	"base_rate":                      true,
	"top_two_tiers_lead_share":       true,
	"top_two_tiers_conversion_share": true,
}

// formatMetricValue formats a metric's value: AUCs and losses with four
// decimals, lifts and ratios with two and a ×, shares as percentages.
func formatMetricValue(metric string, v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.IsInf(v, 1):
		return "∞"
	case math.IsInf(v, -1):
		return "-∞"
	case metric == "lift_top_decile" || metric == "top_to_bottom_close_rate_ratio":
		return strconv.FormatFloat(v, 'f', 2, 64) + "×"
	case percentMetrics[metric]:
		return formatShare(v, 2)
	case metric == "leads" || metric == "conversions":
		return formatCount(int(math.Round(v)))
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

// formatMetricDelta formats a difference of a metric's values with its
// sign; a difference that rounds to zero is written ±0.
func formatMetricDelta(metric string, d float64) string {
	var s string
	switch {
	case math.IsNaN(d) || math.IsInf(d, 0):
		return "n/a"
	case metric == "lift_top_decile" || metric == "top_to_bottom_close_rate_ratio":
		s = strconv.FormatFloat(d, 'f', 2, 64)
	case percentMetrics[metric]:
		s = strconv.FormatFloat(d*100, 'f', 2, 64) + " pp"
	case metric == "leads" || metric == "conversions":
		s = strconv.FormatFloat(d, 'f', 0, 64)
	default:
		s = strconv.FormatFloat(d, 'f', 4, 64)
	}
	if strings.Trim(s, "-0. p") == "" {
		return "±" + strings.TrimPrefix(s, "-")
	}
	if !strings.HasPrefix(s, "-") {
		s = "+" + s
	}
	return s
}

// formatShare formats a fraction as a percentage with the given decimals.
func formatShare(f float64, decimals int) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(f*100, 'f', decimals, 64) + "%"
}

// formatCount formats a count with thousands separators: 48,210.
func formatCount(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatFixed formats a number with the given decimals.
func formatFixed(f float64, decimals int) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(f, 'f', decimals, 64)
}

// formatReportTime formats a time as a date when it is midnight UTC, else
// as a UTC date and minute.
func formatReportTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return t.Format("2006-01-02")
	}
	return t.Format("2006-01-02 15:04 UTC")
}

// formatHorizon formats a horizon in days when it is a whole number of
// them, else as a Go duration.
func formatHorizon(d Duration) string {
	switch {
	case d == 0:
		return ""
	case time.Duration(d) == 24*time.Hour:
		return "1 day"
	case time.Duration(d)%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(time.Duration(d)/(24*time.Hour)), 10) + " days"
	}
	return time.Duration(d).String()
}

// shortHash returns the first 12 hex digits of a SHA-256.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// verdictText returns the headline word of a verdict.
func verdictText(v string) string {
	switch v {
	case VerdictPass:
		return "passed"
	case VerdictFail:
		return "failed"
	case VerdictNone:
		return "no gate"
	}
	return fmt.Sprintf("verdict %q", v)
}

// ruleText describes a gate rule's bounds for people:
// "≥ 0.7500; at most 0.0050 worse than the champion". Reference names what
// relative bounds compare with; "" or "none" says "the reference".
func ruleText(rule GateRule, reference string) string {
	if reference == "" || reference == ReferenceNone {
		reference = "reference"
	}
	var parts []string
	atLeast, atMost := "≥ ", "≤ "
	if !rule.HigherIsBetter {
		atLeast, atMost = atMost, atLeast
	}
	switch {
	case rule.MinValue != nil && rule.MaxValue != nil:
		lo, hi := *rule.MinValue, *rule.MaxValue
		parts = append(parts, "between "+formatMetricValue(rule.Metric, min(lo, hi))+" and "+formatMetricValue(rule.Metric, max(lo, hi)))
	case rule.MinValue != nil:
		parts = append(parts, atLeast+formatMetricValue(rule.Metric, *rule.MinValue))
	case rule.MaxValue != nil:
		parts = append(parts, atMost+formatMetricValue(rule.Metric, *rule.MaxValue))
	}
	if rule.MaxRegression != nil {
		parts = append(parts, "at most "+strings.TrimPrefix(formatMetricDelta(rule.Metric, *rule.MaxRegression), "+")+" worse than the "+reference)
	}
	if rule.MaxRelativeRegression != nil {
		parts = append(parts, "at most "+formatShare(*rule.MaxRelativeRegression, 1)+" worse than the "+reference)
	}
	if rule.MinImprovement != nil {
		parts = append(parts, "at least "+strings.TrimPrefix(formatMetricDelta(rule.Metric, *rule.MinImprovement), "+")+" better than the "+reference)
	}
	if len(parts) == 0 {
		parts = append(parts, "present")
	}
	return strings.Join(parts, "; ")
}

// checkOutcome returns "pass", "fail" or "warn" (a failed rule of warning
// severity).
func checkOutcome(c GateCheck) string {
	switch {
	case c.Passed:
		return "pass"
	case c.Rule.Severity == SeverityWarn:
		return "warn"
	}
	return "fail"
}

// formatOptionalMetric formats a gate check's value, which is nil when the
// report lacks it or it is unbounded (the check's message says which).
func formatOptionalMetric(metric string, v *float64) string {
	if v == nil {
		return "–"
	}
	return formatMetricValue(metric, *v)
}

// gateSummary says how many rules passed: "6 of 7 rules passed".
func gateSummary(g *GateResult) string {
	passed, warned := 0, 0
	for _, c := range g.Checks {
		switch checkOutcome(c) {
		case "pass":
			passed++
		case "warn":
			warned++
		}
	}
	s := fmt.Sprintf("%d of %d rules passed", passed, len(g.Checks))
	if warned > 0 {
		s += fmt.Sprintf(", %d failed as a warning only", warned)
	}
	return s
}

// tierLabel spells a tier's key for people.
func tierLabel(key string) string {
	switch key {
	case "very_good":
		return "Very good"
	case "good":
		return "Good"
	case "medium":
		return "Medium"
	case "low":
		return "Low"
	}
	return key
}

// firstGroups returns at most limit groups (all when limit is 0) and how
// many were left out. Campaigns and sources come largest first, so these
// are the largest.
func firstGroups(groups []Group, limit int) ([]Group, int) {
	if limit > 0 && len(groups) > limit {
		return groups[:limit], len(groups) - limit
	}
	return groups, 0
}

// gridCells indexes cells by grade (0–3 for A–D) and level (0–3 for 1–4).
// Keys that are not grid cells are left out.
func gridCells(cells []Group) (grid [4][4]*Group, any bool) {
	for i := range cells {
		c, err := leadscore.ParseCell("cell", cells[i].Key)
		if err != nil {
			continue
		}
		grid[c.Grade-leadscore.GradeA][c.Level-1] = &cells[i]
		any = true
	}
	return grid, any
}

// topDecileGain returns the cumulative gain of the top decile, the share of all
// conversions in the best tenth of leads.
func topDecileGain(m *Metrics) (float64, bool) {
	if m == nil || len(m.Deciles) == 0 {
		return 0, false
	}
	return m.Deciles[0].CumulativeGain, true
}

// Markdown returns the report as GitHub-flavoured Markdown, for a CI job's
// step summary or a pull request comment. Free text from the data (model
// names, campaign names, messages) is escaped so it cannot break a table or
// inject markup.
func (r *Report) Markdown() []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	cand := r.Candidate
	candName := "(no candidate)"
	if cand != nil {
		candName = escapeMarkdownText(cand.Model)
	}

	switch r.Verdict {
	case VerdictPass:
		w("## ✅ Backtest passed: %s\n\n", candName)
	case VerdictFail:
		w("## ❌ Backtest failed: %s\n\n", candName)
	case VerdictNone:
		w("## Backtest: %s (no gate)\n\n", candName)
	default:
		w("## Backtest: %s (%s)\n\n", candName, escapeMarkdownText(verdictText(r.Verdict)))
	}

	var who []string
	for _, m := range r.models() {
		who = append(who, fmt.Sprintf("%s **%s** (%s)", m.Label, escapeMarkdownText(m.Metrics.Model), escapeMarkdownText(m.Metrics.Family)))
	}
	if r.Champion == nil {
		who = append(who, "no champion")
	}
	if r.Baseline == nil {
		who = append(who, "no baseline")
	}
	w("%s\n\n", strings.Join(who, " · "))
	w("%s\n\n", r.markdownDataLine())
	if r.Gate != nil {
		w("Gate policy %s, relative rules against the %s: %s.\n\n", escapeMarkdownText(r.Gate.Policy), escapeMarkdownText(r.Gate.Reference), gateSummary(r.Gate))
	}

	if len(r.Warnings) > 0 {
		w("### ⚠️ Warnings\n\n")
		for _, s := range r.Warnings {
			w("- %s\n", escapeMarkdownText(s))
		}
		w("\n")
	}

	if cand == nil {
		return b.Bytes()
	}

	w("### Key metrics\n\n")
	head := "| Metric | Candidate |"
	rule := "| --- | ---: |"
	for _, role := range []string{ReferenceChampion, ReferenceBaseline} {
		if r.reference(role) != nil {
			head += fmt.Sprintf(" %s | Δ vs %s |", strings.ToUpper(role[:1])+role[1:], role)
			rule += " ---: | ---: |"
		}
	}
	w("%s\n%s\n", head, rule)
	for _, k := range keyMetrics {
		arrow := "↑"
		if !k.Higher {
			arrow = "↓"
		}
		w("| %s %s | **%s**", k.Label, arrow, formatMetricValue(k.Name, k.value(cand)))
		if k.Name == "roc_auc" {
			w(" (%s–%s)", formatFixed(cand.RocAUCCILower, 4), formatFixed(cand.RocAUCCIUpper, 4))
		}
		w(" |")
		for _, role := range []string{ReferenceChampion, ReferenceBaseline} {
			ref := r.reference(role)
			if ref == nil {
				continue
			}
			w(" %s", formatMetricValue(k.Name, k.value(ref)))
			if k.Name == "roc_auc" {
				w(" (%s–%s)", formatFixed(ref.RocAUCCILower, 4), formatFixed(ref.RocAUCCIUpper, 4))
			}
			d, _ := r.delta(k, role)
			w(" | %s |", formatMetricDelta(k.Name, d))
		}
		w("\n")
	}
	w("\n↑ higher is better, ↓ lower is better. ROC AUC in brackets: bootstrap 95%% confidence interval.\n\n")

	if r.Gate != nil {
		w("### Gate checks\n\n")
		if len(r.Gate.Checks) == 0 {
			w("The policy has no rules.\n\n")
		} else {
			w("| Rule | Candidate | Reference | Result | Message |\n| --- | ---: | ---: | --- | --- |\n")
			for _, c := range r.Gate.Checks {
				result := map[string]string{"pass": "✅ pass", "fail": "❌ fail", "warn": "⚠️ warn"}[checkOutcome(c)]
				w("| %s %s | %s | %s | %s | %s |\n",
					escapeMarkdownText(c.Rule.Metric), escapeMarkdownText(ruleText(c.Rule, r.Gate.Reference)),
					formatOptionalMetric(c.Rule.Metric, c.CandidateValue),
					formatOptionalMetric(c.Rule.Metric, c.ReferenceValue),
					result, escapeMarkdownText(c.Message))
			}
			w("\n")
		}
	}

	w("### Deciles (candidate)\n\n")
	if len(cand.Deciles) == 0 {
		w("No deciles: the backtest scored too few leads.\n\n")
	} else {
		w("| Decile | Leads | Conversions | Close rate | Lift | Cumulative gain | Mean probability |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, d := range cand.Deciles {
			w("| %d | %s | %s | %s | %s | %s | %s |\n", d.Decile, formatCount(d.Leads), formatCount(d.Conversions),
				formatShare(d.CloseRate, 2), formatFixed(d.Lift, 2), formatShare(d.CumulativeGain, 1), formatShare(d.MeanProbability, 2))
		}
		w("\n")
	}

	w("### Close rate per grid cell (candidate)\n\n")
	if grid, ok := gridCells(cand.Cells); !ok {
		w("No grid cells: the model does not place leads on the fit × engagement grid.\n\n")
	} else {
		w("| Fit grade \\ engagement level | 1 | 2 | 3 | 4 |\n| --- | ---: | ---: | ---: | ---: |\n")
		for g := range 4 {
			w("| **%c** |", 'A'+g)
			for l := range 4 {
				if c := grid[g][l]; c == nil || c.Leads == 0 {
					w(" – |")
				} else {
					w(" %s (%s) |", formatShare(c.CloseRate, 1), formatCount(c.Leads))
				}
			}
			w("\n")
		}
		w("\nEach cell: close rate (leads). Level 1 is the most engaged.\n\n")
	}

	w("### Tiers and acceptance (candidate)\n\n")
	if len(cand.Tiers) == 0 {
		w("No tiers: the model does not place leads in tiers.\n\n")
	} else {
		r.markdownGroups(&b, "Tier", cand.Tiers, tierLabel)
		w("| Acceptance figure | Value | Target |\n| --- | ---: | --- |\n")
		for _, a := range acceptanceFigures(cand) {
			w("| %s | %s | %s %s |\n", a.Label, a.Value, a.Target, checkMark(a.OK))
		}
		w("\n")
	}

	if len(cand.Grades) > 0 {
		w("### Fit grades (candidate)\n\n")
		r.markdownGroups(&b, "Grade", cand.Grades, nil)
	}
	for _, s := range []struct {
		title, col string
		groups     []Group
	}{{"Campaigns", "Campaign", cand.Campaigns}, {"Sources", "Source", cand.Sources}} {
		if len(s.groups) == 0 {
			continue
		}
		top, more := firstGroups(s.groups, 10)
		w("### Top %s by leads (candidate)\n\n", strings.ToLower(s.title))
		r.markdownGroups(&b, s.col, top, nil)
		if more > 0 {
			w("%d more %s not shown.\n\n", more, strings.ToLower(s.title))
		}
	}
	if len(cand.Importance) > 0 {
		w("### Feature importance (candidate)\n\n| Feature | Group | Share |\n| --- | --- | ---: |\n")
		for i, f := range cand.Importance {
			if i == 10 {
				w("| … %d more | | |\n", len(cand.Importance)-10)
				break
			}
			w("| %s | %s | %s |\n", escapeMarkdownText(f.Feature), escapeMarkdownText(f.Group), formatShare(f.Share, 1))
		}
		w("\n")
	}
	w("<sub>%s</sub>\n", r.colophon())
	return b.Bytes()
}

// markdownDataLine describes the scored rows in one line.
func (r *Report) markdownDataLine() string {
	d := r.Data
	var parts []string
	rate := ""
	if d.Rows > 0 {
		rate = " (" + formatShare(float64(d.Positives)/float64(d.Rows), 2) + ")"
	}
	parts = append(parts, fmt.Sprintf("%s leads, %s converted%s", formatCount(d.Rows), formatCount(d.Positives), rate))
	src := escapeMarkdownText(d.Kind) + " data"
	if d.Source != "" {
		src += " from " + escapeMarkdownText(d.Source)
	}
	parts = append(parts, src)
	if !d.Cutoff.IsZero() {
		s := "scored as of " + formatReportTime(d.Cutoff)
		if d.Horizon != 0 {
			s += ", horizon " + formatHorizon(d.Horizon)
		}
		parts = append(parts, s)
	}
	if !d.WindowStart.IsZero() || !d.WindowEnd.IsZero() {
		parts = append(parts, "window "+formatReportTime(d.WindowStart)+" → "+formatReportTime(d.WindowEnd))
	}
	if d.SHA256 != "" {
		parts = append(parts, "rows sha256 `"+escapeMarkdownCode(shortHash(d.SHA256))+"`")
	}
	return strings.Join(parts, " · ")
}

// markdownGroups writes a table of groups.
func (r *Report) markdownGroups(b *bytes.Buffer, col string, groups []Group, label func(string) string) {
	fmt.Fprintf(b, "| %s | Leads | Conversions | Close rate | Lift | Mean probability |\n| --- | ---: | ---: | ---: | ---: | ---: |\n", col)
	for _, g := range groups {
		key := g.Key
		if label != nil {
			key = label(key)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", escapeMarkdownText(key), formatCount(g.Leads), formatCount(g.Conversions),
			formatShare(g.CloseRate, 2), formatFixed(g.Lift, 2), formatShare(g.MeanProbability, 2))
	}
	b.WriteString("\n")
}

// acceptanceFigure is one MadKudu-style acceptance figure with its target.
type acceptanceFigure struct {
	Label, Value, Target string
	OK                   bool
}

func acceptanceFigures(m *Metrics) []acceptanceFigure {
	a := m.Acceptance
	ratio, ratioOK := acceptanceRatio(m)
	return []acceptanceFigure{
		{"Leads in the top two tiers", formatShare(a.TopTwoTiersLeadShare, 1), "15–35%", a.TopTwoTiersLeadShare >= 0.15 && a.TopTwoTiersLeadShare <= 0.35},
		{"Conversions in the top two tiers", formatShare(a.TopTwoTiersConversionShare, 1), "≥ 60%", a.TopTwoTiersConversionShare >= 0.60},
		{"Top tier's close rate ÷ bottom tier's", ratio, "≥ 10×", ratioOK},
	}
}

// colophon says which schema, seed and time made the report.
func (r *Report) colophon() string {
	s := fmt.Sprintf("leadscore backtest report · schema version %d · bootstrap seed %d", r.SchemaVersion, r.Seed)
	if !r.CreatedAt.IsZero() {
		s += " · made " + formatReportTime(r.CreatedAt)
	}
	return s
}

// acceptanceRatio formats the top-to-bottom close rate ratio and says
// whether it meets the 10× target. A bottom tier without conversions makes
// the ratio unbounded, which meets it when the top tier converts at all.
func acceptanceRatio(m *Metrics) (string, bool) {
	a := m.Acceptance
	if a.BottomTierConversions == 0 && a.TopToBottomCloseRateRatio == 0 {
		if len(m.Tiers) > 0 && m.Tiers[0].Conversions > 0 {
			return "unbounded (no conversions in the bottom tier)", true
		}
		return "n/a (no conversions)", false
	}
	return formatMetricValue("top_to_bottom_close_rate_ratio", a.TopToBottomCloseRateRatio), a.TopToBottomCloseRateRatio >= 10
}

func checkMark(ok bool) string {
	if ok {
		return "✅"
	}
	return "❌"
}

// escapeMarkdownText escapes text from the data for Markdown: characters
// that would start markup or break a table cell are backslash-escaped and
// line breaks become spaces.
func escapeMarkdownText(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '\\', '`', '*', '_', '[', ']', '<', '>', '|', '~', '#', '!', '&':
			b.WriteByte('\\')
			b.WriteRune(c)
		case '\n', '\r', '\t':
			b.WriteByte(' ')
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// escapeMarkdownCode keeps text from closing a code span or a table cell.
func escapeMarkdownCode(s string) string {
	return strings.NewReplacer("`", "'", "|", "¦", "\n", " ").Replace(s)
}
