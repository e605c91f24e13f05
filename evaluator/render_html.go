package evaluator

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// The HTML report is one self-contained page: inline CSS, charts drawn in
// Go as inline SVG, no script and nothing fetched from the network, so it
// opens from a CI artifact or an e-mail attachment and prints as it shows.
// Every text from the report goes through html/template, the charts' too:
// Go computes the shapes (chartSVG), the template writes them.

//go:embed render_html.tmpl
var reportHTMLText string

var reportHTMLTemplate = template.Must(template.New("report").Parse(reportHTMLText))

// HTML returns the report as one self-contained HTML page with charts of
// lift, cumulative gains, calibration, the score distribution and the grid.
func (r *Report) HTML() ([]byte, error) {
	var b bytes.Buffer
	if err := reportHTMLTemplate.Execute(&b, r.htmlView()); err != nil {
		return nil, fmt.Errorf("render report html: %w", err)
	}
	return b.Bytes(), nil
}

// htmlView is what the template shows, every figure already formatted.
type htmlView struct {
	Title       string
	Verdict     string // "pass", "fail", "none" or another verdict
	VerdictText string
	Candidate   string
	Models      []htmlModel
	ModelNotes  []string
	Facts       []htmlFact
	Warnings    []string
	Tiles       []htmlTile
	Gate        *htmlGate
	Charts      []chartSVG
	Deciles     []htmlDecile
	Tiers       htmlGroupTable
	Grades      htmlGroupTable
	Campaigns   htmlGroupTable
	Sources     htmlGroupTable
	Importance  []htmlImportance
	Footer      string
}

type htmlModel struct {
	Role, Label, Model, Family string
}

type htmlFact struct {
	Label, Value, Title string
	Wide                bool // a long value, given two columns
}

type htmlTile struct {
	Label, Value, Sub, Hint string
	Deltas                  []htmlDelta
}

type htmlDelta struct {
	Against, Text, Quality string
}

type htmlGate struct {
	Policy, Reference, Summary string
	Passed                     bool
	Checks                     []htmlCheck
}

type htmlCheck struct {
	Metric, Rule, Candidate, Reference, Outcome, Message string
}

type htmlDecile struct {
	Decile, Leads, Conversions, CloseRate, Lift, Gain, Mean, Min string
	Bar                                                          float64
}

type htmlGroupTable struct {
	ID, Title, KeyHeader, Empty string
	Rows                        []htmlGroupRow
	More                        int
	Acceptance                  []acceptanceFigure // the tiers' only
}

type htmlGroupRow struct {
	Key, Leads, Conversions, CloseRate, Lift, Mean string
	Bar                                            float64
}

type htmlImportance struct {
	Feature, Group, Share string
	Bar                   float64
}

func (r *Report) htmlView() htmlView {
	v := htmlView{
		Verdict:     r.Verdict,
		VerdictText: verdictText(r.Verdict),
		Warnings:    r.Warnings,
		Footer:      r.colophon(),
	}
	cand := r.Candidate
	if cand == nil {
		v.Candidate = "(no candidate)"
		v.Title = "Backtest report"
		return v
	}
	v.Candidate = cand.Model
	v.Title = "Backtest of " + cand.Model
	for _, m := range r.models() {
		v.Models = append(v.Models, htmlModel{Role: m.Role, Label: m.Label, Model: m.Metrics.Model, Family: m.Metrics.Family})
	}
	switch {
	case r.Champion == nil && r.Baseline == nil:
		v.ModelNotes = append(v.ModelNotes, "No champion and no baseline: the candidate's figures stand alone.")
	case r.Champion == nil:
		v.ModelNotes = append(v.ModelNotes, "No champion: the model has no production version yet, so the candidate is compared with the baseline only.")
	case r.Baseline == nil:
		v.ModelNotes = append(v.ModelNotes, "No baseline: the points baseline was not scored on these rows.")
	}
	v.Facts = r.htmlFacts()
	v.Tiles = r.htmlTiles()
	if g := r.Gate; g != nil {
		hg := &htmlGate{Policy: g.Policy, Reference: g.Reference, Passed: g.Passed, Summary: gateSummary(g)}
		for _, c := range g.Checks {
			hg.Checks = append(hg.Checks, htmlCheck{
				Metric:    c.Rule.Metric,
				Rule:      ruleText(c.Rule, g.Reference),
				Candidate: formatOptionalMetric(c.Rule.Metric, c.CandidateValue),
				Reference: formatOptionalMetric(c.Rule.Metric, c.ReferenceValue),
				Outcome:   checkOutcome(c),
				Message:   c.Message,
			})
		}
		v.Gate = hg
	}
	v.Charts = []chartSVG{r.liftChart(), r.gainsChart(), r.calibrationChart(), r.distributionChart(), r.gridChart()}

	maxRate := 0.0
	for _, d := range cand.Deciles {
		maxRate = max(maxRate, d.CloseRate)
	}
	for _, d := range cand.Deciles {
		v.Deciles = append(v.Deciles, htmlDecile{
			Decile: strconv.Itoa(d.Decile), Leads: formatCount(d.Leads), Conversions: formatCount(d.Conversions),
			CloseRate: formatShare(d.CloseRate, 2), Lift: formatFixed(d.Lift, 2) + "×", Gain: formatShare(d.CumulativeGain, 1),
			Mean: formatShare(d.MeanProbability, 2), Min: formatShare(d.MinProbability, 2), Bar: barPercent(d.CloseRate, maxRate),
		})
	}
	v.Tiers = htmlGroups("tiers", "Tiers", "Tier", cand.Tiers, 0, tierLabel, "No tiers: the model does not place leads in tiers.")
	v.Grades = htmlGroups("grades", "Fit grades", "Grade", cand.Grades, 0, nil, "No fit grades: the model does not grade fit.")
	v.Campaigns = htmlGroups("campaigns", "Campaigns", "Campaign", cand.Campaigns, 25, nil, "No campaigns: the data has no campaign attribute.")
	v.Sources = htmlGroups("sources", "Sources", "Source", cand.Sources, 25, nil, "No sources: the data has no source attribute.")
	if len(cand.Tiers) > 0 {
		v.Tiers.Acceptance = acceptanceFigures(cand)
	}
	maxShare := 0.0
	for _, f := range cand.Importance {
		maxShare = max(maxShare, f.Share)
	}
	for _, f := range cand.Importance {
		v.Importance = append(v.Importance, htmlImportance{Feature: f.Feature, Group: f.Group, Share: formatShare(f.Share, 1), Bar: barPercent(f.Share, maxShare)})
	}
	return v
}

func (r *Report) htmlFacts() []htmlFact {
	d := r.Data
	var f []htmlFact
	add := func(label, value, title string, wide bool) {
		if value != "" {
			f = append(f, htmlFact{label, value, title, wide})
		}
	}
	kind, kindTitle := d.Kind, ""
	switch d.Kind {
	case "history":
		kindTitle = "leads eligible at the cut-off, scored with what was known before it, judged on outcomes within the horizon"
	case "flat":
		kindTitle = "one labelled row per lead"
	}
	add("Data", kind, kindTitle, false)
	add("Cut-off", formatReportTime(d.Cutoff), "", false)
	add("Horizon", formatHorizon(d.Horizon), time.Duration(d.Horizon).String(), false)
	if !d.WindowStart.IsZero() || !d.WindowEnd.IsZero() {
		add("Window", formatReportTime(d.WindowStart)+" → "+formatReportTime(d.WindowEnd), "", false)
	}
	add("Leads", formatCount(d.Rows), "", false)
	positives := formatCount(d.Positives)
	if d.Rows > 0 {
		positives += " (" + formatShare(float64(d.Positives)/float64(d.Rows), 2) + ")"
	}
	add("Converted", positives, "", false)
	add("Source", d.Source, "", len(d.Source) > 24)
	if r.Gate != nil {
		add("Gate policy", r.Gate.Policy, "", len(r.Gate.Policy) > 24)
	}
	add("Rows SHA-256", shortHash(d.SHA256), d.SHA256, false)
	add("Seed", strconv.FormatUint(r.Seed, 10), "the bootstrap seed", false)
	add("Made", formatReportTime(r.CreatedAt), "", false)
	return f
}

func (r *Report) htmlTiles() []htmlTile {
	cand := r.Candidate
	var tiles []htmlTile
	for _, k := range keyMetrics {
		t := htmlTile{Label: k.Label, Value: formatMetricValue(k.Name, k.value(cand)), Hint: "higher is better"}
		if !k.Higher {
			t.Hint = "lower is better"
		}
		if k.Name == "roc_auc" {
			t.Sub = "95% CI " + formatFixed(cand.RocAUCCILower, 4) + "–" + formatFixed(cand.RocAUCCIUpper, 4)
		}
		for _, role := range []string{ReferenceChampion, ReferenceBaseline} {
			if d, ok := r.delta(k, role); ok {
				t.Deltas = append(t.Deltas, htmlDelta{Against: "vs " + role, Text: formatMetricDelta(k.Name, d), Quality: deltaQuality(k.Name, k.Higher, d)})
			}
		}
		tiles = append(tiles, t)
	}
	return tiles
}

func htmlGroups(id, title, keyHeader string, groups []Group, limit int, label func(string) string, empty string) htmlGroupTable {
	t := htmlGroupTable{ID: id, Title: title, KeyHeader: keyHeader, Empty: empty}
	rows := groups
	if limit > 0 {
		rows, t.More = firstGroups(groups, limit)
	}
	maxRate := 0.0
	for _, g := range rows {
		maxRate = max(maxRate, g.CloseRate)
	}
	for _, g := range rows {
		key := g.Key
		if label != nil {
			key = label(key)
		}
		t.Rows = append(t.Rows, htmlGroupRow{
			Key: key, Leads: formatCount(g.Leads), Conversions: formatCount(g.Conversions), CloseRate: formatShare(g.CloseRate, 2),
			Lift: formatFixed(g.Lift, 2) + "×", Mean: formatShare(g.MeanProbability, 2), Bar: barPercent(g.CloseRate, maxRate),
		})
	}
	if limit > 0 && len(groups) > limit {
		t.Title = fmt.Sprintf("%s: the %d with the most leads", title, limit)
	}
	return t
}

// barPercent returns v as a percentage of top, for an inline bar.
func barPercent(v, top float64) float64 {
	if !(top > 0) || !(v > 0) {
		return 0
	}
	return svgNum(math.Min(100, v/top*100))
}

// chartSVG is one chart: the shapes Go computed and the text around them.
// With a Note and no Elements, the page shows the note instead of a chart.
type chartSVG struct {
	Name       string // the data-chart marker, such as "lift"
	Heading    string
	Title      string // the SVG's accessible title
	Desc       string
	Caption    string // how to read the chart
	Note       string
	Width      float64
	Height     float64
	Background string // the plot area's fill, distinct per chart
	Elements   []svgElement
}

// svgElement is one SVG shape. Kind is "rect", "line", "polyline",
// "circle" or "text"; the fields a kind does not use stay zero.
type svgElement struct {
	Kind          string
	X, Y, W, H    float64 // rect; x and y of text; cx and cy of a circle
	X2, Y2, R     float64
	Points        string
	Fill, Stroke  string
	StrokeWidth   float64
	Dash          string
	Class, Anchor string
	Transform     string
	Text, Tip     string
}

// The charts' size in SVG user units; the page scales them to its width.
const (
	chartWidth  = 560
	chartHeight = 340
)

// Each chart's plot area has its own faint background. People cannot tell
// them apart; the headless browser test uses them to find each chart in
// the screenshot.
const (
	backgroundLift         = "#f6f8fa"
	backgroundGains        = "#f7f8fa"
	backgroundCalibration  = "#f8f8fa"
	backgroundDistribution = "#f6f7fa"
	backgroundGrid         = "#f7f7fa"
)

// Colours of the outcome histogram and the reference lines.
const (
	colourConverted    = "#059669"
	colourNotConverted = "#a3acb9"
	colourReference    = "#374151"
	colourGridline     = "#e1e5eb"
	colourAxis         = "#9aa3af"
)

// plotArea is the rectangle of a chart the data is drawn in.
type plotArea struct {
	left, top, right, bottom float64
	xMin, xMax, yMin, yMax   float64
}

func standardPlotArea() plotArea {
	return plotArea{left: 64, top: 46, right: chartWidth - 18, bottom: chartHeight - 58, xMax: 1, yMax: 1}
}

func (p plotArea) x(v float64) float64 {
	return svgNum(p.left + (v-p.xMin)/(p.xMax-p.xMin)*(p.right-p.left))
}

func (p plotArea) y(v float64) float64 {
	return svgNum(p.bottom - (v-p.yMin)/(p.yMax-p.yMin)*(p.bottom-p.top))
}

// svgNum rounds a coordinate to two decimals so the SVG stays short and
// the same figures always give the same text.
func svgNum(v float64) float64 {
	v = math.Round(v*100) / 100
	if v == 0 {
		return 0 // no "-0"
	}
	return v
}

// niceTicks returns round tick values from 0 to at least top, about n of
// them, with steps of 1, 2, 2.5 or 5 times a power of ten.
func niceTicks(top float64, n int) []float64 {
	if !(top > 0) {
		top = 1
	}
	raw := top / float64(n)
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	step := pow * 10
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*pow >= raw {
			step = m * pow
			break
		}
	}
	var ticks []float64
	for i := 0; ; i++ {
		t := float64(i) * step
		ticks = append(ticks, math.Round(t*1e9)/1e9)
		if t >= top-step*1e-9 {
			break
		}
	}
	return ticks
}

// newChart starts a chart; frame draws its plot background.
func newChart(name, heading, title, background string) chartSVG {
	return chartSVG{Name: name, Heading: heading, Title: title, Width: chartWidth, Height: chartHeight, Background: background}
}

func (c *chartSVG) add(e svgElement) { c.Elements = append(c.Elements, e) }

func (c *chartSVG) text(x, y float64, s, class, anchor string) {
	c.add(svgElement{Kind: "text", X: svgNum(x), Y: svgNum(y), Text: s, Class: class, Anchor: anchor})
}

// frame draws the plot background, the horizontal gridlines with their
// labels, the x axis line and the axis titles.
func (c *chartSVG) frame(p plotArea, yTicks []float64, yLabel func(float64) string, xTitle, yTitle string) {
	c.add(svgElement{Kind: "rect", X: p.left, Y: p.top, W: svgNum(p.right - p.left), H: svgNum(p.bottom - p.top), Fill: c.Background})
	for _, t := range yTicks {
		y := p.y(t)
		if t != p.yMin {
			c.add(svgElement{Kind: "line", X: p.left, Y: y, X2: p.right, Y2: y, Stroke: colourGridline, StrokeWidth: 1})
		}
		c.text(p.left-8, y+4, yLabel(t), "tick", "end")
	}
	c.add(svgElement{Kind: "line", X: p.left, Y: p.bottom, X2: p.right, Y2: p.bottom, Stroke: colourAxis, StrokeWidth: 1})
	c.add(svgElement{Kind: "line", X: p.left, Y: p.top, X2: p.left, Y2: p.bottom, Stroke: colourAxis, StrokeWidth: 1})
	c.text((p.left+p.right)/2, chartHeight-14, xTitle, "axis-title", "middle")
	yMid := svgNum((p.top + p.bottom) / 2)
	c.add(svgElement{Kind: "text", X: 18, Y: yMid, Text: yTitle, Class: "axis-title", Anchor: "middle",
		Transform: fmt.Sprintf("rotate(-90 18 %s)", strconv.FormatFloat(yMid, 'f', -1, 64))})
}

// xTicks draws tick marks and labels under the x axis.
func (c *chartSVG) xTicks(p plotArea, ticks []float64, label func(float64) string) {
	for _, t := range ticks {
		x := p.x(t)
		c.add(svgElement{Kind: "line", X: x, Y: p.bottom, X2: x, Y2: p.bottom + 5, Stroke: colourAxis, StrokeWidth: 1})
		c.text(x, p.bottom+19, label(t), "tick", "middle")
	}
}

// legendItem is one entry of a chart's legend: a filled square, a line,
// or a dashed line.
type legendItem struct {
	Label, Colour, Style string // Style is "box", "line" or "dash"
}

// legend draws the items in a row above the plot area.
func (c *chartSVG) legend(p plotArea, items []legendItem) {
	x, y := p.left, 20.0
	for _, it := range items {
		switch it.Style {
		case "box":
			c.add(svgElement{Kind: "rect", X: svgNum(x), Y: y - 10, W: 12, H: 12, Fill: it.Colour})
		case "dot":
			c.add(svgElement{Kind: "circle", X: svgNum(x + 6), Y: y - 4, R: 5, Fill: it.Colour, Class: "pt"})
		default:
			e := svgElement{Kind: "line", X: svgNum(x - 2), Y: y - 4, X2: svgNum(x + 16), Y2: y - 4, Stroke: it.Colour, StrokeWidth: 2.5}
			if it.Style == "dash" {
				e.Dash, e.StrokeWidth = "5 4", 1.5
			}
			c.add(e)
		}
		c.text(x+22, y+1, it.Label, "legend", "start")
		x += 22 + textWidth(it.Label, 12) + 22
	}
}

// textWidth estimates the width of a label in the page's sans-serif font,
// for laying out legends (SVG has no text flow).
func textWidth(s string, size float64) float64 {
	return float64(len([]rune(s))) * size * 0.6
}

func percentTick(v float64) string {
	return strconv.FormatFloat(v*100, 'f', -1, 64) + "%"
}

func modelLegend(series []reportModel, style string) []legendItem {
	var items []legendItem
	for _, s := range series {
		items = append(items, legendItem{Label: s.Label, Colour: s.Colour, Style: style})
	}
	return items
}

// missingModels says which reference models a chart lacks, for its caption.
func missingModels(shown []reportModel) string {
	has := map[string]bool{}
	for _, s := range shown {
		has[s.Role] = true
	}
	var missing []string
	for _, role := range []string{ReferenceChampion, ReferenceBaseline} {
		if !has[role] {
			missing = append(missing, role)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return " No " + strings.Join(missing, " and no ") + " to compare with."
}

// liftChart draws the lift per decile of each model as grouped bars.
func (r *Report) liftChart() chartSVG {
	c := newChart("lift", "Lift per decile", "Lift per decile of leads ranked by score, per model", backgroundLift)
	var series []reportModel
	n := 0
	maxLift := 1.0
	for _, m := range r.models() {
		if len(m.Metrics.Deciles) == 0 {
			continue
		}
		series = append(series, m)
		n = max(n, len(m.Metrics.Deciles))
		for _, d := range m.Metrics.Deciles {
			maxLift = max(maxLift, d.Lift)
		}
	}
	if len(series) == 0 || series[0].Role != "candidate" {
		c.Note = "No lift chart: the candidate has no deciles (too few leads were scored)."
		return c
	}
	p := standardPlotArea()
	ticks := niceTicks(maxLift*1.05, 5)
	p.xMax, p.yMax = float64(n), ticks[len(ticks)-1]
	c.legend(p, append(modelLegend(series, "box"), legendItem{"Lift 1 (random)", colourReference, "dash"}))
	c.frame(p, ticks, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + "×" },
		"Decile of leads ranked by score (1 = highest scores)", "Lift (close rate ÷ overall)")
	groupWidth := (p.right - p.left) / float64(n)
	inner := groupWidth * 0.78
	barWidth := inner / float64(len(series))
	for i := range n {
		left := p.left + groupWidth*float64(i) + (groupWidth-inner)/2
		for j, s := range series {
			if i >= len(s.Metrics.Deciles) {
				continue
			}
			d := s.Metrics.Deciles[i]
			y := p.y(max(d.Lift, 0))
			c.add(svgElement{Kind: "rect", X: svgNum(left + barWidth*float64(j)), Y: y, W: svgNum(barWidth - 1), H: svgNum(p.bottom - y), Fill: s.Colour,
				Tip: fmt.Sprintf("Decile %d, %s: lift %s×, close rate %s (%s of %s leads)", d.Decile, strings.ToLower(s.Label),
					formatFixed(d.Lift, 2), formatShare(d.CloseRate, 2), formatCount(d.Conversions), formatCount(d.Leads))})
		}
		x := svgNum(p.left + groupWidth*(float64(i)+0.5))
		c.text(x, p.bottom+19, strconv.Itoa(i+1), "tick", "middle")
	}
	y1 := p.y(1)
	c.add(svgElement{Kind: "line", X: p.left, Y: y1, X2: p.right, Y2: y1, Stroke: colourReference, StrokeWidth: 1.5, Dash: "5 4"})
	c.Desc = fmt.Sprintf("Grouped bars of lift for deciles 1 to %d.", n)
	c.Caption = "Each bar is a tenth of the leads, ranked by the model's score, best first. Lift is the decile's close rate divided by the close rate of all leads: 3× means three times as many conversions as picking leads at random. A good model has tall bars on the left falling below the dashed line (lift 1) on the right."
	if top, ok := topDecileGain(r.Candidate); ok && len(r.Candidate.Deciles) > 0 {
		c.Caption += fmt.Sprintf(" The candidate's top decile converts at %s, %s× the overall rate, and holds %s of all conversions.",
			formatShare(r.Candidate.Deciles[0].CloseRate, 1), formatFixed(r.Candidate.Deciles[0].Lift, 2), formatShare(top, 1))
	}
	c.Caption += missingModels(series)
	return c
}

// gainsChart draws the cumulative gains curve of each model.
func (r *Report) gainsChart() chartSVG {
	c := newChart("gains", "Cumulative gains", "Cumulative share of conversions against share of leads contacted, per model", backgroundGains)
	type curve struct {
		m      reportModel
		points [][2]float64
	}
	var curves []curve
	for _, m := range r.models() {
		total := 0
		for _, d := range m.Metrics.Deciles {
			total += d.Leads
		}
		if total == 0 {
			continue
		}
		pts := [][2]float64{{0, 0}}
		cum := 0
		for _, d := range m.Metrics.Deciles {
			cum += d.Leads
			pts = append(pts, [2]float64{float64(cum) / float64(total), d.CumulativeGain})
		}
		curves = append(curves, curve{m, pts})
	}
	if len(curves) == 0 || curves[0].m.Role != "candidate" {
		c.Note = "No gains chart: the candidate has no deciles (too few leads were scored)."
		return c
	}
	p := standardPlotArea()
	ticks := []float64{0, 0.2, 0.4, 0.6, 0.8, 1}
	var shown []reportModel
	for _, cv := range curves {
		shown = append(shown, cv.m)
	}
	c.legend(p, append(modelLegend(shown, "line"), legendItem{"Random", colourReference, "dash"}))
	c.frame(p, ticks, percentTick, "Share of leads, best scores first", "Share of all conversions")
	c.xTicks(p, ticks, percentTick)
	c.add(svgElement{Kind: "line", X: p.x(0), Y: p.y(0), X2: p.x(1), Y2: p.y(1), Stroke: colourReference, StrokeWidth: 1.5, Dash: "5 4"})
	// The candidate is drawn last, on top.
	for i := len(curves) - 1; i >= 0; i-- {
		cv := curves[i]
		var pts []string
		for _, pt := range cv.points {
			pts = append(pts, fmt.Sprintf("%s,%s", svgCoord(p.x(pt[0])), svgCoord(p.y(pt[1]))))
		}
		c.add(svgElement{Kind: "polyline", Points: strings.Join(pts, " "), Stroke: cv.m.Colour, StrokeWidth: 2.5})
		for _, pt := range cv.points[1:] {
			c.add(svgElement{Kind: "circle", X: p.x(pt[0]), Y: p.y(pt[1]), R: 3.5, Fill: cv.m.Colour, Class: "pt",
				Tip: fmt.Sprintf("%s: the best %s of leads hold %s of conversions", cv.m.Label, formatShare(pt[0], 0), formatShare(pt[1], 1))})
		}
	}
	c.Desc = "Lines from the origin to the top right corner, one per model, above the diagonal of random ordering."
	c.Caption = "Read a point as: calling the best x% of leads by this model's score reaches y% of all conversions. The dashed diagonal is a random order; the higher and further left a curve bends, the more conversions sales reaches early."
	if len(curves[0].points) > 3 {
		c.Caption += fmt.Sprintf(" The candidate's best 30%% of leads hold %s of conversions.", formatShare(curves[0].points[3][1], 1))
	}
	c.Caption += missingModels(shown)
	return c
}

// chartBins are the reliability bins the calibration chart draws: the
// bins of equal numbers of leads, or in a report stored before they were
// computed, the equal-width ones.
func chartBins(m *Metrics) []ReliabilityBin {
	if len(m.ReliabilityQuantiles) > 0 {
		return m.ReliabilityQuantiles
	}
	return m.Reliability
}

// calibrationChart draws each model's reliability diagram.
func (r *Report) calibrationChart() chartSVG {
	c := newChart("calibration", "Calibration", "Observed conversion rate against mean predicted probability per bin of leads, per model", backgroundCalibration)
	var series []reportModel
	top, maxLeads := 0.0, 0
	for _, m := range r.models() {
		has := false
		for _, b := range chartBins(m.Metrics) {
			if b.Leads > 0 {
				has = true
				top = max(top, b.MeanProbability, b.ObservedRate)
				maxLeads = max(maxLeads, b.Leads)
			}
		}
		if has {
			series = append(series, m)
		}
	}
	if len(series) == 0 || series[0].Role != "candidate" {
		c.Note = "No calibration chart: the candidate has no reliability bins with leads."
		return c
	}
	p := standardPlotArea()
	ticks := niceTicks(min(max(top*1.05, 0.05), 1), 5)
	p.xMax, p.yMax = ticks[len(ticks)-1], ticks[len(ticks)-1]
	c.legend(p, append(modelLegend(series, "dot"), legendItem{"Perfect calibration", colourReference, "dash"}))
	c.frame(p, ticks, percentTick, "Mean predicted probability in the bin", "Observed conversion rate")
	c.xTicks(p, ticks, percentTick)
	c.add(svgElement{Kind: "line", X: p.x(0), Y: p.y(0), X2: p.x(p.xMax), Y2: p.y(p.yMax), Stroke: colourReference, StrokeWidth: 1.5, Dash: "5 4"})
	for i := len(series) - 1; i >= 0; i-- {
		s := series[i]
		var pts []string
		var dots []svgElement
		for _, b := range chartBins(s.Metrics) {
			if b.Leads == 0 {
				continue
			}
			x, y := p.x(b.MeanProbability), p.y(b.ObservedRate)
			pts = append(pts, svgCoord(x)+","+svgCoord(y))
			dots = append(dots, svgElement{Kind: "circle", X: x, Y: y, R: svgNum(3 + 8*math.Sqrt(float64(b.Leads)/float64(maxLeads))), Fill: s.Colour, Class: "pt",
				Tip: fmt.Sprintf("%s, probabilities %s–%s: mean predicted %s, observed %s, %s leads", s.Label,
					percentTick(b.Lower), percentTick(b.Upper), formatShare(b.MeanProbability, 1), formatShare(b.ObservedRate, 1), formatCount(b.Leads))})
		}
		if len(pts) > 1 {
			c.add(svgElement{Kind: "polyline", Points: strings.Join(pts, " "), Stroke: s.Colour, StrokeWidth: 1.5, Class: "calib"})
		}
		c.Elements = append(c.Elements, dots...)
	}
	c.Desc = "Points per bin of leads ranked by predicted probability, sized by the number of leads, around the diagonal of perfect calibration."
	c.Caption = "Each point is a tenth of the leads, ranked by predicted probability (ties kept together): across, what the model predicted on average; up, how many actually converted. Points on the dashed diagonal mean a 20% score converts 20% of the time. Points below it: the model promises too much; above: too little. A point's area grows with its number of leads."
	if r.Candidate != nil {
		c.Caption += " Candidate's expected calibration error (over ten equal-width probability bins): " + formatFixed(r.Candidate.ECE, 4) + "."
	}
	c.Caption += missingModels(series)
	return c
}

// distributionChart draws the candidate's probabilities of converted and
// other leads, each as shares of its own group.
func (r *Report) distributionChart() chartSVG {
	c := newChart("distribution", "Score distribution by outcome", "Share of converted and of other leads per predicted probability bin, candidate", backgroundDistribution)
	var h ScoreHistogram
	if r.Candidate != nil {
		h = r.Candidate.Histogram
	}
	bins := len(h.Converted)
	totalConv, totalOther := 0, 0
	for _, n := range h.Converted {
		totalConv += n
	}
	for _, n := range h.Other {
		totalOther += n
	}
	if bins == 0 || len(h.Other) != bins || totalConv+totalOther == 0 {
		c.Note = "No score distribution: the candidate's report has no histogram."
		return c
	}
	share := func(n, total int) float64 {
		if total == 0 {
			return 0
		}
		return float64(n) / float64(total)
	}
	top := 0.0
	for i := range bins {
		top = max(top, share(h.Converted[i], totalConv), share(h.Other[i], totalOther))
	}
	p := standardPlotArea()
	ticks := niceTicks(top*1.05, 5)
	p.yMax = ticks[len(ticks)-1]
	c.legend(p, []legendItem{
		{fmt.Sprintf("Converted (%s leads)", formatCount(totalConv)), colourConverted, "box"},
		{fmt.Sprintf("Not converted (%s leads)", formatCount(totalOther)), colourNotConverted, "box"},
	})
	c.frame(p, ticks, percentTick, "Predicted probability of converting (candidate)", "Share of the outcome's leads")
	c.xTicks(p, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, percentTick)
	binWidth := (p.right - p.left) / float64(bins)
	barWidth := binWidth * 0.42
	for i := range bins {
		left := p.left + binWidth*float64(i) + binWidth*0.08
		lo, hi := float64(i)/float64(bins), float64(i+1)/float64(bins)
		for j, b := range []struct {
			n, total int
			colour   string
			label    string
		}{{h.Other[i], totalOther, colourNotConverted, "not converted"}, {h.Converted[i], totalConv, colourConverted, "converted"}} {
			s := share(b.n, b.total)
			if s == 0 {
				continue
			}
			y := p.y(s)
			c.add(svgElement{Kind: "rect", X: svgNum(left + barWidth*float64(j)), Y: y, W: svgNum(barWidth), H: svgNum(p.bottom - y), Fill: b.colour,
				Tip: fmt.Sprintf("Probabilities %s–%s: %s of %s leads (%s)", percentTick(lo), percentTick(hi), formatShare(s, 1), b.label, formatCount(b.n))})
		}
	}
	c.Desc = fmt.Sprintf("Paired bars over %d equal-width probability bins.", bins)
	c.Caption = "Each outcome's bars add up to 100%, so the few converted leads are as visible as the many others. The further right the green bars sit from the grey ones, the better the model separates the two."
	if r.Candidate != nil {
		c.Caption += " Candidate's KS statistic (largest gap between the two cumulative distributions): " + formatFixed(r.Candidate.KS, 4) + "."
	}
	return c
}

// gridChart draws the close rate of each grid cell as a heatmap.
func (r *Report) gridChart() chartSVG {
	c := newChart("grid", "Close rate per grid cell", "Close rate per cell of the fit grade by engagement level grid, candidate", backgroundGrid)
	var grid [4][4]*Group
	ok := false
	if r.Candidate != nil {
		grid, ok = gridCells(r.Candidate.Cells)
	}
	if !ok {
		c.Note = "No grid chart: the candidate does not place leads on the fit × engagement grid."
		return c
	}
	maxRate := 0.0
	for _, row := range grid {
		for _, g := range row {
			if g != nil && g.Leads > 0 {
				maxRate = max(maxRate, g.CloseRate)
			}
		}
	}
	const (
		left, top    = 76.0, 50.0
		cellW, cellH = 96.0, 66.0
		gap          = 3.0
	)
	right, bottom := left+4*cellW, top+4*cellH
	c.add(svgElement{Kind: "rect", X: left - 8, Y: top - 8, W: 4*cellW + 13, H: 4*cellH + 13, Fill: c.Background})
	c.text((left+right)/2, 16, "Engagement level (1 = most engaged)", "axis-title", "middle")
	yMid := (top + bottom) / 2
	c.add(svgElement{Kind: "text", X: 18, Y: yMid, Text: "Fit grade (A = best fit)", Class: "axis-title", Anchor: "middle",
		Transform: fmt.Sprintf("rotate(-90 18 %s)", svgCoord(yMid))})
	for l := range 4 {
		c.text(left+cellW*(float64(l)+0.5)-gap/2, top-16, strconv.Itoa(l+1), "grid-label", "middle")
	}
	for g := range 4 {
		cy := top + cellH*(float64(g)+0.5) - gap/2
		c.text(left-22, cy+5, string(rune('A'+g)), "grid-label", "middle")
		for l := range 4 {
			x, y := left+cellW*float64(l), top+cellH*float64(g)
			cx := x + (cellW-gap)/2
			cell := grid[g][l]
			name := fmt.Sprintf("%c%d", 'A'+g, l+1)
			if cell == nil || cell.Leads == 0 {
				c.add(svgElement{Kind: "rect", X: x, Y: y, W: cellW - gap, H: cellH - gap, Fill: "#eceef1", Tip: name + ": no leads"})
				c.text(cx, cy+4, "no leads", "cell-note", "middle")
				continue
			}
			t := 0.0
			if maxRate > 0 {
				t = cell.CloseRate / maxRate
			}
			fill, dark := heatColour(t)
			c.add(svgElement{Kind: "rect", X: x, Y: y, W: cellW - gap, H: cellH - gap, Fill: fill,
				Tip: fmt.Sprintf("%s: close rate %s (%s of %s leads converted), lift %s×", name, formatShare(cell.CloseRate, 2),
					formatCount(cell.Conversions), formatCount(cell.Leads), formatFixed(cell.Lift, 2))})
			class := "cell-rate"
			if dark {
				class += " on-dark"
			}
			c.text(cx, cy+2, formatShare(cell.CloseRate, 1), class, "middle")
			c.text(cx, cy+19, formatCount(cell.Leads)+" leads", strings.Replace(class, "cell-rate", "cell-count", 1), "middle")
		}
	}
	// The colour scale, from no conversions to the best cell's rate.
	lx := right + 26
	c.text(lx, top+4, "Close rate", "legend", "start")
	for i := range 5 {
		t := float64(4-i) / 4
		fill, _ := heatColour(t)
		y := top + 16 + float64(i)*24
		c.add(svgElement{Kind: "rect", X: lx, Y: y, W: 18, H: 18, Fill: fill, Stroke: "#d1d5db", StrokeWidth: 0.5})
		c.text(lx+26, y+13, formatShare(maxRate*t, 1), "tick", "start")
	}
	c.Desc = "Sixteen cells, fit grades A to D in rows, engagement levels 1 to 4 in columns, shaded by close rate."
	c.Caption = "Rows are fit grades (A = best fit), columns engagement levels (1 = most engaged); each cell shows its close rate and number of leads, darker for a higher close rate. A useful grid is darkest at the top left (A1) and fades towards D4; an engaged but poorly fitting column (C1, D1) converting well is worth a qualifying call."
	return c
}

// heatColour interpolates from a pale to a deep blue for t in [0, 1] and
// says whether text on it should be white.
func heatColour(t float64) (string, bool) {
	t = math.Max(0, math.Min(1, t))
	from, to := [3]float64{0xee, 0xf4, 0xff}, [3]float64{0x1e, 0x3a, 0x8a}
	var c [3]int
	for i := range c {
		c[i] = int(math.Round(from[i] + (to[i]-from[i])*t))
	}
	return fmt.Sprintf("#%02x%02x%02x", c[0], c[1], c[2]), t > 0.5
}

func svgCoord(v float64) string {
	return strconv.FormatFloat(svgNum(v), 'f', -1, 64)
}
