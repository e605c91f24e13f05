package dataset

import (
	"strconv"
	"strings"

	"github.com/leadscore/leadscore"
)

// maxInternedTypes bounds the event types whose strings are shared across
// records; a file has a few dozen, and a file of random types must not
// grow the table without bound.
const maxInternedTypes = 1024

// eventLayout maps the columns of a delimited events file.
type eventLayout struct {
	id, lead, typ, at int
	props             []eventProp
	miss              missingSet
	// types interns validated event types, so millions of events share a
	// handful of strings.
	types map[string]string
}

// eventProp is one property column of an events file.
type eventProp struct {
	col int
	key string
}

// newEventLayout checks an events header: id, lead_id, type and
// occurred_at are required; every other column is a property whose name
// must be a key.
func newEventLayout(t *delimTable, opts ReadOptions) (*eventLayout, error) {
	l := &eventLayout{miss: newMissingSet(opts.NoDefaultMissing, opts.MissingTokens), types: make(map[string]string)}
	for _, c := range []struct {
		name string
		to   *int
	}{{"id", &l.id}, {"lead_id", &l.lead}, {"type", &l.typ}, {"occurred_at", &l.at}} {
		i, err := t.require(c.name)
		if err != nil {
			return nil, err
		}
		*c.to = i
	}
	for i, name := range t.header {
		if i == l.id || i == l.lead || i == l.typ || i == l.at {
			continue
		}
		if err := leadscore.ValidateKey("property", name); err != nil {
			return nil, t.headerError(i, "is not a valid property key: "+reasonOf(err))
		}
		l.props = append(l.props, eventProp{col: i, key: name})
	}
	if len(l.props) > leadscore.MaxEventProperties {
		return nil, t.headerError(l.props[leadscore.MaxEventProperties].col,
			"is one property too many: an event has at most "+strconv.Itoa(leadscore.MaxEventProperties))
	}
	return l, nil
}

// parse reads the current record as an event.
func (l *eventLayout) parse(r *delimReader) (leadscore.Event, *RecordError) {
	var ev leadscore.Event
	b := r.field(l.id)
	if l.miss.has(b) {
		return ev, r.fieldError(l.id+1, b, "is required")
	}
	ev.ID = r.fieldString(l.id)
	if err := leadscore.ValidateID("id", ev.ID); err != nil {
		return ev, r.fieldError(l.id+1, b, reasonOf(err))
	}
	b = r.field(l.lead)
	if l.miss.has(b) {
		return ev, r.fieldError(l.lead+1, b, "is required")
	}
	ev.LeadID = r.fieldString(l.lead)
	if err := leadscore.ValidateID("lead_id", ev.LeadID); err != nil {
		return ev, r.fieldError(l.lead+1, b, reasonOf(err))
	}
	b = r.field(l.typ)
	if l.miss.has(b) {
		return ev, r.fieldError(l.typ+1, b, "is required")
	}
	if s, ok := l.types[string(b)]; ok {
		ev.Type = s
	} else {
		ev.Type = r.fieldString(l.typ)
		if err := leadscore.ValidateKey("type", ev.Type); err != nil {
			return ev, r.fieldError(l.typ+1, b, reasonOf(err))
		}
		if len(l.types) < maxInternedTypes {
			s := strings.Clone(ev.Type)
			l.types[s] = s
		}
	}
	b = r.field(l.at)
	if l.miss.has(b) {
		return ev, r.fieldError(l.at+1, b, "is required")
	}
	t, reason := readTime(b)
	if reason != "" {
		return ev, r.fieldError(l.at+1, b, reason)
	}
	ev.OccurredAt = t
	for _, p := range l.props {
		b := r.field(p.col)
		if l.miss.has(b) {
			continue
		}
		if len(b) > leadscore.MaxAttributeValueBytes {
			return ev, r.fieldError(p.col+1, b, "is longer than "+strconv.Itoa(leadscore.MaxAttributeValueBytes)+" bytes")
		}
		if ev.Properties == nil {
			ev.Properties = make(map[string]string, len(l.props))
		}
		ev.Properties[p.key] = r.fieldString(p.col)
	}
	return ev, nil
}

// eventFields lists the fields of a JSONL event for error messages.
const eventFields = "id, lead_id, type, occurred_at and properties"

// parseEventJSON reads a JSONL event.
func parseEventJSON(p *jsonLine) (leadscore.Event, error) {
	var ev leadscore.Event
	var seenID, seenLead, seenType, seenAt, seenProps bool
	err := p.s.object(func(key string) error {
		var err error
		switch key {
		case "id", "lead_id":
			seen, to := &seenID, &ev.ID
			if key == "lead_id" {
				seen, to = &seenLead, &ev.LeadID
			}
			if err := p.once(seen, key); err != nil {
				return err
			}
			if *to, err = p.required(key); err != nil {
				return err
			}
			if err := leadscore.ValidateID(key, *to); err != nil {
				return p.fieldError(key, []byte(*to), reasonOf(err))
			}
		case "type":
			if err := p.once(&seenType, key); err != nil {
				return err
			}
			if ev.Type, err = p.required(key); err != nil {
				return err
			}
			if err := leadscore.ValidateKey(key, ev.Type); err != nil {
				return p.fieldError(key, []byte(ev.Type), reasonOf(err))
			}
		case "occurred_at":
			if err := p.once(&seenAt, key); err != nil {
				return err
			}
			if ev.OccurredAt, err = p.time(key); err != nil {
				return err
			}
		case "properties":
			if err := p.once(&seenProps, key); err != nil {
				return err
			}
			return p.properties(&ev)
		default:
			return p.noValue(key, "is not an event field; events have "+eventFields)
		}
		return nil
	})
	if err != nil {
		return ev, err
	}
	for _, f := range []struct {
		seen bool
		name string
	}{{seenID, "id"}, {seenLead, "lead_id"}, {seenType, "type"}, {seenAt, "occurred_at"}} {
		if !f.seen {
			return ev, p.noValue(f.name, "is required")
		}
	}
	return ev, nil
}

// properties reads an event's "properties": an object of strings, with
// null or a missing token for a property the event does not have.
func (p *jsonLine) properties(ev *leadscore.Event) error {
	if p.s.peek() != '{' {
		v, err := p.s.value()
		if err != nil || v.kind == jsonNull {
			return err
		}
		return p.fieldError("properties", v.raw, "must be an object")
	}
	seen := make(map[string]bool)
	return p.s.object(func(key string) error {
		path := func() string { return "properties." + key }
		if err := leadscore.ValidateKey("property", key); err != nil {
			return p.noValue(path(), "is not a valid property key: "+reasonOf(err))
		}
		if seen[key] {
			return p.duplicate(path())
		}
		seen[key] = true
		if len(seen) > leadscore.MaxEventProperties {
			return p.noValue(path(), "is one property too many: an event has at most "+strconv.Itoa(leadscore.MaxEventProperties))
		}
		s, _, err := p.text(path())
		if err != nil || s == "" {
			return err
		}
		if len(s) > leadscore.MaxAttributeValueBytes {
			return p.fieldError(path(), []byte(s), "is longer than "+strconv.Itoa(leadscore.MaxAttributeValueBytes)+" bytes")
		}
		if ev.Properties == nil {
			ev.Properties = make(map[string]string)
		}
		ev.Properties[key] = s
		return nil
	})
}
