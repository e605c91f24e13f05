package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/evaluator"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/registry"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// evaluationService serves leadscore.v1.EvaluationService: evaluation jobs
// (run by the server's job runner), the evaluations they store, their
// reports, and gate policies.
type evaluationService struct {
	leadscorev1.UnimplementedEvaluationServiceServer
	reg     *registry.Registry
	store   leadscore.RegistryStore
	planner *backtestPlanner
	jobs    *jobRunner
	logger  *slog.Logger
}

// watchPoll is how often WatchEvaluationJob re-reads a job. Changes made
// in this process wake watchers at once; the poll catches those made by
// other processes sharing the store.
const watchPoll = 200 * time.Millisecond

// The horizon of history backtests.
const (
	defaultHorizon = dataset.DefaultHorizon
	maxHorizon     = 3 * 366 * 24 * time.Hour
)

// backtestPlanner turns an EvaluationJob into a backtest request, checking
// every field. It runs when a job is created, so that a bad job is refused
// at once, and again when the job starts, so that the job reads what is
// there then.
type backtestPlanner struct {
	store leadscore.RegistryStore
	// history is the store's lead history, nil when the store keeps none.
	history leadscore.HistoryStore
	dir     dataDir
}

// plan checks a job and returns its normalised spec (input fields only,
// defaults filled in, as it is stored) and the backtest it asks for.
func (p *backtestPlanner) plan(ctx context.Context, in *leadscorev1.EvaluationJob, now time.Time) (*leadscorev1.EvaluationJob, registry.BacktestRequest, error) {
	const f = "evaluation_job."
	var req registry.BacktestRequest
	ref, err := leadscore.ParseVersionName(f+"candidate", in.GetCandidate())
	if err != nil {
		return nil, req, err
	}
	version, err := p.store.GetModelVersion(ctx, ref)
	if err != nil {
		return nil, req, err
	}
	cutoff, err := requestTime(f+"cutoff_time", in.GetCutoffTime())
	if err != nil {
		return nil, req, err
	}
	horizon, err := requestDuration(f+"horizon", in.GetHorizon())
	if err != nil {
		return nil, req, err
	}
	out := &leadscorev1.EvaluationJob{Candidate: ref.Name(), Seed: in.GetSeed()}
	req.Candidate = ref.Name()
	req.Seed = in.GetSeed()

	history := true
	switch src := in.GetData().GetSource().(type) {
	case *leadscorev1.DataSource_StoreHistory:
		const g = f + "data.store_history."
		if ts := src.StoreHistory.GetLeadCreateTimeStart(); ts != nil {
			return nil, req, leadscore.InvalidField(g+"lead_create_time_start", ts.AsTime().Format(time.RFC3339), "is not supported by evaluation jobs yet; leave it unset to score every lead eligible at the cut-off")
		}
		if ts := src.StoreHistory.GetLeadCreateTimeEnd(); ts != nil {
			return nil, req, leadscore.InvalidField(g+"lead_create_time_end", ts.AsTime().Format(time.RFC3339), "is not supported by evaluation jobs yet; leave it unset to score every lead eligible at the cut-off")
		}
		if p.history == nil {
			return nil, req, leadscore.Errorf(leadscore.EPRECONDITION, "%sdata.store_history: this server's store keeps no lead history", f)
		}
		req.Data.Store = true
		req.HistoryStore = p.history
	case *leadscorev1.DataSource_HistoryFiles:
		const g = f + "data.history_files."
		files := src.HistoryFiles
		leads, err := p.dir.resolve(g+"leads_path", files.GetLeadsPath())
		if err != nil {
			return nil, req, err
		}
		outcomes, err := p.dir.resolve(g+"outcomes_path", files.GetOutcomesPath())
		if err != nil {
			return nil, req, err
		}
		// Events are optional: a history of fit attributes alone can be
		// backtested.
		var events string
		if files.GetEventsPath() != "" {
			if events, err = p.dir.resolve(g+"events_path", files.GetEventsPath()); err != nil {
				return nil, req, err
			}
		}
		req.Data.History = &dataset.HistoryFiles{Leads: leads, Events: events, Outcomes: outcomes}
	case *leadscorev1.DataSource_FlatTable:
		history = false
		flat, err := p.flatTable(src.FlatTable)
		if err != nil {
			return nil, req, err
		}
		req.Data.Flat = flat
	default:
		return nil, req, leadscore.InvalidField(f+"data", "", "must set exactly one of store_history, history_files and flat_table")
	}
	out.Data = proto.CloneOf(in.GetData())

	if history {
		if cutoff.IsZero() {
			return nil, req, leadscore.InvalidField(f+"cutoff_time", "", "is required for a history source: leads are scored as of this time")
		}
		if horizon == 0 {
			horizon = defaultHorizon
		}
		if horizon < 0 || horizon > maxHorizon {
			return nil, req, leadscore.InvalidField(f+"horizon", horizon, fmt.Sprintf("must be positive and at most %s, or unset for 90 days", maxHorizon))
		}
		if end := version.Lineage.DataEnd; version.Lineage.HasWindow() && cutoff.Before(end) {
			return nil, req, leadscore.InvalidField(f+"cutoff_time", cutoff.Format(time.RFC3339),
				fmt.Sprintf("is before the end of %s's training window (%s); a backtest must judge the candidate on data it did not learn from", ref.Name(), end.Format(time.RFC3339)))
		}
		if cutoff.Add(horizon).After(now) {
			return nil, req, leadscore.InvalidField(f+"cutoff_time", cutoff.Format(time.RFC3339),
				fmt.Sprintf("plus the horizon (%s) is in the future, so the outcomes it judges on are not all known yet", horizon))
		}
		out.CutoffTime, out.Horizon = timestamp(cutoff), duration(horizon)
		req.Cutoff, req.Horizon = cutoff, horizon
	} else {
		if in.GetCutoffTime() != nil {
			return nil, req, leadscore.InvalidField(f+"cutoff_time", cutoff.Format(time.RFC3339), "applies only to history sources; every row of a flat table is scored")
		}
		if in.GetHorizon() != nil {
			return nil, req, leadscore.InvalidField(f+"horizon", horizon, "applies only to history sources; a flat table's label is its outcome")
		}
	}

	if name := in.GetGatePolicy(); name != "" {
		id, rev, err := parseGatePolicyName(f+"gate_policy", name)
		if err != nil {
			return nil, req, err
		}
		// The built-in default exists until someone stores a policy of its
		// name; every other policy must be stored.
		if id != registry.DefaultPolicyName || rev != 0 {
			if _, err := p.store.GetGatePolicy(ctx, id, rev); err != nil {
				return nil, req, err
			}
		}
		out.GatePolicy = name
		req.Policy = gatePolicyRevisionName(id, rev)
	} else {
		req.Policy = gatePolicyName(registry.DefaultPolicyName)
	}
	// The policy goes to the registry in its full resource form, never as
	// a bare name: the registry reads a policy argument that names an
	// existing file as a policy file (for the command line), and
	// "gatePolicies/..." is far less likely than "default" to name a file
	// in the server's working directory.
	return out, req, nil
}

// flatTable checks a flat table source.
func (p *backtestPlanner) flatTable(t *leadscorev1.FlatTable) (*registry.FlatData, error) {
	const g = "evaluation_job.data.flat_table."
	path, err := p.dir.resolve(g+"path", t.GetPath())
	if err != nil {
		return nil, err
	}
	if err := checkColumn(g+"label_column", t.GetLabelColumn(), true); err != nil {
		return nil, err
	}
	if err := checkColumn(g+"id_column", t.GetIdColumn(), false); err != nil {
		return nil, err
	}
	if err := checkColumn(g+"time_column", t.GetTimeColumn(), false); err != nil {
		return nil, err
	}
	for name, list := range map[string][]string{"exclude_columns": t.GetExcludeColumns(), "group_columns": t.GetGroupColumns(), "missing_tokens": t.GetMissingTokens()} {
		for i, c := range list {
			if err := checkColumn(fmt.Sprintf("%s%s[%d]", g, name, i), c, name != "missing_tokens"); err != nil {
				return nil, err
			}
		}
	}
	opts := dataset.FlatOptions{
		Label:         t.GetLabelColumn(),
		IDColumn:      t.GetIdColumn(),
		TimeColumn:    t.GetTimeColumn(),
		Exclude:       t.GetExcludeColumns(),
		Groups:        t.GetGroupColumns(),
		MissingTokens: t.GetMissingTokens(),
	}
	if v := t.GetPositiveLabel(); v != "" {
		opts.PositiveLabels = []string{v}
	}
	for _, col := range slices.Sorted(func(yield func(string) bool) {
		for k := range t.GetColumnMissingValues() {
			if !yield(k) {
				return
			}
		}
	}) {
		if err := checkColumn(g+"column_missing_values", col, true); err != nil {
			return nil, err
		}
		if opts.ColumnMissing == nil {
			opts.ColumnMissing = map[string][]string{}
		}
		opts.ColumnMissing[col] = []string{t.GetColumnMissingValues()[col]}
	}
	return &registry.FlatData{Path: path, Options: opts}, nil
}

// checkColumn checks a column name or token of a flat table request.
func checkColumn(field, name string, required bool) error {
	switch {
	case name == "" && required:
		return leadscore.InvalidField(field, name, "is required")
	case len(name) > 256:
		return leadscore.InvalidField(field, name[:32]+"...", "must be at most 256 bytes")
	case strings.ContainsRune(name, 0):
		return leadscore.InvalidField(field, name, "must not contain NUL characters")
	}
	return nil
}

// parseGatePolicyName reads "gatePolicies/{id}" (revision 0, the newest) or
// "gatePolicies/{id}/revisions/{revision}".
func parseGatePolicyName(field, name string) (string, int64, error) {
	const form = "must have the form gatePolicies/{policy_id} or gatePolicies/{policy_id}/revisions/{revision}"
	parts := strings.Split(name, "/")
	if (len(parts) != 2 && len(parts) != 4) || parts[0] != "gatePolicies" || (len(parts) == 4 && parts[2] != "revisions") {
		return "", 0, leadscore.InvalidField(field, name, form)
	}
	if err := leadscore.ValidateSlug(field, parts[1]); err != nil {
		return "", 0, err
	}
	if len(parts) == 2 {
		return parts[1], 0, nil
	}
	rev, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || rev < 1 || strconv.FormatInt(rev, 10) != parts[3] {
		return "", 0, leadscore.InvalidField(field, name, "the revision must be a whole number from 1")
	}
	return parts[1], rev, nil
}

// evaluationJobName returns "evaluationJobs/{id}".
func evaluationJobName(id string) string { return "evaluationJobs/" + id }

// parseEvaluationJobName reads "evaluationJobs/{id}".
func parseEvaluationJobName(field, name string) (string, error) {
	id, ok := strings.CutPrefix(name, "evaluationJobs/")
	if !ok || strings.Contains(id, "/") {
		return "", leadscore.InvalidField(field, name, "must have the form evaluationJobs/{job_id}")
	}
	if err := leadscore.ValidateID(field, id); err != nil {
		return "", err
	}
	return id, nil
}

func jobNotFound(id string) error {
	return leadscore.Errorf(leadscore.ENOTFOUND, "%s not found", evaluationJobName(id))
}

// resourceExhausted is a status for a limit of this server; the
// application error codes have none, as no domain rule produces it.
func resourceExhausted(msg string) error {
	return status.Error(codes.ResourceExhausted, msg)
}

// jobStateProto converts a job state.
func jobStateProto(s leadscore.JobState) leadscorev1.JobState {
	switch s {
	case leadscore.JobQueued:
		return leadscorev1.JobState_JOB_STATE_QUEUED
	case leadscore.JobRunning:
		return leadscorev1.JobState_JOB_STATE_RUNNING
	case leadscore.JobCancelling:
		return leadscorev1.JobState_JOB_STATE_CANCELLING
	case leadscore.JobSucceeded:
		return leadscorev1.JobState_JOB_STATE_SUCCEEDED
	case leadscore.JobFailed:
		return leadscorev1.JobState_JOB_STATE_FAILED
	case leadscore.JobCancelled:
		return leadscorev1.JobState_JOB_STATE_CANCELLED
	}
	return leadscorev1.JobState_JOB_STATE_UNSPECIFIED
}

// jobStateDomain converts a requested job state.
func jobStateDomain(field string, s leadscorev1.JobState) (leadscore.JobState, error) {
	switch s {
	case leadscorev1.JobState_JOB_STATE_QUEUED:
		return leadscore.JobQueued, nil
	case leadscorev1.JobState_JOB_STATE_RUNNING:
		return leadscore.JobRunning, nil
	case leadscorev1.JobState_JOB_STATE_CANCELLING:
		return leadscore.JobCancelling, nil
	case leadscorev1.JobState_JOB_STATE_SUCCEEDED:
		return leadscore.JobSucceeded, nil
	case leadscorev1.JobState_JOB_STATE_FAILED:
		return leadscore.JobFailed, nil
	case leadscorev1.JobState_JOB_STATE_CANCELLED:
		return leadscore.JobCancelled, nil
	}
	return "", leadscore.InvalidField(field, s, "must be a job state other than JOB_STATE_UNSPECIFIED")
}

// evaluationJobProto converts a stored evaluation job: its spec as
// created, with the output fields from the job's record.
func evaluationJobProto(j leadscore.Job) (*leadscorev1.EvaluationJob, error) {
	out := &leadscorev1.EvaluationJob{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(j.Spec, out); err != nil {
		return nil, leadscore.Errorf(leadscore.EINTERNAL, "read the spec of %s: %w", evaluationJobName(j.ID), err)
	}
	out.Name = evaluationJobName(j.ID)
	out.State = jobStateProto(j.State)
	out.Progress = &leadscorev1.JobProgress{
		Fraction:   j.Progress,
		Stage:      j.Stage,
		Message:    j.Message,
		UpdateTime: timestamp(j.UpdatedAt),
	}
	if j.ErrorCode != "" || j.ErrorMessage != "" && j.State.Final() {
		out.Error = &leadscorev1.JobError{Code: j.ErrorCode, Message: j.ErrorMessage}
	}
	if len(j.Result) > 0 {
		var res jobResult
		if err := json.Unmarshal(j.Result, &res); err != nil {
			return nil, leadscore.Errorf(leadscore.EINTERNAL, "read the result of %s: %w", evaluationJobName(j.ID), err)
		}
		if res.Evaluation != "" {
			out.Evaluation = evaluationName(res.Evaluation)
		}
	}
	out.Creator = j.CreatedBy
	out.CreateTime = timestamp(j.CreatedAt)
	out.StartTime = timestamp(j.StartedAt)
	out.EndTime = timestamp(j.FinishedAt)
	return out, nil
}

// evaluationJob reads an evaluation job; other kinds of job are not found.
func (s *evaluationService) evaluationJob(ctx context.Context, id string) (leadscore.Job, error) {
	j, err := s.store.GetJob(ctx, id)
	if leadscore.ErrorCode(err) == leadscore.ENOTFOUND {
		// Named as the API names it, not as the store does ("jobs/...").
		return leadscore.Job{}, jobNotFound(id)
	}
	if err != nil {
		return leadscore.Job{}, err
	}
	if j.Kind != leadscore.JobEvaluation {
		return leadscore.Job{}, jobNotFound(id)
	}
	return j, nil
}

func (s *evaluationService) CreateEvaluationJob(ctx context.Context, req *leadscorev1.CreateEvaluationJobRequest) (*leadscorev1.CreateEvaluationJobResponse, error) {
	actor, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetEvaluationJob()
	if in == nil {
		return nil, leadscore.InvalidField("evaluation_job", "", "is required")
	}
	if err := checkRequestID("request_id", req.GetRequestId()); err != nil {
		return nil, err
	}
	now := s.jobs.now()
	spec, _, err := s.planner.plan(ctx, in, now)
	if err != nil {
		return nil, err
	}
	if err := s.jobs.accepting(); err != nil {
		return nil, err
	}
	data, err := protojson.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode evaluation job spec: %w", err)
	}
	ref, _ := leadscore.ParseVersionName("candidate", spec.GetCandidate()) // checked by plan
	job, created, err := s.store.CreateJob(ctx, leadscore.Job{
		ID:        registry.NewID("job"),
		Kind:      leadscore.JobEvaluation,
		State:     leadscore.JobQueued,
		Model:     ref.Model,
		Stage:     "queued",
		RequestID: req.GetRequestId(),
		Spec:      data,
		CreatedBy: actor,
		CreatedAt: now,
		UpdatedAt: now,
	})
	if err != nil {
		return nil, err
	}
	if !created {
		// A retry: the same request id must mean the same job.
		first := &leadscorev1.EvaluationJob{}
		if job.Kind != leadscore.JobEvaluation ||
			(protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(job.Spec, first) != nil ||
			!proto.Equal(first, spec) {
			return nil, leadscore.InvalidField("request_id", req.GetRequestId(),
				"was already used for a different job; use a new request id for a new job")
		}
	} else {
		s.jobs.enqueue(ctx, job.ID)
		if job, err = s.store.GetJob(ctx, job.ID); err != nil {
			return nil, err
		}
	}
	out, err := evaluationJobProto(job)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.CreateEvaluationJobResponse{EvaluationJob: out}, nil
}

func (s *evaluationService) GetEvaluationJob(ctx context.Context, req *leadscorev1.GetEvaluationJobRequest) (*leadscorev1.GetEvaluationJobResponse, error) {
	id, err := parseEvaluationJobName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	j, err := s.evaluationJob(ctx, id)
	if err != nil {
		return nil, err
	}
	out, err := evaluationJobProto(j)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.GetEvaluationJobResponse{EvaluationJob: out}, nil
}

func (s *evaluationService) ListEvaluationJobs(ctx context.Context, req *leadscorev1.ListEvaluationJobsRequest) (*leadscorev1.ListEvaluationJobsResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	filter := leadscore.JobFilter{Kind: leadscore.JobEvaluation}
	if req.GetModel() != "" {
		if filter.Model, err = leadscore.ParseModelName("model", req.GetModel()); err != nil {
			return nil, err
		}
	}
	for i, st := range req.GetStates() {
		state, err := jobStateDomain(fmt.Sprintf("states[%d]", i), st)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(filter.States, state) {
			filter.States = append(filter.States, state)
		}
	}
	states := make([]string, len(filter.States))
	for i, st := range filter.States {
		states[i] = string(st)
	}
	slices.Sort(states)
	fingerprint := listFilter("ListEvaluationJobs", filter.Model, strings.Join(states, ","))
	token, err := decodePageToken(req.GetPageToken(), fingerprint)
	if err != nil {
		return nil, err
	}
	jobs, err := s.store.ListJobs(ctx, filter, leadscore.Page{Time: token.Time, ID: token.ID}, size+1)
	if err != nil {
		return nil, err
	}
	resp := &leadscorev1.ListEvaluationJobsResponse{}
	if len(jobs) > size {
		jobs = jobs[:size]
		last := jobs[size-1]
		resp.NextPageToken = pageToken{Filter: fingerprint, Time: last.CreatedAt, ID: last.ID}.encode()
	}
	for _, j := range jobs {
		out, err := evaluationJobProto(j)
		if err != nil {
			return nil, err
		}
		resp.EvaluationJobs = append(resp.EvaluationJobs, out)
	}
	return resp, nil
}

func (s *evaluationService) CancelEvaluationJob(ctx context.Context, req *leadscorev1.CancelEvaluationJobRequest) (*leadscorev1.CancelEvaluationJobResponse, error) {
	actor, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseEvaluationJobName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	j, err := s.jobs.cancelJob(ctx, id, actor)
	if err != nil {
		return nil, err
	}
	out, err := evaluationJobProto(j)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.CancelEvaluationJobResponse{EvaluationJob: out}, nil
}

// WatchEvaluationJob sends the job now and after every change, and ends
// once it has sent a final state. When the server begins to shut down,
// the job runner first records the end of this process's jobs; the stream
// then sends the job as it stands and ends with UNAVAILABLE (the drain
// interceptor's status), so a watcher of a job that ran here sees it
// failed with ABORTED "server stopped" rather than only a broken stream.
func (s *evaluationService) WatchEvaluationJob(req *leadscorev1.WatchEvaluationJobRequest, stream leadscorev1.EvaluationService_WatchEvaluationJobServer) error {
	ctx := stream.Context()
	id, err := parseEvaluationJobName("name", req.GetName())
	if err != nil {
		return err
	}
	var last *leadscorev1.EvaluationJob
	// emit reads the job and sends it if it changed. The read does not
	// follow the stream's cancellation by a drain, so that the last word
	// before a shutdown is still read.
	emit := func() (final bool, err error) {
		readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalWriteTimeout)
		defer cancel()
		j, err := s.evaluationJob(readCtx, id)
		if err != nil {
			return false, err
		}
		msg, err := evaluationJobProto(j)
		if err != nil {
			return false, err
		}
		// A heartbeat moves only the update time; it is not a change
		// worth a message.
		cmp := proto.CloneOf(msg)
		cmp.GetProgress().UpdateTime = nil
		if last == nil || !proto.Equal(cmp, last) {
			if err := stream.Send(&leadscorev1.WatchEvaluationJobResponse{EvaluationJob: msg}); err != nil {
				return false, err
			}
			last = cmp
		}
		return j.State.Final(), nil
	}
	tick := time.NewTicker(watchPoll)
	defer tick.Stop()
	for {
		// Take the signal before reading, so a change between the read and
		// the wait is not missed.
		changed := s.jobs.changes()
		if final, err := emit(); err != nil || final {
			return err
		}
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), errDraining) {
				if _, err := emit(); err != nil {
					s.logger.Debug("last job update before shutdown", slog.String("job", id), slog.Any("error", err))
				}
			}
			return ctx.Err()
		case <-changed:
		case <-tick.C:
		}
	}
}

func (s *evaluationService) GetEvaluation(ctx context.Context, req *leadscorev1.GetEvaluationRequest) (*leadscorev1.GetEvaluationResponse, error) {
	id, err := parseEvaluationName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	e, report, err := s.evaluation(ctx, id)
	if err != nil {
		return nil, err
	}
	var data *leadscorev1.DataSource
	if e.JobID != "" {
		// The job's spec names the data as the caller did (paths relative
		// to the data directory); a job that is gone leaves it out.
		if j, err := s.store.GetJob(ctx, e.JobID); err == nil {
			if spec, err := evaluationJobProto(j); err == nil {
				data = spec.GetData()
			}
		} else if leadscore.ErrorCode(err) != leadscore.ENOTFOUND {
			return nil, err
		}
	}
	return &leadscorev1.GetEvaluationResponse{Evaluation: evaluationProto(e, report, data)}, nil
}

// evaluation reads an evaluation with its parsed report.
func (s *evaluationService) evaluation(ctx context.Context, id string) (leadscore.Evaluation, *evaluator.Report, error) {
	e, err := s.store.GetEvaluation(ctx, id)
	if err != nil {
		return leadscore.Evaluation{}, nil, err
	}
	report, err := evaluator.ReadReport(e.Report)
	if err != nil {
		// What the registry stored no longer reads: a fault of the server,
		// not of the caller.
		return leadscore.Evaluation{}, nil, leadscore.Errorf(leadscore.EINTERNAL, "read the report of %s: %w", evaluationName(id), err)
	}
	return e, report, nil
}

// ListEvaluations lists evaluations newest first. Listings carry each
// evaluation's identity, candidate, champion, window and gate verdict, but
// not the figures of its report (a report runs to tens of kilobytes, a
// page to a thousand evaluations): GetEvaluation returns those.
func (s *evaluationService) ListEvaluations(ctx context.Context, req *leadscorev1.ListEvaluationsRequest) (*leadscorev1.ListEvaluationsResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	var filter leadscore.EvaluationFilter
	switch c := req.GetCandidate(); {
	case c == "":
	case strings.Contains(c, "/versions/"):
		ref, err := leadscore.ParseVersionName("candidate", c)
		if err != nil {
			return nil, err
		}
		filter.Model, filter.Version = ref.Model, ref.Version
	default:
		if filter.Model, err = leadscore.ParseModelName("candidate", c); err != nil {
			return nil, leadscore.InvalidField("candidate", c, "must have the form models/{model_id} or models/{model_id}/versions/{version}")
		}
	}
	fingerprint := listFilter("ListEvaluations", filter.Model, strconv.FormatInt(filter.Version, 10))
	token, err := decodePageToken(req.GetPageToken(), fingerprint)
	if err != nil {
		return nil, err
	}
	evals, err := s.store.ListEvaluations(ctx, filter, leadscore.Page{Time: token.Time, ID: token.ID}, size+1)
	if err != nil {
		return nil, err
	}
	resp := &leadscorev1.ListEvaluationsResponse{}
	if len(evals) > size {
		evals = evals[:size]
		last := evals[size-1]
		resp.NextPageToken = pageToken{Filter: fingerprint, Time: last.CreatedAt, ID: last.ID}.encode()
	}
	for _, e := range evals {
		resp.Evaluations = append(resp.Evaluations, evaluationProto(e, nil, nil))
	}
	return resp, nil
}

func (s *evaluationService) GetEvaluationReport(ctx context.Context, req *leadscorev1.GetEvaluationReportRequest) (*leadscorev1.GetEvaluationReportResponse, error) {
	id, err := parseEvaluationName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	switch req.GetFormat() {
	case leadscorev1.ReportFormat_REPORT_FORMAT_UNSPECIFIED, leadscorev1.ReportFormat_REPORT_FORMAT_JSON,
		leadscorev1.ReportFormat_REPORT_FORMAT_MARKDOWN, leadscorev1.ReportFormat_REPORT_FORMAT_HTML:
	default:
		return nil, leadscore.InvalidField("format", req.GetFormat(), "must be REPORT_FORMAT_JSON, REPORT_FORMAT_MARKDOWN or REPORT_FORMAT_HTML")
	}
	_, report, err := s.evaluation(ctx, id)
	if err != nil {
		return nil, err
	}
	resp := &leadscorev1.GetEvaluationReportResponse{}
	switch req.GetFormat() {
	case leadscorev1.ReportFormat_REPORT_FORMAT_MARKDOWN:
		resp.Content, resp.ContentType = report.Markdown(), "text/markdown; charset=utf-8"
	case leadscorev1.ReportFormat_REPORT_FORMAT_HTML:
		if resp.Content, err = report.HTML(); err != nil {
			return nil, fmt.Errorf("render the report of %s: %w", evaluationName(id), err)
		}
		resp.ContentType = "text/html; charset=utf-8"
	default:
		if resp.Content, err = report.JSON(); err != nil {
			return nil, fmt.Errorf("render the report of %s: %w", evaluationName(id), err)
		}
		resp.ContentType = "application/json"
	}
	return resp, nil
}

func (s *evaluationService) CreateGatePolicy(ctx context.Context, req *leadscorev1.CreateGatePolicyRequest) (*leadscorev1.CreateGatePolicyResponse, error) {
	actor, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := leadscore.ValidateSlug("policy_id", req.GetPolicyId()); err != nil {
		return nil, err
	}
	// Every evaluation that names no policy is judged by the default one.
	if req.GetPolicyId() == registry.DefaultPolicyName {
		if err := requireScope(ctx, leadscore.ScopeAdmin, "storing the default gate policy"); err != nil {
			return nil, err
		}
	}
	in := req.GetGatePolicy()
	if in == nil {
		return nil, leadscore.InvalidField("gate_policy", "", "is required")
	}
	policy, err := gatePolicyDomain(in)
	if err != nil {
		return nil, err
	}
	rec, err := s.reg.CreatePolicy(ctx, req.GetPolicyId(), policy, actor)
	if err != nil {
		return nil, err
	}
	out, err := s.gatePolicy(rec)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.CreateGatePolicyResponse{GatePolicy: out}, nil
}

// gatePolicyDomain converts a requested policy and checks it with the
// evaluator's own policy reader, the one every stored policy is read back
// with, so the API accepts exactly what a policy file may say. Its errors
// name the rule ("gate_policy.rules[1].metric").
func gatePolicyDomain(in *leadscorev1.GatePolicy) (*evaluator.GatePolicy, error) {
	// The document is written as a policy file would be. higher_is_better
	// is left out when false: proto3 cannot tell false from unset, and
	// unset lets the evaluator take the direction from the metric (false
	// for the loss-like ones), while true on a loss is refused by name.
	type rule struct {
		evaluator.GateRule
		HigherIsBetter *bool `json:"higher_is_better,omitempty"`
	}
	doc := struct {
		Description string `json:"description,omitempty"`
		Rules       []rule `json:"rules"`
	}{Description: in.GetDescription(), Rules: []rule{}}
	for _, r := range in.GetRules() {
		out := rule{GateRule: gateRuleDomain(r)}
		if r.GetHigherIsBetter() {
			out.HigherIsBetter = new(true)
		}
		doc.Rules = append(doc.Rules, out)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode gate policy: %w", err)
	}
	parsed, err := evaluator.ParsePolicy(data, "gate_policy")
	if err != nil {
		return nil, prefixFields(err, "gate_policy.")
	}
	return parsed, nil
}

// prefixFields returns err with its field violations moved under prefix,
// so that they name fields of the request.
func prefixFields(err error, prefix string) error {
	var e *leadscore.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return err
	}
	c := *e
	c.Fields = make([]leadscore.FieldViolation, len(e.Fields))
	for i, f := range e.Fields {
		c.Fields[i] = f
		if !strings.HasPrefix(f.Field, prefix) {
			c.Fields[i].Field = prefix + f.Field
		}
	}
	return &c
}

// gatePolicy converts a stored policy revision, reading its document.
func (s *evaluationService) gatePolicy(rec leadscore.GatePolicyRecord) (*leadscorev1.GatePolicy, error) {
	p, err := evaluator.ParsePolicy(rec.Document, gatePolicyRevisionName(rec.Name, rec.Revision))
	if err != nil {
		return nil, leadscore.Errorf(leadscore.EINTERNAL, "read stored gate policy %s: %w", gatePolicyRevisionName(rec.Name, rec.Revision), err)
	}
	return gatePolicyProto(rec, p), nil
}

func (s *evaluationService) GetGatePolicy(ctx context.Context, req *leadscorev1.GetGatePolicyRequest) (*leadscorev1.GetGatePolicyResponse, error) {
	id, rev, err := parseGatePolicyName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	rec, err := s.store.GetGatePolicy(ctx, id, rev)
	if leadscore.ErrorCode(err) == leadscore.ENOTFOUND && id == registry.DefaultPolicyName && rev == 0 {
		// Until a policy named "default" is stored, the built-in one is
		// the default; show it, as revision 0, rather than nothing.
		out := gatePolicyProto(leadscore.GatePolicyRecord{Name: id}, evaluator.DefaultPolicy())
		out.Creator = "leadscore"
		return &leadscorev1.GetGatePolicyResponse{GatePolicy: out}, nil
	}
	if err != nil {
		return nil, err
	}
	out, err := s.gatePolicy(rec)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.GetGatePolicyResponse{GatePolicy: out}, nil
}

func (s *evaluationService) ListGatePolicies(ctx context.Context, req *leadscorev1.ListGatePoliciesRequest) (*leadscorev1.ListGatePoliciesResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	fingerprint := listFilter("ListGatePolicies")
	token, err := decodePageToken(req.GetPageToken(), fingerprint)
	if err != nil {
		return nil, err
	}
	recs, err := s.store.ListGatePolicies(ctx, token.After, size+1)
	if err != nil {
		return nil, err
	}
	resp := &leadscorev1.ListGatePoliciesResponse{}
	if len(recs) > size {
		recs = recs[:size]
		resp.NextPageToken = pageToken{Filter: fingerprint, After: recs[size-1].Name}.encode()
	}
	for _, rec := range recs {
		out, err := s.gatePolicy(rec)
		if err != nil {
			return nil, err
		}
		resp.GatePolicies = append(resp.GatePolicies, out)
	}
	return resp, nil
}
