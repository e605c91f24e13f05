package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/leadscore/leadscore"
)

// jsonlSeeds are inputs worth starting a fuzz run from, beside the corpus
// in testdata/fuzz.
var jsonlSeeds = []string{
	`{"id":"e1","lead_id":"l1","type":"page_view","occurred_at":"2024-03-01T09:30:00Z","properties":{"page":"/pricing"}}` + "\n",
	`{"id":"l1","account_id":"a1","created_at":"2024-03-01","attributes":{"n":1.5e3,"b":true,"s":"caf\u00e9","z":null}}` + "\n\n",
	`{"lead_id":"l1","status":"won","occurred_at":"2024-05-01 10:00:00","amount":10,"currency":"EUR"}` + "\r\n",
	`{"id":"e1","id":"e2"}` + "\n" + `{"id":"\ud800","lead_id":"l\"1"}` + "\n",
	`{"attributes":{"a":{"b":[1,{"c":"]"}]}}}` + "\n" + `[1,2]` + "\n" + `{"id":"x"} trailing`,
}

// FuzzReadJSONL feeds arbitrary bytes to the JSONL readers. They must never
// panic; records they hand out must validate; and a line the readers
// accept must be valid JSON that encoding/json reads the same way.
func FuzzReadJSONL(f *testing.F) {
	for _, s := range jsonlSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"events.jsonl", "leads.jsonl", "outcomes.ndjson"} {
			for _, lenient := range []bool{false, true} {
				checkTableRead(t, name, data, lenient)
			}
		}
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			checkJSONLine(t, line)
		}
	})
}

// checkJSONLine reads one line as an event and as a lead and, when the
// readers accept it, compares what they read with encoding/json.
func checkJSONLine(t *testing.T, line []byte) {
	t.Helper()
	if isBlank(line) {
		return
	}
	var ev leadscore.Event
	_, err := ReadEventsFrom(context.Background(), bytes.NewReader(line), "e.jsonl", ReadOptions{}, func(e leadscore.Event) error {
		ev = e
		return nil
	})
	if err == nil {
		var m map[string]any
		if uerr := json.Unmarshal(line, &m); uerr != nil {
			t.Fatalf("the event reader accepted %q, which encoding/json refuses: %v", line, uerr)
		}
		if m["id"] != ev.ID || m["lead_id"] != ev.LeadID || m["type"] != ev.Type {
			t.Fatalf("event %+v, encoding/json read %v", ev, m)
		}
		if props, ok := m["properties"].(map[string]any); ok {
			for k, v := range ev.Properties {
				if props[k] != v {
					t.Fatalf("property %q = %q, encoding/json read %v", k, v, props[k])
				}
			}
		}
	}
	var lead leadscore.Lead
	_, err = ReadLeadsFrom(context.Background(), bytes.NewReader(line), "l.jsonl", ReadOptions{}, func(l leadscore.Lead) error {
		lead = l
		return nil
	})
	if err == nil {
		var m map[string]any
		if uerr := json.Unmarshal(line, &m); uerr != nil {
			t.Fatalf("the lead reader accepted %q, which encoding/json refuses: %v", line, uerr)
		}
		if m["id"] != lead.ID {
			t.Fatalf("lead id %q, encoding/json read %v", lead.ID, m["id"])
		}
		attrs, _ := m["attributes"].(map[string]any)
		for k, v := range lead.Attributes {
			want := attrs[k]
			switch v.Kind {
			case leadscore.KindString:
				if want != v.Str {
					t.Fatalf("attribute %q = %q, encoding/json read %v", k, v.Str, want)
				}
			case leadscore.KindNumber:
				if want != v.Num {
					t.Fatalf("attribute %q = %v, encoding/json read %v", k, v.Num, want)
				}
			case leadscore.KindBool:
				if want != v.Bool {
					t.Fatalf("attribute %q = %v, encoding/json read %v", k, v.Bool, want)
				}
			case leadscore.KindMissing:
				if s, isString := want.(string); want != nil && !(isString && newMissingSet(false).hasString(s)) {
					t.Fatalf("attribute %q is missing, encoding/json read %v", k, want)
				}
			}
		}
	}
}
