package registry

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// Loaded is a version a serving process has loaded completely: artifact
// read, checksum verified, every parameter validated, scorer built. It is
// immutable; a move of its alias replaces it as a whole.
type Loaded struct {
	Alias   leadscore.AliasRef
	Version leadscore.VersionRef
	// Seq is the alias history entry that set this target.
	Seq      int64
	SHA256   string
	Model    *model.Model
	LoadedAt time.Time
}

// Loader keeps the versions that a serving process's aliases point at
// loaded, and follows their moves: a notice of a move makes it load the new
// target in the background and swap it in only once it is complete, so a
// scorer never sees a half-loaded model. Between notices it re-reads the
// aliases every ResyncInterval, which covers notices lost while the store
// was unreachable.
type Loader struct {
	reg     *Registry
	aliases []leadscore.AliasRef
	log     *slog.Logger
	// ResyncInterval is how often every alias is re-read without a notice.
	ResyncInterval time.Duration
	// OnLoad, when set, is called after each swap (for metrics and logs).
	OnLoad func(*Loaded)
	// OnChange, when set, is called after anything a caller of Current or
	// Absent could see has changed: a swap, a rollback onto the loaded
	// version, an alias removed or found absent. A serving process
	// recomputes its health from it. It must not block.
	OnChange func()

	slots  map[leadscore.AliasRef]*atomic.Pointer[Loaded]
	absent map[leadscore.AliasRef]*atomic.Bool
	mu     sync.Mutex // serialises loads of one loader
}

// NewLoader returns a loader for aliases. It loads nothing until Run.
func NewLoader(reg *Registry, aliases []leadscore.AliasRef, log *slog.Logger) *Loader {
	l := &Loader{
		reg: reg, aliases: aliases, log: log, ResyncInterval: 30 * time.Second,
		slots:  map[leadscore.AliasRef]*atomic.Pointer[Loaded]{},
		absent: map[leadscore.AliasRef]*atomic.Bool{},
	}
	for _, a := range aliases {
		l.slots[a] = new(atomic.Pointer[Loaded])
		l.absent[a] = new(atomic.Bool)
	}
	return l
}

// Aliases returns the aliases the loader follows.
func (l *Loader) Aliases() []leadscore.AliasRef { return slices.Clone(l.aliases) }

// Follows reports whether the loader follows an alias.
func (l *Loader) Follows(ref leadscore.AliasRef) bool { return l.slots[ref] != nil }

// Absent reports whether the last read of a followed alias found that it
// does not exist (as opposed to not being loaded yet, or failing to load).
func (l *Loader) Absent(ref leadscore.AliasRef) bool {
	a := l.absent[ref]
	return a != nil && a.Load()
}

// Ready reports whether every alias in refs that the loader follows has
// a loaded version. An alias that is absent is not ready: there is nothing
// to score with.
func (l *Loader) Ready(refs []leadscore.AliasRef) bool {
	for _, r := range refs {
		if l.Current(r) == nil {
			return false
		}
	}
	return true
}

func (l *Loader) changed() {
	if l.OnChange != nil {
		l.OnChange()
	}
}

// Current returns the loaded target of an alias, or nil when the alias does
// not exist (or did not load yet).
func (l *Loader) Current(ref leadscore.AliasRef) *Loaded {
	slot := l.slots[ref]
	if slot == nil {
		return nil
	}
	return slot.Load()
}

// Run subscribes to alias notices, loads every alias, and then follows
// moves until ctx ends. It returns nil when ctx ends, or the error that
// stopped it from subscribing.
func (l *Loader) Run(ctx context.Context) error {
	notices, err := l.reg.store.AliasNotices(ctx)
	if err != nil {
		return err
	}
	// Subscribe first, then load: a move between the two is then seen
	// twice, never missed.
	l.syncAll(ctx)
	tick := time.NewTicker(l.ResyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case n, ok := <-notices:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("alias notices stopped")
			}
			if n.Resync() {
				l.syncAll(ctx)
				continue
			}
			ref := leadscore.AliasRef{Model: n.Model, Alias: n.Alias}
			if _, ok := l.slots[ref]; ok {
				l.sync(ctx, ref)
			}
		case <-tick.C:
			l.syncAll(ctx)
		}
	}
}

func (l *Loader) syncAll(ctx context.Context) {
	for _, a := range l.aliases {
		l.sync(ctx, a)
	}
}

// Sync re-reads one alias and loads its target if it changed. A failure
// keeps the version already loaded serving and is logged: a registry that
// is briefly unreachable must not take scoring down.
func (l *Loader) sync(ctx context.Context, ref leadscore.AliasRef) {
	l.mu.Lock()
	defer l.mu.Unlock()
	slot := l.slots[ref]
	alias, err := l.reg.store.GetAlias(ctx, ref)
	switch {
	case leadscore.ErrorCode(err) == leadscore.ENOTFOUND:
		wasAbsent := l.absent[ref].Swap(true)
		if old := slot.Swap(nil); old != nil {
			l.log.Warn("alias removed; nothing serves it now", "alias", ref.Name(), "was", old.Version.Name())
		}
		if !wasAbsent {
			l.changed()
		}
		return
	case err != nil:
		if ctx.Err() == nil {
			l.log.Error("read alias", "alias", ref.Name(), "err", err)
		}
		return
	}
	if l.absent[ref].Swap(false) {
		defer l.changed()
	}
	cur := slot.Load()
	if cur != nil && cur.Version.Version == alias.Version && cur.Seq == alias.Seq {
		return
	}
	ver := leadscore.VersionRef{Model: ref.Model, Version: alias.Version}
	if cur != nil && cur.Version == ver {
		// A rollback to the loaded version: nothing to load.
		next := *cur
		next.Seq = alias.Seq
		slot.Store(&next)
		l.changed()
		return
	}
	m, sum, err := l.reg.LoadVersion(ctx, ver)
	if err == nil {
		_, err = model.NewScorer(m)
	}
	if err != nil {
		if ctx.Err() == nil {
			l.log.Error("load model version; the previous version keeps serving", "alias", ref.Name(), "version", ver.Name(), "err", err)
		}
		return
	}
	loaded := &Loaded{Alias: ref, Version: ver, Seq: alias.Seq, SHA256: sum, Model: m, LoadedAt: time.Now()}
	slot.Store(loaded)
	l.log.Info("serving model version", "alias", ref.Name(), "version", ver.Name(), "sha256", sum)
	if l.OnLoad != nil {
		l.OnLoad(loaded)
	}
	l.changed()
}
