package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/protobuf/proto"
)

// watchJob is the watch of every kind of job: it sends the job now and
// after every change, and ends once it has sent a final state. read reads
// the job and its message, progress picks the message's progress, and
// send sends a message.
//
// When the server begins to shut down, the job runner first records the
// end of this process's jobs; the stream then sends the job as it stands
// and ends with UNAVAILABLE (the drain interceptor's status), so a watcher
// of a job that ran here sees it failed with ABORTED "server stopped"
// rather than only a broken stream.
func watchJob[M proto.Message](ctx context.Context, jobs *jobRunner, logger *slog.Logger, id string,
	read func(context.Context) (leadscore.Job, M, error), progress func(M) *leadscorev1.JobProgress, send func(M) error,
) error {
	var last M
	sent := false
	// emit reads the job and sends it if it changed. The read does not
	// follow the stream's cancellation by a drain, so that the last word
	// before a shutdown is still read.
	emit := func() (final bool, err error) {
		readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalWriteTimeout)
		defer cancel()
		j, msg, err := read(readCtx)
		if err != nil {
			return false, err
		}
		// A heartbeat moves only the update time; it is not a change
		// worth a message.
		cmp := proto.CloneOf(msg)
		if p := progress(cmp); p != nil {
			p.UpdateTime = nil
		}
		if !sent || !proto.Equal(cmp, last) {
			if err := send(msg); err != nil {
				return false, err
			}
			last, sent = cmp, true
		}
		return j.State.Final(), nil
	}
	tick := time.NewTicker(watchPoll)
	defer tick.Stop()
	for {
		// Take the signal before reading, so a change between the read and
		// the wait is not missed.
		changed := jobs.changes()
		if final, err := emit(); err != nil || final {
			return err
		}
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), errDraining) {
				if _, err := emit(); err != nil {
					logger.Debug("last job update before shutdown", slog.String("job", id), slog.Any("error", err))
				}
			}
			return ctx.Err()
		case <-changed:
		case <-tick.C:
		}
	}
}

// jobStatusProto converts a job's state, progress and error, which every
// kind of job shows alike.
func jobStatusProto(j leadscore.Job) (leadscorev1.JobState, *leadscorev1.JobProgress, *leadscorev1.JobError) {
	progress := &leadscorev1.JobProgress{
		Fraction:   j.Progress,
		Stage:      j.Stage,
		Message:    j.Message,
		UpdateTime: timestamp(j.UpdatedAt),
	}
	var jobErr *leadscorev1.JobError
	if j.ErrorCode != "" || j.ErrorMessage != "" && j.State.Final() {
		jobErr = &leadscorev1.JobError{Code: j.ErrorCode, Message: j.ErrorMessage}
	}
	return jobStateProto(j.State), progress, jobErr
}

// listJobs lists one kind of job newest first, a page at a time, filtered
// by model and states; method names the rpc in the page token.
func listJobs[M any](ctx context.Context, store leadscore.RegistryStore, kind leadscore.JobKind, method, model string,
	states []leadscorev1.JobState, size int, token string, convert func(leadscore.Job) (M, error),
) ([]M, string, error) {
	filter := leadscore.JobFilter{Kind: kind}
	if model != "" {
		var err error
		if filter.Model, err = leadscore.ParseModelName("model", model); err != nil {
			return nil, "", err
		}
	}
	for i, st := range states {
		state, err := jobStateDomain(fmt.Sprintf("states[%d]", i), st)
		if err != nil {
			return nil, "", err
		}
		if !slices.Contains(filter.States, state) {
			filter.States = append(filter.States, state)
		}
	}
	names := make([]string, len(filter.States))
	for i, st := range filter.States {
		names[i] = string(st)
	}
	slices.Sort(names)
	fingerprint := listFilter(method, filter.Model, strings.Join(names, ","))
	page, err := decodePageToken(token, fingerprint)
	if err != nil {
		return nil, "", err
	}
	jobs, err := store.ListJobs(ctx, filter, leadscore.Page{Time: page.Time, ID: page.ID}, size+1)
	if err != nil {
		return nil, "", err
	}
	var next string
	if len(jobs) > size {
		jobs = jobs[:size]
		last := jobs[size-1]
		next = pageToken{Filter: fingerprint, Time: last.CreatedAt, ID: last.ID}.encode()
	}
	out := make([]M, 0, len(jobs))
	for _, j := range jobs {
		m, err := convert(j)
		if err != nil {
			return nil, "", err
		}
		out = append(out, m)
	}
	return out, next, nil
}
