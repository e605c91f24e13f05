package leadscore

import (
	"context"
	"time"
)

// VersionState is whether a model version is in use.
type VersionState string

// The version states.
const (
	// VersionActive versions are listed and promotable.
	VersionActive VersionState = "active"
	// VersionArchived versions are hidden from default listings and cannot
	// be promoted; they can still be scored when pinned by number.
	VersionArchived VersionState = "archived"
)

// FeatureInfo describes one feature a version reads.
type FeatureInfo struct {
	// Name is the feature's name, such as "attributes.industry".
	Name string `json:"name"`
	// Kind is "numeric", "categorical" or "boolean".
	Kind string `json:"kind"`
	// Group is "fit" or "engagement".
	Group string `json:"group"`
}

// Lineage says how a version was made, so that it can be reproduced and
// so that promotion can tell whether an evaluation used later data.
type Lineage struct {
	// TrainingJob is the id of the training job that made the version, or
	// empty for an imported artifact.
	TrainingJob string `json:"training_job,omitempty"`
	// DataStart and DataEnd bound the history the version learned from.
	// Both are zero when the training data had no times (a flat table
	// without a time column); such a version cannot pass the gate's "later
	// data" rule and can only be promoted by force.
	DataStart time.Time `json:"data_start"`
	DataEnd   time.Time `json:"data_end"`
	// DataSHA256 is the hex SHA-256 of the training data.
	DataSHA256 string `json:"data_sha256,omitempty"`
	// Parameters are the training parameters by name.
	Parameters map[string]string `json:"parameters,omitempty"`
	// TrainerVersion is the version of the trainer that made the artifact.
	TrainerVersion string `json:"trainer_version,omitempty"`
	// Seed is the random seed of training.
	Seed uint64 `json:"seed"`
	// ValidationMetrics are measured on held-out rows at training time.
	ValidationMetrics map[string]float64 `json:"validation_metrics,omitempty"`
}

// HasWindow reports whether the training data window is known.
func (l Lineage) HasWindow() bool { return !l.DataEnd.IsZero() }

// Model is a named line of versions, such as one model per business unit.
type Model struct {
	// ID is the model's slug; its resource name is "models/{ID}".
	ID          string
	Description string
	// LatestVersion is the highest version number registered, 0 if none.
	LatestVersion int64
	// Revision increments on every change of the model's own fields; it is
	// the model's etag.
	Revision  int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ModelVersion is one immutable registered artifact of a model. Only its
// description, tags and state change after registration.
type ModelVersion struct {
	Model          string
	Version        int64
	Family         string
	ArtifactSHA256 string
	ArtifactSize   int64
	Features       []FeatureInfo
	Lineage        Lineage
	Description    string
	Tags           map[string]string
	State          VersionState
	CreatedBy      string
	CreatedAt      time.Time
}

// Ref returns the version's reference.
func (v ModelVersion) Ref() VersionRef { return VersionRef{Model: v.Model, Version: v.Version} }

// NewModelVersion is a version to register. The store numbers it.
type NewModelVersion struct {
	Model    string
	Family   string
	Artifact []byte
	// ArtifactSHA256 is the hex SHA-256 of Artifact; the store trusts the
	// caller (package registry) to have checked it.
	ArtifactSHA256 string
	Features       []FeatureInfo
	Lineage        Lineage
	Description    string
	Tags           map[string]string
	CreatedBy      string
	CreatedAt      time.Time
	// RequestID, when set, makes a retried registration return the version
	// created by the first call instead of a second version.
	RequestID string
}

// VersionUpdate changes the mutable fields of a version. Nil fields are
// left as they are.
type VersionUpdate struct {
	Description *string
	Tags        map[string]string
	// SetTags says Tags replaces the tags (so an empty map clears them).
	SetTags bool
	State   *VersionState
}

// Alias is a movable name pointing at a version of the same model.
type Alias struct {
	Model string
	Name  string
	// Version is the target version number.
	Version int64
	// Seq is the number of the history entry that set the current target.
	Seq int64
	// Revision is the alias's etag. It is the history sequence of the move
	// that set the alias (equal to Seq), so it grows with every move, also
	// across a deletion and re-creation: an etag read before a deletion
	// never matches the re-created alias.
	Revision  int64
	UpdatedAt time.Time
}

// Ref returns the alias's reference.
func (a Alias) Ref() AliasRef { return AliasRef{Model: a.Model, Alias: a.Name} }

// AliasChangeKind is the kind of an alias move.
type AliasChangeKind string

// The kinds of alias moves.
const (
	// AliasPromote is a gated promotion, or a move of an ungated alias.
	AliasPromote AliasChangeKind = "promote"
	// AliasForce is an emergency promotion that bypassed the gate.
	AliasForce AliasChangeKind = "force"
	// AliasRollback moves an alias back to a target from its history.
	AliasRollback AliasChangeKind = "rollback"
	// AliasDelete removes an alias.
	AliasDelete AliasChangeKind = "delete"
)

// AliasChange is one entry of an alias's append-only history. Entries of
// one alias are numbered from 1 without gaps.
type AliasChange struct {
	Model string
	Alias string
	Seq   int64
	Kind  AliasChangeKind
	// FromVersion is the previous target, 0 when the alias was created.
	FromVersion int64
	// ToVersion is the new target, 0 when the alias was deleted.
	ToVersion int64
	Actor     string
	Reason    string
	// Evaluation is the id of the evaluation that justified the move, or
	// empty.
	Evaluation string
	RequestID  string
	CreatedAt  time.Time
}

// AliasMove asks a store to move (or delete) an alias in one transaction.
type AliasMove struct {
	Model string
	Alias string
	Kind  AliasChangeKind
	// ToVersion is the target for AliasPromote and AliasForce.
	ToVersion int64
	// RollbackToSeq is, for AliasRollback, the history entry whose target
	// to restore; 0 means the target before the current one (the latest
	// entry's FromVersion).
	RollbackToSeq int64
	// ExpectRevision, when not 0, is the alias revision the caller last
	// read; a different current revision fails with EABORTED. An alias that
	// does not exist has revision 0.
	ExpectRevision int64
	// Evaluation is the evaluation id the caller named, or empty for "the
	// newest that counts".
	Evaluation string
	Actor      string
	Reason     string
	// RequestID, when set, makes a retry return the first move's result
	// and never move twice. Method names the rpc, so that one request id
	// cannot be replayed against another operation.
	RequestID string
	Method    string
	At        time.Time
}

// AliasMoveState is what a store shows the gate inside the move's
// transaction, with the model row locked, so the decision and the write
// see the same state.
type AliasMoveState struct {
	// Current is the alias being moved, nil when it does not exist yet.
	Current *Alias
	// Champion is the model's champion alias, nil when the model has none.
	// It equals Current when the champion is being moved.
	Champion *Alias
	// Target is the version the alias would point at; nil for AliasDelete.
	// For a rollback the store has resolved it from the history.
	Target *ModelVersion
	// Evaluations are the target's stored evaluations, newest first, with
	// their reports. When the move names an evaluation, only that one is
	// listed (or none, if it is not an evaluation of the target).
	Evaluations []Evaluation
}

// AliasGate decides inside the move's transaction whether a move may
// happen. It returns the id of the evaluation that justifies the move (or
// "" when none is needed), or an error — an *Error with EPRECONDITION and
// violations for a refusal — which rolls the transaction back.
type AliasGate func(AliasMoveState) (evaluation string, err error)

// AliasNotice tells a serving process that an alias moved. A notice with
// an empty Model means notices may have been missed (a reconnect), so the
// receiver must re-read every alias it serves.
type AliasNotice struct {
	Model   string
	Alias   string
	Seq     int64
	Version int64
}

// Resync reports whether the notice asks for a full re-read.
func (n AliasNotice) Resync() bool { return n.Model == "" }

// GatePolicyRecord is one stored revision of a gate policy. Revisions are
// never edited; a change is a new revision.
type GatePolicyRecord struct {
	Name     string
	Revision int64
	// Document is the policy as JSON (package evaluator defines its
	// schema).
	Document  []byte
	CreatedBy string
	CreatedAt time.Time
}

// Evaluation is a stored backtest of one version.
type Evaluation struct {
	ID string
	// JobID is the evaluation job that produced it, or empty for one stored
	// by the command line.
	JobID   string
	Model   string
	Version int64
	// ChampionVersion is the champion the candidate was compared with, 0
	// when the model had none. The evaluation stops counting for promotion
	// once the champion is another version.
	ChampionVersion int64
	// Baseline names the points baseline the candidate was compared with,
	// such as "models/m/versions/1" or "builtin:points", or "" when none
	// could be scored.
	Baseline string
	// GatePolicy and GatePolicyRevision name the policy applied; empty
	// when none was applied, in which case Passed is nil.
	GatePolicy         string
	GatePolicyRevision int64
	Passed             *bool
	// DataStart and DataEnd bound the times of the data the backtest
	// judged on (the cut-off and cut-off plus horizon for history). Both
	// are zero when the data had no times.
	DataStart time.Time
	DataEnd   time.Time
	// Report is the full evaluation as JSON (package evaluator defines its
	// schema). Listings may leave it nil.
	Report    []byte
	CreatedAt time.Time
}

// Ref returns the evaluated version's reference.
func (e Evaluation) Ref() VersionRef { return VersionRef{Model: e.Model, Version: e.Version} }

// EvaluationFilter selects evaluations to list.
type EvaluationFilter struct {
	// Model, when set, keeps evaluations of that model's versions.
	Model string
	// Version, when set with Model, keeps evaluations of that version.
	Version int64
}

// JobKind is what a job does.
type JobKind string

// The job kinds.
const (
	JobTraining   JobKind = "training"
	JobEvaluation JobKind = "evaluation"
)

// JobState is where a job is in its life.
type JobState string

// The job states. Succeeded, failed and cancelled are final.
const (
	JobQueued     JobState = "queued"
	JobRunning    JobState = "running"
	JobCancelling JobState = "cancelling"
	JobSucceeded  JobState = "succeeded"
	JobFailed     JobState = "failed"
	JobCancelled  JobState = "cancelled"
)

// Final reports whether s is a final state.
func (s JobState) Final() bool {
	return s == JobSucceeded || s == JobFailed || s == JobCancelled
}

// Job is a long-running training or evaluation run.
type Job struct {
	ID    string
	Kind  JobKind
	State JobState
	// Model is the model the job is about, for filtering.
	Model string
	// Progress is the fraction done, 0 to 1; Stage and Message say where.
	Progress float64
	Stage    string
	Message  string
	// RequestID, when set, makes a retried submission return this job.
	RequestID string
	// Spec is the job's request as JSON; Result its result as JSON.
	Spec   []byte
	Result []byte
	// ErrorCode and ErrorMessage say why a failed job failed.
	ErrorCode    string
	ErrorMessage string
	CreatedBy    string
	CreatedAt    time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
	UpdatedAt    time.Time
}

// JobFilter selects jobs to list.
type JobFilter struct {
	Kind   JobKind
	Model  string
	States []JobState
}

// Page is a keyset position in a newest-first listing: the (time, id) of
// the last item of the previous page. The zero Page starts at the newest.
type Page struct {
	Time time.Time
	ID   string
}

// RegistryStore keeps models, versions, aliases with their history, gate
// policies, evaluations and jobs. Both storage backends implement it with
// the same semantics, which package storetest checks. Package registry
// holds the rules (the gate, validation); the store holds the data and the
// transactions.
//
// Conventions of every method:
//   - Times are kept in UTC to the microsecond. A creation or move time the
//     caller leaves zero (CreatedAt, UpdatedAt, At) is set to the store's
//     clock.
//   - A listing limit of 0 means no limit; a negative one is EINVALID.
//   - Errors name the resource: "models/m", "models/m/versions/3",
//     "models/m/aliases/a", "models/m/aliases/a/history/2",
//     "gatePolicies/p/revisions/1", "evaluations/e", "jobs/j".
//   - A request id is one namespace across methods: reusing one for another
//     method, or for another model, alias or kind of job, is ECONFLICT.
//   - A failed call leaves the store as it was.
type RegistryStore interface {
	// CreateModel stores a new model; ECONFLICT if the id is taken.
	CreateModel(ctx context.Context, m Model) (Model, error)
	// GetModel returns a model; ENOTFOUND if it does not exist.
	GetModel(ctx context.Context, id string) (Model, error)
	// ListModels lists models in id order, starting after the id after.
	ListModels(ctx context.Context, after string, limit int) ([]Model, error)
	// UpdateModelDescription sets a model's description, increments its
	// revision and sets its update time to at. expectRevision, when not 0,
	// must equal the stored revision or the update fails with EABORTED.
	UpdateModelDescription(ctx context.Context, id string, expectRevision int64, description string, at time.Time) (Model, error)

	// CreateModelVersion registers a version under the next number of its
	// model, in one transaction that locks the model row; ENOTFOUND if the
	// model does not exist. Numbers follow the model's LatestVersion, so
	// the number of a deleted version is never given to another. With a
	// request id seen before it returns the version that request created
	// (ENOTFOUND if it has since been deleted). Registering changes neither
	// the model's revision nor its update time.
	CreateModelVersion(ctx context.Context, v NewModelVersion) (ModelVersion, error)
	// GetModelVersion returns a version without its artifact bytes.
	GetModelVersion(ctx context.Context, ref VersionRef) (ModelVersion, error)
	// ModelVersionArtifact returns a version's artifact bytes and their
	// stored SHA-256.
	ModelVersionArtifact(ctx context.Context, ref VersionRef) ([]byte, string, error)
	// ListModelVersions lists a model's versions newest first, starting
	// below version before (0: from the newest), archived ones only when
	// asked. ENOTFOUND if the model does not exist.
	ListModelVersions(ctx context.Context, model string, before int64, limit int, archived bool) ([]ModelVersion, error)
	// UpdateModelVersion changes a version's mutable fields. Tags are
	// replaced when u.SetTags is true or u.Tags is not nil. Archiving a
	// version an alias points at fails with EPRECONDITION (violation type
	// "ALIAS"): an archived version cannot serve.
	UpdateModelVersion(ctx context.Context, ref VersionRef, u VersionUpdate) (ModelVersion, error)
	// DeleteModelVersion deletes a version and its artifact. It fails with
	// EPRECONDITION, naming what holds it, while an alias points at it or
	// an alias history entry, an evaluation (as candidate or champion) or a
	// lead's scores refer to it; the violation types are "ALIAS",
	// "ALIAS_HISTORY", "EVALUATION" and "SCORES".
	DeleteModelVersion(ctx context.Context, ref VersionRef) error

	// GetAlias returns an alias; ENOTFOUND if it does not exist.
	GetAlias(ctx context.Context, ref AliasRef) (Alias, error)
	// ListAliases lists a model's aliases in name order; ENOTFOUND if the
	// model does not exist.
	ListAliases(ctx context.Context, model string) ([]Alias, error)
	// MoveAlias moves, creates or deletes an alias in one transaction that
	// locks the model row: it checks the request id and the expected
	// revision, resolves a rollback's target, builds the AliasMoveState,
	// calls gate, and only if gate returns no error appends the history
	// entry (next seq of the alias) and updates the alias. The move is
	// published to AliasNotices subscribers when the transaction commits.
	// Target versions must exist (ENOTFOUND) and, except for rollbacks,
	// be active (EPRECONDITION).
	//
	// In detail:
	//   - A request id seen before returns the first move's results
	//     exactly, without calling gate or writing; recorded under another
	//     Method, or for another alias, it is ECONFLICT. A move that failed
	//     (a refusal included) records nothing, so its retry is decided
	//     afresh.
	//   - A promotion, forced promotion or rollback to the version the
	//     alias already points at fails with EPRECONDITION (violation type
	//     "ALIAS_TARGET"): it would record a move that moved nothing.
	//   - A rollback with RollbackToSeq 0 fails with EPRECONDITION
	//     ("ALIAS_HISTORY") when the alias does not exist or had no earlier
	//     target; one to an entry that does not exist is ENOTFOUND, one to a
	//     delete entry EPRECONDITION ("ALIAS_HISTORY"). A rollback may create
	//     a deleted alias again.
	//   - Deleting an alias that does not exist is ENOTFOUND; a delete
	//     returns the zero Alias with its history entry.
	//   - gate runs inside the transaction, so it must be quick and must not
	//     write to the store. Its error is returned unchanged. A nil gate
	//     lets every move through.
	//   - History numbers go on across deletes and re-creation, and so does
	//     the alias revision, which equals the history sequence.
	//   - The model's update time becomes move.At; its revision does not
	//     change.
	MoveAlias(ctx context.Context, move AliasMove, gate AliasGate) (Alias, AliasChange, error)
	// ListAliasHistory lists an alias's history newest first, starting
	// below seq before (0: from the newest). It lists the history of a
	// deleted alias too; ENOTFOUND if the alias never existed.
	ListAliasHistory(ctx context.Context, ref AliasRef, before int64, limit int) ([]AliasChange, error)
	// AliasNotices delivers a notice for every committed alias move, in
	// this and every other process on the same database (PostgreSQL
	// through LISTEN/NOTIFY, the embedded file by polling its commits),
	// until ctx ends or the store is closed; then the channel is closed.
	// Every move committed after AliasNotices returns is delivered, in
	// commit order, or covered by a resync notice. A slow receiver does not
	// block movers: when its buffer is full, pending notices collapse into
	// one resync notice. A replayed request or a refused move is not
	// notified; a delete's notice has Version 0.
	AliasNotices(ctx context.Context) (<-chan AliasNotice, error)

	// CreateGatePolicy stores the next revision of a policy (1 for a new
	// name) and returns it with its revision set. Document must be JSON
	// (EINVALID otherwise) and is returned byte for byte as stored.
	CreateGatePolicy(ctx context.Context, p GatePolicyRecord) (GatePolicyRecord, error)
	// GetGatePolicy returns a policy revision, the newest when revision is
	// 0; ENOTFOUND if there is none.
	GetGatePolicy(ctx context.Context, name string, revision int64) (GatePolicyRecord, error)
	// ListGatePolicies lists the newest revision of each policy in name
	// order, starting after the name after.
	ListGatePolicies(ctx context.Context, after string, limit int) ([]GatePolicyRecord, error)

	// CreateEvaluation stores an evaluation. Its version, champion version,
	// gate policy revision and job must exist (ENOTFOUND); its id must be
	// new (ECONFLICT). A policy without Passed, Passed without a policy, a
	// window with one end or ending before it starts, or a report that is
	// not JSON is EINVALID.
	CreateEvaluation(ctx context.Context, e Evaluation) error
	// GetEvaluation returns an evaluation with its report, byte for byte as
	// stored.
	GetEvaluation(ctx context.Context, id string) (Evaluation, error)
	// ListEvaluations lists evaluations newest first (by creation time,
	// then id), without reports. A filter by version without a model is
	// EINVALID.
	ListEvaluations(ctx context.Context, f EvaluationFilter, page Page, limit int) ([]Evaluation, error)

	// CreateJob stores a new job, in the queued state unless it names
	// another. With a request id seen before it returns the job that
	// request created and created=false. Spec must be JSON, and Result JSON
	// or empty.
	CreateJob(ctx context.Context, j Job) (job Job, created bool, err error)
	// GetJob returns a job.
	GetJob(ctx context.Context, id string) (Job, error)
	// ListJobs lists jobs newest first (by creation time, then id).
	ListJobs(ctx context.Context, f JobFilter, page Page, limit int) ([]Job, error)
	// UpdateJob reads a job, lets fn change it, and writes it back in one
	// transaction. fn runs inside the transaction, so it must be quick and
	// must not call the store. An error from fn leaves the job unchanged
	// and is returned. A job's identity (ID, Kind, RequestID, CreatedBy,
	// CreatedAt) cannot change (EINVALID), nor can a job leave a final
	// state (EPRECONDITION, violation type "JOB_STATE"). When fn leaves
	// UpdatedAt as it was, it becomes the store's clock.
	UpdateJob(ctx context.Context, id string, fn func(*Job) error) (Job, error)

	// PruneRequestIDs forgets the request ids recorded before a time, and
	// returns how many it forgot: a retry with a forgotten id is a new
	// request. A zero time is refused.
	PruneRequestIDs(ctx context.Context, before time.Time) (int64, error)
}
