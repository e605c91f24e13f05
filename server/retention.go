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

// changePruneEvery is how often the pruner deletes the entries that left
// the retention window: an hour's worth at a time, so each prune is
// short.
const changePruneEvery = time.Hour

// changePruner keeps the change log to its retention window. Every server
// runs one: prunes by replicas sharing a store delete the same entries,
// and the second finds none.
type changePruner struct {
	store     leadscore.LeadStore
	retention time.Duration
	every     time.Duration
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
}
