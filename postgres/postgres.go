package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/leadscore/leadscore"
)

// embedded holds the shipped migrations. They are compiled into the binary
// so that a deployed binary and its schema can never come from different
// builds.
//
//go:embed migrations/*.sql
var embedded embed.FS

// migrationsFS is embedded with the directory prefix stripped, the shape
// internal/migrate.Load expects.
var migrationsFS = func() fs.FS {
	sub, err := fs.Sub(embedded, "migrations")
	if err != nil {
		panic(fmt.Sprintf("postgres: embedded migrations: %v", err))
	}
	return sub
}()

// DB is a leadscore store in a PostgreSQL database. It implements
// leadscore.Store; its schema lives in the first schema on the connection's
// search_path, so one database can hold several independent stores.
type DB struct {
	pool       *pgxpool.Pool
	migrations fs.FS

	// closing ends the alias notice listeners when the store is closed;
	// listeners counts them, so Close can wait for their connections to
	// be closed.
	closing      context.Context
	stopNotices  context.CancelFunc
	listenMu     sync.Mutex
	listenClosed bool
	listeners    sync.WaitGroup
	closeOnce    sync.Once
}

var _ leadscore.Store = (*DB)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	configurePool []func(*pgxpool.Config)
	migrations    fs.FS
}

// WithPoolConfig lets the caller adjust the pool configuration parsed from
// the URL before the pool is created: install a tracer, bound the pool size
// or connection lifetime. Several are applied in order.
func WithPoolConfig(fn func(*pgxpool.Config)) Option {
	return func(o *options) { o.configurePool = append(o.configurePool, fn) }
}

// withMigrations replaces the embedded migrations, so tests can check what
// happens with a migration that fails or a shipped file that was edited.
// It is unexported because a production binary must run the migrations it
// was built with.
func withMigrations(fsys fs.FS) Option {
	return func(o *options) { o.migrations = fsys }
}

// Open connects to the PostgreSQL database at url, such as
// "postgres://leadscore@db:5432/leadscore?sslmode=verify-full", and checks
// that it answers, so a bad URL or an unreachable server fails at startup
// rather than at the first request. It does not migrate; call Migrate.
//
// Any parameter the pool or PostgreSQL understands may be given in the URL,
// such as pool_max_conns=8 or search_path=tenant_a.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	o := options{migrations: migrationsFS}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included, and it is
		// not wrapped for the same reason.
		return nil, leadscore.Errorf(leadscore.EINVALID, "open postgres: the database URL is malformed")
	}
	for _, fn := range o.configurePool {
		fn(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, errorf(err, "open postgres")
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, errorf(err, "open postgres: connect to %s:%d database %s as %s",
			cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, cfg.ConnConfig.User)
	}
	closing, stopNotices := context.WithCancel(context.Background())
	return &DB{pool: pool, migrations: o.migrations, closing: closing, stopNotices: stopNotices}, nil
}

// Backend returns "postgres".
func (db *DB) Backend() string { return "postgres" }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return errorf(err, "ping postgres")
	}
	return nil
}

// Close ends every AliasNotices subscription, closing their channels and
// connections, then closes the pool, waiting for connections in use to be
// returned. It is safe to call more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.listenMu.Lock()
		db.listenClosed = true
		db.listenMu.Unlock()
		db.stopNotices()
		db.listeners.Wait()
		db.pool.Close()
	})
	return nil
}

var _ leadscore.Clock = (*DB)(nil)

// Now implements leadscore.Clock: the server's clock_timestamp(), the
// real time at the call (now() would be the transaction's start).
func (db *DB) Now(ctx context.Context) (time.Time, error) {
	var t time.Time
	if err := db.pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&t); err != nil {
		return time.Time{}, errorf(err, "read the database's clock")
	}
	return t.UTC(), nil
}
