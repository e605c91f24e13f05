package server

import (
	"context"
	"errors"
	"log/slog"
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
