package model

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/leadscore/leadscore"
)

// DefaultPointsRules is the built-in rules file: the points a typical
// marketing team writes for the synthetic history's columns (pricing
// visits and hand-raises up, senior titles and target companies up,
// students, unsubscribes and bounces down), an example to copy for
// `leadscore train --family points --rules`, which without a file learns
// its points instead. Backtests fit it as the baseline of a candidate
// that carries no learned points. The points are deliberately not tuned
// on data: they show what guesses are worth.
//
//go:embed testdata/points/default.yaml
var DefaultPointsRules []byte

// Limits of a points rules file. They keep a hostile or mistaken file from
// costing more than a real one ever would.
const (
	// MaxPointsRulesBytes is the largest rules file accepted.
	MaxPointsRulesBytes = 1 << 20
	// MaxPointsRules is the most rules a file may hold.
	MaxPointsRules = 1000
	// maxRuleName is the longest rule name, in bytes.
	maxRuleName = 64
)

// The engagement signals a signal rule may name; each is the boolean
// feature engagement.<signal>.
const (
	SignalHandRaise    = "hand_raise"
	SignalUnsubscribed = "unsubscribed"
	SignalBounced      = "bounced"
)

// PointsRules is a points rules file as written: how points map to a
// probability and the rules that give them.
type PointsRules struct {
	// Calibration is CalibrationPlatt or CalibrationIsotonic. Empty means
	// Platt: two parameters give a monotone map even from the few
	// conversions a small team has.
	Calibration string `json:"calibration,omitempty" yaml:"calibration,omitempty"`
	// Rules are the rules, in the order written.
	Rules []PointsRule `json:"rules" yaml:"rules"`
}

// CalibrationMethod is the calibration the file asks for, with the default
// filled in.
func (r *PointsRules) CalibrationMethod() string {
	if r.Calibration == "" {
		return CalibrationPlatt
	}
	return r.Calibration
}

// Validate checks the rules as far as they can be checked without a
// feature spec, so that a bad file is refused before any data is loaded.
// Every error names the rule (its name and index) and the field.
func (r *PointsRules) Validate() error {
	switch r.Calibration {
	case "", CalibrationPlatt, CalibrationIsotonic:
	default:
		return leadscore.InvalidField("calibration", r.Calibration, `must be "platt" or "isotonic"`)
	}
	return validateRules(r.Rules)
}

// PointsRule is one rule of a points rules file, as written. Exactly one of
// Event, Attribute and Signal says what the rule reads:
//
//   - Event: Points per event of a type (optionally of one Page) in the
//     last WindowDays days, or, with Decay, per event weighed by the spec's
//     half-life, so that old engagement fades. MaxPoints caps the rule's
//     points in absolute value, which keeps one busy reader or a bot from
//     outscoring a buyer.
//   - Attribute: Points when the attribute equals a category or true/false
//     (Equals), or when a number lies in [Min, Max) (either bound may be
//     left out).
//   - Signal: Points when the lead ever raised a hand, unsubscribed or
//     bounced (SignalHandRaise, SignalUnsubscribed, SignalBounced).
//
// A value the lead does not have (an unknown industry, say) gives the rule
// no points, never negative ones.
type PointsRule struct {
	// Name names the rule in errors and explanations; names are unique.
	Name string `json:"name" yaml:"name"`

	// Event is the event type counted, such as "page_view".
	Event string `json:"event,omitempty" yaml:"event,omitempty"`
	// Page restricts Event to the event kind of one page, such as
	// "pricing". Without it the rule counts every event of the type,
	// whichever page or kind the spec counts it under.
	Page string `json:"page,omitempty" yaml:"page,omitempty"`
	// WindowDays is the counting window; it must be one of the spec's
	// windows. An event rule has a window or Decay, not both.
	WindowDays int `json:"window_days,omitempty" yaml:"window_days,omitempty"`
	// Decay counts events weighed by their age (the spec's half-life)
	// instead of in a window.
	Decay bool `json:"decay,omitempty" yaml:"decay,omitempty"`
	// MaxPoints, when set, is the most points the rule gives, in absolute
	// value: a positive number at least |Points|.
	MaxPoints *float64 `json:"max_points,omitempty" yaml:"max_points,omitempty"`

	// Attribute is the lead attribute read, such as "industry".
	Attribute string `json:"attribute,omitempty" yaml:"attribute,omitempty"`
	// Equals is the category ("software") or the boolean ("true", "false")
	// a categorical or boolean attribute must have. A category outside the
	// spec's vocabulary matches no lead: the spec encodes every rare value
	// as one "other" category, so the rule cannot tell that value apart.
	// Points.Unmatched lists such rules.
	Equals *string `json:"equals,omitempty" yaml:"equals,omitempty"`
	// Min (inclusive) and Max (exclusive) bound a numeric attribute.
	Min *float64 `json:"min,omitempty" yaml:"min,omitempty"`
	Max *float64 `json:"max,omitempty" yaml:"max,omitempty"`

	// Signal is SignalHandRaise, SignalUnsubscribed or SignalBounced.
	Signal string `json:"signal,omitempty" yaml:"signal,omitempty"`

	// Points are the points given: per event for event rules, once for
	// attribute and signal rules. Negative points are penalties.
	Points float64 `json:"points" yaml:"points"`
}

// ParsePointsRules parses and validates a points rules file. The format is
// told by the content, because the bytes arrive from a file, an API field
// and an embedded default alike and only a file has a name: a document
// whose first non-blank character is "{" is JSON, anything else YAML.
//
// Parsing is strict: unknown fields, repeated fields, values of the wrong
// type (a window of 30.5 days, points: "five") and extra documents are
// errors, each naming the rule (its name and index) and the field.
func ParsePointsRules(data []byte) (*PointsRules, error) {
	if len(data) > MaxPointsRulesBytes {
		return nil, leadscore.InvalidField("points_rules", len(data), fmt.Sprintf("is larger than %d bytes", MaxPointsRulesBytes))
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	var (
		top *rawRules
		err error
	)
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
		top, err = readJSONRules(data)
	} else {
		top, err = readYAMLRules(data)
	}
	if err != nil {
		return nil, err
	}
	rules := &PointsRules{}
	if top.calibration != nil {
		if !top.calibration.decode(&rules.Calibration) {
			return nil, leadscore.InvalidField("calibration", top.calibration.text(), `must be "platt" or "isotonic"`)
		}
	}
	if len(top.rules) > MaxPointsRules {
		return nil, leadscore.InvalidField("rules", len(top.rules), fmt.Sprintf("must hold at most %d rules", MaxPointsRules))
	}
	rules.Rules = make([]PointsRule, len(top.rules))
	for i, fields := range top.rules {
		if rules.Rules[i], err = decodeRule(i, fields); err != nil {
			return nil, err
		}
	}
	if err := rules.Validate(); err != nil {
		return nil, err
	}
	return rules, nil
}

// rawRules is a rules file read into fields but not yet typed, so that
// YAML and JSON share one strict decoder.
type rawRules struct {
	calibration *rawField
	rules       [][]rawField
}

// rawField is one key and its value as written, in YAML or JSON.
type rawField struct {
	key  string
	node *yaml.Node      // YAML
	raw  json.RawMessage // JSON
}

// text returns the value as written, for error messages.
func (f rawField) text() string {
	if f.node != nil {
		if f.node.Kind == yaml.ScalarNode {
			return f.node.Value
		}
		return yamlKind(f.node)
	}
	return string(f.raw)
}

// decode stores the value in v (a *string, *float64, *int or *bool) and
// reports whether it had that type. It is stricter than the decoders it
// wraps: YAML would turn 30.5 into a window of 30 days and both would read
// null as zero.
func (f rawField) decode(v any) bool {
	if f.node == nil {
		if bytes.Equal(f.raw, []byte("null")) {
			return false
		}
		return json.Unmarshal(f.raw, v) == nil
	}
	if f.node.Kind != yaml.ScalarNode {
		return false
	}
	tag := f.node.ShortTag()
	switch v.(type) {
	case *string:
		if tag != "!!str" {
			return false
		}
	case *float64:
		if tag != "!!int" && tag != "!!float" {
			return false
		}
	case *int:
		if tag != "!!int" {
			return false
		}
	case *bool:
		if tag != "!!bool" {
			return false
		}
	default:
		return false
	}
	return f.node.Decode(v) == nil
}

// literal returns a scalar value (text, a number or a boolean) as text,
// for Equals: `equals: true` and `"equals": "true"` mean the same.
func (f rawField) literal() (string, bool) {
	if f.node == nil {
		var v any
		dec := json.NewDecoder(bytes.NewReader(f.raw))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			return "", false
		}
		switch v := v.(type) {
		case string:
			return v, true
		case bool:
			return strconv.FormatBool(v), true
		case json.Number:
			return v.String(), true
		}
		return "", false
	}
	if f.node.Kind != yaml.ScalarNode {
		return "", false
	}
	switch f.node.ShortTag() {
	case "!!str", "!!int", "!!float":
		return f.node.Value, true
	case "!!bool":
		var b bool
		if f.node.Decode(&b) != nil {
			return "", false
		}
		return strconv.FormatBool(b), true
	}
	return "", false
}

func readYAMLRules(data []byte) (*rawRules, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, leadscore.InvalidField("points_rules", "", "is empty")
		}
		return nil, leadscore.InvalidField("points_rules", err, "is not valid YAML")
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, leadscore.InvalidField("points_rules", "---", "must be a single YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	root = unalias(root)
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, leadscore.InvalidField("points_rules", "", "is empty")
	}
	if root.Kind != yaml.MappingNode {
		return nil, leadscore.InvalidField("points_rules", yamlKind(root), "must be a mapping with calibration and rules")
	}
	top := &rawRules{}
	seen := map[string]bool{}
	for k := 0; k+1 < len(root.Content); k += 2 {
		key, value := unalias(root.Content[k]), unalias(root.Content[k+1])
		if key.Kind != yaml.ScalarNode {
			return nil, leadscore.InvalidField("points_rules", yamlKind(key), "keys must be field names")
		}
		if seen[key.Value] {
			return nil, leadscore.InvalidField(key.Value, "", "is given twice")
		}
		seen[key.Value] = true
		switch key.Value {
		case "calibration":
			top.calibration = &rawField{key: key.Value, node: value}
		case "rules":
			if value.Kind == yaml.ScalarNode && value.ShortTag() == "!!null" {
				continue
			}
			if value.Kind != yaml.SequenceNode {
				return nil, leadscore.InvalidField("rules", yamlKind(value), "must be a list of rules")
			}
			if len(value.Content) > MaxPointsRules {
				return nil, leadscore.InvalidField("rules", len(value.Content), fmt.Sprintf("must hold at most %d rules", MaxPointsRules))
			}
			for i, item := range value.Content {
				item = unalias(item)
				if item.Kind != yaml.MappingNode {
					return nil, ruleError(i, "", "", yamlKind(item), "must be a mapping of fields")
				}
				var fields []rawField
				for f := 0; f+1 < len(item.Content); f += 2 {
					fk, fv := unalias(item.Content[f]), unalias(item.Content[f+1])
					if fk.Kind != yaml.ScalarNode {
						return nil, ruleError(i, "", "", yamlKind(fk), "keys must be field names")
					}
					fields = append(fields, rawField{key: fk.Value, node: fv})
				}
				top.rules = append(top.rules, fields)
			}
		default:
			return nil, leadscore.InvalidField(key.Value, "", "is not a field of a points rules file (calibration, rules)")
		}
	}
	return top, nil
}

// unalias follows YAML aliases (*name) to the node they stand for.
func unalias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func yamlKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return n.Value
	default:
		return "an unsupported node"
	}
}

func readJSONRules(data []byte) (*rawRules, error) {
	members, err := readJSONObject(data)
	if err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			line := 1 + bytes.Count(data[:min(int(syntax.Offset), len(data))], []byte("\n"))
			return nil, leadscore.InvalidField("points_rules", fmt.Sprintf("line %d: %v", line, syntax), "is not valid JSON")
		}
		return nil, leadscore.InvalidField("points_rules", err, "is not valid JSON")
	}
	top := &rawRules{}
	seen := map[string]bool{}
	for _, m := range members {
		if seen[m.key] {
			return nil, leadscore.InvalidField(m.key, "", "is given twice")
		}
		seen[m.key] = true
		switch m.key {
		case "calibration":
			top.calibration = &rawField{key: m.key, raw: m.raw}
		case "rules":
			if bytes.Equal(m.raw, []byte("null")) {
				continue
			}
			var items []json.RawMessage
			if json.Unmarshal(m.raw, &items) != nil {
				return nil, leadscore.InvalidField("rules", string(m.raw), "must be a list of rules")
			}
			if len(items) > MaxPointsRules {
				return nil, leadscore.InvalidField("rules", len(items), fmt.Sprintf("must hold at most %d rules", MaxPointsRules))
			}
			for i, item := range items {
				fields, err := readJSONObject(item)
				if err != nil {
					return nil, ruleError(i, "", "", string(item), "must be an object of fields")
				}
				top.rules = append(top.rules, fields)
			}
		default:
			return nil, leadscore.InvalidField(m.key, "", "is not a field of a points rules file (calibration, rules)")
		}
	}
	return top, nil
}

// readJSONObject reads one JSON object and nothing after it, keeping its
// members in order and repeated keys, which encoding/json would silently
// let the last one win.
func readJSONObject(data []byte) ([]rawField, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("want an object, got %v", tok)
	}
	var out []rawField
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("want a field name, got %v", tok)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("field %q: %w", key, err)
		}
		out = append(out, rawField{key: key, raw: raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the object")
	}
	return out, nil
}

// ruleFields lists the fields a rule may have, for the unknown-field error.
const ruleFields = "name, event, page, window_days, decay, max_points, attribute, equals, min, max, signal, points"

// decodeRule types one rule's fields.
func decodeRule(i int, fields []rawField) (PointsRule, error) {
	var r PointsRule
	for _, f := range fields {
		if f.key == "name" {
			if !f.decode(&r.Name) {
				return r, ruleError(i, "", "name", f.text(), "must be text")
			}
		}
	}
	seen := map[string]bool{}
	for _, f := range fields {
		if seen[f.key] {
			return r, ruleError(i, r.Name, f.key, f.text(), "is given twice")
		}
		seen[f.key] = true
		var (
			target any
			want   string
		)
		switch f.key {
		case "name":
			continue
		case "event":
			target, want = &r.Event, "must be text"
		case "page":
			target, want = &r.Page, "must be text"
		case "attribute":
			target, want = &r.Attribute, "must be text"
		case "signal":
			target, want = &r.Signal, "must be text"
		case "window_days":
			target, want = &r.WindowDays, "must be a whole number of days"
		case "decay":
			target, want = &r.Decay, "must be true or false"
		case "points":
			target, want = &r.Points, "must be a number"
		case "max_points":
			r.MaxPoints = new(float64)
			target, want = r.MaxPoints, "must be a number"
		case "min":
			r.Min = new(float64)
			target, want = r.Min, "must be a number"
		case "max":
			r.Max = new(float64)
			target, want = r.Max, "must be a number"
		case "equals":
			v, ok := f.literal()
			if !ok {
				return r, ruleError(i, r.Name, f.key, f.text(), "must be one value: a category, a number, true or false")
			}
			r.Equals = &v
			continue
		default:
			return r, ruleError(i, r.Name, f.key, f.text(), "is not a rule field ("+ruleFields+")")
		}
		if !f.decode(target) {
			return r, ruleError(i, r.Name, f.key, f.text(), want)
		}
	}
	return r, nil
}

// ruleError is an EINVALID error naming a rule by name and index and the
// bad field, so that whoever wrote the file can find the line to fix.
func ruleError(i int, name, field string, value any, reason string) error {
	path := fmt.Sprintf("rules[%d]", i)
	label := path
	if name != "" {
		label = fmt.Sprintf("rule %q (%s)", name, path)
	}
	desc := fmt.Sprintf("%s (got %q)", reason, fmt.Sprint(value))
	msg := fmt.Sprintf("invalid points %s: %s", label, desc)
	if field != "" {
		path += "." + field
		msg = fmt.Sprintf("invalid points %s: %s %s", label, field, desc)
	}
	if name != "" {
		desc = fmt.Sprintf("rule %q: %s", name, desc)
	}
	return &leadscore.Error{
		Code:    leadscore.EINVALID,
		Message: msg,
		Fields:  []leadscore.FieldViolation{{Field: path, Description: desc}},
	}
}

// validateRules checks rules without a spec: each rule on its own, and
// that names are unique.
func validateRules(rules []PointsRule) error {
	if len(rules) == 0 {
		return leadscore.InvalidField("rules", 0, "need at least one rule")
	}
	if len(rules) > MaxPointsRules {
		return leadscore.InvalidField("rules", len(rules), fmt.Sprintf("must hold at most %d rules", MaxPointsRules))
	}
	names := make(map[string]int, len(rules))
	for i := range rules {
		r := &rules[i]
		if err := r.validate(i); err != nil {
			return err
		}
		if j, dup := names[r.Name]; dup {
			return ruleError(i, r.Name, "name", r.Name, fmt.Sprintf("is also the name of rules[%d]", j))
		}
		names[r.Name] = i
	}
	return nil
}

// ruleKind says what a rule reads: "event", "attribute", "signal", or ""
// when it does not name exactly one.
func (r *PointsRule) ruleKind() string {
	n, kind := 0, ""
	if r.Event != "" {
		n, kind = n+1, "event"
	}
	if r.Attribute != "" {
		n, kind = n+1, "attribute"
	}
	if r.Signal != "" {
		n, kind = n+1, "signal"
	}
	if n != 1 {
		return ""
	}
	return kind
}

// setField is a field given in a rule, with the kind of rule it belongs to.
type setField struct {
	name  string
	owner string
	value any
}

// setFields lists the kind-specific fields a rule gives.
func (r *PointsRule) setFields() []setField {
	var out []setField
	if r.Page != "" {
		out = append(out, setField{"page", "event", r.Page})
	}
	if r.WindowDays != 0 {
		out = append(out, setField{"window_days", "event", r.WindowDays})
	}
	if r.Decay {
		out = append(out, setField{"decay", "event", r.Decay})
	}
	if r.MaxPoints != nil {
		out = append(out, setField{"max_points", "event", *r.MaxPoints})
	}
	if r.Equals != nil {
		out = append(out, setField{"equals", "attribute", *r.Equals})
	}
	if r.Min != nil {
		out = append(out, setField{"min", "attribute", *r.Min})
	}
	if r.Max != nil {
		out = append(out, setField{"max", "attribute", *r.Max})
	}
	return out
}

// validate checks one rule on its own; i is its index.
func (r *PointsRule) validate(i int) error {
	switch {
	case r.Name == "":
		return ruleError(i, "", "name", "", "is required")
	case len(r.Name) > maxRuleName:
		return ruleError(i, "", "name", r.Name[:maxRuleName]+"…", fmt.Sprintf("is longer than %d bytes", maxRuleName))
	case !utf8.ValidString(r.Name) || strings.IndexFunc(r.Name, unicode.IsControl) >= 0:
		return ruleError(i, "", "name", r.Name, "must be printable text")
	}
	kind := r.ruleKind()
	if kind == "" {
		var given []string
		for _, f := range []struct{ name, value string }{{"event", r.Event}, {"attribute", r.Attribute}, {"signal", r.Signal}} {
			if f.value != "" {
				given = append(given, f.name+"="+f.value)
			}
		}
		if len(given) == 0 {
			given = []string{"none"}
		}
		return ruleError(i, r.Name, "", strings.Join(given, " "), "needs exactly one of event, attribute or signal")
	}
	if math.IsNaN(r.Points) || math.IsInf(r.Points, 0) {
		return ruleError(i, r.Name, "points", r.Points, "must be a finite number")
	}
	if r.Points == 0 {
		return ruleError(i, r.Name, "points", r.Points, "must not be zero (or missing): a rule that gives no points changes nothing")
	}
	for _, f := range r.setFields() {
		if f.owner != kind {
			return ruleError(i, r.Name, f.name, f.value, fmt.Sprintf("is for %s rules, and this is %s rule", f.owner, article(kind)))
		}
	}
	switch kind {
	case "event":
		if leadscore.ValidateKey("event", r.Event) != nil {
			return ruleError(i, r.Name, "event", r.Event, "must be an event type: lower-case letters, digits and _")
		}
		switch {
		case r.Decay && r.WindowDays != 0:
			return ruleError(i, r.Name, "window_days", r.WindowDays, "cannot be combined with decay: a decayed rule counts every event, weighed by its age")
		case !r.Decay && r.WindowDays == 0:
			return ruleError(i, r.Name, "window_days", "", "is required, or decay: true; an event rule gives points per event in a window")
		case r.WindowDays < 0:
			return ruleError(i, r.Name, "window_days", r.WindowDays, "must be a positive number of days")
		}
		if r.MaxPoints != nil {
			m := *r.MaxPoints
			switch {
			case !(m > 0) || math.IsInf(m, 0):
				return ruleError(i, r.Name, "max_points", m, "must be a positive number: the most points, in absolute value, the rule gives")
			case m < math.Abs(r.Points):
				return ruleError(i, r.Name, "max_points", m, fmt.Sprintf("is less than the %v points of a single event", math.Abs(r.Points)))
			}
		}
	case "attribute":
		if leadscore.ValidateKey("attribute", r.Attribute) != nil {
			return ruleError(i, r.Name, "attribute", r.Attribute, "must be an attribute key: lower-case letters, digits and _")
		}
		switch {
		case r.Equals != nil && (r.Min != nil || r.Max != nil):
			return ruleError(i, r.Name, "equals", *r.Equals, "cannot be combined with min or max")
		case r.Equals == nil && r.Min == nil && r.Max == nil:
			return ruleError(i, r.Name, "", r.Attribute, "an attribute rule needs equals, or min and/or max")
		case r.Equals != nil && *r.Equals == "":
			return ruleError(i, r.Name, "equals", "", "must not be empty")
		case r.Min != nil && !finite(*r.Min):
			return ruleError(i, r.Name, "min", *r.Min, "must be a finite number")
		case r.Max != nil && !finite(*r.Max):
			return ruleError(i, r.Name, "max", *r.Max, "must be a finite number")
		case r.Min != nil && r.Max != nil && !(*r.Min < *r.Max):
			return ruleError(i, r.Name, "max", *r.Max, fmt.Sprintf("must be greater than min %v: the range is [min, max)", *r.Min))
		}
	case "signal":
		switch r.Signal {
		case SignalHandRaise, SignalUnsubscribed, SignalBounced:
		default:
			return ruleError(i, r.Name, "signal", r.Signal, "must be hand_raise, unsubscribed or bounced")
		}
	}
	return nil
}

func article(kind string) string {
	if kind == "attribute" || kind == "event" {
		return "an " + kind
	}
	return "a " + kind
}

// PointsOp is how a compiled points term turns a feature value into points.
// It is a small integer so that scoring switches on it cheaply, and reads
// as its name in JSON.
type PointsOp uint8

// The points term operations.
const (
	// PointsPerUnit gives Points for every unit of the feature (an event
	// count or a decayed count), capped at ±Cap when Cap is positive.
	PointsPerUnit PointsOp = iota + 1
	// PointsEquals gives Points when the feature equals Code: a category
	// index, or 0/1 for a boolean.
	PointsEquals
	// PointsRange gives Points when the feature lies in [Min, Max); a
	// bound is used only when HasMin or HasMax says so.
	PointsRange
)

var pointsOpNames = [...]string{PointsPerUnit: "per_unit", PointsEquals: "equals", PointsRange: "range"}

// String returns the operation's name: per_unit, equals or range.
func (op PointsOp) String() string {
	if op > 0 && int(op) < len(pointsOpNames) {
		return pointsOpNames[op]
	}
	return "PointsOp(" + strconv.Itoa(int(op)) + ")"
}

// MarshalText writes the operation's name, so that a stored model reads
// "per_unit" rather than a number.
func (op PointsOp) MarshalText() ([]byte, error) {
	if op == 0 || int(op) >= len(pointsOpNames) {
		return nil, leadscore.InvalidField("points.op", int(op), "is not a points operation")
	}
	return []byte(pointsOpNames[op]), nil
}

// UnmarshalText reads an operation's name.
func (op *PointsOp) UnmarshalText(b []byte) error {
	for i, name := range pointsOpNames {
		if i > 0 && string(b) == name {
			*op = PointsOp(i)
			return nil
		}
	}
	return leadscore.InvalidField("points.op", string(b), "must be per_unit, equals or range")
}

// PointsTerm is one rule compiled against a feature spec: the feature it
// reads and how it turns that value into points. A rule counting an event
// type the spec splits into several kinds (page views of each page)
// compiles into one term per kind.
type PointsTerm struct {
	// Rule is the index in Points.Rules of the rule the term comes from.
	Rule int `json:"rule"`
	// Feature is the index in the feature row of the value read, and
	// FeatureName its name, which lets a loader catch rules compiled
	// against another spec.
	Feature     int    `json:"feature"`
	FeatureName string `json:"feature_name"`
	// Op is how the value becomes points.
	Op PointsOp `json:"op"`
	// Points are the rule's points.
	Points float64 `json:"points"`
	// Cap bounds a PointsPerUnit term's points in absolute value; 0 means
	// no cap.
	Cap float64 `json:"cap,omitempty"`
	// Code is the value a PointsEquals term matches.
	Code float64 `json:"code,omitempty"`
	// Min, Max, HasMin and HasMax bound a PointsRange term. Flags rather
	// than infinities, because JSON cannot hold an infinity.
	Min    float64 `json:"min,omitempty"`
	Max    float64 `json:"max,omitempty"`
	HasMin bool    `json:"has_min,omitempty"`
	HasMax bool    `json:"has_max,omitempty"`
}

// value returns the term's points for feature value x; a missing value
// gives none.
func (t *PointsTerm) value(x float64) float64 {
	if x != x {
		return 0
	}
	switch t.Op {
	case PointsPerUnit:
		v := t.Points * x
		if t.Cap > 0 {
			v = math.Min(math.Max(v, -t.Cap), t.Cap)
		}
		return v
	case PointsEquals:
		if x == t.Code {
			return t.Points
		}
	case PointsRange:
		if (!t.HasMin || x >= t.Min) && (!t.HasMax || x < t.Max) {
			return t.Points
		}
	}
	return 0
}

// Points is the points model: a marketing team's rules compiled against a
// feature spec into plain data, so that it scores from the same feature
// rows as the learned families and explains itself exactly, rule by rule.
// Its raw output is the lead's total points; a Calibration fitted on
// held-out data turns points into a probability.
type Points struct {
	// Rules are the rules as written, for display and explanations.
	Rules []PointsRule `json:"rules"`
	// Terms are the compiled rules, ordered by Feature (stably, in rule
	// order), which lets Raw add points up in exactly the order the
	// contributions are summed. They are fully determined by Rules and
	// the spec, and Validate holds a loaded model to that, so that what an
	// explanation names is what was scored.
	Terms []PointsTerm `json:"terms"`
}

// CompilePoints compiles rules against spec. A rule naming an attribute,
// an event type, a page or a window the spec does not have is an error
// naming the rule: silently scoring it as zero would make the baseline
// look worse than the team's real rules. The one exception is an equals
// category outside the spec's vocabulary: the value is real but too rare
// to have its own category, so the rule matches no lead, and Unmatched
// lists it.
func CompilePoints(rules []PointsRule, spec *FeatureSpec) (*Points, error) {
	return compilePoints(rules, spec, nil, -1)
}

// compilePoints is CompilePoints, stopping with an error as soon as the
// rules compile to more than limit terms (no limit when negative): a
// loaded model's rules are compiled again to check its terms, and a
// hostile artifact's few rules could otherwise compile to millions of
// terms (each event rule gives a term per event kind of its type).
// features are spec.Features(), computed here when nil.
func compilePoints(rules []PointsRule, spec *FeatureSpec, features []Feature, limit int) (*Points, error) {
	if err := validateRules(rules); err != nil {
		return nil, err
	}
	if spec == nil {
		return nil, leadscore.InvalidField("spec", "", "is required")
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if features == nil {
		features = spec.Features()
	}
	index := make(map[string]int, len(features))
	for j, f := range features {
		index[f.Name] = j
	}
	p := &Points{Rules: slices.Clone(rules)}
	for i := range p.Rules {
		r := &p.Rules[i]
		var err error
		switch r.ruleKind() {
		case "event":
			err = p.compileEvent(i, r, spec, index)
		case "attribute":
			err = p.compileAttribute(i, r, spec, index)
		default:
			name := "engagement." + r.Signal
			p.Terms = append(p.Terms, PointsTerm{Rule: i, Feature: index[name], FeatureName: name, Op: PointsEquals, Points: r.Points, Code: 1})
		}
		if err != nil {
			return nil, err
		}
		if limit >= 0 && len(p.Terms) > limit {
			return nil, leadscore.InvalidField("points.terms", limit, fmt.Sprintf(
				"are fewer than the rules compile to under the spec: the first %d rules already compile to %d terms", i+1, len(p.Terms)))
		}
	}
	if len(p.Terms) == 0 {
		return nil, leadscore.InvalidField("rules", strings.Join(p.Unmatched(), ", "),
			"no rule can give points under this feature spec: every equals value is outside its attribute's vocabulary")
	}
	slices.SortStableFunc(p.Terms, func(a, b PointsTerm) int { return a.Feature - b.Feature })
	return p, nil
}

func (p *Points) compileEvent(i int, r *PointsRule, spec *FeatureSpec, index map[string]int) error {
	var kinds, ofType []string
	for _, k := range spec.Kinds {
		if k.Type != r.Event {
			continue
		}
		ofType = append(ofType, k.Name)
		if r.Page == "" || (k.Property == "page" && k.Value == r.Page) {
			kinds = append(kinds, k.Name)
		}
	}
	switch {
	case len(ofType) == 0:
		var types []string
		for _, k := range spec.Kinds {
			if !slices.Contains(types, k.Type) {
				types = append(types, k.Type)
			}
		}
		return ruleError(i, r.Name, "event", r.Event, "is not an event type the spec counts (it counts "+listOrNone(types)+")")
	case len(kinds) == 0:
		return ruleError(i, r.Name, "page", r.Page, fmt.Sprintf(
			"has no event kind of its own in the spec: only pages seen often enough are counted apart (%s kinds: %s)",
			r.Event, strings.Join(ofType, ", ")))
	case len(kinds) > 1 && r.MaxPoints != nil:
		return ruleError(i, r.Name, "max_points", *r.MaxPoints, fmt.Sprintf(
			"cannot cap %s events counted as %d kinds (%s) together; give a page, or drop max_points",
			r.Event, len(kinds), strings.Join(kinds, ", ")))
	}
	if !r.Decay && !slices.Contains(spec.WindowDays, r.WindowDays) {
		return ruleError(i, r.Name, "window_days", r.WindowDays, "must be one of the spec's windows "+joinInts(spec.WindowDays)+" days")
	}
	var limit float64
	if r.MaxPoints != nil {
		limit = *r.MaxPoints
	}
	for _, kind := range kinds {
		name := fmt.Sprintf("events.%s.count_%dd", kind, r.WindowDays)
		if r.Decay {
			name = "events." + kind + ".decayed"
		}
		p.Terms = append(p.Terms, PointsTerm{Rule: i, Feature: index[name], FeatureName: name, Op: PointsPerUnit, Points: r.Points, Cap: limit})
	}
	return nil
}

func (p *Points) compileAttribute(i int, r *PointsRule, spec *FeatureSpec, index map[string]int) error {
	fit := -1
	for j, f := range spec.Fit {
		if f.Attribute == r.Attribute {
			fit = j
			break
		}
	}
	if fit < 0 {
		attrs := make([]string, len(spec.Fit))
		for j, f := range spec.Fit {
			attrs[j] = f.Attribute
		}
		return ruleError(i, r.Name, "attribute", r.Attribute, "is not an attribute of the spec (it has "+listOrNone(attrs)+")")
	}
	f := spec.Fit[fit]
	name := "attr." + f.Attribute
	term := PointsTerm{Rule: i, Feature: index[name], FeatureName: name, Points: r.Points}
	switch f.Kind {
	case KindNumeric:
		if r.Equals != nil {
			return ruleError(i, r.Name, "equals", *r.Equals, fmt.Sprintf("is for categorical and boolean attributes; %s is numeric: use min and max", f.Attribute))
		}
		term.Op = PointsRange
		if r.Min != nil {
			term.Min, term.HasMin = *r.Min, true
		}
		if r.Max != nil {
			term.Max, term.HasMax = *r.Max, true
		}
	case KindBoolean:
		if r.Equals == nil {
			return ruleError(i, r.Name, boundField(r), boundValue(r), fmt.Sprintf("is for numeric attributes; %s is true or false: use equals", f.Attribute))
		}
		term.Op = PointsEquals
		switch {
		case strings.EqualFold(*r.Equals, "true"):
			term.Code = 1
		case strings.EqualFold(*r.Equals, "false"):
			term.Code = 0
		default:
			return ruleError(i, r.Name, "equals", *r.Equals, fmt.Sprintf("must be true or false: %s is a boolean attribute", f.Attribute))
		}
	default:
		if r.Equals == nil {
			return ruleError(i, r.Name, boundField(r), boundValue(r), fmt.Sprintf("is for numeric attributes; %s is categorical: use equals", f.Attribute))
		}
		c := slices.Index(f.Categories, *r.Equals)
		if c < 0 {
			return nil // matches no lead; see PointsRule.Equals
		}
		term.Op, term.Code = PointsEquals, float64(c)
	}
	p.Terms = append(p.Terms, term)
	return nil
}

func boundField(r *PointsRule) string {
	if r.Min != nil {
		return "min"
	}
	return "max"
}

func boundValue(r *PointsRule) float64 {
	if r.Min != nil {
		return *r.Min
	}
	return *r.Max
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	const most = 20
	if len(s) > most {
		return strings.Join(s[:most], ", ") + fmt.Sprintf(" and %d more", len(s)-most)
	}
	return strings.Join(s, ", ")
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// Unmatched names the rules that give no lead points under the spec they
// were compiled against (an equals category outside the vocabulary), so
// that a trainer can warn rather than let a rule vanish unnoticed.
func (p *Points) Unmatched() []string {
	used := make([]bool, len(p.Rules))
	for _, t := range p.Terms {
		if t.Rule >= 0 && t.Rule < len(used) {
			used[t.Rule] = true
		}
	}
	var out []string
	for i, u := range used {
		if !u {
			out = append(out, p.Rules[i].Name)
		}
	}
	return out
}

// Validate checks a loaded points model completely against the spec it
// scores with: the rules as written, and every term's rule, feature index
// and name, operation, numbers and order. A corrupt or mismatched artifact
// is refused here with an error naming what is wrong, so that Raw never
// reads outside a row or scores a rule nobody wrote. It never panics.
func (p *Points) Validate(spec *FeatureSpec) error {
	if p == nil {
		return leadscore.InvalidField("points", "", "is required")
	}
	if spec == nil {
		return leadscore.InvalidField("spec", "", "is required")
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	if err := validateRules(p.Rules); err != nil {
		return err
	}
	if len(p.Terms) == 0 {
		return leadscore.InvalidField("points.terms", 0, "need at least one term")
	}
	features := spec.Features()
	kinds := make(map[string]EventKind, len(spec.Kinds))
	for _, k := range spec.Kinds {
		kinds[k.Name] = k
	}
	for k := range p.Terms {
		if err := p.validateTerm(k, features, kinds); err != nil {
			return err
		}
	}
	// Each term is right on its own; compiling the rules again also
	// catches a term left out or given twice. The compiling stops past the
	// terms the model holds, so its work stays in proportion to the
	// model's size.
	want, err := compilePoints(p.Rules, spec, features, len(p.Terms))
	if err != nil {
		return err
	}
	if !slices.Equal(p.Terms, want.Terms) {
		return leadscore.InvalidField("points.terms", len(p.Terms), fmt.Sprintf("are not the %d terms the rules compile to under the spec", len(want.Terms)))
	}
	return nil
}

// validateTerm checks one term on its own and against the rule it claims
// to come from, so that what an explanation names is what was scored.
func (p *Points) validateTerm(k int, features []Feature, kinds map[string]EventKind) error {
	t := &p.Terms[k]
	field := fmt.Sprintf("points.terms[%d]", k)
	if t.Rule < 0 || t.Rule >= len(p.Rules) {
		return leadscore.InvalidField(field+".rule", t.Rule, fmt.Sprintf("must index one of the %d rules", len(p.Rules)))
	}
	r := &p.Rules[t.Rule]
	if t.Feature < 0 || t.Feature >= len(features) {
		return leadscore.InvalidField(field+".feature", t.Feature, fmt.Sprintf("must index one of the spec's %d features", len(features)))
	}
	f := features[t.Feature]
	if t.FeatureName != f.Name {
		return leadscore.InvalidField(field+".feature_name", t.FeatureName,
			fmt.Sprintf("does not match feature %d of the spec, %s: the rules were compiled against another spec", t.Feature, f.Name))
	}
	if k > 0 && t.Feature < p.Terms[k-1].Feature {
		return leadscore.InvalidField(field+".feature", t.Feature, "terms must be ordered by feature, so that contributions add up to the points exactly")
	}
	if t.Points != r.Points {
		return leadscore.InvalidField(field+".points", t.Points, fmt.Sprintf("must equal the %v points of rule %q", r.Points, r.Name))
	}
	var want PointsTerm
	switch r.ruleKind() {
	case "event":
		if !eventFeatureOf(r, kinds, f.Name) {
			return leadscore.InvalidField(field+".feature_name", f.Name, fmt.Sprintf("is not a feature rule %q reads", r.Name))
		}
		want = PointsTerm{Op: PointsPerUnit}
		if r.MaxPoints != nil {
			want.Cap = *r.MaxPoints
		}
	case "attribute":
		if f.Name != "attr."+r.Attribute {
			return leadscore.InvalidField(field+".feature_name", f.Name, fmt.Sprintf("is not the feature rule %q reads", r.Name))
		}
		switch {
		case f.Kind == KindNumeric && r.Equals == nil:
			want = PointsTerm{Op: PointsRange}
			if r.Min != nil {
				want.Min, want.HasMin = *r.Min, true
			}
			if r.Max != nil {
				want.Max, want.HasMax = *r.Max, true
			}
		case f.Kind == KindBoolean && r.Equals != nil:
			want = PointsTerm{Op: PointsEquals}
			if strings.EqualFold(*r.Equals, "true") {
				want.Code = 1
			} else if !strings.EqualFold(*r.Equals, "false") {
				return leadscore.InvalidField(field+".code", t.Code, fmt.Sprintf("rule %q compares boolean %s with %q", r.Name, f.Name, *r.Equals))
			}
		case f.Kind == KindCategorical && r.Equals != nil:
			c := slices.Index(f.Categories, *r.Equals)
			if c < 0 {
				return leadscore.InvalidField(field+".code", t.Code, fmt.Sprintf("rule %q names %q, which is not a category of %s", r.Name, *r.Equals, f.Name))
			}
			want = PointsTerm{Op: PointsEquals, Code: float64(c)}
		default:
			return leadscore.InvalidField(field+".op", t.Op, fmt.Sprintf("rule %q cannot read %s feature %s", r.Name, f.Kind, f.Name))
		}
	case "signal":
		if f.Name != "engagement."+r.Signal {
			return leadscore.InvalidField(field+".feature_name", f.Name, fmt.Sprintf("is not the feature rule %q reads", r.Name))
		}
		want = PointsTerm{Op: PointsEquals, Code: 1}
	}
	want.Rule, want.Feature, want.FeatureName, want.Points = t.Rule, t.Feature, t.FeatureName, t.Points
	if *t != want {
		return leadscore.InvalidField(field, fmt.Sprintf("%+v", *t), fmt.Sprintf("does not compile rule %q: want %+v", r.Name, want))
	}
	return nil
}

// eventFeatureOf reports whether feature name is one an event rule reads:
// the window count or decayed count of a kind (of the spec's kinds, by
// name) of its type (and page).
func eventFeatureOf(r *PointsRule, kinds map[string]EventKind, name string) bool {
	suffix := ".count_" + strconv.Itoa(r.WindowDays) + "d"
	if r.Decay {
		suffix = ".decayed"
	}
	rest, ok := strings.CutPrefix(name, "events.")
	if !ok {
		return false
	}
	kind, ok := strings.CutSuffix(rest, suffix)
	if !ok {
		return false
	}
	k, ok := kinds[kind]
	return ok && k.Type == r.Event && (r.Page == "" || (k.Property == "page" && k.Value == r.Page))
}

// Raw returns the lead's total points for a feature row of the spec's
// width (Validate has proved every index is within it). A missing value
// gives its rules no points. It adds the points up feature by feature, in
// the order Contributions' values are summed, so the two agree exactly.
// It allocates nothing.
func (p *Points) Raw(row []float64) float64 {
	var total float64
	terms := p.Terms
	for k := 0; k < len(terms); {
		f := terms[k].Feature
		x := row[f]
		var s float64
		for ; k < len(terms) && terms[k].Feature == f; k++ {
			s += terms[k].value(x)
		}
		total += s
	}
	return total
}

// Contributions writes into out (one entry per feature of the spec) the
// points each feature's rules give, and returns the base value, 0: a lead
// with no points is the points model's neutral lead. The base plus the
// contributions summed in feature order is exactly Raw. It allocates
// nothing.
func (p *Points) Contributions(row, out []float64) float64 {
	clear(out)
	terms := p.Terms
	for k := 0; k < len(terms); {
		f := terms[k].Feature
		x := row[f]
		var s float64
		for ; k < len(terms) && terms[k].Feature == f; k++ {
			s += terms[k].value(x)
		}
		out[f] = s
	}
	return 0
}
