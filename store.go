package leadscore

import (
	"context"
	"time"
)

// Migration is one numbered schema change, as the binary ships it and as a
// database records it. Operators see these in `leadscore migrate` output, so
// they carry enough to tell which file was applied and when.
type Migration struct {
	// Version orders migrations; they are applied in ascending order and
	// numbered from 1 without gaps, so two branches cannot both add the same
	// number unnoticed.
	Version int
	// Name is the file name's descriptive part ("init" for 0001_init.sql), for
	// people reading a status listing.
	Name string
	// Checksum is the hex SHA-256 of the migration's SQL. The database
	// records it when the migration is applied so that an edited, already
	// shipped migration is refused instead of silently diverging.
	Checksum string
	// AppliedAt is when the database applied the migration; it is the zero
	// time while the migration is pending.
	AppliedAt time.Time
}

// Applied reports whether the database has applied m. It exists so callers
// do not have to know that pending is encoded as a zero AppliedAt.
func (m Migration) Applied() bool { return !m.AppliedAt.IsZero() }

// Store is a storage backend. The service runs on PostgreSQL in production
// and on a SQLite file for a single-machine install or a laptop; both
// implement this interface and pass the same conformance suite
// (package storetest), so the rest of the service never needs to know which
// one it has.
type Store interface {
	// Backend names the implementation, "postgres" or "sqlite", for logs,
	// health reports and the rare caller that must know.
	Backend() string
	// Migrate brings the schema up to date, applying each pending migration in
	// its own transaction, and returns the migrations it applied (none when
	// the schema was current). Concurrent callers, even in other processes,
	// are serialised, so every migration is applied exactly once. It refuses
	// to run when the database holds a migration this binary does not know or
	// one whose checksum differs from the shipped file.
	Migrate(ctx context.Context) ([]Migration, error)
	// Migrations lists every migration the binary knows, in version order,
	// with AppliedAt set on those the database has applied. It applies
	// nothing, so it backs a read-only `migrate status`.
	Migrations(ctx context.Context) ([]Migration, error)
	// Ping checks that the store is reachable, for readiness probes.
	Ping(ctx context.Context) error
	// Close releases the store's connections. It is safe to call more than
	// once; operations after Close fail.
	Close() error
}

// Clock is implemented by a store whose database has a clock of its own
// that processes on other machines share (PostgreSQL): comparing times
// two processes wrote, such as a job's last heartbeat with now, is only
// sound on one clock. A store on one machine's file (SQLite) shares its
// processes' clock and need not implement it.
type Clock interface {
	// Now returns the database's current time.
	Now(ctx context.Context) (time.Time, error)
}
