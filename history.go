package leadscore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The tables of lead history, as imports, progress reports and record
// errors name them.
const (
	TableLeads    = "leads"
	TableEvents   = "events"
	TableOutcomes = "outcomes"
)

// HistorySource is what an import reads lead history from: files, another
// store, a generator. Each method streams one table's records to fn in the
// source's order and stops at the first error fn returns, returning it
// (wrapped, if the source adds where the record came from, such as a file
// line).
//
// An importer calls each method at most once, in the order Leads, Events,
// Outcomes, so a source may be a one-pass stream: events can name leads of
// the same import because those have been read first.
type HistorySource interface {
	// Leads streams the lead records.
	Leads(ctx context.Context, fn func(Lead) error) error
	// Events streams the event records.
	Events(ctx context.Context, fn func(Event) error) error
	// Outcomes streams the outcome records.
	Outcomes(ctx context.Context, fn func(Outcome) error) error
}

// HistoryStore is a store that holds lead history in bulk: it imports the
// three tables of an organisation's history in one transaction and streams
// them back for training and backtests. Both storage backends implement it
// with the same semantics, which package storetest checks.
type HistoryStore interface {
	// ImportHistory reads src's leads, events and outcomes into the store in
	// one transaction: either every record is imported or, on any invalid
	// record, source error, database error or cancellation, the store is
	// left exactly as it was. A record error says which table and which
	// record (counting from 1 in source order), the field and the value.
	//
	// Importing is idempotent on record ids, so importing the same history
	// twice changes nothing the second time:
	//   - a lead is upserted by id; a lead whose content equals the stored
	//     one is counted unchanged and not rewritten; a created or changed
	//     lead is due for rescoring at the import's time, as UpsertLeads
	//     makes it (LeadStore.DueLeads), so the live leads of an imported
	//     history are scored by the decay scheduler's next round;
	//   - an event is inserted unless its id is already stored or appeared
	//     earlier in the import, and is otherwise counted as a duplicate and
	//     skipped (the first record with an id wins);
	//   - an outcome is upserted by lead id, like a lead.
	//
	// A lead id or an outcome's lead id may appear only once per import: two
	// versions of one record in one import leave no way to tell which is
	// current. Every imported event and outcome must name a lead that is in
	// the store or in this import. An account a lead names is created when
	// the store does not have it.
	//
	// Imports into one store are serialised, so two of them never deadlock
	// on each other's rows. A failed import returns zero ImportStats.
	ImportHistory(ctx context.Context, src HistorySource, opts ImportOptions) (ImportStats, error)
	// ScanHistory streams the stored history to the callbacks of scan: all
	// leads ordered by id, then all events ordered by lead id, occurred time
	// and id, then all outcomes ordered by lead id, ids compared byte by
	// byte. Tables whose callback is nil are not read. The three tables are
	// read from one consistent snapshot, and rows are streamed rather than
	// loaded, so a history larger than memory can be read. The first error
	// a callback returns stops the scan and is returned, wrapped.
	ScanHistory(ctx context.Context, scan HistoryScan) error
	// CountHistory counts the stored history records, for progress reports
	// and for checking what an import did.
	CountHistory(ctx context.Context) (HistoryCounts, error)
}

// HistoryScan holds the callbacks of ScanHistory, one per table. A nil
// callback skips its table, so a caller that needs only events does not pay
// for reading leads.
type HistoryScan struct {
	// Leads receives each lead, with every attribute as it was imported
	// (missing values included).
	Leads func(Lead) error
	// Events receives each event.
	Events func(Event) error
	// Outcomes receives each outcome.
	Outcomes func(Outcome) error
}

// HistoryCounts is how many history records a store holds.
type HistoryCounts struct {
	// Leads counts the leads.
	Leads int64
	// Events counts the events.
	Events int64
	// Outcomes counts the outcomes, at most one per lead.
	Outcomes int64
	// Accounts counts every account, including those an import created for
	// the leads that name them.
	Accounts int64
}

// DefaultProgressEvery is how many records an import reads between two
// progress reports when ImportOptions.ProgressEvery is 0: often enough for a
// person watching a terminal, rarely enough to cost nothing.
const DefaultProgressEvery = 50_000

// ImportOptions adjusts ImportHistory.
type ImportOptions struct {
	// Progress, if not nil, is called after every ProgressEvery records read
	// from a table, and once more when the table has been written to the
	// store (with Done set). Calls are never concurrent, but they may come
	// from a goroutine other than the importer's caller. It should return
	// quickly: the import waits for it.
	Progress func(ImportProgress)
	// ProgressEvery is the number of records between progress reports;
	// 0 means DefaultProgressEvery.
	ProgressEvery int
}

// ImportProgress reports how far an import has come through one table.
type ImportProgress struct {
	// Table is TableLeads, TableEvents or TableOutcomes.
	Table string
	// Records is how many records of Table have been read from the source.
	Records int64
	// Done is set on the last report of a table, once its records are in
	// the store (not yet committed: a later table may still fail).
	Done bool
}

// ImportStats says what an import changed. Every lead, event and outcome
// read is counted in exactly one field of its table.
type ImportStats struct {
	// LeadsInserted counts leads the store did not have.
	LeadsInserted int64
	// LeadsUpdated counts stored leads whose content the import changed.
	LeadsUpdated int64
	// LeadsUnchanged counts stored leads the import found identical, and
	// so left untouched (their updated time included).
	LeadsUnchanged int64
	// AccountsInserted counts the accounts created because an imported lead
	// named an account the store did not have.
	AccountsInserted int64
	// EventsInserted counts events the store did not have.
	EventsInserted int64
	// EventsDuplicate counts events skipped because their id was already
	// stored or appeared earlier in the same import.
	EventsDuplicate int64
	// OutcomesInserted counts outcomes of leads that had none.
	OutcomesInserted int64
	// OutcomesUpdated counts stored outcomes the import changed.
	OutcomesUpdated int64
	// OutcomesUnchanged counts stored outcomes the import found identical.
	OutcomesUnchanged int64
}

// Changed reports whether the import changed the store at all; a re-import
// of the same history reports false.
func (s ImportStats) Changed() bool {
	return s.LeadsInserted+s.LeadsUpdated+s.AccountsInserted+s.EventsInserted+s.OutcomesInserted+s.OutcomesUpdated > 0
}

// RecordError returns err, the problem of the n-th record (counting from 1
// in source order) of table, with the record's position in its message and
// in its field paths ("events record 1234: invalid lead_id: ...", field
// "events[1234].lead_id"), so the caller can find the record in the
// source. An EINVALID application error keeps its code and fields; any
// other error is wrapped with the position.
func RecordError(table string, n int64, err error) error {
	if err == nil {
		return nil
	}
	at := fmt.Sprintf("%s record %d", table, n)
	var e *Error
	if !errors.As(err, &e) || e.Code != EINVALID {
		return fmt.Errorf("%s: %w", at, err)
	}
	fields := make([]FieldViolation, len(e.Fields))
	for i, f := range e.Fields {
		fields[i] = FieldViolation{Field: fmt.Sprintf("%s[%d].%s", table, n, f.Field), Description: f.Description}
	}
	return &Error{Code: EINVALID, Message: at + ": " + e.Message, Fields: fields, Err: e.Err}
}

// RepeatedRecordError describes the n-th record of table, which repeats
// the key (its field, such as "id") of record first: a lead or an outcome
// may appear only once in an import. Every backend reports the mistake with
// these words.
func RepeatedRecordError(table string, n, first int64, field, key string) error {
	what := "a lead may appear only once in an import"
	if table == TableOutcomes {
		what = "a lead may have only one outcome in an import"
	}
	return RecordError(table, n, InvalidField(field, key, fmt.Sprintf("repeats %s record %d; %s", table, first, what)))
}

// UnknownLeadError describes the n-th record of table, whose lead_id names
// a lead that neither the store nor the import holds.
func UnknownLeadError(table string, n int64, leadID string) error {
	return RecordError(table, n, InvalidField("lead_id", leadID, "names a lead that is neither in the store nor in this import"))
}

// Validate checks a lead the way every store checks it before storing it:
// a valid id and account id, a creation time, at most MaxAttributes
// attributes with valid keys and values. Strings must be UTF-8 without NUL
// bytes, which PostgreSQL cannot store, so both backends accept the same
// leads.
func (l Lead) Validate() error {
	if err := ValidateID("id", l.ID); err != nil {
		return err
	}
	if l.AccountID != "" {
		if err := ValidateID("account_id", l.AccountID); err != nil {
			return err
		}
	}
	if err := validateText("owner", l.Owner); err != nil {
		return err
	}
	if err := validateTime("created_at", l.CreatedAt); err != nil {
		return err
	}
	if len(l.Attributes) > MaxAttributes {
		return InvalidField("attributes", len(l.Attributes), fmt.Sprintf("has more than %d attributes", MaxAttributes))
	}
	for k, v := range l.Attributes {
		if validateAttribute(k, v) != nil {
			// Report the first bad attribute in key order, so the same
			// record always gets the same error.
			return firstInvalid(l.Attributes, validateAttribute)
		}
	}
	return nil
}

func validateAttribute(key string, v Value) error {
	if err := ValidateKey("attribute key", key); err != nil {
		return err
	}
	// The field's name is built only for an error: validation runs for
	// every record of an import.
	if v.Kind == KindString && textOK(v.Str) || v.Kind == KindBool || v.Kind == KindMissing {
		return nil
	}
	field := "attributes." + key
	if err := v.Validate(field); err != nil {
		return err
	}
	if v.Kind == KindString {
		return validateText(field, v.Str)
	}
	return nil
}

// Validate checks an event the way every store checks it before storing
// it: valid ids, a type spelled like a key (such as "page_view"), an
// occurred time, at most MaxEventProperties properties with valid keys and
// values.
func (e Event) Validate() error {
	if err := ValidateID("id", e.ID); err != nil {
		return err
	}
	if err := ValidateID("lead_id", e.LeadID); err != nil {
		return err
	}
	if err := ValidateKey("type", e.Type); err != nil {
		return err
	}
	if err := validateTime("occurred_at", e.OccurredAt); err != nil {
		return err
	}
	if len(e.Properties) > MaxEventProperties {
		return InvalidField("properties", len(e.Properties), fmt.Sprintf("has more than %d properties", MaxEventProperties))
	}
	for k, v := range e.Properties {
		if validateProperty(k, v) != nil {
			return firstInvalid(e.Properties, validateProperty)
		}
	}
	return nil
}

func validateProperty(key, value string) error {
	if err := ValidateKey("property key", key); err != nil {
		return err
	}
	if textOK(value) {
		return nil
	}
	return validateText("properties."+key, value)
}

// Validate checks an outcome the way every store checks it before storing
// it: a valid lead id, won or lost, an occurred time, a finite amount of at
// least 0, and an ISO 4217 currency code whenever the amount is not 0.
func (o Outcome) Validate() error {
	if err := ValidateID("lead_id", o.LeadID); err != nil {
		return err
	}
	if o.Status != OutcomeWon && o.Status != OutcomeLost {
		return InvalidField("status", o.Status, `must be "won" or "lost"`)
	}
	if err := validateTime("occurred_at", o.OccurredAt); err != nil {
		return err
	}
	if math.IsNaN(o.Amount) || math.IsInf(o.Amount, 0) {
		return InvalidField("amount", o.Amount, "must be a finite number")
	}
	if o.Amount < 0 {
		return InvalidField("amount", o.Amount, "must not be negative")
	}
	if o.Currency == "" {
		if o.Amount != 0 {
			return InvalidField("currency", o.Currency, "is required when amount is not 0")
		}
		return nil
	}
	if len(o.Currency) != 3 || strings.IndexFunc(o.Currency, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		return InvalidField("currency", o.Currency, "must be an ISO 4217 code of three upper-case letters, such as EUR")
	}
	return nil
}

// firstInvalid returns the error of the first entry of m, in key order,
// that check rejects.
func firstInvalid[V any](m map[string]V, check func(string, V) error) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := check(k, m[k]); err != nil {
			return err
		}
	}
	return nil
}

// textOK reports whether validateText accepts s, without building an
// error.
func textOK(s string) bool {
	return len(s) <= MaxAttributeValueBytes && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// validateText checks free text: at most MaxAttributeValueBytes of UTF-8
// without NUL bytes.
func validateText(field, s string) error {
	if len(s) > MaxAttributeValueBytes {
		return InvalidField(field, truncate(s), fmt.Sprintf("is longer than %d bytes", MaxAttributeValueBytes))
	}
	if !utf8.ValidString(s) {
		return InvalidField(field, strings.ToValidUTF8(truncate(s), "\uFFFD"), "is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return InvalidField(field, truncate(s), "contains a NUL byte")
	}
	return nil
}

// validateTime checks that t is set and within the years 1 to 9999, which
// every backend and RFC 3339 can represent.
func validateTime(field string, t time.Time) error {
	if t.IsZero() {
		return InvalidField(field, "", "is required")
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return InvalidField(field, t.UTC().Format(time.RFC3339Nano), "must be within the years 1 to 9999")
	}
	return nil
}

// MarshalJSON writes v as the JSON scalar it holds: a string, a number,
// true or false, or null when missing. It is the form in which stores and
// JSON files keep attributes, so a value's kind survives a round trip
// (a string "12" stays a string, a missing value stays missing). A
// non-finite number, which JSON cannot hold, is an error.
func (v Value) MarshalJSON() ([]byte, error) {
	return v.AppendJSON(nil)
}

// AppendJSON appends v's JSON form (see MarshalJSON) to dst, for encoders
// that write many values without allocating for each.
func (v Value) AppendJSON(dst []byte) ([]byte, error) {
	switch v.Kind {
	case KindMissing:
		return append(dst, "null"...), nil
	case KindString:
		return AppendJSONString(dst, v.Str), nil
	case KindNumber:
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			return dst, InvalidField("value", v.Num, "must be a finite number")
		}
		num := v.Num
		if num == 0 {
			num = 0 // -0 becomes 0, which is what PostgreSQL's jsonb would keep.
		}
		return strconv.AppendFloat(dst, num, 'g', -1, 64), nil
	case KindBool:
		return strconv.AppendBool(dst, v.Bool), nil
	default:
		return dst, InvalidField("value", v.Kind, "has an unknown kind")
	}
}

// UnmarshalJSON reads a JSON string, number, boolean or null into v. Arrays
// and objects are not attribute values and are refused.
func (v *Value) UnmarshalJSON(data []byte) error {
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	switch x := raw.(type) {
	case nil:
		*v = Value{}
	case string:
		*v = String(x)
	case float64:
		*v = Number(x)
	case bool:
		*v = Bool(x)
	default:
		return InvalidField("value", truncate(string(data)), "must be a string, number, boolean or null")
	}
	return nil
}

// AppendJSONString appends s to dst as a JSON string. Invalid UTF-8 is
// replaced by U+FFFD, as encoding/json does; validated records never hold
// any.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendAttributesJSON appends attrs to dst as a JSON object with sorted
// keys, so equal attributes always encode to equal bytes and a store can
// tell an unchanged lead by comparing them. A nil or empty map is "{}".
func AppendAttributesJSON(dst []byte, attrs map[string]Value) ([]byte, error) {
	dst = append(dst, '{')
	var err error
	var buf [smallMap]string
	for i, k := range sortedKeys(buf[:0], attrs) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, k)
		dst = append(dst, ':')
		if dst, err = attrs[k].AppendJSON(dst); err != nil {
			return dst, fmt.Errorf("attribute %q: %w", k, err)
		}
	}
	return append(dst, '}'), nil
}

// AppendPropertiesJSON appends props to dst as a JSON object of strings
// with sorted keys; a nil or empty map is "{}".
func AppendPropertiesJSON(dst []byte, props map[string]string) []byte {
	dst = append(dst, '{')
	var buf [smallMap]string
	for i, k := range sortedKeys(buf[:0], props) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, k)
		dst = append(dst, ':')
		dst = AppendJSONString(dst, props[k])
	}
	return append(dst, '}')
}

// ParseAttributesJSON reads a JSON object of attribute values, as
// AppendAttributesJSON writes it. It returns nil for an empty object, the
// form in which a lead without attributes is built.
func ParseAttributesJSON(data []byte) (map[string]Value, error) {
	var attrs map[string]Value
	if err := json.Unmarshal(data, &attrs); err != nil {
		return nil, fmt.Errorf("parse attributes: %w", err)
	}
	if len(attrs) == 0 {
		return nil, nil
	}
	return attrs, nil
}

// ParsePropertiesJSON reads a JSON object of string properties, as
// AppendPropertiesJSON writes it; nil for an empty object.
func ParsePropertiesJSON(data []byte) (map[string]string, error) {
	var props map[string]string
	if err := json.Unmarshal(data, &props); err != nil {
		return nil, fmt.Errorf("parse properties: %w", err)
	}
	if len(props) == 0 {
		return nil, nil
	}
	return props, nil
}

// smallMap is the size of map whose keys the JSON encoders sort without
// allocating: most events carry a few properties.
const smallMap = 16

// sortedKeys appends m's keys to keys and sorts them in byte order.
func sortedKeys[V any](keys []string, m map[string]V) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
