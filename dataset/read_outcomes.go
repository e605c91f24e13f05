package dataset

import (
	"github.com/leadscore/leadscore"
)

// outcomeLayout maps the columns of a delimited outcomes file.
type outcomeLayout struct {
	lead, status, at, amount, currency int
	miss                               missingSet
}

// outcomeColumns are the columns an outcomes file may have.
var outcomeColumns = map[string]bool{"lead_id": true, "status": true, "occurred_at": true, "amount": true, "currency": true}

// newOutcomeLayout checks an outcomes header: lead_id, status and
// occurred_at are required, amount and currency optional, and nothing else
// is allowed, since an outcome has no free-form details.
func newOutcomeLayout(t *delimTable, opts ReadOptions) (*outcomeLayout, error) {
	if err := checkColumns(t, outcomeColumns, "an outcome column; outcomes have lead_id, status, occurred_at, amount and currency"); err != nil {
		return nil, err
	}
	l := &outcomeLayout{amount: t.col("amount"), currency: t.col("currency"), miss: newMissingSet(opts.NoDefaultMissing, opts.MissingTokens)}
	for _, c := range []struct {
		name string
		to   *int
	}{{"lead_id", &l.lead}, {"status", &l.status}, {"occurred_at", &l.at}} {
		i, err := t.require(c.name)
		if err != nil {
			return nil, err
		}
		*c.to = i
	}
	return l, nil
}

// isCurrency reports whether s looks like an ISO 4217 code: three
// upper-case letters.
func isCurrency(s string) bool {
	return len(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z'
}

// Reasons shared by the two outcome formats.
const (
	reasonNegativeAmount = "must not be negative"
	reasonCurrency       = "must be an ISO 4217 code of three upper-case letters"
	reasonNoCurrency     = "is required when amount is not 0"
)

// parse reads the current record as an outcome.
func (l *outcomeLayout) parse(r *delimReader) (leadscore.Outcome, *RecordError) {
	var o leadscore.Outcome
	b := r.field(l.lead)
	if l.miss.has(b) {
		return o, r.fieldError(l.lead+1, b, "is required")
	}
	o.LeadID = r.fieldString(l.lead)
	if err := leadscore.ValidateID("lead_id", o.LeadID); err != nil {
		return o, r.fieldError(l.lead+1, b, reasonOf(err))
	}
	b = r.field(l.status)
	if l.miss.has(b) {
		return o, r.fieldError(l.status+1, b, "is required")
	}
	status, err := leadscore.ParseOutcomeStatus("status", r.fieldString(l.status))
	if err != nil {
		return o, r.fieldError(l.status+1, b, reasonOf(err))
	}
	o.Status = status
	b = r.field(l.at)
	if l.miss.has(b) {
		return o, r.fieldError(l.at+1, b, "is required")
	}
	t, reason := readTime(b)
	if reason != "" {
		return o, r.fieldError(l.at+1, b, reason)
	}
	o.OccurredAt = t
	if l.amount >= 0 {
		if b := r.field(l.amount); !l.miss.has(b) {
			f, reason := parseNumber(b)
			if reason == "" && f < 0 {
				reason = reasonNegativeAmount
			}
			if reason != "" {
				return o, r.fieldError(l.amount+1, b, reason)
			}
			o.Amount = f
		}
	}
	if l.currency >= 0 {
		if b := r.field(l.currency); !l.miss.has(b) {
			o.Currency = r.fieldString(l.currency)
			if !isCurrency(o.Currency) {
				return o, r.fieldError(l.currency+1, b, reasonCurrency)
			}
		}
	}
	if o.Amount != 0 && o.Currency == "" {
		if l.currency < 0 {
			e := &RecordError{File: r.file, Line: r.line, Column: "currency", Reason: reasonNoCurrency + ", and the file has no currency column", noValue: true}
			return o, e
		}
		return o, r.fieldError(l.currency+1, r.field(l.currency), reasonNoCurrency)
	}
	return o, nil
}

// outcomeFields lists the fields of a JSONL outcome for error messages.
const outcomeFields = "lead_id, status, occurred_at, amount and currency"

// parseOutcomeJSON reads a JSONL outcome.
func parseOutcomeJSON(p *jsonLine) (leadscore.Outcome, error) {
	var o leadscore.Outcome
	var seenLead, seenStatus, seenAt, seenAmount, seenCurrency bool
	err := p.s.object(func(key string) error {
		var err error
		switch key {
		case "lead_id":
			if err := p.once(&seenLead, key); err != nil {
				return err
			}
			if o.LeadID, err = p.required(key); err != nil {
				return err
			}
			if err := leadscore.ValidateID(key, o.LeadID); err != nil {
				return p.fieldError(key, []byte(o.LeadID), reasonOf(err))
			}
		case "status":
			if err := p.once(&seenStatus, key); err != nil {
				return err
			}
			s, err := p.required(key)
			if err != nil {
				return err
			}
			if o.Status, err = leadscore.ParseOutcomeStatus(key, s); err != nil {
				return p.fieldError(key, []byte(s), reasonOf(err))
			}
		case "occurred_at":
			if err := p.once(&seenAt, key); err != nil {
				return err
			}
			if o.OccurredAt, err = p.time(key); err != nil {
				return err
			}
		case "amount":
			if err := p.once(&seenAmount, key); err != nil {
				return err
			}
			v, err := p.s.value()
			if err != nil {
				return err
			}
			switch v.kind {
			case jsonNull:
			case jsonNumber:
				f, reason := parseNumber(v.raw)
				if reason == "" && f < 0 {
					reason = reasonNegativeAmount
				}
				if reason != "" {
					return p.fieldError(key, v.raw, reason)
				}
				o.Amount = f
			default:
				return p.fieldError(key, v.raw, "must be a number or null")
			}
		case "currency":
			if err := p.once(&seenCurrency, key); err != nil {
				return err
			}
			if o.Currency, _, err = p.text(key); err != nil {
				return err
			}
			if o.Currency != "" && !isCurrency(o.Currency) {
				return p.fieldError(key, []byte(o.Currency), reasonCurrency)
			}
		default:
			return p.noValue(key, "is not an outcome field; outcomes have "+outcomeFields)
		}
		return nil
	})
	if err != nil {
		return o, err
	}
	for _, f := range []struct {
		seen bool
		name string
	}{{seenLead, "lead_id"}, {seenStatus, "status"}, {seenAt, "occurred_at"}} {
		if !f.seen {
			return o, p.noValue(f.name, "is required")
		}
	}
	if o.Amount != 0 && o.Currency == "" {
		return o, p.noValue("currency", reasonNoCurrency)
	}
	return o, nil
}
