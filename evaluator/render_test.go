package evaluator

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// The golden files in testdata/report are the renderings of sample.json, a
// hand-made report of a realistic backtest (48,210 leads, 6% converted, ten
// falling deciles) that testdata/report/sample.py wrote. After a deliberate
// change to a rendering, regenerate them and review the diff (open
// sample.html in a browser):
//
//	go test ./evaluator/ -run 'TestReport(JSON|Markdown|HTML)Golden' -update
var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/report")

// screenshotOut keeps the headless Chromium screenshot of sample.html:
//
//	go test ./evaluator/ -run TestReportHTMLChromium -screenshot /tmp/report.png
var screenshotOut = flag.String("screenshot", "", "also write TestReportHTMLChromium's screenshot to this file")

// chartNames are the data-chart markers of the HTML report's charts.
var chartNames = []string{"lift", "gains", "calibration", "distribution", "grid"}

func loadSampleReport(t *testing.T) *Report {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "report", "sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ReadReport(data)
	if err != nil {
		t.Fatalf("ReadReport(sample.json): %v", err)
	}
	return r
}

// checkGolden compares got with a golden file, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "report", name)
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with go test ./evaluator/ -run 'TestReport(JSON|Markdown|HTML)Golden' -update)", err)
	}
	if !bytes.Equal(got, want) {
		gotLines, wantLines := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gotLines), len(wantLines)) {
			var g, w string
			if i < len(gotLines) {
				g = gotLines[i]
			}
			if i < len(wantLines) {
				w = wantLines[i]
			}
			if g != w {
				t.Fatalf("%s differs from the golden file at line %d:\ngot:  %q\nwant: %q\n(after a deliberate change: go test ./evaluator/ -run 'TestReport(JSON|Markdown|HTML)Golden' -update)", name, i+1, g, w)
			}
		}
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	t.Parallel()
	want := loadSampleReport(t)
	data, err := want.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(data, []byte("}\n")) {
		t.Errorf("JSON() does not end with a newline: %q", data[max(0, len(data)-10):])
	}
	got, err := ReadReport(data)
	if err != nil {
		t.Fatalf("ReadReport(JSON()): %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadReport(JSON()) differs from the report written")
	}
	again, err := got.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Errorf("JSON() of the report read back differs from the JSON read")
	}
	if !bytes.Contains(data, []byte(`"horizon": "2160h0m0s"`)) {
		t.Errorf("JSON() does not write the horizon as a duration string")
	}
}

// TestReportJSONGolden is not parallel: with -update it rewrites
// sample.json, which the parallel tests read after it.
func TestReportJSONGolden(t *testing.T) {
	r := loadSampleReport(t)
	got, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	// sample.json is itself in JSON()'s form: field order, indentation,
	// number formatting.
	checkGolden(t, "sample.json", got)
}

func TestReportJSONWritesEmptyListsNotNull(t *testing.T) {
	t.Parallel()
	r := &Report{SchemaVersion: ReportSchemaVersion, Verdict: "none", Candidate: &Metrics{Model: "m.json", Family: "logistic"}}
	data, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"deltas": []`, `"warnings": []`, `"deciles": []`, `"campaigns": []`, `"converted": []`, `"importance": []`} {
		if !bytes.Contains(data, []byte(field)) {
			t.Errorf("JSON() lacks %s:\n%s", field, data)
		}
	}
	for _, omitted := range []string{`"champion"`, `"baseline"`, `"gate"`, `"cutoff"`, `"horizon"`, `"window_start"`} {
		if bytes.Contains(data, []byte(omitted)) {
			t.Errorf("JSON() writes %s, which is omitted when empty", omitted)
		}
	}
	if r.Deltas != nil || r.Candidate.Deciles != nil {
		t.Errorf("JSON() changed the report it wrote")
	}
	if _, err := ReadReport(data); err != nil {
		t.Errorf("ReadReport(JSON()) of a minimal report: %v", err)
	}
}

func TestReadReportRefuses(t *testing.T) {
	t.Parallel()
	sample, err := os.ReadFile(filepath.Join("testdata", "report", "sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) string {
		t.Helper()
		if !bytes.Contains(sample, []byte(old)) {
			t.Fatalf("sample.json has no %q", old)
		}
		return strings.Replace(string(sample), old, new, 1)
	}
	for _, tc := range []struct {
		name, data, wantInMessage string
	}{
		{"unknown schema version", replace(`"schema_version": 1,`, `"schema_version": 2,`), "schema_version"},
		{"unknown schema version with new fields", replace(`"schema_version": 1,`, `"schema_version": 2, "new_field": true,`), "schema_version"},
		{"missing schema version", replace(`"schema_version": 1,`, ``), "schema_version"},
		{"unknown top-level field", replace(`"seed":`, `"sede": 1, "seed":`), `unknown field "sede"`},
		{"unknown nested field", replace(`"family": "gbdt",`, `"family": "gbdt", "flavour": "x",`), `unknown field "flavour"`},
		{"unknown verdict", replace(`"verdict": "pass"`, `"verdict": "ok"`), "verdict"},
		{"no candidate", `{"schema_version": 1, "verdict": "none"}`, "candidate"},
		{"bad horizon", replace(`"horizon": "2160h0m0s"`, `"horizon": 7776000000000000`), "duration"},
		{"data after the report", string(sample) + `{}`, "after"},
		{"not JSON", `schema_version: 1`, "read report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := ReadReport([]byte(tc.data))
			if err == nil {
				t.Fatalf("ReadReport = %+v, want an error", r)
			}
			if got := leadscore.ErrorCode(err); got != leadscore.EINVALID {
				t.Errorf("error code = %q, want %q (%v)", got, leadscore.EINVALID, err)
			}
			if !strings.Contains(err.Error(), tc.wantInMessage) {
				t.Errorf("error %q does not mention %q", err, tc.wantInMessage)
			}
		})
	}
}

func TestReportMarkdownGolden(t *testing.T) {
	t.Parallel()
	checkGolden(t, "sample.md", loadSampleReport(t).Markdown())
}

func TestReportHTMLGolden(t *testing.T) {
	t.Parallel()
	got, err := loadSampleReport(t).HTML()
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "sample.html", got)
}

func TestReportMarkdown(t *testing.T) {
	t.Parallel()
	r := loadSampleReport(t)
	md := string(r.Markdown())
	for _, want := range []string{
		"## ✅ Backtest passed: models/acme-inbound/versions/7",
		"| ROC AUC ↑ | **0.8123** (0.8041–0.8207) | 0.7934 (0.7851–0.8019) | +0.0189 | 0.6912 (0.6818–0.7004) | +0.1211 |",
		"| Top-decile lift ↑ |",
		"⚠️ warn",
		"| **A** |",
		"google ads \\| brand",
		"linkedin abm \\<enterprise\\>",
		"### ⚠️ Warnings",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	// Every table row has as many cell separators as its header: escaped
	// pipes in campaign names must not add cells.
	unescapedPipes := regexp.MustCompile(`(^|[^\\])\|`)
	var cols int
	for i, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := len(unescapedPipes.FindAllString(line, -1))
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("Markdown line %d has %d cell separators, its table %d: %s", i+1, n, cols, line)
		}
	}

	r.Verdict, r.Gate = "fail", &GateResult{Policy: "p.json", Reference: "baseline"}
	if md := string(r.Markdown()); !strings.HasPrefix(md, "## ❌ Backtest failed") {
		t.Errorf("Markdown of a failed report starts %q", md[:40])
	}
	r.Verdict, r.Gate = "none", nil
	if md := string(r.Markdown()); !strings.HasPrefix(md, "## Backtest: models/acme-inbound/versions/7 (no gate)") {
		t.Errorf("Markdown of an ungated report starts %q", md[:60])
	}
}

func TestEscapeMarkdownText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"plain text 42", "plain text 42"},
		{"a|b", `a\|b`},
		{"<script>", `\<script\>`},
		{"two\nlines", "two lines"},
		{"[link](x)", `\[link\](x)`},
		{"*bold* _it_ `code`", "\\*bold\\* \\_it\\_ \\`code\\`"},
	} {
		if got := escapeMarkdownText(tc.in); got != tc.want {
			t.Errorf("escapeMarkdownText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestReportFormatting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ got, want string }{
		{formatCount(48210), "48,210"},
		{formatCount(999), "999"},
		{formatCount(-1234567), "-1,234,567"},
		{formatShare(0.060008, 2), "6.00%"},
		{formatMetricValue("roc_auc", 0.81234), "0.8123"},
		{formatMetricValue("lift_top_decile", 4.1652), "4.17×"},
		{formatMetricDelta("roc_auc", 0.0189), "+0.0189"},
		{formatMetricDelta("log_loss", -0.00551), "-0.0055"},
		{formatMetricDelta("roc_auc", -0.00001), "±0.0000"},
		{formatMetricDelta("base_rate", 0.012), "+1.20 pp"},
		{formatHorizon(Duration(90 * 24 * time.Hour)), "90 days"},
		{formatHorizon(Duration(36 * time.Hour)), "36h0m0s"},
		{formatReportTime(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)), "2025-06-01"},
		{formatReportTime(time.Date(2025, 9, 2, 10, 15, 30, 0, time.UTC)), "2025-09-02 10:15 UTC"},
		{ruleText(GateRule{Metric: "roc_auc", HigherIsBetter: true, MinValue: ptr(0.7), MaxRegression: ptr(0.005)}, "champion"), "≥ 0.7000; at most 0.0050 worse than the champion"},
		{ruleText(GateRule{Metric: "pr_auc", HigherIsBetter: true, MaxRelativeRegression: ptr(0.05), MinImprovement: ptr(0.01)}, ""), "at most 5.0% worse than the reference; at least 0.0100 better than the reference"},
		{ruleText(GateRule{Metric: "ece", MinValue: ptr(0.01)}, "baseline"), "≤ 0.0100"},
		{ruleText(GateRule{Metric: "top_two_tiers_lead_share", HigherIsBetter: true, MinValue: ptr(0.15), MaxValue: ptr(0.35), Severity: SeverityWarn}, "none"), "between 15.00% and 35.00%"},
		{ruleText(GateRule{Metric: "roc_auc", HigherIsBetter: true, MaxValue: ptr(0.97)}, "none"), "≤ 0.9700"},
		{formatMetricValue("top_to_bottom_close_rate_ratio", math.Inf(1)), "∞"},
		{formatMetricValue("leads", 48210), "48,210"},
		{deltaQuality("log_loss", false, -0.0055), "better"},
		{deltaQuality("roc_auc", true, -0.01), "worse"},
		{deltaQuality("roc_auc", true, 0.00001), "same"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if got, want := niceTicks(4.37, 5), []float64{0, 1, 2, 3, 4, 5}; !reflect.DeepEqual(got, want) {
		t.Errorf("niceTicks(4.37, 5) = %v, want %v", got, want)
	}
	if got, want := niceTicks(0.23, 5), []float64{0, 0.05, 0.1, 0.15, 0.2, 0.25}; !reflect.DeepEqual(got, want) {
		t.Errorf("niceTicks(0.23, 5) = %v, want %v", got, want)
	}
}

func ptr(v float64) *float64 { return &v }

// sparseReport is a report with no champion, no baseline, no gate and
// empty groups: what a first backtest of a flat file may give.
func sparseReport() *Report {
	return &Report{
		SchemaVersion: ReportSchemaVersion,
		Verdict:       "none",
		Candidate: &Metrics{
			Model: "artifacts/first.json", Family: "logistic", Leads: 812, Conversions: 37, BaseRate: 0.0456,
			RocAUC: 0.71, RocAUCCILower: 0.63, RocAUCCIUpper: 0.79, LiftTopDecile: 2.4,
			Cells: []Group{{Key: "A1", Leads: 40, Conversions: 6, CloseRate: 0.15, Lift: 3.3}},
		},
		Data: DataInfo{Kind: "flat", Source: "leads.csv", Rows: 812, Positives: 37},
	}
}

func TestReportHTMLSelfContained(t *testing.T) {
	t.Parallel()
	for name, r := range map[string]*Report{"sample": loadSampleReport(t), "sparse": sparseReport()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			page, err := r.HTML()
			if err != nil {
				t.Fatal(err)
			}
			lower := strings.ToLower(string(page))
			for _, bad := range []string{"http://", "https://", "<script", "<link", "<img", "<iframe", "src=", "href=", "@import", "url(", "nan", "+inf", "zgotmplz"} {
				if i := strings.Index(lower, bad); i >= 0 {
					t.Errorf("HTML contains %q: …%s…", bad, lower[max(0, i-80):min(len(lower), i+80)])
				}
			}
			checkSVGs(t, page)
		})
	}
}

// svgPattern finds the inline SVGs of a page.
var svgPattern = regexp.MustCompile(`(?s)<svg\b.*?</svg>`)

// checkSVGs checks that every chart's SVG is well-formed XML with an
// accessible title, and returns the number of shapes in each.
func checkSVGs(t *testing.T, page []byte) map[string]int {
	t.Helper()
	shapes := map[string]int{}
	for _, svg := range svgPattern.FindAll(page, -1) {
		dec := xml.NewDecoder(bytes.NewReader(svg))
		dec.Entity = xml.HTMLEntity
		var name string
		n, depth, sawTitle := 0, 0, false
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("SVG is not well-formed XML: %v\n%.300s", err, svg)
			}
			start, ok := tok.(xml.StartElement)
			if !ok {
				continue
			}
			depth++
			switch start.Name.Local {
			case "svg":
				for _, a := range start.Attr {
					switch a.Name.Local {
					case "data-chart":
						name = a.Value
					case "viewBox":
						if a.Value != "0 0 560 340" {
							t.Errorf("SVG viewBox = %q", a.Value)
						}
					}
				}
			case "title":
				if depth == 2 {
					sawTitle = true
				}
			case "rect", "line", "polyline", "circle", "text":
				n++
			}
		}
		if name == "" {
			t.Errorf("an SVG has no data-chart marker: %.200s", svg)
			continue
		}
		if !sawTitle {
			t.Errorf("chart %s has no <title>", name)
		}
		shapes[name] = n
	}
	return shapes
}

func TestReportHTMLCharts(t *testing.T) {
	t.Parallel()
	page, err := loadSampleReport(t).HTML()
	if err != nil {
		t.Fatal(err)
	}
	shapes := checkSVGs(t, page)
	for _, name := range chartNames {
		if shapes[name] < 20 {
			t.Errorf("chart %s has %d shapes, want a drawn chart", name, shapes[name])
		}
	}
	if len(shapes) != len(chartNames) {
		t.Errorf("charts = %v, want %v", shapes, chartNames)
	}
	for _, want := range []string{
		`<span class="badge pass">`, "⚠ Warnings", "models/acme-inbound/versions/5", "builtin:points",
		"google ads | brand", "linkedin abm &lt;enterprise&gt;", "spring launch &amp; trial",
		"9c2f4e1ab07d", "90 days", `class="pill warn"`,
	} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}

func TestReportHTMLEscapes(t *testing.T) {
	t.Parallel()
	r := sparseReport()
	evil := `<script>alert("x")</script>`
	r.Candidate.Model = evil
	r.Candidate.Campaigns = []Group{{Key: evil, Leads: 3}}
	r.Warnings = []string{evil}
	r.Candidate.Cells[0].Key = "A1"
	page, err := r.HTML()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(page, []byte("<script>")) {
		t.Errorf("HTML contains an unescaped <script>")
	}
	if !bytes.Contains(page, []byte("&lt;script&gt;")) {
		t.Errorf("HTML does not show the escaped model name")
	}
	checkSVGs(t, page)
}

func TestReportRendersWithoutReferences(t *testing.T) {
	t.Parallel()
	r := sparseReport()
	page, err := r.HTML()
	if err != nil {
		t.Fatal(err)
	}
	shapes := checkSVGs(t, page)
	if len(shapes) != 1 || shapes["grid"] == 0 {
		t.Errorf("charts drawn = %v, want only the grid", shapes)
	}
	for _, name := range []string{"lift", "gains", "calibration", "distribution"} {
		if !bytes.Contains(page, []byte(`data-chart-missing="`+name+`"`)) {
			t.Errorf("HTML has no note for the missing %s chart", name)
		}
	}
	for _, want := range []string{"No champion and no baseline", "No gate applied", "no leads", "No campaigns", "No tiers"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	md := string(r.Markdown())
	for _, want := range []string{"## Backtest: artifacts/first.json (no gate)", "no champion · no baseline", "No deciles", "| **A** | 15.0% (40) | – |"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "Champion |") || strings.Contains(md, "NaN") {
		t.Errorf("Markdown shows a champion column or NaN:\n%s", md)
	}

	// A champion but no baseline: the charts show two series.
	full := loadSampleReport(t)
	full.Baseline = nil
	page, err = full.HTML()
	if err != nil {
		t.Fatal(err)
	}
	if shapes := checkSVGs(t, page); len(shapes) != len(chartNames) {
		t.Errorf("charts drawn without a baseline = %v", shapes)
	}
	for _, svg := range svgPattern.FindAll(page, -1) {
		if bytes.Contains(svg, []byte(colourBaseline)) {
			t.Errorf("a chart without a baseline still draws the baseline's colour: %.100s", svg)
		}
	}
}

// TestReportHTMLChromium is the acceptance check of the HTML report: opened
// in headless Chromium (Debian's chromium package), it renders its charts
// without errors, and the screenshot shows them. It does not skip when
// Chromium is missing: scripts/test.sh installs it.
func TestReportHTMLChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed: this test renders the HTML report in headless Chromium; install it with `apt-get install -y chromium` (scripts/test.sh does so as root or with passwordless sudo)")
	}
	page, err := loadSampleReport(t).HTML()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pagePath := filepath.Join(dir, "report.html")
	if err := os.WriteFile(pagePath, page, 0o644); err != nil {
		t.Fatal(err)
	}
	url := "file://" + pagePath
	const width, height = 1280, 4000

	run := func(name string, args ...string) (stdout, stderr []byte) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		args = append([]string{
			"--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
			"--no-first-run", "--no-default-browser-check", "--disable-extensions",
			"--force-device-scale-factor=1", fmt.Sprintf("--window-size=%d,%d", width, height),
			"--user-data-dir=" + filepath.Join(dir, "profile-"+name),
		}, args...)
		cmd := exec.CommandContext(ctx, chromium, append(args, url)...)
		// Chromium wants a writable home for its caches; CI's may not be.
		cmd.Env = append(os.Environ(), "HOME="+dir)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %s: %v (timed out: %v)\nstderr:\n%s", name, err, ctx.Err() != nil, tail(errOut.Bytes(), 3000))
		}
		return out.Bytes(), errOut.Bytes()
	}

	// The DOM as Chromium parsed it, with the page's console on stderr.
	dom, logs := run("dom", "--enable-logging=stderr", "--v=0", "--dump-dom")
	for _, line := range strings.Split(string(logs), "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") || strings.Contains(line, "Failed to load") {
			t.Errorf("chromium console: %s", line)
		}
	}
	source := checkSVGs(t, page)
	parsed := checkSVGs(t, dom)
	for _, name := range chartNames {
		if !regexp.MustCompile(`<svg[^>]*data-chart="` + name + `"`).Match(dom) {
			t.Errorf("the DOM Chromium built has no <svg data-chart=%q>", name)
		}
		if parsed[name] != source[name] {
			t.Errorf("chart %s: Chromium parsed %d shapes, the page has %d", name, parsed[name], source[name])
		}
	}

	shot := filepath.Join(dir, "report.png")
	run("screenshot", "--screenshot="+shot)
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	if *screenshotOut != "" {
		if err := os.WriteFile(*screenshotOut, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != width || b.Dy() != height {
		t.Fatalf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), width, height)
	}
	whole := inkStats(img, img.Bounds())
	if whole.colours < 200 || whole.nonWhite < 0.3 {
		t.Errorf("the screenshot looks blank: %d colours, %.1f%% not white", whole.colours, 100*whole.nonWhite)
	}
	// Each chart's plot area has its own background colour; find it, then
	// require the chart's data drawn in it.
	for _, c := range []struct {
		name, background string
		minBackground    int      // the plot area's visible background, in pixels
		series           []string // colours that must fill a visible area
	}{
		{"lift", backgroundLift, 20000, []string{colourCandidate, colourChampion, colourBaseline}},
		{"gains", backgroundGains, 20000, []string{colourCandidate, colourChampion, colourBaseline}},
		{"calibration", backgroundCalibration, 20000, []string{colourCandidate, colourChampion, colourBaseline}},
		{"distribution", backgroundDistribution, 20000, []string{colourConverted, colourNotConverted}},
		{"grid", backgroundGrid, 5000, nil}, // only a frame and the gaps between cells
	} {
		area, n := findSolidColour(img, c.background)
		if n < c.minBackground {
			t.Errorf("chart %s: its plot area is not in the screenshot (%d pixels of %s)", c.name, n, c.background)
			continue
		}
		st := inkStats(img, area)
		t.Logf("chart %s: plot area %v, %d colours, %.1f%% saturated", c.name, area, st.colours, 100*st.saturated)
		if st.colours < 12 || st.saturated < 0.01 {
			t.Errorf("chart %s is blank in the screenshot: %d colours, %.2f%% saturated pixels in %v", c.name, st.colours, 100*st.saturated, area)
		}
		for _, colour := range c.series {
			if _, n := findColourIn(img, area, colour); n < 150 {
				t.Errorf("chart %s: only %d pixels of %s in its plot area", c.name, n, colour)
			}
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

type inkStat struct {
	colours             int
	nonWhite, saturated float64
}

// inkStats counts the distinct colours in an area of an image, the share
// of pixels that are not white, and the share that are clearly coloured.
func inkStats(img image.Image, area image.Rectangle) inkStat {
	colours := map[color.RGBA]bool{}
	var nonWhite, saturated, total int
	for y := area.Min.Y; y < area.Max.Y; y++ {
		for x := area.Min.X; x < area.Max.X; x++ {
			c := rgba(img.At(x, y))
			colours[c] = true
			total++
			if c.R < 250 || c.G < 250 || c.B < 250 {
				nonWhite++
			}
			hi, lo := max(c.R, c.G, c.B), min(c.R, c.G, c.B)
			if hi-lo >= 60 {
				saturated++
			}
		}
	}
	if total == 0 {
		return inkStat{}
	}
	return inkStat{len(colours), float64(nonWhite) / float64(total), float64(saturated) / float64(total)}
}

func rgba(c color.Color) color.RGBA {
	r, g, b, _ := c.RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 255}
}

func parseHex(s string) color.RGBA {
	var c color.RGBA
	fmt.Sscanf(s, "#%02x%02x%02x", &c.R, &c.G, &c.B)
	c.A = 255
	return c
}

// findSolidColour returns the bounding box of the areas of exactly one
// colour and how many pixels they have. A pixel counts when it and its
// right, lower and lower-right neighbours have the colour, so that the odd
// anti-aliased pixel elsewhere that happens to match does not.
func findSolidColour(img image.Image, hex string) (image.Rectangle, int) {
	want := parseHex(hex)
	b := img.Bounds()
	box, n := image.Rectangle{}, 0
	for y := b.Min.Y; y < b.Max.Y-1; y++ {
		for x := b.Min.X; x < b.Max.X-1; x++ {
			if rgba(img.At(x, y)) != want || rgba(img.At(x+1, y)) != want ||
				rgba(img.At(x, y+1)) != want || rgba(img.At(x+1, y+1)) != want {
				continue
			}
			box = box.Union(image.Rect(x, y, x+2, y+2))
			n++
		}
	}
	return box, n
}

func findColourIn(img image.Image, area image.Rectangle, hex string) (image.Rectangle, int) {
	want := parseHex(hex)
	box, n := image.Rectangle{}, 0
	for y := area.Min.Y; y < area.Max.Y; y++ {
		for x := area.Min.X; x < area.Max.X; x++ {
			if rgba(img.At(x, y)) != want {
				continue
			}
			box = box.Union(image.Rect(x, y, x+1, y+1))
			n++
		}
	}
	return box, n
}
