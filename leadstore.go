package leadscore

import (
	"context"
	"fmt"
	"math"
	"time"
)

// MaxIngestBatch is the most records one LeadStore write takes, as the
// LeadService rpcs document it.
const MaxIngestBatch = 1000

// Score reasons: why a lead was rescored, as its score history and change
// log record it.
const (
	ReasonEvent      = "event"
	ReasonAttributes = "attributes_changed"
	ReasonOutcome    = "outcome"
	ReasonDecay      = "decay"
	ReasonPromotion  = "model_promoted"
)

// LeadStore keeps live leads: their attributes, accounts, events and
// outcomes as callers send them one batch at a time, and the current score
// of each lead with its history and the change log behind
// WatchScoreChanges. Both storage backends implement it with the same
// semantics, which package storetest checks; every rule below is decided
// once, in package internal/storeutil, and the backends hold SQL and
// transactions only.
//
// Every write is one transaction and is durable when the method returns.
// Records are validated first (Lead.Validate, Event.Validate,
// Outcome.Validate, Account.Validate) with work bounded by their size. A
// record that is invalid, or that names a lead the store does not hold,
// is rejected with its index in the batch (from 0) and the field. By
// default one rejected record fails the whole batch with an EINVALID
// error whose field paths are "leads[3].attributes.size" (the table's
// name and the index) and nothing is written; with IngestOptions.Partial
// the other records are written and the rejections returned in the
// result. A batch holds 1 to MaxIngestBatch records. Where a key may
// appear only once per batch, the first record of a key stands and each
// repeat is rejected (field "id" or "lead_id").
type LeadStore interface {
	// UpsertLeads creates leads or replaces their attributes, account,
	// owner and creation time. A lead equal to the stored one is counted
	// unchanged and not rewritten (its updated time included). An account
	// a lead names that the store does not hold is created with no name or
	// attributes, as ImportHistory does. Each created or changed lead is
	// due for rescoring at opts.At (see DueLeads). A lead id may appear
	// only once per batch.
	UpsertLeads(ctx context.Context, leads []Lead, opts IngestOptions) (UpsertResult, error)
	// UpsertAccounts creates accounts or replaces their name and
	// attributes; an unchanged account is not rewritten. An account id may
	// appear only once per batch.
	UpsertAccounts(ctx context.Context, accounts []Account, opts IngestOptions) (UpsertResult, error)
	// RecordEvents stores events, idempotent by event id with the rule
	// ImportHistory follows: the first record with an id wins, and a later
	// one (stored before, or earlier in the batch) is a duplicate and
	// skipped. A duplicate whose lead, type, time or properties differ from
	// the kept event is also reported as a conflict, so that a caller who
	// reused an id learns it. Events may arrive late and out of order.
	// Every lead that gained an event is due for rescoring at opts.At.
	RecordEvents(ctx context.Context, events []Event, opts IngestOptions) (EventsResult, error)
	// RecordOutcomes stores outcomes, one per lead: a later outcome of a
	// lead replaces the stored one. An outcome equal to the stored one is
	// counted unchanged. A lead id may appear only once per batch. Each
	// lead whose outcome was created or changed is due for rescoring at
	// opts.At (and listed in the result's Leads).
	RecordOutcomes(ctx context.Context, outcomes []Outcome, opts IngestOptions) (UpsertResult, error)

	// GetLead returns a stored lead with its outcome and current score
	// (nil when it has none: not scored, never 0). ENOTFOUND names a lead
	// the store does not hold; a malformed id is EINVALID.
	GetLead(ctx context.Context, id string) (StoredLead, error)
	// ListLeads returns up to limit (1 to MaxIngestBatch) leads that pass
	// f, in f.Order, after the position page (the zero LeadPage: from the
	// first), with their outcomes and current scores without factors, and
	// the position of the next page: the zero LeadPage when none follows.
	// Paging is by key (the last lead's sort key and id), never by
	// offset, and each call reads one snapshot: a page never holds a lead
	// twice, and a walk through every page returns exactly once each lead
	// that is stored for the whole walk and whose sort key (its
	// probability or whether it is scored, or its updated time) does not
	// change during it. A lead whose key changes between two pages may be
	// returned twice (it moved behind the position) or not at all (it
	// moved ahead of it); a lead created during the walk is returned when
	// its key is behind the position. Filters are checked first: an
	// invalid tier, cell, account id or action is EINVALID naming it
	// ("tiers[1]").
	ListLeads(ctx context.Context, f LeadFilter, page LeadPage, limit int) ([]StoredLead, LeadPage, error)
	// DeleteLead erases a lead for a data-subject erasure request: in one
	// transaction it removes the lead with its events, outcome, current
	// score, score history and change log entries, and appends an
	// erasure record (see LeadErasure) that holds no personal data.
	// ENOTFOUND names a lead the store does not hold, and then nothing is
	// written, no record either. Accounts are kept: they are companies,
	// shared by leads. e is checked first (CheckErasure in
	// internal/storeutil): an id, an actor, a time and a reason of at most
	// MaxErasureReason bytes.
	DeleteLead(ctx context.Context, id string, e Erasure) error
	// GetAccount returns a stored account with the roll-up of its leads'
	// current scores (see AccountRollup; nil when none of its leads is
	// scored). ENOTFOUND names an account the store does not hold; a
	// malformed id is EINVALID.
	GetAccount(ctx context.Context, id string) (StoredAccount, error)
	// ListAccounts returns up to limit (1 to MaxIngestBatch) accounts whose
	// best grade is one of bestGrades (empty: every account; a grade
	// filter leaves out accounts without a roll-up), after the position
	// page (the zero AccountPage: from the first), highest roll-up
	// probability first, the accounts without a roll-up last, ties by id;
	// and the position of the next page, the zero AccountPage when none
	// follows. Paging is by key, as ListLeads pages. Each call computes
	// the roll-up of every account from one snapshot, so its cost is
	// linear in accounts and scored leads, whatever the limit: nothing is
	// materialised. An invalid grade is EINVALID ("best_grades[1]").
	ListAccounts(ctx context.Context, bestGrades []Grade, page AccountPage, limit int) ([]StoredAccount, AccountPage, error)
	// LeadErasures returns the erasure records of a lead id, oldest
	// first, found by the id's SHA-256: how an auditor who holds an id
	// confirms that it was erased. None for an id never erased.
	LeadErasures(ctx context.Context, id string) ([]LeadErasure, error)
	// LeadActivity returns the stored leads among ids (the others are
	// left out, a repeated id is read once), in byte order of id, with
	// their events in time order (occurred time, then id), as of nothing:
	// every stored event is returned, and the featurizer counts those
	// before the scoring time. It reads at most len(ids) leads; ids holds
	// at most MaxIngestBatch ids.
	LeadActivity(ctx context.Context, ids []string) ([]LeadActivity, error)
	// DueLeads returns up to limit (at least 1) ids of leads whose
	// rescoring is due at or before at, the earliest due first, then by
	// id. It only reads: leased leads (see ClaimDueLeads) are listed too.
	DueLeads(ctx context.Context, at time.Time, limit int) ([]string, error)
	// ClaimDueLeads is how the decay schedulers of servers sharing a store
	// take due leads without rescoring one twice. It returns up to limit
	// (1 to MaxIngestBatch) ids of leads due at or before at that are not
	// leased at at (never leased, or their lease ended at or before at),
	// in DueLeads' order, and in the same transaction leases them until
	// at+lease (at least a microsecond, the store's precision): until then
	// no other claim returns them, from any process. A claimed lead stays
	// due. SaveScores ends the lease of every lead it saves a score of, so
	// a lead that a write makes due again soon after is claimable at once;
	// writes leave leases alone. A lead whose claimer never scores it (the
	// process died, or the batch failed) is claimable again once its
	// lease ends.
	ClaimDueLeads(ctx context.Context, at time.Time, limit int, lease time.Duration) ([]string, error)
	// MarkAllDue makes every lead without an outcome due at at, as a write
	// at at would (so a score made before at leaves it due; see
	// SaveScores), ends its lease (a claimed batch may be being rescored
	// with the old version), and returns how many leads it marked:
	// after a champion promotion, so that the scheduler rescores every
	// live lead with the new version. Leads whose current score is by
	// version except (the new champion: every replica that sees the
	// promotion calls this, and must not undo another's rescoring) are
	// left alone; a zero except leaves none out. Leads with an outcome
	// keep their due time and lease. It is one statement in one transaction that rewrites
	// the row of every lead it marks, so its time, the locks it holds and
	// the log it writes grow with their number (about ten seconds for a
	// million leads on PostgreSQL), and writes and scores of those leads
	// wait for it to commit.
	MarkAllDue(ctx context.Context, at time.Time, except VersionRef) (int64, error)
	// RescoreProgress counts the live leads (those without an outcome) and
	// how many of them hold a current score by version: how far rescoring
	// every live lead with a new champion has come. It reads every lead,
	// so it costs time in proportion to their number.
	RescoreProgress(ctx context.Context, version VersionRef) (RescoreProgress, error)
	// SaveScores stores new current scores in one transaction. For each,
	// storeutil.ScoreTransition decides, from the lead's stored score,
	// whether the score history gains an entry (the cell or tier changed,
	// or the probability moved by more than opts.HistoryStep) and whether
	// the change log does (the cell or tier changed, or the lead had no
	// score). A score is skipped, and counted stale, when the stored score
	// of its lead is newer than it (ScoredAt), or when its lead is gone. A
	// saved score's lead is due again at its NextDue (never, when zero),
	// unless a write after ScoredAt made it due: the score did not see
	// that write, so the lead stays due (at the earlier of the two).
	// Saving a score ends its lead's lease (see ClaimDueLeads). Scores
	// are not ingested in partial mode: an invalid score, a lead scored
	// twice in one batch or an unregistered version fails the whole call
	// with EINVALID ("scores[3].probability").
	SaveScores(ctx context.Context, scores []LeadScoreRecord, opts SaveScoresOptions) (SaveScoresResult, error)
	// ScoreHistory returns up to limit (at least 1) of a lead's past
	// scores, newest first. ENOTFOUND names a lead the store does not
	// hold.
	ScoreHistory(ctx context.Context, id string, limit int) ([]LeadScoreRecord, error)
	// ScoreChanges returns up to limit (at least 1) change log entries
	// after the cursor seq (0: from the oldest retained), oldest first.
	// Entries are numbered in commit order, so a watcher resuming after
	// the last seq it read misses none.
	ScoreChanges(ctx context.Context, after int64, limit int) ([]ScoreChange, error)
	// PruneScoreChanges deletes the change log entries recorded
	// (ChangedAt) before before, and returns how many it deleted: the
	// log's retention, which a server runs every so often. It is one
	// statement in one transaction. Entries are recorded in commit order
	// with the clock of the process that saved them, so an entry is
	// practically never older than one after it, and pruning removes the
	// front of the log. A zero before is EINVALID.
	PruneScoreChanges(ctx context.Context, before time.Time) (int64, error)
	// ScoreChangeBounds returns the highest seq PruneScoreChanges has
	// deleted (0 when it deleted none), and the highest seq ever assigned
	// to an entry, retained or not (0 when none ever was). A watcher whose
	// cursor is below prunedThrough may have missed a pruned change; one at
	// or above it has missed none, whatever seqs are missing after it (not
	// every seq up to newest was an entry: a transaction that rolled back
	// used its seqs, and erasing a lead removes its entries). Seqs are
	// never reused. newest is never the seq of an entry whose transaction
	// is still running, so every change after newest is still to come.
	ScoreChangeBounds(ctx context.Context) (prunedThrough, newest int64, err error)
}

// RescoreProgress is what LeadStore.RescoreProgress counts.
type RescoreProgress struct {
	// Live is the number of leads without an outcome.
	Live int64
	// Rescored is the number of live leads whose current score is by the
	// version asked about.
	Rescored int64
}

// Account is a company leads work for.
type Account struct {
	// ID is the caller's id of the account (see ValidateID).
	ID string
	// Name is a name for people, such as "Acme Corp"; may be empty.
	Name string
	// Attributes are account-level fit attributes, with the rules of lead
	// attributes.
	Attributes map[string]Value
	// UpdatedAt is when the store last changed the account; set by the
	// store.
	UpdatedAt time.Time
}

// Validate checks an account the way every store checks it: a valid id, a
// name of valid text, at most MaxAttributes attributes with valid keys and
// values.
func (a Account) Validate() error {
	if err := ValidateID("id", a.ID); err != nil {
		return err
	}
	if err := validateText("name", a.Name); err != nil {
		return err
	}
	if len(a.Attributes) > MaxAttributes {
		return InvalidField("attributes", len(a.Attributes), fmt.Sprintf("has more than %d attributes", MaxAttributes))
	}
	for k, v := range a.Attributes {
		if validateAttribute(k, v) != nil {
			return firstInvalid(a.Attributes, validateAttribute)
		}
	}
	return nil
}

// StoredAccount is an account as GetAccount and ListAccounts return it.
type StoredAccount struct {
	Account Account
	// Rollup is the roll-up of its leads' current scores, or nil when
	// none of them is scored.
	Rollup *AccountRollup
}

// AccountRollup sums up the current scores of an account's leads.
type AccountRollup struct {
	// Probability is the probability that at least one scored lead
	// converts, the leads taken as independent: 1 − Π(1 − p).
	Probability float64
	// Score is Probability as a whole number from 1 to 99, as a lead's.
	Score int
	// BestGrade is the best fit grade of the scored leads (A best).
	BestGrade Grade
	// LeadCount counts every lead of the account, scored or not, and
	// EngagedLeadCount the scored leads at engagement level 1 or 2.
	LeadCount        int
	EngagedLeadCount int
	// TopLeads are the ids of at most MaxTopLeads scored leads, highest
	// probability first, ties by id.
	TopLeads []string
	// Version is the model version of the newest score, and ScoredAt its
	// scoring time.
	Version  VersionRef
	ScoredAt time.Time
}

// MaxTopLeads is the most lead ids an AccountRollup names.
const MaxTopLeads = 5

// ScoreOf is a probability shown as a whole number from 1 to 99: a lead's
// score (model.Scored) and an account's alike.
func ScoreOf(p float64) int {
	return min(99, max(1, int(math.Round(p*100))))
}

// AccountPage is a position in a ListAccounts listing: the sort key and id
// of the last account of a page. The zero AccountPage is the start.
type AccountPage struct {
	// AccountID is the last account's id; empty at the start.
	AccountID string
	// Scored and Probability are its roll-up's presence and probability.
	Scored      bool
	Probability float64
}

// IngestOptions adjusts a LeadStore write.
type IngestOptions struct {
	// At is the time of the write, from the server's clock: the records'
	// updated and recorded times, and when the leads they change are due
	// for rescoring. Required.
	At time.Time
	// Partial writes the valid records of a batch and returns the
	// rejected ones in the result, instead of failing the whole batch.
	Partial bool
	// Rescore, when set, scores the leads a write of leads or events made
	// due (its result's Leads) inside the write's transaction, after its
	// records are written: it is given their activity as the write leaves
	// it. It may be called a second time, with the activity of those of
	// the leads that another write changed meanwhile (that write committed
	// after the first reading): their scores then replace the first call's.
	// The scores it returns are saved as SaveScores saves them,
	// with RescoreOptions, before the write commits, so a write and the
	// scores it causes take one commit. Scores that cannot be saved (one
	// is invalid, or its version was deleted meanwhile) are undone alone,
	// their leads stay due, and the result's RescoreErr says why: the
	// write itself commits. Accounts and outcomes ignore it.
	Rescore        func(acts []LeadActivity) []LeadScoreRecord
	RescoreOptions SaveScoresOptions
}

// Rejection is a record of a batch that was not written.
type Rejection struct {
	// Index is the record's position in the batch, from 0.
	Index int
	// Err says why: an EINVALID error naming the record's field.
	Err error
}

// UpsertResult says what an upsert changed. Every record of the batch is
// counted in exactly one of Created, Updated, Unchanged and Rejected.
type UpsertResult struct {
	Created   int
	Updated   int
	Unchanged int
	// Rejected lists the records not written, in batch order (Partial
	// only: otherwise a rejection fails the call).
	Rejected []Rejection
	// Leads are the ids of the leads the batch created or changed, which
	// are due for rescoring, sorted and each once. Empty for accounts.
	Leads []string
	// Rescored is what saving IngestOptions.Rescore's scores did, and
	// RescoreErr why they were not saved.
	Rescored   SaveScoresResult
	RescoreErr error
}

// EventsResult says what RecordEvents stored. Every event of the batch is
// counted in exactly one of Recorded, Duplicates and Rejected.
type EventsResult struct {
	Recorded   int
	Duplicates int
	// Conflicts are the duplicates whose content differs from the event
	// kept under their id, in batch order.
	Conflicts []EventConflict
	Rejected  []Rejection
	// Leads are the ids of the leads that gained events, sorted and each
	// once: they are due for rescoring.
	Leads []string
	// Rescored is what saving IngestOptions.Rescore's scores did, and
	// RescoreErr why they were not saved.
	Rescored   SaveScoresResult
	RescoreErr error
}

// EventConflict is a re-sent event id whose content differs from the
// event kept under it.
type EventConflict struct {
	// Index is the re-sent event's position in the batch, from 0.
	Index int
	// ID is the event id.
	ID string
	// Fields names what differs: some of "lead_id", "type",
	// "occurred_at" and "properties".
	Fields []string
}

// StoredLead is a lead as GetLead returns it.
type StoredLead struct {
	Lead Lead
	// UpdatedAt is when the store last changed the lead.
	UpdatedAt time.Time
	// Outcome is the lead's outcome, or nil.
	Outcome *Outcome
	// Score is the lead's current score, or nil when it has not been
	// scored.
	Score *LeadScoreRecord
}

// LeadOrder is the order of ListLeads.
type LeadOrder uint8

// The orders of ListLeads. Ties are broken by lead id in byte order.
const (
	// LeadsByScore lists the highest current probability first, and the
	// leads without a score last (by id).
	LeadsByScore LeadOrder = iota
	// LeadsByUpdate lists the most recently changed leads first (their
	// updated time; a new score does not change it).
	LeadsByUpdate
)

// LeadFilter chooses the leads ListLeads returns and their order. A lead
// passes when it passes every non-empty field; a list passes a lead that
// matches any of its entries. Tiers, Cells and Actions are those of the
// current score, so any of them leaves out leads without a score.
type LeadFilter struct {
	Order   LeadOrder
	Tiers   []Tier
	Cells   []Cell
	Actions []string
	// AccountID and Owner, when not empty, are the lead's account and
	// owner.
	AccountID string
	Owner     string
}

// LeadPage is a position in a ListLeads listing: the sort key and id of
// the last lead of a page. The zero LeadPage is the start.
type LeadPage struct {
	// LeadID is the last lead's id; empty at the start.
	LeadID string
	// Scored and Probability are its current score's presence and
	// probability (LeadsByScore).
	Scored      bool
	Probability float64
	// UpdatedAt is its updated time (LeadsByUpdate).
	UpdatedAt time.Time
}

// MaxErasureReason is the longest reason of an erasure, in bytes.
const MaxErasureReason = 1024

// Erasure says who erased a lead, when and why.
type Erasure struct {
	// Actor is who asked, as the server names its callers; required.
	Actor string
	// Reason is why, such as the erasure request's reference; may be
	// empty, at most MaxErasureReason bytes. It is kept in the audit log,
	// so it must not hold the person's data.
	Reason string
	// At is the erasure's time, from the server's clock; required.
	At time.Time
}

// LeadErasure is a record of the audit log of erased leads. It holds no
// personal data: the lead's id only as LeadIDSHA256, the lower-case hex
// SHA-256 of the id's bytes, so that the log alone names no one while an
// auditor who holds an id can confirm that it was erased. The hash is a
// pseudonym, not an anonymisation: whoever can guess an id can check it.
type LeadErasure struct {
	// Seq numbers the log's records in order.
	Seq          int64
	LeadIDSHA256 string
	Erasure
}

// LeadActivity is a lead with its events in time order, what the
// featurizer needs to score it.
type LeadActivity struct {
	Lead   Lead
	Events []Event
	// Score is the lead's current score, or nil: a rescoring compares
	// against it.
	Score *LeadScoreRecord
}

// ScoreFactor is one reason for a score, as stored with it.
type ScoreFactor struct {
	Feature      string  `json:"feature"`
	Group        string  `json:"group"`
	Contribution float64 `json:"contribution"`
	Value        string  `json:"value,omitempty"`
	Description  string  `json:"description"`
}

// LeadScoreRecord is a lead's score as the store keeps it: the current
// score, an entry of its history, or the new score of a change.
type LeadScoreRecord struct {
	LeadID string
	// Version is the model version that scored the lead, and Alias the
	// alias it was served under ("" for a pinned version).
	Version VersionRef
	Alias   string
	// The score's figures, as model.Scored gives them.
	Probability float64
	Score       int
	Percentile  float64
	Tier        Tier
	Cell        Cell
	Action      string
	BaseValue   float64
	RawOutput   float64
	// Horizon is the model's conversion horizon.
	Horizon time.Duration
	// Factors are the top factors, strongest first; may be empty.
	Factors []ScoreFactor
	// ScoredAt is the scoring time: the lead as of this time was scored.
	ScoredAt time.Time
	// Reason is why the lead was rescored (ReasonEvent and the others).
	Reason string
	// NextDue is when the lead should be rescored again because its score
	// decays as time passes; zero means not before something happens.
	NextDue time.Time
}

// Validate checks a score before it is stored.
func (r LeadScoreRecord) Validate() error {
	if err := ValidateID("lead_id", r.LeadID); err != nil {
		return err
	}
	if r.Version.Model == "" || r.Version.Version < 1 {
		return InvalidField("version", r.Version.Name(), "must name a registered model version")
	}
	if !(r.Probability >= 0 && r.Probability <= 1) {
		return InvalidField("probability", r.Probability, "must be from 0 to 1")
	}
	if r.Score < 1 || r.Score > 99 {
		return InvalidField("score", r.Score, "must be from 1 to 99")
	}
	if r.Tier < TierVeryGood || r.Tier > TierLow {
		return InvalidField("tier", r.Tier, "must be a tier")
	}
	if !r.Cell.Valid() {
		return InvalidField("cell", r.Cell.String(), "must be a grid cell")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"percentile", r.Percentile}, {"base_value", r.BaseValue}, {"raw_output", r.RawOutput}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return InvalidField(f.name, f.v, "must be a finite number")
		}
	}
	if err := validateTime("scored_at", r.ScoredAt); err != nil {
		return err
	}
	if r.Reason == "" {
		return InvalidField("reason", r.Reason, "is required")
	}
	return nil
}

// SaveScoresOptions adjusts SaveScores.
type SaveScoresOptions struct {
	// HistoryStep is the probability move that earns a score history
	// entry even when the cell and tier stay; 0 records every move.
	HistoryStep float64
}

// SaveScoresResult says what SaveScores stored.
type SaveScoresResult struct {
	// Saved counts the scores that became current.
	Saved int
	// Stale counts the scores skipped because a newer one was stored or
	// their lead is gone.
	Stale int
	// History counts the score history entries written, and Changes the
	// change log entries.
	History int
	Changes int
}

// ScoreChange is an entry of the change log: a lead's tier or cell
// changed, or it was scored for the first time.
type ScoreChange struct {
	// Seq is the entry's position in the log, the cursor a watcher
	// resumes after.
	Seq    int64
	LeadID string
	// AccountID and Owner are the lead's when the change happened.
	AccountID string
	Owner     string
	// PreviousTier and PreviousCell are TierNone and the zero Cell when
	// the lead had no score.
	PreviousTier Tier
	PreviousCell Cell
	// Score is the new score, without factors.
	Score LeadScoreRecord
	// ChangedAt is when the change was recorded.
	ChangedAt time.Time
}
