package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/leadscore/leadscore"
)

// Defaults of the decay scheduler.
const (
	// DefaultDecayTick is how often a replica looks for due leads.
	DefaultDecayTick = 30 * time.Second
	// DefaultDecayBatch is how many due leads a replica claims at a time:
	// the largest batch a LeadStore call takes.
	DefaultDecayBatch = leadscore.MaxIngestBatch
	// DefaultDecayLease is how long claimed leads are left to the replica
	// that claimed them before another may take them: ample for scoring a
	// batch, short enough that a replica that dies delays its batch by
	// minutes, not a day.
	DefaultDecayLease = 5 * time.Minute
	// DefaultDecayWorkers is how many batches a replica rescores at once:
	// while one batch waits on the store, another is scored.
	DefaultDecayWorkers = 2
)

// decayScheduler rescores live leads as time passes: each score records
// when its lead is next due (the rescore interval after it), and every
// tick the scheduler claims batches of due leads and rescores them until
// none is due. Claims are leases in the store (LeadStore.ClaimDueLeads),
// so replicas sharing a database never rescore the same lead in one round,
// and the leads of a replica that dies are taken by another once their
// lease expires. Finding due leads reads an index on the due time, never
// the whole table.
type decayScheduler struct {
	store   leadscore.LeadStore
	rescore *rescorer
	now     func() time.Time
	tick    time.Duration
	batch   int
	lease   time.Duration
	workers int
	logger  *slog.Logger
}

// run rescores due leads every tick until ctx ends.
func (d *decayScheduler) run(ctx context.Context) {
	t := time.NewTicker(d.tick)
	defer t.Stop()
	for {
		d.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round rescores due leads, a claimed batch at a time on each of its
// workers, until none is due or a batch cannot be scored at all (no
// champion: its leads wait for their lease to expire, then the next
// round), and returns how many it rescored. Workers claim as replicas do,
// so no two take the same lead.
func (d *decayScheduler) round(ctx context.Context) rescored {
	var (
		mu    sync.Mutex
		total rescored
		wg    sync.WaitGroup
	)
	for range max(d.workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				at := d.now()
				ids, err := d.store.ClaimDueLeads(ctx, at, d.batch, d.lease)
				if err != nil {
					if ctx.Err() == nil {
						d.logger.WarnContext(ctx, "decay rescoring: claiming due leads failed", slog.Any("error", err))
					}
					return
				}
				if len(ids) == 0 {
					return
				}
				r := d.rescore.rescore(ctx, ids, at, leadscore.ReasonDecay)
				mu.Lock()
				total.Done += r.Done
				total.Failed += r.Failed
				mu.Unlock()
				if r.Done == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	if total.Done+total.Failed > 0 {
		d.logger.InfoContext(ctx, "decay rescoring round", slog.Int("rescored", total.Done), slog.Int("not_rescored", total.Failed))
	}
	return total
}
