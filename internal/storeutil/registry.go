package storeutil

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
)

// This file holds the rules of leadscore.RegistryStore that do not depend
// on SQL: normalising and checking what callers store, encoding the JSON
// columns, replaying request ids, and the whole decision of an alias move.
// Each backend supplies the statements; the order of checks and the errors
// callers see are decided here once, so the two backends cannot drift.

// StoredTime returns t as both backends keep times: in UTC, to the
// microsecond. A zero t means "now", the store's clock.
func StoredTime(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// storedOptionalTime is StoredTime for times that may be absent: a zero t
// stays zero.
func storedOptionalTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Precondition returns an EPRECONDITION error with one violation whose
// description is the message.
func Precondition(typ, subject, format string, args ...any) *leadscore.Error {
	desc := fmt.Sprintf(format, args...)
	return &leadscore.Error{
		Code:          leadscore.EPRECONDITION,
		Message:       desc,
		Preconditions: []leadscore.PreconditionViolation{{Type: typ, Subject: subject, Description: desc}},
	}
}

// ModelNotFound is the error for a model that does not exist.
func ModelNotFound(id string) error {
	return leadscore.Errorf(leadscore.ENOTFOUND, "%s does not exist", leadscore.ModelName(id))
}

// VersionNotFound is the error for a version that does not exist.
func VersionNotFound(ref leadscore.VersionRef) error {
	return leadscore.Errorf(leadscore.ENOTFOUND, "%s does not exist", ref.Name())
}

// AliasNotFound is the error for an alias that does not exist.
func AliasNotFound(ref leadscore.AliasRef) error {
	return leadscore.Errorf(leadscore.ENOTFOUND, "%s does not exist", ref.Name())
}

// JobName returns a job's resource name, "jobs/{id}".
func JobName(id string) string { return "jobs/" + id }

// EvaluationName returns an evaluation's resource name,
// "evaluations/{id}".
func EvaluationName(id string) string { return "evaluations/" + id }

// GatePolicyName returns a policy revision's resource name,
// "gatePolicies/{name}/revisions/{revision}".
func GatePolicyName(name string, revision int64) string {
	return fmt.Sprintf("gatePolicies/%s/revisions/%d", name, revision)
}

// HistoryEntryName returns an alias history entry's resource name.
func HistoryEntryName(ref leadscore.AliasRef, seq int64) string {
	return fmt.Sprintf("%s/history/%d", ref.Name(), seq)
}

// CheckLimit refuses a negative listing limit. 0 means no limit.
func CheckLimit(limit int) error {
	if limit < 0 {
		return leadscore.InvalidField("limit", limit, "must not be negative")
	}
	return nil
}

// PageStarted reports whether p is past the start of a listing.
func PageStarted(p leadscore.Page) bool { return !p.Time.IsZero() || p.ID != "" }

// PageTime returns the time of a page position as the stores compare it.
func PageTime(p leadscore.Page) time.Time { return storedOptionalTime(p.Time) }

// NewModel returns m as CreateModel stores it: revision 1, no versions,
// and times set.
func NewModel(m leadscore.Model) (leadscore.Model, error) {
	if m.ID == "" {
		return leadscore.Model{}, leadscore.InvalidField("id", m.ID, "is required")
	}
	m.CreatedAt = StoredTime(m.CreatedAt)
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.CreatedAt
	}
	m.UpdatedAt = StoredTime(m.UpdatedAt)
	m.Revision = 1
	m.LatestVersion = 0
	return m, nil
}

// StaleModel is the error for an update that named a stale model revision.
func StaleModel(id string, expect, current int64) error {
	return leadscore.Errorf(leadscore.EABORTED, "%s is at revision %d, not %d: it changed since it was read", leadscore.ModelName(id), current, expect)
}

// VersionColumns are the JSON columns of a model version, encoded.
type VersionColumns struct {
	Features []byte
	Lineage  []byte
	Tags     []byte
}

// NewVersion checks a version to register and returns it normalised (its
// times stored as the store keeps them) with its JSON columns.
func NewVersion(v leadscore.NewModelVersion) (leadscore.NewModelVersion, VersionColumns, error) {
	switch {
	case v.Model == "":
		return v, VersionColumns{}, leadscore.InvalidField("model", v.Model, "is required")
	case v.Family == "":
		return v, VersionColumns{}, leadscore.InvalidField("family", v.Family, "is required")
	case len(v.Artifact) == 0:
		return v, VersionColumns{}, leadscore.InvalidField("artifact", "", "is required")
	}
	if b, err := hex.DecodeString(v.ArtifactSHA256); err != nil || len(b) != 32 || strings.ToLower(v.ArtifactSHA256) != v.ArtifactSHA256 {
		return v, VersionColumns{}, leadscore.InvalidField("artifact_sha256", v.ArtifactSHA256, "must be 64 lower-case hex digits")
	}
	v.CreatedAt = StoredTime(v.CreatedAt)
	v.Lineage.DataStart = storedOptionalTime(v.Lineage.DataStart)
	v.Lineage.DataEnd = storedOptionalTime(v.Lineage.DataEnd)
	var cols VersionColumns
	var err error
	features := v.Features
	if features == nil {
		features = []leadscore.FeatureInfo{}
	}
	if cols.Features, err = json.Marshal(features); err != nil {
		return v, VersionColumns{}, leadscore.InvalidField("features", err, "cannot be encoded")
	}
	if cols.Lineage, err = json.Marshal(v.Lineage); err != nil {
		// The only values JSON cannot hold are NaN and infinities, which
		// only the metrics can be.
		return v, VersionColumns{}, leadscore.InvalidField("lineage.validation_metrics", v.Lineage.ValidationMetrics, "must be finite numbers")
	}
	if cols.Tags, err = EncodeTags(v.Tags); err != nil {
		return v, VersionColumns{}, err
	}
	return v, cols, nil
}

// EncodeTags encodes a version's tags; no tags are an empty object.
func EncodeTags(tags map[string]string) ([]byte, error) {
	if tags == nil {
		tags = map[string]string{}
	}
	b, err := json.Marshal(tags)
	if err != nil {
		return nil, leadscore.InvalidField("tags", err, "cannot be encoded")
	}
	return b, nil
}

// DecodeVersionColumns fills the JSON fields of v from its stored columns.
// Empty features and tags come back nil, however they were stored.
func DecodeVersionColumns(v *leadscore.ModelVersion, features, lineage, tags []byte) error {
	if err := json.Unmarshal(features, &v.Features); err != nil {
		return fmt.Errorf("decode features of %s: %w", v.Ref().Name(), err)
	}
	if len(v.Features) == 0 {
		v.Features = nil
	}
	if err := json.Unmarshal(lineage, &v.Lineage); err != nil {
		return fmt.Errorf("decode lineage of %s: %w", v.Ref().Name(), err)
	}
	v.Lineage.DataStart = storedOptionalTime(v.Lineage.DataStart)
	v.Lineage.DataEnd = storedOptionalTime(v.Lineage.DataEnd)
	v.Tags = nil
	if err := json.Unmarshal(tags, &v.Tags); err != nil {
		return fmt.Errorf("decode tags of %s: %w", v.Ref().Name(), err)
	}
	if len(v.Tags) == 0 {
		v.Tags = nil
	}
	return nil
}

// ApplyVersionUpdate applies u to v in memory. It refuses an unknown state
// but leaves the rules about aliases to the caller, which knows them.
func ApplyVersionUpdate(v leadscore.ModelVersion, u leadscore.VersionUpdate) (leadscore.ModelVersion, error) {
	if u.Description != nil {
		v.Description = *u.Description
	}
	if u.SetTags || u.Tags != nil {
		v.Tags = nil
		if len(u.Tags) > 0 {
			v.Tags = maps.Clone(u.Tags)
		}
	}
	if u.State != nil {
		if *u.State != leadscore.VersionActive && *u.State != leadscore.VersionArchived {
			return v, leadscore.InvalidField("state", *u.State, `must be "active" or "archived"`)
		}
		v.State = *u.State
	}
	return v, nil
}

// ArchiveServing is the error for archiving a version an alias points at.
func ArchiveServing(ref leadscore.VersionRef, alias string) error {
	a := leadscore.AliasRef{Model: ref.Model, Alias: alias}
	return Precondition("ALIAS", a.Name(), "%s cannot be archived: %s points at it, and an archived version cannot serve; move the alias first", ref.Name(), a.Name())
}

// VersionHeld is the error of DeleteModelVersion for a version that
// something still refers to; held lists what, most important first.
func VersionHeld(ref leadscore.VersionRef, held []leadscore.PreconditionViolation) error {
	descs := make([]string, len(held))
	for i, h := range held {
		descs[i] = h.Description
	}
	return &leadscore.Error{
		Code:          leadscore.EPRECONDITION,
		Message:       fmt.Sprintf("%s cannot be deleted: %s; archive it instead", ref.Name(), strings.Join(descs, "; ")),
		Preconditions: held,
	}
}

// HeldBy describes one kind of record that refers to a version: the first
// of them and how many there are.
func HeldBy(typ, subject string, count int64, what string) leadscore.PreconditionViolation {
	desc := fmt.Sprintf("%s %s", subject, what)
	if count > 1 {
		desc = fmt.Sprintf("%s (and %d more like it) %s", subject, count-1, what)
	}
	return leadscore.PreconditionViolation{Type: typ, Subject: subject, Description: desc}
}

// versionRecord is what the request_ids table remembers of a registration.
type versionRecord struct {
	Model   string `json:"model"`
	Version int64  `json:"version"`
}

// MethodCreateModelVersion is the method recorded with the request id of a
// registration.
const MethodCreateModelVersion = "CreateModelVersion"

// EncodeVersionRecord returns what to record for the request id of a
// registration.
func EncodeVersionRecord(ref leadscore.VersionRef) []byte {
	b, _ := json.Marshal(versionRecord{Model: ref.Model, Version: ref.Version}) // Cannot fail.
	return b
}

// DecodeVersionRecord reads the record of a registration's request id and
// checks that the retry is of the same request.
func DecodeVersionRecord(requestID, method string, response []byte, model string) (leadscore.VersionRef, error) {
	if method != MethodCreateModelVersion {
		return leadscore.VersionRef{}, reusedRequestID(requestID, method, MethodCreateModelVersion)
	}
	var r versionRecord
	if err := json.Unmarshal(response, &r); err != nil {
		return leadscore.VersionRef{}, fmt.Errorf("decode the response recorded for request id %q: %w", requestID, err)
	}
	if r.Model != model {
		return leadscore.VersionRef{}, leadscore.Errorf(leadscore.ECONFLICT,
			"request id %q was used to register a version of %s, not of %s", requestID, leadscore.ModelName(r.Model), leadscore.ModelName(model))
	}
	return leadscore.VersionRef{Model: r.Model, Version: r.Version}, nil
}

func reusedRequestID(requestID, was, now string) error {
	return leadscore.Errorf(leadscore.ECONFLICT, "request id %q was used for %s and cannot be reused for %s", requestID, was, now)
}

// NewGatePolicy checks a policy revision to store and returns it with its
// creation time set.
func NewGatePolicy(p leadscore.GatePolicyRecord) (leadscore.GatePolicyRecord, error) {
	if p.Name == "" {
		return p, leadscore.InvalidField("name", p.Name, "is required")
	}
	if !json.Valid(p.Document) {
		return p, leadscore.InvalidField("document", truncate(string(p.Document)), "must be JSON")
	}
	p.CreatedAt = StoredTime(p.CreatedAt)
	return p, nil
}

// GatePolicyNotFound is the error for a policy (revision 0: any revision)
// that does not exist.
func GatePolicyNotFound(name string, revision int64) error {
	if revision == 0 {
		return leadscore.Errorf(leadscore.ENOTFOUND, "gatePolicies/%s does not exist", name)
	}
	return leadscore.Errorf(leadscore.ENOTFOUND, "%s does not exist", GatePolicyName(name, revision))
}

// NewEvaluation checks an evaluation to store and returns it with its
// times as the store keeps them.
func NewEvaluation(e leadscore.Evaluation) (leadscore.Evaluation, error) {
	switch {
	case e.ID == "":
		return e, leadscore.InvalidField("id", e.ID, "is required")
	case e.Model == "":
		return e, leadscore.InvalidField("model", e.Model, "is required")
	case e.Version < 1:
		return e, leadscore.InvalidField("version", e.Version, "must be a version number from 1")
	case e.ChampionVersion < 0:
		return e, leadscore.InvalidField("champion_version", e.ChampionVersion, "must be a version number, or 0 for none")
	case e.GatePolicy == "" && (e.Passed != nil || e.GatePolicyRevision != 0):
		return e, leadscore.InvalidField("gate_policy", e.GatePolicy, "is required when passed or the policy revision is set")
	case e.GatePolicy != "" && e.Passed == nil:
		return e, leadscore.InvalidField("passed", "nil", "is required when a gate policy was applied")
	case e.GatePolicy != "" && e.GatePolicyRevision < 1:
		return e, leadscore.InvalidField("gate_policy_revision", e.GatePolicyRevision, "must be a revision from 1 when a gate policy was applied")
	case e.DataStart.IsZero() != e.DataEnd.IsZero():
		return e, leadscore.InvalidField("data_end", e.DataEnd, "and data_start must both be set, or both be zero for data without times")
	case e.DataEnd.Before(e.DataStart):
		return e, leadscore.InvalidField("data_end", e.DataEnd, "must not be before data_start")
	case !json.Valid(e.Report):
		return e, leadscore.InvalidField("report", truncate(string(e.Report)), "must be JSON")
	}
	e.DataStart = storedOptionalTime(e.DataStart)
	e.DataEnd = storedOptionalTime(e.DataEnd)
	e.CreatedAt = StoredTime(e.CreatedAt)
	return e, nil
}

// CheckEvaluationFilter refuses a filter by version without a model.
func CheckEvaluationFilter(f leadscore.EvaluationFilter) error {
	if f.Version != 0 && f.Model == "" {
		return leadscore.InvalidField("model", f.Model, "is required when filtering by version")
	}
	return nil
}

// EvaluationNotFound is the error for an evaluation that does not exist.
func EvaluationNotFound(id string) error {
	return leadscore.Errorf(leadscore.ENOTFOUND, "%s does not exist", EvaluationName(id))
}

var jobStates = map[leadscore.JobState]bool{
	leadscore.JobQueued: true, leadscore.JobRunning: true, leadscore.JobCancelling: true,
	leadscore.JobSucceeded: true, leadscore.JobFailed: true, leadscore.JobCancelled: true,
}

// NewJob checks a job to create and returns it as CreateJob stores it: in
// the queued state unless another is given, with its times set.
func NewJob(j leadscore.Job) (leadscore.Job, error) {
	if j.State == "" {
		j.State = leadscore.JobQueued
	}
	if j.ID == "" {
		return j, leadscore.InvalidField("id", j.ID, "is required")
	}
	j.CreatedAt = StoredTime(j.CreatedAt)
	if j.UpdatedAt.IsZero() {
		j.UpdatedAt = j.CreatedAt
	}
	return checkJob(j)
}

// checkJob checks the fields every stored job must have right, and
// normalises its times.
func checkJob(j leadscore.Job) (leadscore.Job, error) {
	switch {
	case j.Kind != leadscore.JobTraining && j.Kind != leadscore.JobEvaluation:
		return j, leadscore.InvalidField("kind", j.Kind, `must be "training" or "evaluation"`)
	case !jobStates[j.State]:
		return j, leadscore.InvalidField("state", j.State, "must be queued, running, cancelling, succeeded, failed or cancelled")
	case math.IsNaN(j.Progress) || j.Progress < 0 || j.Progress > 1:
		return j, leadscore.InvalidField("progress", j.Progress, "must be from 0 to 1")
	case !json.Valid(j.Spec):
		return j, leadscore.InvalidField("spec", truncate(string(j.Spec)), "must be JSON")
	case len(j.Result) > 0 && !json.Valid(j.Result):
		return j, leadscore.InvalidField("result", truncate(string(j.Result)), "must be JSON, or empty")
	}
	j.CreatedAt = StoredTime(j.CreatedAt)
	j.UpdatedAt = StoredTime(j.UpdatedAt)
	j.StartedAt = storedOptionalTime(j.StartedAt)
	j.FinishedAt = storedOptionalTime(j.FinishedAt)
	if len(j.Result) == 0 {
		j.Result = nil
	}
	return j, nil
}

// SameJobRequest checks that a job found by the request id of a new one
// was submitted for the same thing, so that one request id cannot return a
// job of another kind or model.
func SameJobRequest(existing, submitted leadscore.Job) error {
	if existing.Kind != submitted.Kind || existing.Model != submitted.Model {
		return leadscore.Errorf(leadscore.ECONFLICT,
			"request id %q was used for %s, a %s job of model %q, and cannot be reused for a %s job of model %q",
			submitted.RequestID, JobName(existing.ID), existing.Kind, existing.Model, submitted.Kind, submitted.Model)
	}
	return nil
}

// JobNotFound is the error for a job that does not exist.
func JobNotFound(id string) error {
	return leadscore.Errorf(leadscore.ENOTFOUND, "%s does not exist", JobName(id))
}

// UpdatedJob checks the job UpdateJob's fn made of before and returns it
// as the store writes it. The identity of a job (id, kind, request id,
// creator, creation time) never changes, and a job in a final state stays
// in it. When fn left UpdatedAt as it was, it becomes now.
func UpdatedJob(before, after leadscore.Job) (leadscore.Job, error) {
	name := JobName(before.ID)
	switch {
	case after.ID != before.ID:
		return after, leadscore.InvalidField("id", after.ID, fmt.Sprintf("of %s cannot change", name))
	case after.Kind != before.Kind:
		return after, leadscore.InvalidField("kind", after.Kind, fmt.Sprintf("of %s cannot change", name))
	case after.RequestID != before.RequestID:
		return after, leadscore.InvalidField("request_id", after.RequestID, fmt.Sprintf("of %s cannot change", name))
	case after.CreatedBy != before.CreatedBy:
		return after, leadscore.InvalidField("created_by", after.CreatedBy, fmt.Sprintf("of %s cannot change", name))
	case !after.CreatedAt.Equal(before.CreatedAt):
		return after, leadscore.InvalidField("created_at", after.CreatedAt, fmt.Sprintf("of %s cannot change", name))
	case before.State.Final() && after.State != before.State:
		return after, Precondition("JOB_STATE", name, "%s is %s, a final state, and cannot become %s", name, before.State, after.State)
	}
	if after.UpdatedAt.Equal(before.UpdatedAt) {
		after.UpdatedAt = time.Time{}
	}
	return checkJob(after)
}

// truncate shortens a value quoted in an error message.
func truncate(s string) string {
	const quoted = 64
	if len(s) <= quoted {
		return s
	}
	return s[:quoted] + "..."
}

// AliasTx is a backend's transaction as MoveAlias sees it. The backend has
// locked the model's row before handing it over, so nothing it reads
// changes until the transaction ends. Every method reads or writes within
// the transaction; versions are the model's.
type AliasTx interface {
	// RequestRecord returns what was recorded for a request id; ok is
	// false when nothing was.
	RequestRecord(ctx context.Context, requestID string) (method string, response []byte, ok bool, err error)
	// Alias returns the model's alias, with Seq set, or nil when it does
	// not exist.
	Alias(ctx context.Context, name string) (*leadscore.Alias, error)
	// Version returns one of the model's versions without its artifact;
	// ENOTFOUND if it does not exist.
	Version(ctx context.Context, version int64) (leadscore.ModelVersion, error)
	// HistoryEntry returns the entry of an alias's history with number
	// seq, or the newest when seq is 0; ok is false when there is none.
	HistoryEntry(ctx context.Context, alias string, seq int64) (change leadscore.AliasChange, ok bool, err error)
	// Evaluations lists a version's evaluations newest first (by creation
	// time, then id), with their reports (the champion gate judges them
	// again); when id is not empty, only the evaluation with that id, if
	// it is one of the version's.
	Evaluations(ctx context.Context, version int64, id string) ([]leadscore.Evaluation, error)
	// Write records a move decided by MoveAlias.
	Write(ctx context.Context, w AliasWrite) error
}

// AliasWrite is a move MoveAlias decided, for the backend to write: in one
// transaction, append Change to the alias's history, set the alias to
// Alias (delete it when Alias is nil), set the model's update time to
// Change.CreatedAt, and, when Change.RequestID is set, record Method and
// Response under it.
type AliasWrite struct {
	Change   leadscore.AliasChange
	Alias    *leadscore.Alias
	Method   string
	Response []byte
}

// Notice returns the notice of the move.
func (w AliasWrite) Notice() leadscore.AliasNotice {
	return leadscore.AliasNotice{Model: w.Change.Model, Alias: w.Change.Alias, Seq: w.Change.Seq, Version: w.Change.ToVersion}
}

// moveRecord is what the request_ids table remembers of an alias move:
// both results exactly as MoveAlias first returned them.
type moveRecord struct {
	Alias  aliasJSON  `json:"alias"`
	Change changeJSON `json:"change"`
}

type aliasJSON struct {
	Model     string    `json:"model"`
	Name      string    `json:"name"`
	Version   int64     `json:"version"`
	Seq       int64     `json:"seq"`
	Revision  int64     `json:"revision"`
	UpdatedAt time.Time `json:"updated_at"`
}

type changeJSON struct {
	Model       string    `json:"model"`
	Alias       string    `json:"alias"`
	Seq         int64     `json:"seq"`
	Kind        string    `json:"kind"`
	FromVersion int64     `json:"from_version"`
	ToVersion   int64     `json:"to_version"`
	Actor       string    `json:"actor"`
	Reason      string    `json:"reason"`
	Evaluation  string    `json:"evaluation"`
	RequestID   string    `json:"request_id"`
	CreatedAt   time.Time `json:"created_at"`
}

func encodeMove(a leadscore.Alias, c leadscore.AliasChange) []byte {
	b, _ := json.Marshal(moveRecord{ // Cannot fail: no floats, no maps.
		Alias: aliasJSON(a),
		Change: changeJSON{
			Model: c.Model, Alias: c.Alias, Seq: c.Seq, Kind: string(c.Kind),
			FromVersion: c.FromVersion, ToVersion: c.ToVersion, Actor: c.Actor, Reason: c.Reason,
			Evaluation: c.Evaluation, RequestID: c.RequestID, CreatedAt: c.CreatedAt,
		},
	})
	return b
}

func decodeMove(requestID string, response []byte) (leadscore.Alias, leadscore.AliasChange, error) {
	var r moveRecord
	if err := json.Unmarshal(response, &r); err != nil {
		return leadscore.Alias{}, leadscore.AliasChange{}, fmt.Errorf("decode the response recorded for request id %q: %w", requestID, err)
	}
	a := leadscore.Alias(r.Alias)
	a.UpdatedAt = storedOptionalTime(a.UpdatedAt)
	c := r.Change
	return a, leadscore.AliasChange{
		Model: c.Model, Alias: c.Alias, Seq: c.Seq, Kind: leadscore.AliasChangeKind(c.Kind),
		FromVersion: c.FromVersion, ToVersion: c.ToVersion, Actor: c.Actor, Reason: c.Reason,
		Evaluation: c.Evaluation, RequestID: c.RequestID, CreatedAt: StoredTime(c.CreatedAt),
	}, nil
}

// CheckMove refuses a move that no store could make, before a transaction
// is begun.
func CheckMove(move leadscore.AliasMove) error {
	switch {
	case move.Model == "":
		return leadscore.InvalidField("model", move.Model, "is required")
	case move.Alias == "":
		return leadscore.InvalidField("alias", move.Alias, "is required")
	}
	switch move.Kind {
	case leadscore.AliasPromote, leadscore.AliasForce:
		if move.ToVersion < 1 {
			return leadscore.InvalidField("to_version", move.ToVersion, "must be a version number from 1")
		}
	case leadscore.AliasRollback:
		if move.RollbackToSeq < 0 {
			return leadscore.InvalidField("rollback_to_seq", move.RollbackToSeq, "must be a history entry number, or 0 for the target before the current one")
		}
	case leadscore.AliasDelete:
	default:
		return leadscore.InvalidField("kind", move.Kind, "must be promote, force, rollback or delete")
	}
	if move.ExpectRevision < 0 {
		return leadscore.InvalidField("expect_revision", move.ExpectRevision, "must not be negative")
	}
	return nil
}

// MethodMoveAlias is the method recorded with a move's request id when the
// move names none.
const MethodMoveAlias = "MoveAlias"

// MoveAlias decides and records an alias move in tx, following
// leadscore.RegistryStore.MoveAlias: replay of a known request id, the
// expected revision, the target, the gate, then the write. It returns the
// gate's error unchanged. On any error the caller must roll tx back; on
// success it commits and publishes w.Notice().
func MoveAlias(ctx context.Context, tx AliasTx, move leadscore.AliasMove, gate leadscore.AliasGate) (leadscore.Alias, leadscore.AliasChange, AliasWrite, error) {
	ref := leadscore.AliasRef{Model: move.Model, Alias: move.Alias}
	method := move.Method
	if method == "" {
		method = MethodMoveAlias
	}
	if move.RequestID != "" {
		was, response, ok, err := tx.RequestRecord(ctx, move.RequestID)
		if err != nil {
			return leadscore.Alias{}, leadscore.AliasChange{}, AliasWrite{}, err
		}
		if ok {
			if was != method {
				return leadscore.Alias{}, leadscore.AliasChange{}, AliasWrite{}, reusedRequestID(move.RequestID, was, method)
			}
			a, c, err := decodeMove(move.RequestID, response)
			if err != nil {
				return leadscore.Alias{}, leadscore.AliasChange{}, AliasWrite{}, err
			}
			if c.Model != move.Model || c.Alias != move.Alias {
				return leadscore.Alias{}, leadscore.AliasChange{}, AliasWrite{}, leadscore.Errorf(leadscore.ECONFLICT,
					"request id %q was used to move %s, not %s", move.RequestID, leadscore.AliasRef{Model: c.Model, Alias: c.Alias}.Name(), ref.Name())
			}
			return a, c, AliasWrite{}, nil
		}
	}

	current, err := tx.Alias(ctx, move.Alias)
	if err != nil {
		return leadscore.Alias{}, leadscore.AliasChange{}, AliasWrite{}, err
	}
	// The gate gets pointers; keep what the write needs out of its reach.
	var currentVersion, currentRevision int64
	if current != nil {
		currentVersion, currentRevision = current.Version, current.Revision
	}
	if move.ExpectRevision != 0 && move.ExpectRevision != currentRevision {
		return leadscore.Alias{}, leadscore.AliasChange{}, AliasWrite{}, leadscore.Errorf(leadscore.EABORTED,
			"%s is at revision %d, not %d: it moved since it was read", ref.Name(), currentRevision, move.ExpectRevision)
	}

	target, err := resolveTarget(ctx, tx, move, ref, current)
	if err != nil {
		return leadscore.Alias{}, leadscore.AliasChange{}, AliasWrite{}, err
	}
	var targetVersion int64
	if target != nil {
		targetVersion = target.Version
		if current != nil && currentVersion == targetVersion {
			return leadscore.Alias{}, leadscore.AliasChange{}, AliasWrite{}, Precondition("ALIAS_TARGET", ref.Name(),
				"%s already points at version %d", ref.Name(), targetVersion)
		}
	}

	state := leadscore.AliasMoveState{Current: current, Champion: current, Target: target}
	if move.Alias != leadscore.AliasChampion {
		if state.Champion, err = tx.Alias(ctx, leadscore.AliasChampion); err != nil {
			return leadscore.Alias{}, leadscore.AliasChange{}, AliasWrite{}, err
		}
	}
	if target != nil {
		if state.Evaluations, err = tx.Evaluations(ctx, targetVersion, move.Evaluation); err != nil {
			return leadscore.Alias{}, leadscore.AliasChange{}, AliasWrite{}, err
		}
		if state.Evaluations == nil {
			state.Evaluations = []leadscore.Evaluation{}
		}
	}
	var evaluation string
	if gate != nil {
		if evaluation, err = gate(state); err != nil {
			return leadscore.Alias{}, leadscore.AliasChange{}, AliasWrite{}, err
		}
	}

	latest, ok, err := tx.HistoryEntry(ctx, move.Alias, 0)
	if err != nil {
		return leadscore.Alias{}, leadscore.AliasChange{}, AliasWrite{}, err
	}
	seq := int64(1)
	if ok {
		seq = latest.Seq + 1
	}
	at := StoredTime(move.At)
	change := leadscore.AliasChange{
		Model: move.Model, Alias: move.Alias, Seq: seq, Kind: move.Kind,
		FromVersion: currentVersion, ToVersion: targetVersion,
		Actor: move.Actor, Reason: move.Reason, Evaluation: evaluation,
		RequestID: move.RequestID, CreatedAt: at,
	}
	w := AliasWrite{Change: change}
	var alias leadscore.Alias
	if target != nil {
		alias = leadscore.Alias{Model: move.Model, Name: move.Alias, Version: targetVersion, Seq: seq, Revision: seq, UpdatedAt: at}
		w.Alias = &alias
	}
	if move.RequestID != "" {
		w.Method, w.Response = method, encodeMove(alias, change)
	}
	if err := tx.Write(ctx, w); err != nil {
		return leadscore.Alias{}, leadscore.AliasChange{}, AliasWrite{}, err
	}
	return alias, change, w, nil
}

// resolveTarget returns the version a move would point the alias at, nil
// for a delete.
func resolveTarget(ctx context.Context, tx AliasTx, move leadscore.AliasMove, ref leadscore.AliasRef, current *leadscore.Alias) (*leadscore.ModelVersion, error) {
	var to int64
	switch move.Kind {
	case leadscore.AliasDelete:
		if current == nil {
			return nil, AliasNotFound(ref)
		}
		return nil, nil
	case leadscore.AliasPromote, leadscore.AliasForce:
		v, err := tx.Version(ctx, move.ToVersion)
		if err != nil {
			return nil, err
		}
		if v.State != leadscore.VersionActive {
			return nil, Precondition("VERSION_STATE", v.Ref().Name(), "%s is %s; only an active version can be promoted", v.Ref().Name(), v.State)
		}
		return &v, nil
	case leadscore.AliasRollback:
		if move.RollbackToSeq > 0 {
			e, ok, err := tx.HistoryEntry(ctx, move.Alias, move.RollbackToSeq)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, leadscore.Errorf(leadscore.ENOTFOUND, "%s does not exist", HistoryEntryName(ref, move.RollbackToSeq))
			}
			if e.Kind == leadscore.AliasDelete {
				return nil, Precondition("ALIAS_HISTORY", HistoryEntryName(ref, e.Seq),
					"%s deleted the alias, so it has no target to roll back to", HistoryEntryName(ref, e.Seq))
			}
			to = e.ToVersion
		} else {
			if current == nil {
				return nil, Precondition("ALIAS_HISTORY", ref.Name(), "nothing to roll back to: %s does not exist", ref.Name())
			}
			e, ok, err := tx.HistoryEntry(ctx, move.Alias, 0)
			if err != nil {
				return nil, err
			}
			if !ok || e.FromVersion == 0 {
				return nil, Precondition("ALIAS_HISTORY", ref.Name(), "nothing to roll back to: %s had no target before its current one", ref.Name())
			}
			to = e.FromVersion
		}
		// A rollback restores a target the alias had, gate or not: it is
		// the way back when a promotion went wrong. An archived version
		// cannot serve, as archiving a version an alias points at is
		// refused: it must be unarchived first, a recorded choice.
		v, err := tx.Version(ctx, to)
		if err != nil {
			return nil, err
		}
		if v.State != leadscore.VersionActive {
			return nil, Precondition("VERSION_STATE", v.Ref().Name(),
				"%s is %s and cannot serve; unarchive it first to roll %s back to it", v.Ref().Name(), v.State, ref.Name())
		}
		return &v, nil
	}
	return nil, leadscore.InvalidField("kind", move.Kind, "must be promote, force, rollback or delete")
}
