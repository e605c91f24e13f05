package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/registry"
	"google.golang.org/protobuf/types/known/durationpb"
)

// DefaultPinnedVersions is how many pinned model versions a server keeps
// loaded besides the ones its aliases serve.
const DefaultPinnedVersions = 8

// servedModel is one loaded model version, ready to score from many
// goroutines: the model is immutable, and each call borrows a scorer,
// featurizer and row from the pool.
type servedModel struct {
	ref    leadscore.VersionRef
	name   string // "models/m/versions/n"
	sha256 string
	m      *model.Model
	// features describe the row's columns, for factors.
	features []model.Feature
	// fitIndex maps an attribute key to its index among the spec's fit
	// features; knownTypes are the event types the spec reads.
	fitIndex   map[string]int
	knownTypes map[string]bool
	horizon    *durationpb.Duration
	// featurizer is cloned for each scratch.
	featurizer *model.Featurizer
	// scratch is a free list rather than a sync.Pool: a pool is emptied
	// by every garbage collection, and rebuilding a scorer validates the
	// whole model again (profiled at 7 µs a call under load).
	scratch chan *scoreScratch
	// counts are the scores given, by cell (A1..D4) and tier, for metrics.
	counts [16][4]atomic.Int64
}

// scoreScratch is what one scoring goroutine needs.
type scoreScratch struct {
	scorer *model.Scorer
	feat   *model.Featurizer
	row    []float64
	fit    []leadscore.Value
	out    model.Scored
	// matrix, batch and batchErrs hold a batch's rows and results.
	matrix    []float64
	batch     []model.Scored
	batchErrs []error
}

// wellKnownTypes are the event types the API documents; an inline lead may
// send them to any model.
var wellKnownTypes = map[string]bool{
	leadscore.EventPageView: true, leadscore.EventEmailOpen: true, leadscore.EventEmailClick: true,
	leadscore.EventFormSubmit: true, leadscore.EventWebinarAttended: true, leadscore.EventContentDownload: true,
	leadscore.EventDemoRequest: true, leadscore.EventContactSales: true, leadscore.EventUnsubscribe: true,
	leadscore.EventBounce: true,
}

// newServedModel prepares a validated model for serving.
func newServedModel(ref leadscore.VersionRef, sha string, m *model.Model) (*servedModel, error) {
	f, err := model.NewFeaturizer(m.Spec)
	if err != nil {
		return nil, fmt.Errorf("prepare %s: %w", ref.Name(), err)
	}
	// A scorer validates the whole model once here, so a broken artifact
	// fails its load, not its first call.
	first, err := model.NewScorer(m)
	if err != nil {
		return nil, fmt.Errorf("prepare %s: %w", ref.Name(), err)
	}
	sm := &servedModel{
		ref: ref, name: ref.Name(), sha256: sha, m: m,
		features:   m.Spec.Features(),
		fitIndex:   make(map[string]int, len(m.Spec.Fit)),
		knownTypes: map[string]bool{},
		horizon:    durationpb.New(m.Metadata.Horizon),
		featurizer: f,
	}
	for i, ff := range m.Spec.Fit {
		sm.fitIndex[ff.Attribute] = i
	}
	for _, k := range m.Spec.Kinds {
		sm.knownTypes[k.Type] = true
	}
	for _, types := range [][]string{m.Spec.HandRaiseTypes, m.Spec.UnsubscribeTypes, m.Spec.BounceTypes} {
		for _, t := range types {
			sm.knownTypes[t] = true
		}
	}
	sm.scratch = make(chan *scoreScratch, scratchKept)
	sm.scratch <- sm.newScratch(first)
	return sm, nil
}

// scratchKept is how many idle scratches a version keeps: enough for the
// calls a server runs at once on a few cores.
const scratchKept = 256

func (sm *servedModel) newScratch(sc *model.Scorer) *scoreScratch {
	return &scoreScratch{
		scorer: sc,
		feat:   sm.featurizer.Clone(),
		row:    make([]float64, sm.featurizer.Width()),
		fit:    make([]leadscore.Value, len(sm.m.Spec.Fit)),
	}
}

func (sm *servedModel) get() *scoreScratch {
	select {
	case s := <-sm.scratch:
		return s
	default:
	}
	sc, err := model.NewScorer(sm.m)
	if err != nil {
		// The same model validated when it was prepared; it cannot fail.
		panic(fmt.Sprintf("server: scorer of a validated model: %v", err))
	}
	return sm.newScratch(sc)
}

func (sm *servedModel) put(s *scoreScratch) {
	clear(s.fit) // drop references to request strings
	select {
	case sm.scratch <- s:
	default: // enough idle ones already
	}
}

// knowsType reports whether an inline event's type means anything to this
// model: it is counted or flagged by the spec, or it is a well-known type.
func (sm *servedModel) knowsType(t string) bool { return sm.knownTypes[t] || wellKnownTypes[t] }

// modelSet finds the model version a request asks for: the aliases the
// process serves come from the loader, which keeps them loaded and swaps
// them atomically; any other alias is resolved through the registry; pinned
// versions load on demand into a bounded cache.
type modelSet struct {
	reg    *registry.Registry
	loader *registry.Loader // nil when the process serves no alias

	// served holds the prepared form of each loaded alias target, so that
	// an alias swap prepares the new version once.
	mu     sync.Mutex
	served map[*model.Model]*servedModel
	pins   *pinCache
}

func newModelSet(reg *registry.Registry, loader *registry.Loader, pinned int) *modelSet {
	if pinned <= 0 {
		pinned = DefaultPinnedVersions
	}
	return &modelSet{reg: reg, loader: loader, served: map[*model.Model]*servedModel{}, pins: newPinCache(pinned)}
}

// selection is a model version chosen for a request, with the alias it was
// chosen through ("" when pinned).
type selection struct {
	sm    *servedModel
	alias string
}

// resolve chooses the version of a request's selector.
func (ms *modelSet) resolve(ctx context.Context, ref leadscore.AliasRef, version int64) (selection, error) {
	if version != 0 {
		sm, err := ms.version(ctx, leadscore.VersionRef{Model: ref.Model, Version: version})
		return selection{sm: sm}, err
	}
	if ms.loader != nil && ms.loader.Follows(ref) {
		if cur := ms.loader.Current(ref); cur != nil {
			sm, err := ms.prepared(cur)
			return selection{sm: sm, alias: ref.Alias}, err
		}
		if ms.loader.Absent(ref) {
			return selection{}, leadscore.Errorf(leadscore.EPRECONDITION,
				"%s does not exist: register a version and promote it through the gate (leadscore promote) first", ref.Name())
		}
		return selection{}, leadscore.Errorf(leadscore.EUNAVAILABLE,
			"the version of %s is not loaded yet; retry shortly", ref.Name())
	}
	// An alias this process does not follow costs a registry read per call;
	// --serve-model makes it as fast as the champion.
	alias, err := ms.reg.Store().GetAlias(ctx, ref)
	if err != nil {
		return selection{}, err
	}
	sm, err := ms.version(ctx, leadscore.VersionRef{Model: ref.Model, Version: alias.Version})
	return selection{sm: sm, alias: ref.Alias}, err
}

// current returns the prepared version an alias the loader follows serves
// now, or nil.
func (ms *modelSet) current(ref leadscore.AliasRef) *servedModel {
	if ms.loader == nil {
		return nil
	}
	cur := ms.loader.Current(ref)
	if cur == nil {
		return nil
	}
	sm, err := ms.prepared(cur)
	if err != nil {
		return nil
	}
	return sm
}

// prepared returns the serving form of a loaded alias target, preparing it
// the first time. Forms of versions no alias serves any more are dropped.
func (ms *modelSet) prepared(l *registry.Loaded) (*servedModel, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if sm := ms.served[l.Model]; sm != nil {
		return sm, nil
	}
	sm, err := newServedModel(l.Version, l.SHA256, l.Model)
	if err != nil {
		return nil, err
	}
	live := map[*model.Model]bool{l.Model: true}
	for _, a := range ms.loader.Aliases() {
		if cur := ms.loader.Current(a); cur != nil {
			live[cur.Model] = true
		}
	}
	for m := range ms.served {
		if !live[m] {
			delete(ms.served, m)
		}
	}
	ms.served[l.Model] = sm
	return sm, nil
}

// all returns every prepared version, for metrics.
func (ms *modelSet) all() []*servedModel {
	ms.mu.Lock()
	out := make([]*servedModel, 0, len(ms.served))
	for _, sm := range ms.served {
		out = append(out, sm)
	}
	ms.mu.Unlock()
	return append(out, ms.pins.all()...)
}

// version returns a pinned version: one an alias serves, or one from the
// pin cache, loading it there on a miss.
func (ms *modelSet) version(ctx context.Context, ref leadscore.VersionRef) (*servedModel, error) {
	if ms.loader != nil {
		for _, a := range ms.loader.Aliases() {
			if cur := ms.loader.Current(a); cur != nil && cur.Version == ref {
				return ms.prepared(cur)
			}
		}
	}
	return ms.pins.get(ctx, ref, func(ctx context.Context) (*servedModel, error) {
		m, sum, err := ms.reg.LoadVersion(ctx, ref)
		if err != nil {
			return nil, err
		}
		return newServedModel(ref, sum, m)
	})
}

// pinCache keeps up to max pinned versions loaded, evicting the least
// recently used. Concurrent misses of one version load it once.
type pinCache struct {
	max int

	mu      sync.Mutex
	entries map[leadscore.VersionRef]*pinEntry
	clock   int64
}

type pinEntry struct {
	sm       *servedModel
	err      error
	done     chan struct{} // closed when the load ends
	lastUsed int64
}

func newPinCache(max int) *pinCache {
	return &pinCache{max: max, entries: map[leadscore.VersionRef]*pinEntry{}}
}

// pinLoadTimeout bounds one load of a pinned version. The load runs apart
// from the request that started it, so that one impatient caller does not
// fail the others waiting for the same version.
const pinLoadTimeout = time.Minute

func (c *pinCache) get(ctx context.Context, ref leadscore.VersionRef, load func(context.Context) (*servedModel, error)) (*servedModel, error) {
	c.mu.Lock()
	c.clock++
	e := c.entries[ref]
	if e == nil {
		e = &pinEntry{done: make(chan struct{})}
		c.entries[ref] = e
		c.evictLocked()
		go func() {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pinLoadTimeout)
			defer cancel()
			sm, err := load(lctx)
			c.mu.Lock()
			e.sm, e.err = sm, err
			if err != nil && c.entries[ref] == e {
				// A failed load is not cached: the next call tries again
				// (the version may have been registered since).
				delete(c.entries, ref)
			}
			c.mu.Unlock()
			close(e.done)
		}()
	}
	e.lastUsed = c.clock
	c.mu.Unlock()
	select {
	case <-e.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.sm, nil
}

// evictLocked drops the least recently used loaded entries beyond max.
// Entries still loading are never evicted.
func (c *pinCache) evictLocked() {
	for len(c.entries) > c.max {
		var oldest leadscore.VersionRef
		found := false
		for ref, e := range c.entries {
			select {
			case <-e.done:
			default:
				continue
			}
			if !found || e.lastUsed < c.entries[oldest].lastUsed {
				oldest, found = ref, true
			}
		}
		if !found {
			return
		}
		delete(c.entries, oldest)
	}
}

// all returns the loaded pinned versions.
func (c *pinCache) all() []*servedModel {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*servedModel
	for _, e := range c.entries {
		if e.sm != nil {
			out = append(out, e.sm)
		}
	}
	return out
}

// len is the number of entries, loaded or loading.
func (c *pinCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
