package dataset

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/leadscore/leadscore"
)

// leadLayout maps the columns of a delimited leads file.
type leadLayout struct {
	id, account, owner, created int
	attrs                       []leadAttr
	miss                        missingSet
}

// leadAttr is one attribute column of a leads file.
type leadAttr struct {
	col    int
	key    string
	kind   leadscore.ValueKind
	fixed  bool
	counts inferCounts
}

// newLeadLayout checks a leads header: id and created_at are required,
// account_id and owner optional, every other column is an attribute whose
// name must be an attribute key.
func newLeadLayout(t *delimTable, opts ReadOptions) (*leadLayout, error) {
	l := &leadLayout{account: t.col("account_id"), owner: t.col("owner"), miss: newMissingSet(opts.NoDefaultMissing, opts.MissingTokens)}
	var err error
	if l.id, err = t.require("id"); err != nil {
		return nil, err
	}
	if l.created, err = t.require("created_at"); err != nil {
		return nil, err
	}
	isAttr := make(map[string]bool, len(t.header))
	for i, name := range t.header {
		if i == l.id || i == l.account || i == l.owner || i == l.created {
			continue
		}
		if err := leadscore.ValidateKey("attribute", name); err != nil {
			return nil, t.headerError(i, "is not a valid attribute key: "+reasonOf(err))
		}
		a := leadAttr{col: i, key: name}
		if k, ok := opts.Kinds[name]; ok {
			if k != leadscore.KindNumber && k != leadscore.KindBool && k != leadscore.KindString {
				return nil, leadscore.Errorf(leadscore.EINVALID, "%s: ReadOptions.Kinds[%q] is %v; use number, bool or string", t.r.file, name, k)
			}
			a.kind, a.fixed = k, true
		}
		l.attrs = append(l.attrs, a)
		isAttr[name] = true
	}
	if len(l.attrs) > leadscore.MaxAttributes {
		return nil, t.headerError(l.attrs[leadscore.MaxAttributes].col,
			"is one attribute too many: a lead has at most "+strconv.Itoa(leadscore.MaxAttributes))
	}
	names := make([]string, 0, len(opts.Kinds))
	for name := range opts.Kinds {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !isAttr[name] {
			return nil, t.missingColumn(name, "is named in ReadOptions.Kinds but is not an attribute column")
		}
	}
	return l, nil
}

// needsInference reports whether some attribute's kind is not fixed.
func (l *leadLayout) needsInference() bool {
	for _, a := range l.attrs {
		if !a.fixed {
			return true
		}
	}
	return false
}

// infer reads the rest of t and sets the kind of every attribute that is
// not fixed. Malformed records are left for the parsing pass to report.
func (l *leadLayout) infer(ctx context.Context, t *delimTable) error {
	for n := 0; ; n++ {
		if err := checkContext(ctx, n, t.r.file); err != nil {
			return err
		}
		bad, err := t.r.read()
		if err != nil {
			if err == io.EOF {
				break
			}
			return err
		}
		if bad != nil {
			continue
		}
		for i := range l.attrs {
			a := &l.attrs[i]
			if b := t.r.field(a.col); !a.fixed && !l.miss.has(b) {
				a.counts.add(b)
			}
		}
	}
	for i := range l.attrs {
		a := &l.attrs[i]
		if a.fixed {
			continue
		}
		switch a.counts.kind() {
		case inferNumber:
			a.kind = leadscore.KindNumber
		case inferBool:
			a.kind = leadscore.KindBool
		default:
			a.kind = leadscore.KindString
		}
	}
	return nil
}

// kinds returns the kind of each attribute column.
func (l *leadLayout) kinds() map[string]leadscore.ValueKind {
	m := make(map[string]leadscore.ValueKind, len(l.attrs))
	for _, a := range l.attrs {
		m[a.key] = a.kind
	}
	return m
}

// parse reads the current record as a lead.
func (l *leadLayout) parse(r *delimReader) (leadscore.Lead, *RecordError) {
	var lead leadscore.Lead
	b := r.field(l.id)
	if l.miss.has(b) {
		return lead, r.fieldError(l.id+1, b, "is required")
	}
	lead.ID = r.fieldString(l.id)
	if err := leadscore.ValidateID("id", lead.ID); err != nil {
		return lead, r.fieldError(l.id+1, b, reasonOf(err))
	}
	b = r.field(l.created)
	if l.miss.has(b) {
		return lead, r.fieldError(l.created+1, b, "is required")
	}
	t, reason := readTime(b)
	if reason != "" {
		return lead, r.fieldError(l.created+1, b, reason)
	}
	lead.CreatedAt = t
	if l.account >= 0 {
		if b := r.field(l.account); !l.miss.has(b) {
			lead.AccountID = r.fieldString(l.account)
			if err := leadscore.ValidateID("account_id", lead.AccountID); err != nil {
				return lead, r.fieldError(l.account+1, b, reasonOf(err))
			}
		}
	}
	if l.owner >= 0 {
		if b := r.field(l.owner); !l.miss.has(b) {
			lead.Owner = r.fieldString(l.owner)
			if err := leadscore.String(lead.Owner).Validate("owner"); err != nil {
				return lead, r.fieldError(l.owner+1, b, reasonOf(err))
			}
		}
	}
	if len(l.attrs) == 0 {
		return lead, nil
	}
	lead.Attributes = make(map[string]leadscore.Value, len(l.attrs))
	for i := range l.attrs {
		a := &l.attrs[i]
		b := r.field(a.col)
		if l.miss.has(b) {
			lead.Attributes[a.key] = leadscore.Value{}
			continue
		}
		v, reason := a.parse(r, b)
		if reason != "" {
			return lead, r.fieldError(a.col+1, b, reason)
		}
		lead.Attributes[a.key] = v
	}
	return lead, nil
}

// parse reads a present value of the attribute, or says what is wrong.
func (a *leadAttr) parse(r *delimReader, b []byte) (leadscore.Value, string) {
	switch a.kind {
	case leadscore.KindNumber:
		f, reason := parseNumber(b)
		if reason == "" {
			return leadscore.Number(f), ""
		}
		if !a.fixed {
			reason += fmt.Sprintf("; the column is numeric because %d of its %d values are numbers: fix the value, add it to MissingTokens or read the column as a string with ReadOptions.Kinds",
				a.counts.numbers, a.counts.present)
		}
		return leadscore.Value{}, reason
	case leadscore.KindBool:
		if v, ok := parseBoolWord(b); ok {
			return leadscore.Bool(v), ""
		}
		if a.fixed && len(b) == 1 && (b[0] == '0' || b[0] == '1') {
			return leadscore.Bool(b[0] == '1'), ""
		}
		return leadscore.Value{}, "is not a boolean (true, false, yes or no)"
	default:
		v := leadscore.String(r.fieldString(a.col))
		if err := v.Validate(a.key); err != nil {
			return leadscore.Value{}, reasonOf(err)
		}
		return v, ""
	}
}

// readLeads reads the leads of an input.
func readLeads(ctx context.Context, in *input, opts ReadOptions, fn func(leadscore.Lead) error) (ReadStats, error) {
	stats := ReadStats{File: in.name}
	if in.format == formatJSONL {
		err := readJSONL(ctx, in, opts, &stats, parseLeadJSON, fn)
		return stats, err
	}
	comma, err := opts.comma()
	if err != nil {
		return stats, err
	}
	t, closeInput, err := openDelimited(in, comma)
	if err != nil {
		return stats, err
	}
	stats.Delimiter = rune(t.r.comma)
	stats.Notes = t.notes()
	l, err := newLeadLayout(t, opts)
	if err != nil {
		closeInput()
		return stats, err
	}
	if l.needsInference() {
		err := l.infer(ctx, t)
		closeInput()
		if err != nil {
			return stats, err
		}
		var second *delimTable
		if second, closeInput, err = openDelimited(in, t.r.comma); err != nil {
			return stats, err
		}
		if err := t.sameHeader(second); err != nil {
			closeInput()
			return stats, err
		}
		t = second
	}
	defer closeInput()
	stats.Kinds = l.kinds()
	c := newCollector(&stats, opts.Lenient, opts.MaxErrors)
	err = streamDelimited(ctx, t, c, l.parse, fn)
	return stats, err
}

// leadFields lists the fields of a JSONL lead for error messages.
const leadFields = "id, account_id, owner, created_at and attributes"

// parseLeadJSON reads a JSONL lead.
func parseLeadJSON(p *jsonLine) (leadscore.Lead, error) {
	var lead leadscore.Lead
	var seenID, seenAccount, seenOwner, seenCreated, seenAttrs bool
	err := p.s.object(func(key string) error {
		var err error
		switch key {
		case "id":
			if err := p.once(&seenID, key); err != nil {
				return err
			}
			if lead.ID, err = p.required(key); err != nil {
				return err
			}
			if err := leadscore.ValidateID(key, lead.ID); err != nil {
				return p.fieldError(key, []byte(lead.ID), reasonOf(err))
			}
		case "account_id":
			if err := p.once(&seenAccount, key); err != nil {
				return err
			}
			if lead.AccountID, _, err = p.text(key); err != nil {
				return err
			}
			if lead.AccountID != "" {
				if err := leadscore.ValidateID(key, lead.AccountID); err != nil {
					return p.fieldError(key, []byte(lead.AccountID), reasonOf(err))
				}
			}
		case "owner":
			if err := p.once(&seenOwner, key); err != nil {
				return err
			}
			if lead.Owner, _, err = p.text(key); err != nil {
				return err
			}
			if err := leadscore.String(lead.Owner).Validate(key); err != nil {
				return p.fieldError(key, []byte(lead.Owner), reasonOf(err))
			}
		case "created_at":
			if err := p.once(&seenCreated, key); err != nil {
				return err
			}
			if lead.CreatedAt, err = p.time(key); err != nil {
				return err
			}
		case "attributes":
			if err := p.once(&seenAttrs, key); err != nil {
				return err
			}
			return p.attributes(&lead)
		default:
			return p.noValue(key, "is not a lead field; leads have "+leadFields)
		}
		return nil
	})
	if err != nil {
		return lead, err
	}
	if !seenID {
		return lead, p.noValue("id", "is required")
	}
	if !seenCreated {
		return lead, p.noValue("created_at", "is required")
	}
	return lead, nil
}

// attributes reads a lead's "attributes": an object of strings, numbers,
// booleans and nulls (missing), or null for none.
func (p *jsonLine) attributes(lead *leadscore.Lead) error {
	switch p.s.peek() {
	case '{':
	default:
		v, err := p.s.value()
		if err != nil || v.kind == jsonNull {
			return err
		}
		return p.fieldError("attributes", v.raw, "must be an object")
	}
	lead.Attributes = make(map[string]leadscore.Value)
	return p.s.object(func(key string) error {
		path := func() string { return "attributes." + key }
		if err := leadscore.ValidateKey("attribute", key); err != nil {
			return p.noValue(path(), "is not a valid attribute key: "+reasonOf(err))
		}
		if _, dup := lead.Attributes[key]; dup {
			return p.duplicate(path())
		}
		if len(lead.Attributes) == leadscore.MaxAttributes {
			return p.noValue(path(), "is one attribute too many: a lead has at most "+strconv.Itoa(leadscore.MaxAttributes))
		}
		v, err := p.s.value()
		if err != nil {
			return err
		}
		var val leadscore.Value
		switch v.kind {
		case jsonNull:
		case jsonString:
			if !p.miss.hasString(v.str) {
				val = leadscore.String(v.str)
				if err := val.Validate(key); err != nil {
					return p.fieldError(path(), []byte(v.str), reasonOf(err))
				}
			}
		case jsonNumber:
			f, reason := parseNumber(v.raw)
			if reason != "" {
				return p.fieldError(path(), v.raw, reason)
			}
			val = leadscore.Number(f)
		case jsonTrue, jsonFalse:
			val = leadscore.Bool(v.kind == jsonTrue)
		default:
			return p.fieldError(path(), v.raw, "must be a string, number, boolean or null")
		}
		lead.Attributes[key] = val
		return nil
	})
}
