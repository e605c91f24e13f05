package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

// Reconnection after a lost listening connection starts at once and then
// waits between attempts, doubling the wait up to the maximum.
const (
	relistenFirstWait = 100 * time.Millisecond
	relistenMaxWait   = 10 * time.Second
)

// closeTimeout bounds saying goodbye to the server on a listening
// connection that is being closed.
const closeTimeout = 5 * time.Second

// AliasNotices implements leadscore.RegistryStore. Each subscription
// listens on a connection of its own, outside the pool but configured like
// the pool's connections (server, user, search_path), so that a receiver
// never holds a connection that requests need. It is listening when
// AliasNotices returns, so every move committed after that is delivered.
// The notices of every schema of the database travel on one channel; each
// subscription keeps those of its store's schema.
//
// If the connection fails, the subscription reconnects with backoff and,
// once listening again, delivers a resync notice: moves committed while it
// was away were missed. The subscription ends, closing the channel and its
// connection, when ctx ends or the store is closed.
func (db *DB) AliasNotices(ctx context.Context) (<-chan leadscore.AliasNotice, error) {
	db.listenMu.Lock()
	closed := db.listenClosed
	db.listenMu.Unlock()
	if closed {
		return nil, leadscore.Errorf(leadscore.EUNAVAILABLE, "subscribe to alias notices: the store is closed")
	}
	conn, schema, err := db.listen(ctx)
	if err != nil {
		return nil, err
	}
	db.listenMu.Lock()
	defer db.listenMu.Unlock()
	if db.listenClosed {
		closeConn(conn)
		return nil, leadscore.Errorf(leadscore.EUNAVAILABLE, "subscribe to alias notices: the store is closed")
	}
	ctx, cancel := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(db.closing, cancel)
	sub := storeutil.Subscribe(ctx, storeutil.NoticeBuffer)
	db.listeners.Add(1)
	go func() {
		defer db.listeners.Done()
		defer stopOnClose()
		defer cancel()
		db.forward(ctx, conn, schema, sub)
		cancel()
		<-sub.Done()
	}()
	return sub.C(), nil
}

// listen opens a connection configured like the pool's (its connection
// settings and runtime parameters; hooks set on the pool, such as
// AfterConnect, do not run on it), listens on the notice channel and
// returns the schema whose notices it wants.
func (db *DB) listen(ctx context.Context) (*pgx.Conn, string, error) {
	cfg := db.pool.Config().ConnConfig
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, "", errorf(err, "listen for alias notices: connect to %s:%d", cfg.Host, cfg.Port)
	}
	var schema *string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		closeConn(conn)
		return nil, "", errorf(err, "listen for alias notices: read current schema")
	}
	if schema == nil {
		closeConn(conn)
		return nil, "", leadscore.Errorf(leadscore.EPRECONDITION, "listen for alias notices: no schema on the search_path exists; create it or fix search_path in the database URL")
	}
	// LISTEN comes last, so that pg_stat_activity shows it as the
	// connection's query and an operator can tell what the connection is.
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{noticeChannel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, "", errorf(err, "listen for alias notices")
	}
	return conn, *schema, nil
}

// forward publishes the notices conn receives until ctx ends, listening
// again on a new connection whenever conn fails.
func (db *DB) forward(ctx context.Context, conn *pgx.Conn, schema string, sub *storeutil.Subscription) {
	defer func() { closeConn(conn) }()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err == nil {
			if notice, ok := parseNotice(n.Payload, schema); ok {
				sub.Publish(notice)
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		closeConn(conn)
		if conn = db.relisten(ctx); conn == nil {
			return
		}
		sub.Publish(leadscore.AliasNotice{})
	}
}

// relisten connects and listens again, retrying with backoff. It returns
// nil when ctx ends first.
func (db *DB) relisten(ctx context.Context) *pgx.Conn {
	wait := relistenFirstWait
	for {
		conn, _, err := db.listen(ctx)
		if err == nil {
			return conn
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		wait = min(2*wait, relistenMaxWait)
	}
}

// noticePayload is the JSON MoveAlias sends with pg_notify.
type noticePayload struct {
	Schema  string `json:"schema"`
	Model   string `json:"model"`
	Alias   string `json:"alias"`
	Seq     int64  `json:"seq"`
	Version int64  `json:"version"`
}

// parseNotice reads a notification's payload. It reports false for a move
// in another schema. A payload it cannot read becomes a resync notice: some
// move happened, and the receiver must find out which.
func parseNotice(payload, schema string) (leadscore.AliasNotice, bool) {
	var p noticePayload
	if err := json.Unmarshal([]byte(payload), &p); err != nil || p.Model == "" {
		return leadscore.AliasNotice{}, true
	}
	if p.Schema != schema {
		return leadscore.AliasNotice{}, false
	}
	return leadscore.AliasNotice{Model: p.Model, Alias: p.Alias, Seq: p.Seq, Version: p.Version}, true
}

// closeConn closes a listening connection, if there is one.
func closeConn(conn *pgx.Conn) {
	if conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = conn.Close(ctx)
}
