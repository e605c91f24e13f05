package sqlite

import "database/sql"

// Test-only access to unexported parts, for the external test package.
var (
	WithMigrations = withMigrations
	MigrationsFS   = migrationsFS
	Errorf         = errorf
)

// SQL returns the store's connection pool, so tests can provoke real
// database errors and inspect connection settings.
func (db *DB) SQL() *sql.DB { return db.db }

// Watching returns how many AliasNotices subscriptions hold a connection.
func (db *DB) Watching() int64 { return db.watching.Load() }
