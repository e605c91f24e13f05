package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

// noticePollInterval is how often an AliasNotices subscription asks
// whether another connection committed to the file: a move made by another
// process is delivered within about this long, for two trivial statements
// a second while nothing happens.
const noticePollInterval = 500 * time.Millisecond

// The alias history is where a subscription learns of moves. Its ids are
// the commit order of the moves, across processes: writers take turns
// under the file's one write lock, so a move's AUTOINCREMENT id is above
// every id committed before it, and ids are never reused. A subscription
// keeps the id of the newest entry it delivered and reads the entries
// above it whenever the file may have changed. It misses nothing it has
// not read yet, so a failed read is simply tried again.
//
// movesQuery reads the entries above ?1 in commit order, at most ?2 of
// them.
const movesQuery = `
SELECT h.id, m.name, h.alias, h.seq, coalesce(v.version, 0)
FROM alias_history h
JOIN models m ON m.id = h.model_id
LEFT JOIN model_versions v ON v.id = h.to_version_id
WHERE h.id > ?1
ORDER BY h.id LIMIT ?2`

// AliasNotices implements leadscore.RegistryStore. It delivers the moves
// of every process using the file, in commit order. A SQLite file cannot
// notify, so each subscription watches it through a read-only connection
// of its own, outside the pool, so that a receiver never holds a
// connection requests need. The subscription reads the moves committed
// since the last it delivered:
//   - at once when this DB commits a move;
//   - when PRAGMA data_version, polled every noticePollInterval, says that
//     another connection committed something. The pragma's value is per
//     connection and changes with every commit made through any other
//     connection, this process's pool included; the watching connection
//     itself never writes.
//
// It is watching when AliasNotices returns, so every move committed after
// that is delivered, or covered by a resync notice when more moves are
// waiting than a subscription holds. The subscription ends when ctx ends
// or the store is closed: it closes its connection, then the channel.
func (db *DB) AliasNotices(ctx context.Context) (<-chan leadscore.AliasNotice, error) {
	db.watchMu.Lock()
	if db.watchClosed {
		db.watchMu.Unlock()
		return nil, leadscore.Errorf(leadscore.EUNAVAILABLE, "subscribe to alias notices: the store is closed")
	}
	db.watchers.Add(1)
	db.watchMu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	// This DB's own commits arrive as notices of the broker; they are
	// only a signal to read, because the history alone orders them among
	// the moves of other processes.
	wake, err := db.notices.Subscribe(ctx)
	if err != nil {
		cancel()
		db.watchers.Done()
		return nil, err
	}
	w, err := db.watch(ctx)
	if err != nil {
		cancel()
		db.watchers.Done()
		return nil, err
	}
	// The channel is closed only after the connection is: a receiver that
	// sees it closed knows the subscription holds nothing any more.
	subCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	w.sub = storeutil.Subscribe(subCtx, storeutil.NoticeBuffer)
	db.watching.Add(1)
	go func() {
		defer db.watchers.Done()
		w.run(ctx, wake)
		cancel()
		w.close()
		db.watching.Add(-1)
		stop()
		<-w.sub.Done()
	}()
	return w.sub.C(), nil
}

// watcher is one subscription's view of the file.
type watcher struct {
	pool *sql.DB   // A pool of one connection, the subscription's own.
	conn *sql.Conn // The connection polled; nil after a failure.
	sub  *storeutil.Subscription

	// version is conn's data_version when it last read the history, and
	// after the id of the newest history entry delivered. stale says
	// that the history must be read whatever data_version says: after a
	// failed read, or on a new connection, whose data_version is not
	// comparable with the old one's.
	version int64
	after   int64
	stale   bool
}

// watch opens a subscription's connection and notes where the history
// stands.
func (db *DB) watch(ctx context.Context) (*watcher, error) {
	pool, err := sql.Open("sqlite", db.watchDSN)
	if err != nil {
		return nil, errorf(err, "watch %s for alias moves", db.path)
	}
	pool.SetMaxOpenConns(1)
	w := &watcher{pool: pool}
	if err := w.connect(ctx); err != nil {
		w.close()
		return nil, errorf(err, "watch %s for alias moves", db.path)
	}
	// data_version first: a move committed between the two reads is then
	// counted in after, or changes data_version for the next poll.
	if err := w.conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&w.version); err != nil {
		w.close()
		return nil, errorf(err, "watch %s for alias moves", db.path)
	}
	if err := w.conn.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM alias_history").Scan(&w.after); err != nil {
		w.close()
		return nil, errorf(err, "watch %s for alias moves", db.path)
	}
	return w, nil
}

// connect takes the pool's one connection, which every poll then uses:
// data_version means something only when compared on one connection.
func (w *watcher) connect(ctx context.Context) error {
	conn, err := w.pool.Conn(ctx)
	if err != nil {
		return err
	}
	w.conn = conn
	return nil
}

// run reads the moves whenever the file may have changed, until ctx ends or
// wake is closed (the store is closing).
func (w *watcher) run(ctx context.Context, wake <-chan leadscore.AliasNotice) {
	tick := time.NewTicker(noticePollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-wake:
			if !ok {
				return
			}
			// One read covers every commit already signalled.
			for drained := false; !drained; {
				select {
				case _, ok := <-wake:
					if !ok {
						return
					}
				default:
					drained = true
				}
			}
		case <-tick.C:
		}
		if err := w.poll(ctx); err != nil && ctx.Err() == nil {
			// Nothing beyond what was read was delivered, so the next
			// poll picks up where this one failed.
			w.drop()
		}
	}
}

// poll delivers the moves committed since the last it delivered, if
// anything was committed since it last read the history.
func (w *watcher) poll(ctx context.Context) error {
	if w.conn == nil {
		if err := w.connect(ctx); err != nil {
			return err
		}
		w.stale = true
	}
	var version int64
	if err := w.conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&version); err != nil {
		return err
	}
	if version == w.version && !w.stale {
		return nil
	}
	type move struct {
		id     int64
		notice leadscore.AliasNotice
	}
	rows, err := w.conn.QueryContext(ctx, movesQuery, w.after, storeutil.NoticeBuffer+1)
	moves, err := collect(rows, err, func(r *sql.Rows) (move, error) {
		var m move
		err := r.Scan(&m.id, &m.notice.Model, &m.notice.Alias, &m.notice.Seq, &m.notice.Version)
		return m, err
	})
	if err != nil {
		return err
	}
	if len(moves) > storeutil.NoticeBuffer {
		// More than a subscription holds: reading every one would only
		// collapse them into a resync, so send it now. The receiver
		// re-reads after this read of the newest id, so it sees every move
		// up to it.
		var newest int64
		if err := w.conn.QueryRowContext(ctx, "SELECT max(id) FROM alias_history").Scan(&newest); err != nil {
			return err
		}
		w.sub.Publish(leadscore.AliasNotice{})
		w.after = newest
	} else {
		for _, m := range moves {
			w.sub.Publish(m.notice)
			w.after = m.id
		}
	}
	w.version, w.stale = version, false
	return nil
}

// drop hands the connection back to its pool after a failure; the next
// poll takes it again, or a new one if the driver found it broken.
func (w *watcher) drop() {
	if w.conn != nil {
		_ = w.conn.Close()
		w.conn = nil
	}
}

// close releases the connection and its pool.
func (w *watcher) close() {
	if w.conn != nil {
		_ = w.conn.Close()
		w.conn = nil
	}
	_ = w.pool.Close()
}
