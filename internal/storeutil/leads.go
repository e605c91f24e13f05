package storeutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
)

// This file holds the rules of leadscore.LeadStore that do not depend on
// SQL: checking a batch and naming its rejected records, telling repeated
// and conflicting records apart, the score transition rules, and how the
// results are put together. Each backend reads and writes; what a record
// means for the result is decided here once.

// The batches of a LeadStore, as field paths name them.
const (
	TableAccounts = "accounts"
	TableScores   = "scores"
)

// BatchRecordError returns err, the problem of the record at index i
// (from 0) of a batch of table, with the record in its message and its
// field paths ("leads[3]: invalid attributes.size: ...", field
// "leads[3].attributes.size"). It is leadscore.RecordError for batches,
// whose records are counted from 0 rather than from 1 in a source.
func BatchRecordError(table string, i int, err error) error {
	if err == nil {
		return nil
	}
	at := fmt.Sprintf("%s[%d]", table, i)
	var e *leadscore.Error
	if !errors.As(err, &e) || e.Code != leadscore.EINVALID {
		return fmt.Errorf("%s: %w", at, err)
	}
	fields := make([]leadscore.FieldViolation, len(e.Fields))
	for j, f := range e.Fields {
		fields[j] = leadscore.FieldViolation{Field: at + "." + f.Field, Description: f.Description}
	}
	return &leadscore.Error{Code: leadscore.EINVALID, Message: at + ": " + e.Message, Fields: fields, Err: e.Err}
}

// CheckBatchSize refuses a batch of table of fewer than 1 or more than
// leadscore.MaxIngestBatch records.
func CheckBatchSize(table string, n int) error {
	if n < 1 || n > leadscore.MaxIngestBatch {
		return leadscore.InvalidField(table, n, fmt.Sprintf("must hold 1 to %d records", leadscore.MaxIngestBatch))
	}
	return nil
}

// CheckPositiveLimit refuses a listing limit below 1.
func CheckPositiveLimit(limit int) error {
	if limit < 1 {
		return leadscore.InvalidField("limit", limit, "must be at least 1")
	}
	return nil
}

// CheckAt refuses a zero time of a LeadStore call that needs one: the
// time of a claim or of marking leads due, from the server's clock.
func CheckAt(at time.Time) error {
	if at.IsZero() {
		return leadscore.InvalidField("at", "", "is required")
	}
	return nil
}

// CheckClaim refuses a claim of due leads (ClaimDueLeads) without a time,
// of fewer than 1 or more than leadscore.MaxIngestBatch leads (a claim is
// scored as one batch), or with a lease shorter than a microsecond: stores
// keep times to the microsecond, so a shorter lease would end as it began.
func CheckClaim(at time.Time, limit int, lease time.Duration) error {
	if err := CheckAt(at); err != nil {
		return err
	}
	if limit < 1 || limit > leadscore.MaxIngestBatch {
		return leadscore.InvalidField("limit", limit, fmt.Sprintf("must be from 1 to %d", leadscore.MaxIngestBatch))
	}
	if lease < time.Microsecond {
		return leadscore.InvalidField("lease", lease.String(), "must be at least 1µs")
	}
	return nil
}

// LeaseEnd is when the lease of leads claimed at at for lease ends, as
// stores keep it: a claim at that time or later may take them again.
func LeaseEnd(at time.Time, lease time.Duration) time.Time { return StoredTime(at.Add(lease)) }

// DueLead is a lead due for rescoring as a claim reads it back.
type DueLead struct {
	ID  string
	Due time.Time
}

// DueOrder returns the ids of leads in the order DueLeads and
// ClaimDueLeads return them: the earliest due first, then by id in byte
// order. A claim that updates rows reads them back in no set order.
func DueOrder(leads []DueLead) []string {
	slices.SortFunc(leads, func(x, y DueLead) int {
		if c := x.Due.Compare(y.Due); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	ids := make([]string, len(leads))
	for i, l := range leads {
		ids[i] = l.ID
	}
	return ids
}

// CheckCursor refuses a negative change log cursor.
func CheckCursor(after int64) error {
	if after < 0 {
		return leadscore.InvalidField("after", after, "must not be negative")
	}
	return nil
}

// CheckActivityIDs refuses more than leadscore.MaxIngestBatch lead ids
// for LeadActivity, and an invalid one, and returns the ids each once, in
// byte order: the order LeadActivity returns leads in.
func CheckActivityIDs(ids []string) ([]string, error) {
	if len(ids) > leadscore.MaxIngestBatch {
		return nil, leadscore.InvalidField("ids", len(ids), fmt.Sprintf("must hold at most %d ids", leadscore.MaxIngestBatch))
	}
	for i, id := range ids {
		if err := leadscore.ValidateID(fmt.Sprintf("ids[%d]", i), id); err != nil {
			return nil, err
		}
	}
	return SortedUnique(ids), nil
}

// CheckLeadID refuses a malformed lead id of GetLead or ScoreHistory: no
// lead can have it.
func CheckLeadID(id string) error { return leadscore.ValidateID("id", id) }

// LeadNotFound is the error for a lead the store does not hold.
func LeadNotFound(id string) error {
	return leadscore.Errorf(leadscore.ENOTFOUND, "%s does not exist", leadscore.LeadName(id))
}

// SortedUnique returns ids sorted in byte order, each once, in a new
// slice; nil for none.
func SortedUnique(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// Batch tracks the rejected records of one LeadStore write.
type Batch struct {
	table    string
	partial  bool
	rejected []leadscore.Rejection
	bad      []bool
}

// NewBatch checks the size of a batch of n records of table and the
// options of its write, and returns the tracker of its rejections.
func NewBatch(table string, n int, opts leadscore.IngestOptions) (*Batch, error) {
	if err := CheckBatchSize(table, n); err != nil {
		return nil, err
	}
	if opts.At.IsZero() {
		return nil, leadscore.InvalidField("at", "", "is required")
	}
	return &Batch{table: table, partial: opts.Partial, bad: make([]bool, n)}, nil
}

// Reject marks the record at index i rejected because of err, an EINVALID
// error about the record's own fields. A record is rejected once: the
// first reason stands.
func (b *Batch) Reject(i int, err error) {
	if b.bad[i] {
		return
	}
	b.bad[i] = true
	b.rejected = append(b.rejected, leadscore.Rejection{Index: i, Err: BatchRecordError(b.table, i, err)})
}

// OK reports whether the record at index i has not been rejected.
func (b *Batch) OK(i int) bool { return !b.bad[i] }

// Err returns the error that fails the whole write: nil in partial mode or
// when no record was rejected, otherwise one EINVALID error naming every
// rejected record's fields, the first in its message.
func (b *Batch) Err() error {
	if b.partial || len(b.rejected) == 0 {
		return nil
	}
	rs := b.Rejections()
	var fields []leadscore.FieldViolation
	var first *leadscore.Error
	for _, r := range rs {
		var e *leadscore.Error
		if errors.As(r.Err, &e) {
			if first == nil {
				first = e
			}
			fields = append(fields, e.Fields...)
		}
	}
	msg := rs[0].Err.Error()
	if first != nil {
		msg = first.Message
	}
	if len(rs) > 1 {
		msg += fmt.Sprintf(" (and %d more rejected %s)", len(rs)-1, b.table)
	}
	return &leadscore.Error{Code: leadscore.EINVALID, Message: msg, Fields: fields}
}

// Rejections returns the rejected records in batch order, or nil.
func (b *Batch) Rejections() []leadscore.Rejection {
	if len(b.rejected) == 0 {
		return nil
	}
	rs := slices.Clone(b.rejected)
	slices.SortFunc(rs, func(x, y leadscore.Rejection) int { return x.Index - y.Index })
	return rs
}

// RejectRepeats rejects each record whose key (field, such as "id")
// repeats an earlier record's: a lead, account or outcome may appear only
// once per batch, since two versions of it leave no way to tell which is
// current. The first record of a key stands.
func (b *Batch) RejectRepeats(field string, keys []string) {
	first := make(map[string]int, len(keys))
	for i, k := range keys {
		j, seen := first[k]
		if !seen {
			first[k] = i
			continue
		}
		b.Reject(i, leadscore.InvalidField(field, k,
			fmt.Sprintf("repeats %s[%d]; a record may appear only once in a batch", b.table, j)))
	}
}

// RejectUnknownLeads rejects each record not yet rejected whose lead id
// (field "lead_id") is not among the stored leads.
func (b *Batch) RejectUnknownLeads(leadIDs []string, stored map[string]bool) {
	for i, id := range leadIDs {
		if b.OK(i) && !stored[id] {
			b.Reject(i, leadscore.InvalidField("lead_id", id, "names a lead the store does not hold"))
		}
	}
}

// CheckLeads validates a batch of leads: each lead, and that no id repeats.
func CheckLeads(leads []leadscore.Lead, opts leadscore.IngestOptions) (*Batch, error) {
	b, err := NewBatch(leadscore.TableLeads, len(leads), opts)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(leads))
	for i, l := range leads {
		keys[i] = l.ID
		if err := l.Validate(); err != nil {
			b.Reject(i, err)
		}
	}
	b.RejectRepeats("id", keys)
	return b, nil
}

// CheckAccounts validates a batch of accounts: each account, and that no
// id repeats.
func CheckAccounts(accounts []leadscore.Account, opts leadscore.IngestOptions) (*Batch, error) {
	b, err := NewBatch(TableAccounts, len(accounts), opts)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(accounts))
	for i, a := range accounts {
		keys[i] = a.ID
		if err := a.Validate(); err != nil {
			b.Reject(i, err)
		}
	}
	b.RejectRepeats("id", keys)
	return b, nil
}

// CheckEvents validates a batch of events. A repeated id is not an error
// (see EventsResult); the caller rejects events of unknown leads with
// RejectUnknownLeads.
func CheckEvents(events []leadscore.Event, opts leadscore.IngestOptions) (*Batch, error) {
	b, err := NewBatch(leadscore.TableEvents, len(events), opts)
	if err != nil {
		return nil, err
	}
	for i, e := range events {
		if err := e.Validate(); err != nil {
			b.Reject(i, err)
		}
	}
	return b, nil
}

// CheckOutcomes validates a batch of outcomes: each outcome, and that no
// lead has two. The caller rejects outcomes of unknown leads with
// RejectUnknownLeads.
func CheckOutcomes(outcomes []leadscore.Outcome, opts leadscore.IngestOptions) (*Batch, error) {
	b, err := NewBatch(leadscore.TableOutcomes, len(outcomes), opts)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(outcomes))
	for i, o := range outcomes {
		keys[i] = o.LeadID
		if err := o.Validate(); err != nil {
			b.Reject(i, err)
		}
	}
	b.RejectRepeats("lead_id", keys)
	return b, nil
}

// LeadIDs returns the lead ids of the records not rejected, for looking
// up which of them the store holds.
func (b *Batch) LeadIDs(ids []string) []string {
	var out []string
	for i, id := range ids {
		if b.OK(i) {
			out = append(out, id)
		}
	}
	return SortedUnique(out)
}

// UpsertResult puts together the result of an upsert of the records b did
// not reject: created and changed are the keys the store created and
// changed, and leads the ids of the leads due for rescoring (nil for
// accounts).
func (b *Batch) UpsertResult(valid, created, changed int, leads []string) leadscore.UpsertResult {
	return leadscore.UpsertResult{
		Created:   created,
		Updated:   changed,
		Unchanged: valid - created - changed,
		Rejected:  b.Rejections(),
		Leads:     SortedUnique(leads),
	}
}

// Valid counts the records not rejected.
func (b *Batch) Valid() int { return len(b.bad) - len(b.rejected) }

// FirstEvents returns the indexes of the events a store should try to
// insert: those not rejected whose id no earlier such event has. The rest
// are duplicates within the batch (see EventsResult).
func FirstEvents(b *Batch, events []leadscore.Event) []int {
	seen := make(map[string]bool, len(events))
	var first []int
	for i, e := range events {
		if !b.OK(i) || seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		first = append(first, i)
	}
	return first
}

// EventsResult puts together what RecordEvents did: inserted holds the
// ids of the events the store inserted, and stored the stored events of
// every other id of the batch (those kept from before). The first record
// with an id wins; every later one, or one whose id was stored, is a
// duplicate, and a conflict when it differs from the kept event.
func EventsResult(b *Batch, events []leadscore.Event, inserted map[string]bool, stored map[string]leadscore.Event) leadscore.EventsResult {
	res := leadscore.EventsResult{Rejected: b.Rejections()}
	kept := make(map[string]leadscore.Event, len(events))
	var leads []string
	for i, e := range events {
		if !b.OK(i) {
			continue
		}
		k, seen := kept[e.ID]
		if !seen && inserted[e.ID] {
			kept[e.ID] = e
			res.Recorded++
			leads = append(leads, e.LeadID)
			continue
		}
		res.Duplicates++
		if !seen {
			var ok bool
			if k, ok = stored[e.ID]; !ok {
				// Not inserted and not found: nothing to compare with.
				continue
			}
			kept[e.ID] = k
		}
		if fields := EventConflict(k, e); len(fields) > 0 {
			res.Conflicts = append(res.Conflicts, leadscore.EventConflict{Index: i, ID: e.ID, Fields: fields})
		}
	}
	res.Leads = SortedUnique(leads)
	return res
}

// EventConflict returns the fields in which sent, a re-sent event, differs
// from kept, the event kept under its id: some of "lead_id", "type",
// "occurred_at" and "properties", in that order, or nil. Times are
// compared as the store keeps them, to the microsecond, and properties as
// their stored JSON, so an empty map equals none.
func EventConflict(kept, sent leadscore.Event) []string {
	var fields []string
	if kept.LeadID != sent.LeadID {
		fields = append(fields, "lead_id")
	}
	if kept.Type != sent.Type {
		fields = append(fields, "type")
	}
	if !StoredTime(kept.OccurredAt).Equal(StoredTime(sent.OccurredAt)) {
		fields = append(fields, "occurred_at")
	}
	if !bytes.Equal(leadscore.AppendPropertiesJSON(nil, kept.Properties), leadscore.AppendPropertiesJSON(nil, sent.Properties)) {
		fields = append(fields, "properties")
	}
	return fields
}

// OutcomeColumns are an outcome's amount and currency as the schema keeps
// them: "no amount" is NULL rather than 0, so that the rule "an amount has
// a currency" holds. ok is false for no amount.
func OutcomeColumns(o leadscore.Outcome) (amount float64, currency string, ok bool) {
	if o.Amount == 0 && o.Currency == "" {
		return 0, "", false
	}
	return o.Amount, o.Currency, true
}

// CheckScores validates a batch of scores and SaveScores' options. Every
// problem fails the call: scores come from the scorer, not from callers
// who could fix some records and resend others. A lead may have one score
// per batch.
func CheckScores(scores []leadscore.LeadScoreRecord, opts leadscore.SaveScoresOptions) error {
	if err := CheckBatchSize(TableScores, len(scores)); err != nil {
		return err
	}
	if math.IsNaN(opts.HistoryStep) || math.IsInf(opts.HistoryStep, 0) || opts.HistoryStep < 0 {
		return leadscore.InvalidField("history_step", opts.HistoryStep, "must be a finite number of at least 0")
	}
	b := &Batch{table: TableScores, bad: make([]bool, len(scores))}
	keys := make([]string, len(scores))
	for i, s := range scores {
		keys[i] = s.LeadID
		if err := s.Validate(); err != nil {
			b.Reject(i, err)
			continue
		}
		if _, err := json.Marshal(s.Factors); err != nil {
			b.Reject(i, leadscore.InvalidField("factors", err, "must be finite numbers"))
		}
	}
	b.RejectRepeats("lead_id", keys)
	return b.Err()
}

// UnknownVersion is the rejection of a score whose model version is not
// registered; it fails SaveScores.
func UnknownVersion(i int, ref leadscore.VersionRef) error {
	return BatchRecordError(TableScores, i, leadscore.InvalidField("version", ref.Name(), "must name a registered model version"))
}

// ScoreTransition decides what saving next, a lead's new score, records
// beside making it current, given prev, its stored score (nil when it has
// none). The score history gains an entry when the lead had no score, its
// cell or tier changed, or its probability moved by more than step; the
// change log gains one when the lead had no score or its cell or tier
// changed.
func ScoreTransition(prev *leadscore.LeadScoreRecord, next leadscore.LeadScoreRecord, step float64) (history, change bool) {
	if prev == nil {
		return true, true
	}
	moved := prev.Cell != next.Cell || prev.Tier != next.Tier
	return moved || math.Abs(next.Probability-prev.Probability) > step, moved
}

// StaleScore reports whether next must be skipped because prev, the
// stored score of its lead, is newer: a later scoring time wins, whatever
// order the scores arrive in. Equal times are not stale: the later save
// wins.
func StaleScore(prev *leadscore.LeadScoreRecord, next leadscore.LeadScoreRecord) bool {
	return prev != nil && StoredTime(prev.ScoredAt).After(StoredTime(next.ScoredAt))
}

// DueAfterScore is when a lead whose score was saved is next due: at the
// score's NextDue (zero: not due), unless a write after the scoring time
// made it due (due, the stored due time, is after scoredAt), which the
// score did not see; then the earlier of the two.
//
// A write that creates or changes a lead, or gives it an event or a new
// outcome, makes it due at the write's time (IngestOptions.At), as
// LeadStore says, even when it was due earlier already: so the due time
// records the latest write, and a score made before that write leaves the
// lead due here.
func DueAfterScore(due, scoredAt, nextDue time.Time) time.Time {
	nextDue = storedOptionalTime(nextDue)
	if due.IsZero() || !due.After(StoredTime(scoredAt)) {
		return nextDue
	}
	if !nextDue.IsZero() && nextDue.Before(due) {
		return nextDue
	}
	return due
}

// StoredScore returns r as a store keeps it: times to the microsecond in
// UTC, the horizon to the microsecond, no empty factors.
func StoredScore(r leadscore.LeadScoreRecord) leadscore.LeadScoreRecord {
	r.ScoredAt = StoredTime(r.ScoredAt)
	r.NextDue = storedOptionalTime(r.NextDue)
	r.Horizon = r.Horizon.Truncate(time.Microsecond)
	if len(r.Factors) == 0 {
		r.Factors = nil
	}
	return r
}

// EncodeFactors encodes a score's factors for its JSON column; none are
// an empty array. CheckScores has checked that they encode.
func EncodeFactors(factors []leadscore.ScoreFactor) []byte {
	if len(factors) == 0 {
		return []byte("[]")
	}
	b, err := json.Marshal(factors)
	if err != nil {
		return []byte("[]")
	}
	return b
}

// DecodeFactors reads a score's stored factors; none come back nil.
func DecodeFactors(b []byte) ([]leadscore.ScoreFactor, error) {
	var fs []leadscore.ScoreFactor
	if err := json.Unmarshal(b, &fs); err != nil {
		return nil, fmt.Errorf("decode factors: %w", err)
	}
	if len(fs) == 0 {
		return nil, nil
	}
	return fs, nil
}

// ParseTier reads a tier as the schema stores it (Tier.String).
func ParseTier(s string) (leadscore.Tier, error) {
	for t := leadscore.TierVeryGood; t <= leadscore.TierLow; t++ {
		if t.String() == s {
			return t, nil
		}
	}
	return leadscore.TierNone, fmt.Errorf("unknown tier %q", s)
}

// ParseGradeLevel reads a cell as lead_scores and score_history store it:
// a grade letter and a level.
func ParseGradeLevel(grade string, level int64) (leadscore.Cell, error) {
	return leadscore.ParseCell("cell", fmt.Sprintf("%s%d", grade, level))
}

// HorizonMicros is a horizon as the schema keeps it: whole microseconds.
func HorizonMicros(d time.Duration) int64 { return d.Microseconds() }

// HorizonOf reads a stored horizon.
func HorizonOf(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// ScoreChange is the change log entry of saving next over prev (nil when
// the lead had no score), without next's factors, as ScoreChanges
// returns it.
func ScoreChange(prev *leadscore.LeadScoreRecord, next leadscore.LeadScoreRecord, accountID, owner string, at time.Time) leadscore.ScoreChange {
	c := leadscore.ScoreChange{LeadID: next.LeadID, AccountID: accountID, Owner: owner, ChangedAt: StoredTime(at)}
	if prev != nil {
		c.PreviousTier, c.PreviousCell = prev.Tier, prev.Cell
	}
	c.Score = StoredScore(next)
	c.Score.Factors = nil
	return c
}

// ScoreColumns are the columns of a score that are not its figures as
// they are: its tier by name, its cell as grade and level (and as text,
// as score_changes keeps it), its horizon in microseconds and its factors
// as JSON.
type ScoreColumns struct {
	Tier      string
	Grade     string
	Level     int64
	Cell      string
	HorizonUS int64
	Factors   []byte
}

// EncodeScore returns the encoded columns of r.
func EncodeScore(r leadscore.LeadScoreRecord) ScoreColumns {
	return ScoreColumns{
		Tier:      r.Tier.String(),
		Grade:     r.Cell.Grade.String(),
		Level:     int64(r.Cell.Level),
		Cell:      r.Cell.String(),
		HorizonUS: HorizonMicros(r.Horizon),
		Factors:   EncodeFactors(r.Factors),
	}
}

// DecodeScore fills r's tier, cell, horizon and factors from their
// columns; c.Cell is used when c.Grade is empty (score_changes), and
// factors may be nil for a score stored without them.
func DecodeScore(r *leadscore.LeadScoreRecord, c ScoreColumns) error {
	var err error
	if r.Tier, err = ParseTier(c.Tier); err != nil {
		return fmt.Errorf("score of %s: %w", leadscore.LeadName(r.LeadID), err)
	}
	if c.Grade != "" {
		r.Cell, err = ParseGradeLevel(c.Grade, c.Level)
	} else {
		r.Cell, err = leadscore.ParseCell("cell", c.Cell)
	}
	if err != nil {
		return fmt.Errorf("score of %s: %w", leadscore.LeadName(r.LeadID), err)
	}
	r.Horizon = HorizonOf(c.HorizonUS)
	r.Factors = nil
	if c.Factors != nil {
		if r.Factors, err = DecodeFactors(c.Factors); err != nil {
			return fmt.Errorf("score of %s: %w", leadscore.LeadName(r.LeadID), err)
		}
	}
	return nil
}
