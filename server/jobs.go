package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leadscore/leadscore"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/registry"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The causes a running job's context is cancelled with; outcome tells
// them apart to choose the job's final state.
var (
	errServerStopped = errors.New("server stopped")
	errJobCancelled  = errors.New("job cancelled")
	// errJobGone means the stored job was finished by someone else (a
	// process that took it for orphaned): its result would overwrite
	// theirs, so it is dropped.
	errJobGone = errors.New("job finished elsewhere")
	// errSkip leaves a job unchanged from inside an UpdateJob callback.
	errSkip = errors.New("skip")
)

// Job runner defaults.
const (
	defaultJobHeartbeat = 10 * time.Second
	// staleHeartbeats is how many missed heartbeats make a job orphaned.
	staleHeartbeats = 6
	// maxQueuedJobs bounds the jobs one process holds in its queue; more
	// are refused with RESOURCE_EXHAUSTED rather than piling up.
	maxQueuedJobs = 64
	// progressInterval spaces a running job's progress writes, so a
	// chatty backtest costs the store at most four writes a second.
	progressInterval = 250 * time.Millisecond
	// finalWriteTimeout bounds the write of a job's final state, which
	// must happen even when the job's own context is cancelled.
	finalWriteTimeout = 10 * time.Second
)

// jobRunner runs training and evaluation jobs in the background, a
// bounded number at a time, owning their goroutines and cancel funcs. One
// runner, one cancel path and one watch serve every kind of job; a kind
// brings only its work (jobKind).
//
// The store is the truth about a job; the runner's memory is only which
// jobs this process holds. Several processes may share a store, so the
// runner keeps its jobs' updated_at fresh (a heartbeat), and treats a
// queued or running job that nobody has touched for staleHeartbeats
// heartbeats as orphaned by a process that stopped, marking it failed with
// ABORTED "server stopped". That also covers the jobs a previous run of
// this process left behind, within one staleness period of its last
// heartbeat. A cancellation asked of another process's job reaches it the
// same way: the owner sees CANCELLING at its next write and stops.
type jobRunner struct {
	store   leadscore.RegistryStore
	reg     *registry.Registry
	planner *backtestPlanner
	logger  *slog.Logger
	workers int
	// runBacktest runs a planned backtest: reg.Backtest, or in tests of
	// the runner's lifecycle a backtest that waits to be told to end.
	runBacktest func(context.Context, registry.BacktestRequest) (*registry.BacktestResult, error)
	// kinds are the kinds of job the runner runs, with their work.
	kinds map[leadscore.JobKind]jobKind

	heartbeat  time.Duration
	staleAfter time.Duration
	now        func() time.Time
	// clock, when the store has one, is the database's: the runner's
	// times are then local time moved by skew, the database's clock less
	// this process's as last read (every heartbeat), so that a heartbeat
	// written here and one read by a process on another machine compare
	// on one clock.
	clock leadscore.Clock
	skew  atomic.Int64 // nanoseconds

	mu      sync.Mutex
	queue   []string                           // queued job ids, oldest first
	running map[string]context.CancelCauseFunc // running job ids
	changed chan struct{}                      // closed and replaced on every job change seen here
	started bool
	stopped bool

	wake   chan struct{} // a buffered nudge for idle workers
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
}

func newJobRunner(store leadscore.RegistryStore, reg *registry.Registry, planner *backtestPlanner, logger *slog.Logger, workers int, heartbeat time.Duration) *jobRunner {
	if workers <= 0 {
		workers = 1
	}
	if heartbeat <= 0 {
		heartbeat = defaultJobHeartbeat
	}
	r := &jobRunner{
		store:       store,
		reg:         reg,
		planner:     planner,
		logger:      logger,
		workers:     workers,
		runBacktest: reg.Backtest,
		heartbeat:   heartbeat,
		staleAfter:  staleHeartbeats * heartbeat,
		running:     map[string]context.CancelCauseFunc{},
		changed:     make(chan struct{}),
		wake:        make(chan struct{}, 1),
	}
	r.now = func() time.Time {
		return time.Now().Add(time.Duration(r.skew.Load())).UTC().Truncate(time.Microsecond)
	}
	r.clock, _ = store.(leadscore.Clock)
	r.kinds = map[leadscore.JobKind]jobKind{
		leadscore.JobEvaluation: {collection: "evaluationJobs", run: r.evaluate},
		leadscore.JobTraining:   {collection: "trainingJobs", run: r.train},
	}
	return r
}

// jobKind is what the runner knows of one kind of job.
type jobKind struct {
	// collection is the API's name for the kind's jobs, such as
	// "evaluationJobs".
	collection string
	// run does a job's work, telling progress how far it has come, and
	// returns the job's result as JSON.
	run func(ctx context.Context, job leadscore.Job, progress func(stage string, fraction float64, message string)) ([]byte, error)
}

// jobName is a job's resource name, such as "trainingJobs/{id}".
func (r *jobRunner) jobName(kind leadscore.JobKind, id string) string {
	return r.kinds[kind].collection + "/" + id
}

// start starts the workers and the keeper (heartbeats and the orphan
// sweep). The runner runs until stop.
func (r *jobRunner) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopped {
		return
	}
	r.started = true
	r.ctx, r.cancel = context.WithCancelCause(context.Background())
	r.wg.Add(r.workers + 1)
	for range r.workers {
		go r.work()
	}
	go r.keep()
}

// stop cancels every running job and fails the queued ones with ABORTED
// "server stopped", then waits for the workers to record their jobs' final
// states, or for ctx to end.
func (r *jobRunner) stop(ctx context.Context) error {
	r.mu.Lock()
	if r.stopped || !r.started {
		r.stopped = true
		r.mu.Unlock()
		return nil
	}
	r.stopped = true
	queued := r.queue
	r.queue = nil
	r.mu.Unlock()

	r.cancel(errServerStopped)
	for _, id := range queued {
		r.abandon(ctx, id, "server stopped")
	}
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop jobs: %w", ctx.Err())
	}
}

// notify wakes everything waiting for a job change.
func (r *jobRunner) notify() {
	r.mu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// changes returns a channel closed at the next job change this process
// sees. Changes made by other processes are not signalled; watchers poll
// for those.
func (r *jobRunner) changes() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// accepting reports whether the runner can take another job now.
func (r *jobRunner) accepting() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.stopped:
		return leadscore.Errorf(leadscore.EUNAVAILABLE, "the server is shutting down; submit the job to another instance")
	case len(r.queue) >= maxQueuedJobs:
		return errTooManyJobs
	}
	return nil
}

// errTooManyJobs is the status of a submission to a full queue.
var errTooManyJobs = resourceExhausted(fmt.Sprintf("%d jobs are already queued on this server; wait for some to finish", maxQueuedJobs))

// submit stores a new queued job of a kind, with its checked spec, and
// queues it here. A request id seen before returns the job it created,
// if that job had the same kind and spec; otherwise the request id is
// refused, as a retry must mean the same job.
func (r *jobRunner) submit(ctx context.Context, kind leadscore.JobKind, model string, spec proto.Message, requestID, actor string, now time.Time) (leadscore.Job, error) {
	if err := r.accepting(); err != nil {
		return leadscore.Job{}, err
	}
	data, err := protojson.Marshal(spec)
	if err != nil {
		return leadscore.Job{}, fmt.Errorf("encode %s job spec: %w", kind, err)
	}
	job, created, err := r.store.CreateJob(ctx, leadscore.Job{
		ID:        registry.NewID("job"),
		Kind:      kind,
		State:     leadscore.JobQueued,
		Model:     model,
		Stage:     "queued",
		RequestID: requestID,
		Spec:      data,
		CreatedBy: actor,
		CreatedAt: now,
		UpdatedAt: now,
	})
	if err != nil {
		return leadscore.Job{}, err
	}
	if !created {
		first := spec.ProtoReflect().New().Interface()
		if job.Kind != kind ||
			(protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(job.Spec, first) != nil ||
			!proto.Equal(first, spec) {
			return leadscore.Job{}, leadscore.InvalidField("request_id", requestID,
				"was already used for a different job; use a new request id for a new job")
		}
		return job, nil
	}
	r.enqueue(ctx, job.ID)
	return r.store.GetJob(ctx, job.ID)
}

// enqueue adds a stored, queued job to the queue.
func (r *jobRunner) enqueue(ctx context.Context, id string) {
	r.mu.Lock()
	if r.stopped || !r.started {
		r.mu.Unlock()
		r.abandon(ctx, id, "server stopped")
		return
	}
	r.queue = append(r.queue, id)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	r.notify()
}

// next takes the oldest queued job, waiting for one; false means stop.
func (r *jobRunner) next() (string, bool) {
	for {
		r.mu.Lock()
		if r.stopped {
			r.mu.Unlock()
			return "", false
		}
		if len(r.queue) > 0 {
			id := r.queue[0]
			r.queue = r.queue[1:]
			// Another idle worker may take the next one.
			if len(r.queue) > 0 {
				select {
				case r.wake <- struct{}{}:
				default:
				}
			}
			r.mu.Unlock()
			return id, true
		}
		r.mu.Unlock()
		select {
		case <-r.ctx.Done():
			return "", false
		case <-r.wake:
		}
	}
}

func (r *jobRunner) work() {
	defer r.wg.Done()
	for {
		id, ok := r.next()
		if !ok {
			return
		}
		r.run(id)
	}
}

// update writes a job through fn and signals watchers.
func (r *jobRunner) update(ctx context.Context, id string, fn func(*leadscore.Job) error) (leadscore.Job, error) {
	job, err := r.store.UpdateJob(ctx, id, func(j *leadscore.Job) error {
		if err := fn(j); err != nil {
			return err
		}
		j.UpdatedAt = r.now()
		return nil
	})
	if err == nil {
		r.notify()
	}
	return job, err
}

// abandon fails a job that will not run here, if it is still unfinished.
func (r *jobRunner) abandon(ctx context.Context, id, message string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalWriteTimeout)
	defer cancel()
	_, err := r.update(ctx, id, func(j *leadscore.Job) error {
		if j.State.Final() {
			return errSkip
		}
		finishJob(j, r.now(), abortedOrCancelled(j, message))
		return nil
	})
	if err != nil && !errors.Is(err, errSkip) {
		r.logger.Error("record a stopped job", slog.String("job", id), slog.Any("error", err))
	}
}

// jobEnd is how a job ended.
type jobEnd struct {
	state   leadscore.JobState
	code    code.Code
	message string
	result  []byte
}

// abortedOrCancelled is the end of a job stopped by the server: cancelled
// when someone had asked for that, failed with ABORTED otherwise.
func abortedOrCancelled(j *leadscore.Job, message string) jobEnd {
	if j.State == leadscore.JobCancelling {
		return jobEnd{state: leadscore.JobCancelled, code: code.Code_CANCELLED, message: "cancelled"}
	}
	return jobEnd{state: leadscore.JobFailed, code: code.Code_ABORTED, message: message}
}

// finishJob records a job's end.
func finishJob(j *leadscore.Job, now time.Time, end jobEnd) {
	j.State = end.state
	j.FinishedAt = now
	if end.state == leadscore.JobSucceeded {
		j.Progress, j.Stage, j.Message = 1, "done", ""
		j.Result = end.result
		j.ErrorCode, j.ErrorMessage = "", ""
		return
	}
	msg := end.message
	if end.state == leadscore.JobCancelled && j.ErrorMessage != "" {
		// Who asked, as the cancellation recorded it.
		msg = j.ErrorMessage
	}
	j.ErrorCode, j.ErrorMessage = end.code.String(), msg
}

// jobResult is a succeeded evaluation job's stored result.
type jobResult struct {
	Evaluation string `json:"evaluation"`
	Verdict    string `json:"verdict,omitempty"`
}

// run runs one job to its end.
func (r *jobRunner) run(id string) {
	ctx, cancel := context.WithCancelCause(r.ctx)
	defer cancel(nil)
	r.mu.Lock()
	r.running[id] = cancel
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.running, id)
		r.mu.Unlock()
	}()

	job, err := r.update(ctx, id, func(j *leadscore.Job) error {
		if j.State != leadscore.JobQueued {
			// Cancelled while queued, or taken for orphaned.
			return errSkip
		}
		j.State = leadscore.JobRunning
		j.StartedAt = r.now()
		j.Stage, j.Message, j.Progress = "starting", "", 0
		return nil
	})
	switch {
	case errors.Is(err, errSkip):
		return
	case err != nil:
		msg := "server stopped"
		if ctx.Err() == nil {
			r.logger.Error("start job", slog.String("job", id), slog.Any("error", err))
			msg = "the job could not be started; submit it again"
		}
		r.abandon(ctx, id, msg)
		return
	}
	r.logger.Info("job started", slog.String("job", id), slog.String("kind", string(job.Kind)))

	progress := newProgressWriter(r, ctx, cancel, id)
	result, err := r.execute(ctx, job, progress.report)
	progress.close()

	end := r.outcome(ctx, job, result, err)
	writeCtx, cancelWrite := context.WithTimeout(context.WithoutCancel(ctx), finalWriteTimeout)
	defer cancelWrite()
	_, err = r.update(writeCtx, id, func(j *leadscore.Job) error {
		if j.State.Final() {
			return errSkip
		}
		if end.state == leadscore.JobFailed && end.code == code.Code_ABORTED && j.State == leadscore.JobCancelling {
			end = abortedOrCancelled(j, end.message)
		}
		finishJob(j, r.now(), end)
		return nil
	})
	if err != nil && !errors.Is(err, errSkip) {
		r.logger.Error("record the end of a job", slog.String("job", id), slog.Any("error", err))
	}
	r.logger.Info("job ended", slog.String("job", id), slog.String("kind", string(job.Kind)), slog.String("state", string(end.state)), slog.String("code", end.code.String()))
}

// execute runs the job's work, turning a panic into an error so that one
// bad job cannot take the server down.
func (r *jobRunner) execute(ctx context.Context, job leadscore.Job, progress func(string, float64, string)) (res []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.logger.Error("panic in job", slog.String("job", job.ID), slog.String("kind", string(job.Kind)),
				slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
			res, err = nil, leadscore.Errorf(leadscore.EINTERNAL, "panic: %v", p)
		}
	}()
	kind, ok := r.kinds[job.Kind]
	if !ok {
		return nil, leadscore.Errorf(leadscore.EINTERNAL, "job %s is of kind %q, which this server does not run", job.ID, job.Kind)
	}
	return kind.run(ctx, job, progress)
}

// evaluate runs an evaluation job's backtest and returns its result.
func (r *jobRunner) evaluate(ctx context.Context, job leadscore.Job, progress func(string, float64, string)) ([]byte, error) {
	spec := &leadscorev1.EvaluationJob{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(job.Spec, spec); err != nil {
		return nil, leadscore.Errorf(leadscore.EINTERNAL, "read the spec of job %s: %w", job.ID, err)
	}
	// The request is planned again, not taken on trust from creation: the
	// data files may have changed (or become symbolic links) since.
	_, req, err := r.planner.plan(ctx, spec, r.now())
	if err != nil {
		return nil, err
	}
	req.Register = true
	req.JobID = job.ID
	req.Actor = job.CreatedBy
	req.Progress = progress
	res, err := r.runBacktest(ctx, req)
	if err != nil {
		return nil, err
	}
	out := jobResult{}
	if res != nil && res.Evaluation != nil {
		out.Evaluation = res.Evaluation.ID
	}
	if res != nil && res.Report != nil {
		out.Verdict = res.Report.Verdict
	}
	data, _ := json.Marshal(out) // two strings cannot fail
	return data, nil
}

// outcome decides how a job ended from what its work returned.
func (r *jobRunner) outcome(ctx context.Context, job leadscore.Job, result []byte, err error) jobEnd {
	if err == nil {
		// Work that finished stored what it made (an evaluation, a
		// version), even if a cancellation arrived meanwhile: the job
		// succeeded, and says so, rather than hiding what it stored.
		return jobEnd{state: leadscore.JobSucceeded, result: result}
	}
	switch cause := context.Cause(ctx); {
	case ctx.Err() == nil:
	case errors.Is(cause, errJobCancelled):
		return jobEnd{state: leadscore.JobCancelled, code: code.Code_CANCELLED, message: "cancelled"}
	case errors.Is(cause, errServerStopped), errors.Is(cause, errJobGone):
		return jobEnd{state: leadscore.JobFailed, code: code.Code_ABORTED, message: "server stopped"}
	}
	c := leadscore.ErrorCode(err)
	if c == leadscore.EINTERNAL {
		r.logger.Error("job failed", slog.String("job", job.ID), slog.String("kind", string(job.Kind)), slog.Any("error", err))
	}
	msg := leadscore.ErrorMessage(err)
	if r.planner != nil {
		msg = r.planner.dir.relative(msg)
	}
	return jobEnd{state: leadscore.JobFailed, code: code.Code(codeOf[c]), message: msg}
}

// progressWriter writes a running job's progress at most every
// progressInterval, and touches the job every heartbeat while the work is
// quiet. Each write also reads the job's state back, and a quiet tick
// reads it: a CANCELLING written by another process cancels the job here,
// and a job someone else finished is dropped.
type progressWriter struct {
	r      *jobRunner
	ctx    context.Context
	cancel context.CancelCauseFunc
	id     string

	mu       sync.Mutex
	stage    string
	fraction float64
	message  string
	dirty    bool

	stopWriting context.CancelFunc
	done        chan struct{}
}

func newProgressWriter(r *jobRunner, ctx context.Context, cancel context.CancelCauseFunc, id string) *progressWriter {
	w := &progressWriter{r: r, ctx: ctx, cancel: cancel, id: id, done: make(chan struct{})}
	loopCtx, stop := context.WithCancel(ctx)
	w.stopWriting = stop
	go w.loop(loopCtx)
	return w
}

// report is the backtest's Progress callback. It only records; the loop
// writes, so a slow store never slows the backtest.
func (w *progressWriter) report(stage string, fraction float64, message string) {
	if math.IsNaN(fraction) {
		fraction = 0
	}
	fraction = min(max(fraction, 0), 1)
	w.mu.Lock()
	w.stage, w.fraction, w.message, w.dirty = stage, fraction, message, true
	w.mu.Unlock()
}

func (w *progressWriter) loop(ctx context.Context) {
	defer close(w.done)
	tick := time.NewTicker(min(progressInterval, w.r.heartbeat))
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		w.mu.Lock()
		dirty := w.dirty
		stage, fraction, message := w.stage, w.fraction, w.message
		w.dirty = false
		w.mu.Unlock()
		if !dirty && time.Since(last) < w.r.heartbeat {
			// A quiet stretch (thousands of boosting rounds report
			// nothing) still reads the job each tick, so that a
			// cancellation asked of another process stops the work here
			// within a tick, not a heartbeat.
			if j, err := w.r.store.GetJob(ctx, w.id); err == nil && j.State == leadscore.JobCancelling {
				w.cancel(errJobCancelled)
			}
			continue
		}
		_, err := w.r.update(ctx, w.id, func(j *leadscore.Job) error {
			switch {
			case j.State.Final():
				return errJobGone
			case j.State == leadscore.JobCancelling:
				w.cancel(errJobCancelled)
			}
			if dirty {
				j.Stage, j.Progress, j.Message = stage, fraction, message
			}
			return nil
		})
		switch {
		case errors.Is(err, errJobGone):
			w.r.logger.Warn("job was finished by another process; stopping it here", slog.String("job", w.id))
			w.cancel(errJobGone)
			return
		case err != nil && ctx.Err() == nil:
			w.r.logger.Warn("write job progress", slog.String("job", w.id), slog.Any("error", err))
		}
		last = time.Now()
	}
}

// close stops the loop and waits for it.
func (w *progressWriter) close() {
	w.stopWriting()
	<-w.done
}

// cancelJob asks a job to stop: a queued job is cancelled at once, a
// running one turns CANCELLING and its context is cancelled (here, or by
// its owner at the owner's next write).
func (r *jobRunner) cancelJob(ctx context.Context, kind leadscore.JobKind, id, actor string) (leadscore.Job, error) {
	by := "cancelled by " + actor
	name := r.jobName(kind, id)
	notFound := leadscore.Errorf(leadscore.ENOTFOUND, "%s not found", name)
	job, err := r.update(ctx, id, func(j *leadscore.Job) error {
		if j.Kind != kind {
			return notFound
		}
		switch j.State {
		case leadscore.JobQueued:
			finishJob(j, r.now(), jobEnd{state: leadscore.JobCancelled, code: code.Code_CANCELLED, message: by})
		case leadscore.JobRunning:
			// The message waits for the job's end, which keeps it.
			j.State, j.ErrorMessage = leadscore.JobCancelling, by
		case leadscore.JobCancelling:
		default:
			return &leadscore.Error{
				Code:    leadscore.EPRECONDITION,
				Message: fmt.Sprintf("%s already finished (%s); only a queued or running job can be cancelled", name, j.State),
				Preconditions: []leadscore.PreconditionViolation{{
					Type: "JOB_STATE", Subject: name, Description: fmt.Sprintf("the job is %s", j.State),
				}},
			}
		}
		return nil
	})
	if leadscore.ErrorCode(err) == leadscore.ENOTFOUND {
		return leadscore.Job{}, notFound
	}
	if err != nil {
		return leadscore.Job{}, err
	}
	r.mu.Lock()
	r.queue = slices.DeleteFunc(r.queue, func(q string) bool { return q == id })
	cancel := r.running[id]
	r.mu.Unlock()
	if cancel != nil {
		cancel(errJobCancelled)
	}
	return job, nil
}

// readClock sets the runner's skew from the database's clock, when the
// store has one. A failed read keeps the last skew: the next heartbeat
// tries again.
func (r *jobRunner) readClock() {
	if r.clock == nil {
		return
	}
	before := time.Now()
	db, err := r.clock.Now(r.ctx)
	if err != nil {
		if r.ctx.Err() == nil {
			r.logger.Warn("read the database's clock for job heartbeats", slog.Any("error", err))
		}
		return
	}
	// The database read its clock about half way through the round trip.
	local := before.Add(time.Since(before) / 2)
	r.skew.Store(int64(db.Sub(local)))
}

// keep touches this process's queued jobs every heartbeat and fails
// orphaned jobs of any process.
func (r *jobRunner) keep() {
	defer r.wg.Done()
	r.readClock()
	r.sweep()
	tick := time.NewTicker(r.heartbeat)
	defer tick.Stop()
	for beat := 1; ; beat++ {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
		}
		r.readClock()
		r.touchQueued()
		if beat%(staleHeartbeats/2) == 0 {
			r.sweep()
		}
	}
}

// touchQueued refreshes the queued jobs' updated_at, and drops from the
// queue those someone cancelled or finished meanwhile.
func (r *jobRunner) touchQueued() {
	r.mu.Lock()
	queued := slices.Clone(r.queue)
	r.mu.Unlock()
	for _, id := range queued {
		_, err := r.update(r.ctx, id, func(j *leadscore.Job) error {
			if j.State != leadscore.JobQueued {
				return errJobGone
			}
			return nil
		})
		if errors.Is(err, errJobGone) {
			r.mu.Lock()
			r.queue = slices.DeleteFunc(r.queue, func(q string) bool { return q == id })
			r.mu.Unlock()
		} else if err != nil && r.ctx.Err() == nil {
			r.logger.Warn("touch queued job", slog.String("job", id), slog.Any("error", err))
		}
	}
}

// sweep fails the unfinished jobs, of every kind, nobody has touched for
// staleAfter: their process stopped without recording their end.
func (r *jobRunner) sweep() {
	ctx := r.ctx
	filter := leadscore.JobFilter{
		States: []leadscore.JobState{leadscore.JobQueued, leadscore.JobRunning, leadscore.JobCancelling},
	}
	var page leadscore.Page
	for {
		jobs, err := r.store.ListJobs(ctx, filter, page, 100)
		if err != nil {
			if ctx.Err() == nil {
				r.logger.Warn("look for orphaned jobs", slog.Any("error", err))
			}
			return
		}
		for _, j := range jobs {
			if r.owns(j.ID) || r.now().Sub(j.UpdatedAt) < r.staleAfter {
				continue
			}
			_, err := r.update(ctx, j.ID, func(cur *leadscore.Job) error {
				// Checked again inside the transaction: the owner may have
				// written since the listing.
				if cur.State.Final() || r.now().Sub(cur.UpdatedAt) < r.staleAfter {
					return errSkip
				}
				finishJob(cur, r.now(), abortedOrCancelled(cur, "server stopped"))
				return nil
			})
			switch {
			case err == nil:
				r.logger.Warn("job orphaned by a stopped server; marked failed", slog.String("kind", string(j.Kind)),
					slog.String("job", j.ID), slog.Time("last_update", j.UpdatedAt))
			case !errors.Is(err, errSkip) && ctx.Err() == nil:
				r.logger.Warn("mark orphaned job failed", slog.String("job", j.ID), slog.Any("error", err))
			}
		}
		if len(jobs) < 100 {
			return
		}
		last := jobs[len(jobs)-1]
		page = leadscore.Page{Time: last.CreatedAt, ID: last.ID}
	}
}

// owns reports whether the job is queued or running in this process.
func (r *jobRunner) owns(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, running := r.running[id]
	return running || slices.Contains(r.queue, id)
}
