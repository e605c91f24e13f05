package dataset

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	utc := func(y int, m time.Month, d, h, min, s, ns int) time.Time {
		return time.Date(y, m, d, h, min, s, ns, time.UTC)
	}
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-03-01T09:30:00Z", utc(2024, 3, 1, 9, 30, 0, 0), true},
		{"2024-03-01t09:30:00z", utc(2024, 3, 1, 9, 30, 0, 0), true},
		{"2024-03-01T09:30:00.5Z", utc(2024, 3, 1, 9, 30, 0, 500_000_000), true},
		{"2024-03-01T09:30:00.123456789Z", utc(2024, 3, 1, 9, 30, 0, 123456789), true},
		{"2024-03-01T09:30:00+01:00", utc(2024, 3, 1, 8, 30, 0, 0), true},
		{"2024-03-01T00:30:00-02:30", utc(2024, 3, 1, 3, 0, 0, 0), true},
		{"2024-03-01 09:30:00", utc(2024, 3, 1, 9, 30, 0, 0), true},
		{"2024-03-01 09:30:00.25", utc(2024, 3, 1, 9, 30, 0, 250_000_000), true},
		{"2024-03-01 09:30:00+01:00", utc(2024, 3, 1, 8, 30, 0, 0), true},
		{"2024-03-01", utc(2024, 3, 1, 0, 0, 0, 0), true},
		{"2024-02-29", utc(2024, 2, 29, 0, 0, 0, 0), true},
		{"2023-02-29", time.Time{}, false},
		{"2024-13-01", time.Time{}, false},
		{"2024-04-31", time.Time{}, false},
		{"2024-03-01T09:30:00", time.Time{}, false},
		{"2024-03-01T24:00:00Z", time.Time{}, false},
		{"2024-03-01T09:60:00Z", time.Time{}, false},
		{"2024-03-01T09:30:60Z", time.Time{}, false},
		{"2024-03-01T09:30:00.Z", time.Time{}, false},
		{"2024-03-01T09:30:00.1234567890Z", time.Time{}, false},
		{"2024-03-01T09:30:00+0100", time.Time{}, false},
		{"2024-03-01T09:30Z", time.Time{}, false},
		{"01/03/2024", time.Time{}, false},
		{"2024-3-1", time.Time{}, false},
		{"+024-03-01", time.Time{}, false},
		{"", time.Time{}, false},
		{"1709285400", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := parseTime(tt.in)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok && got.Location() != time.UTC {
			t.Errorf("parseTime(%q) location = %v, want UTC", tt.in, got.Location())
		}
		if gotB, okB := parseTime([]byte(tt.in)); okB != ok || !gotB.Equal(got) {
			t.Errorf("parseTime([]byte(%q)) = %v, %v; the string form gave %v, %v", tt.in, gotB, okB, got, ok)
		}
	}
}

// FuzzParseTime checks the hand-written parser against time.Parse on the
// RFC 3339 form both accept.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-03-01T09:30:00Z", "2024-03-01T09:30:00.123+05:30", "2024-03-01 09:30:00", "2024-03-01", "2000-02-29T23:59:59-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseTime(s)
		if !ok {
			return
		}
		if len(s) > 10 && (s[10] == 'T') && (s[len(s)-1] == 'Z' || s[len(s)-3] == ':' && (s[len(s)-6] == '+' || s[len(s)-6] == '-')) {
			want, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				t.Fatalf("parseTime(%q) = %v but time.Parse refuses it: %v", s, got, err)
			}
			if !got.Equal(want) {
				t.Fatalf("parseTime(%q) = %v, time.Parse = %v", s, got, want)
			}
		}
	})
}

func TestNumbers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in          string
		numeric     bool // looksNumeric: counted as a number by inference
		parses      bool // parseNumber accepts it
		want        float64
		reasonMatch string
	}{
		{"42", true, true, 42, ""},
		{"-3.5", true, true, -3.5, ""},
		{"+7", true, true, 7, ""},
		{".5", true, true, 0.5, ""},
		{"5.", true, true, 5, ""},
		{"1e3", true, true, 1000, ""},
		{"0", true, true, 0, ""},
		{"0.25", true, true, 0.25, ""},
		{"007", false, true, 7, ""},
		{"-01", false, true, -1, ""},
		{"1e400", false, false, 0, "out of the range"},
		{"NaN", false, false, 0, "finite"},
		{"Inf", false, false, 0, "finite"},
		{"-infinity", false, false, 0, "finite"},
		{"0x10", false, false, 0, "not a number"},
		{"1_000", false, false, 0, "not a number"},
		{"1,000", false, false, 0, "not a number"},
		{"1e", false, false, 0, "not a number"},
		{".", false, false, 0, "not a number"},
		{"-", false, false, 0, "not a number"},
		{"12abc", false, false, 0, "not a number"},
		{" 1", false, false, 0, "not a number"},
	}
	for _, tt := range tests {
		if got := looksNumeric([]byte(tt.in)); got != tt.numeric {
			t.Errorf("looksNumeric(%q) = %v, want %v", tt.in, got, tt.numeric)
		}
		got, reason := parseNumber([]byte(tt.in))
		if (reason == "") != tt.parses || tt.parses && got != tt.want {
			t.Errorf("parseNumber(%q) = %v, %q; want %v (parses: %v)", tt.in, got, reason, tt.want, tt.parses)
		}
		if !tt.parses && !strings.Contains(reason, tt.reasonMatch) {
			t.Errorf("parseNumber(%q) reason = %q, want it to mention %q", tt.in, reason, tt.reasonMatch)
		}
	}
}

func TestInferKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []string
		want   inferKind
	}{
		{"numbers are numeric", []string{"1", "2.5", "-3"}, inferNumber},
		{"zeros and ones are numeric", []string{"0", "1", "1", "0"}, inferNumber},
		{"yes and no are boolean", []string{"yes", "no", "YES"}, inferBool},
		{"true and false are boolean", []string{"true", "False"}, inferBool},
		{"a third word makes text", []string{"yes", "no", "unknown"}, inferText},
		{"codes with leading zeros are text", []string{"0012", "0444", "0999"}, inferText},
		{"one stray word in twenty stays numeric", append(slices.Repeat([]string{"7"}, 19), "seven"), inferNumber},
		{"two stray words in twenty make text", append(slices.Repeat([]string{"7"}, 18), "seven", "eight"), inferText},
		{"nothing is text", nil, inferText},
		{"words are text", []string{"admin.", "technician"}, inferText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c inferCounts
			for _, v := range tt.values {
				c.add([]byte(v))
			}
			if got := c.kind(); got != tt.want {
				t.Errorf("kind of %q = %v, want %v", tt.values, got, tt.want)
			}
		})
	}
}

func TestMissingSet(t *testing.T) {
	t.Parallel()
	s := newMissingSet(false, []string{"?", "NA", "unknown"}, []string{"-1"})
	for _, v := range append(DefaultMissingValues(), "unknown", "-1") {
		if !s.has([]byte(v)) || !s.hasString(v) {
			t.Errorf("%q is not missing, want missing", v)
		}
	}
	// Matching is exact and case-sensitive.
	for _, v := range []string{"na", "Null", "none", "select", "SELECT", "0", "--", " ", "Unknown"} {
		if s.has([]byte(v)) || s.hasString(v) {
			t.Errorf("%q is missing, want a value", v)
		}
	}
	if want := len(DefaultMissingValues()) + 2; len(s.tokens) != want {
		t.Errorf("the set has %d tokens %q, want %d without duplicates", len(s.tokens), s.tokens, want)
	}
}

func TestMissingSetWithoutDefaults(t *testing.T) {
	t.Parallel()
	s := newMissingSet(true, []string{"unknown"})
	if !s.has(nil) || !s.hasString("") || !s.hasString("unknown") {
		t.Errorf("set %q: the empty value and the given token must be missing", s.tokens)
	}
	for _, v := range DefaultMissingValues()[1:] {
		if s.hasString(v) {
			t.Errorf("%q is missing with the defaults off", v)
		}
	}
}
