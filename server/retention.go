package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/leadscore/leadscore"
)

// DefaultChangeRetention is how long the change log behind
// WatchScoreChanges keeps an entry when Options.ChangeRetention is zero: a
// watcher away for longer resumes with OUT_OF_RANGE and reads current
// scores afresh.
const DefaultChangeRetention = 30 * 24 * time.Hour

// DefaultRequestIDRetention is how long a request id is remembered when
// Options.RequestIDRetention is zero: a retry within it returns the first
// result, a retry after it is a new request.
const DefaultRequestIDRetention = 7 * 24 * time.Hour

// changePruneEvery is how often the pruner deletes the entries that left
// the retention window: an hour's worth at a time, so each prune is
// short.
const changePruneEvery = time.Hour

// changePruner keeps the change log to its retention window, and the
// request ids to theirs. Every server runs one: prunes by replicas
// sharing a store delete the same entries, and the second finds none.
type changePruner struct {
	store     leadscore.LeadStore
	retention time.Duration
	// requests, when set, has its request ids older than requestRetention
	// forgotten in the same runs.
	requests         leadscore.RegistryStore
	requestRetention time.Duration
	every            time.Duration
	// now is the server's clock; the cutoff is now less the retention.
	now    func() time.Time
	logger *slog.Logger
}

// run prunes at once and then every p.every until ctx is cancelled.
func (p *changePruner) run(ctx context.Context) {
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for {
		p.prune(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// prune deletes the entries recorded before the retention window. A
// failure is logged and left to the next run: entries kept a little
// longer harm no one.
func (p *changePruner) prune(ctx context.Context) {
	before := p.now().Add(-p.retention)
	n, err := p.store.PruneScoreChanges(ctx, before)
	switch {
	case err != nil && ctx.Err() == nil:
		p.logger.WarnContext(ctx, "score changes not pruned", slog.Time("before", before), slog.Any("error", err))
	case n > 0:
		p.logger.InfoContext(ctx, "score changes pruned", slog.Int64("changes", n), slog.Time("before", before), slog.Duration("retention", p.retention))
	}
	if p.requests == nil {
		return
	}
	before = p.now().Add(-p.requestRetention)
	n, err = p.requests.PruneRequestIDs(ctx, before)
	switch {
	case err != nil && ctx.Err() == nil:
		p.logger.WarnContext(ctx, "request ids not pruned", slog.Time("before", before), slog.Any("error", err))
	case n > 0:
		p.logger.InfoContext(ctx, "request ids forgotten", slog.Int64("request_ids", n), slog.Time("before", before), slog.Duration("retention", p.requestRetention))
	}
}
