package model

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FormatPointsRules renders rules as the YAML rules file ParsePointsRules
// reads, so that learned rules, or the rules stored in an artifact, can be
// read, edited and pasted into a marketing-automation tool, and read back
// by `train --rules` to the same rules. comment, when not empty, opens the
// file as YAML comment lines. Text is quoted whenever YAML could read it
// as something else (a number, a boolean, null), and numbers are written
// in full, so that parsing the output gives back exactly rules.
func FormatPointsRules(rules *PointsRules, comment string) []byte {
	var b bytes.Buffer
	if comment != "" {
		for _, line := range strings.Split(strings.TrimRight(comment, "\n"), "\n") {
			b.WriteString(strings.TrimRight("# "+line, " ") + "\n")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "calibration: %s\n\nrules:\n", rules.CalibrationMethod())
	for _, r := range rules.Rules {
		fmt.Fprintf(&b, "  - name: %s\n", yamlText(r.Name))
		field := func(key, value string) { fmt.Fprintf(&b, "    %s: %s\n", key, value) }
		switch {
		case r.Event != "":
			field("event", yamlText(r.Event))
			if r.Page != "" {
				field("page", yamlText(r.Page))
			}
			if r.Decay {
				field("decay", "true")
			} else {
				field("window_days", strconv.Itoa(r.WindowDays))
			}
			field("points", yamlNumber(r.Points))
			if r.MaxPoints != nil {
				field("max_points", yamlNumber(*r.MaxPoints))
			}
		case r.Attribute != "":
			field("attribute", yamlText(r.Attribute))
			if r.Equals != nil {
				field("equals", yamlText(*r.Equals))
			}
			if r.Min != nil {
				field("min", yamlNumber(*r.Min))
			}
			if r.Max != nil {
				field("max", yamlNumber(*r.Max))
			}
			field("points", yamlNumber(r.Points))
		default:
			field("signal", yamlText(r.Signal))
			field("points", yamlNumber(r.Points))
		}
	}
	return b.Bytes()
}

// yamlText writes s bare when it is a plain key that YAML reads as text
// (lower-case letters, digits and _, not starting with a digit, and not a
// word YAML 1.1 readers take for a boolean or null), and double-quoted
// otherwise. strconv.Quote's escapes are all valid in a YAML
// double-quoted scalar.
func yamlText(s string) string {
	plain := s != ""
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '_' || (i > 0 && (r >= '0' && r <= '9'))) {
			plain = false
			break
		}
	}
	switch s {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		plain = false
	}
	if plain {
		return s
	}
	return strconv.Quote(s)
}

// yamlNumber writes v so that YAML reads back the same float64: whole
// numbers in full (10000000, not 1e+07), others in the shortest form
// that round-trips.
func yamlNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
