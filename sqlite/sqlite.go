package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	// The driver registers itself as "sqlite".
	_ "modernc.org/sqlite"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
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
		panic(fmt.Sprintf("sqlite: embedded migrations: %v", err))
	}
	return sub
}()

// DefaultBusyTimeout is how long a write waits for another connection's
// write transaction to finish before failing with EUNAVAILABLE.
const DefaultBusyTimeout = 5 * time.Second

// DB is a leadscore store in a SQLite database file. It implements
// leadscore.Store.
type DB struct {
	db         *sql.DB
	path       string
	migrations fs.FS
	// notices tells this DB's AliasNotices subscriptions at once of the
	// moves it commits; moves of other processes they find by polling.
	notices *storeutil.Broker
	// watchDSN opens a subscription's own read-only connection.
	watchDSN string

	// watchers counts the subscriptions' goroutines, which Close waits
	// for; watchClosed, under watchMu, refuses new ones once Close began.
	// watching counts the subscriptions holding a connection, for tests.
	watchMu     sync.Mutex
	watchClosed bool
	watchers    sync.WaitGroup
	watching    atomic.Int64
}

var _ leadscore.Store = (*DB)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	busyTimeout  time.Duration
	maxOpenConns int
	migrations   fs.FS
}

// WithBusyTimeout sets how long a statement waits for a lock held by
// another connection or process before failing. The default is
// DefaultBusyTimeout.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) { o.busyTimeout = d }
}

// WithMaxOpenConns bounds the connection pool. In WAL mode readers run in
// parallel with the one writer, so a few connections help; each holds its
// own page cache. The default is the larger of 4 and GOMAXPROCS.
func WithMaxOpenConns(n int) Option {
	return func(o *options) { o.maxOpenConns = n }
}

// withMigrations replaces the embedded migrations, so tests can check what
// happens with a migration that fails or a shipped file that was edited.
// It is unexported because a production binary must run the migrations it
// was built with.
func withMigrations(fsys fs.FS) Option {
	return func(o *options) { o.migrations = fsys }
}

// Open opens the SQLite database file at path, creating the file and its
// parent directories if they do not exist, and checks that it is usable. It
// does not migrate; call Migrate.
//
// Every pooled connection is configured the same way, through the driver's
// DSN parameters rather than one-off PRAGMA statements, which would reach
// only the connection that ran them:
//   - journal_mode=WAL, so readers do not block the writer or each other;
//   - busy_timeout, so a writer waits for another instead of failing at once;
//   - foreign_keys=ON, which SQLite otherwise leaves off, silently ignoring
//     every REFERENCES clause;
//   - synchronous=NORMAL, safe with WAL (a power cut may lose the last
//     transactions, never corrupt the file) and much faster than FULL;
//   - BEGIN IMMEDIATE for read-write transactions, so a transaction takes
//     the write lock up front and waits under busy_timeout, instead of
//     failing with SQLITE_BUSY when it first writes after reading;
//   - time.Time arguments stored as integer microseconds, the schema's
//     representation of time.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	o := options{
		busyTimeout:  DefaultBusyTimeout,
		maxOpenConns: max(4, runtime.GOMAXPROCS(0)),
		migrations:   migrationsFS,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		// An in-memory database would be a different, empty database on
		// every pooled connection, and WAL needs a file.
		return nil, leadscore.InvalidField("sqlite path", path, "must be the path of a database file")
	}
	if o.busyTimeout < 0 || o.maxOpenConns < 1 {
		return nil, leadscore.Errorf(leadscore.EINVALID, "open sqlite: busy timeout %v and max open connections %d must not be negative and at least 1", o.busyTimeout, o.maxOpenConns)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, leadscore.Errorf(leadscore.EUNAVAILABLE, "open sqlite %s: create directory: %w", abs, err)
	}
	db, err := sql.Open("sqlite", dsn(abs, o))
	if err != nil {
		return nil, errorf(err, "open sqlite %s", abs)
	}
	db.SetMaxOpenConns(o.maxOpenConns)
	db.SetMaxIdleConns(o.maxOpenConns)

	// Opening is lazy; make the first connection now so that a bad path or
	// a file that is not a database fails here, and confirm WAL took
	// effect (it cannot on some network file systems).
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		_ = db.Close()
		return nil, errorf(err, "open sqlite %s", abs)
	}
	if !strings.EqualFold(mode, "wal") {
		_ = db.Close()
		return nil, leadscore.Errorf(leadscore.EUNAVAILABLE, "open sqlite %s: journal mode is %q, want wal; is the file on a network file system?", abs, mode)
	}
	return &DB{
		db: db, path: abs, migrations: o.migrations, notices: storeutil.NewBroker(),
		watchDSN: dsn(abs, o) + "&_query_only=1",
	}, nil
}

// dsn builds the driver's connection string for the file at abs. The path
// goes into a file: URI so that characters such as '?' and '#' in a
// directory name are escaped rather than taken for the query.
func dsn(abs string, o options) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // A Windows drive letter: file:///C:/...
	}
	q := url.Values{}
	// busy_timeout comes first so that switching to WAL, which needs a
	// lock, already waits for one.
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(o.busyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	q.Set("_time_integer_format", "unix_micro")
	u := url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}
	return u.String()
}

// Backend returns "sqlite".
func (db *DB) Backend() string { return "sqlite" }

// Path returns the absolute path of the database file, for logs and
// backups.
func (db *DB) Path() string { return db.path }

// Ping checks that the database file can be used.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.db.PingContext(ctx); err != nil {
		return errorf(err, "ping sqlite %s", db.path)
	}
	return nil
}

// Close ends every AliasNotices subscription, closing their channels and
// connections, and closes the database's connections. It is safe to call
// more than once.
func (db *DB) Close() error {
	db.watchMu.Lock()
	db.watchClosed = true
	db.watchMu.Unlock()
	db.notices.Close() // Ends the subscriptions' wake-ups, which stops them.
	db.watchers.Wait()
	if err := db.db.Close(); err != nil {
		return errorf(err, "close sqlite %s", db.path)
	}
	return nil
}
