package sqlite_test

import (
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/sqlite"
	"github.com/leadscore/leadscore/storetest"
)

func TestLeadsConformance(t *testing.T) {
	t.Parallel()
	storetest.RunLeads(t, func(t *testing.T) leadscore.LeadStore {
		db := open(t, tempPath(t))
		migrate(t, db)
		return db
	})
}

// TestLiveLeadsMigrationKeepsScores applies migration 0004, then the
// later ones, to a store holding a score, its history and a change
// written before it: they read back, the change as scored when it
// changed, and the lead takes new scores.
func TestLiveLeadsMigrationKeepsScores(t *testing.T) {
	t.Parallel()
	path := tempPath(t)
	before := open(t, path, sqlite.WithMigrations(firstMigrations(t, 3)))
	migrate(t, before)
	insertFixture(t, before)
	if err := before.Close(); err != nil {
		t.Fatal(err)
	}
	db := open(t, path, sqlite.WithMigrations(firstMigrations(t, 4)))
	if applied := migrate(t, db); len(applied) != 1 || applied[0].Name != "live_leads" {
		t.Fatalf("Migrate() applied %v, want 0004_live_leads", applied)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// The store's code is that of the latest schema, so the check runs
	// after the later migrations too: they must keep what 0004 left.
	db = open(t, path)
	migrate(t, db)
	storetest.CheckLiveLeadsAfter0004(t, db, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
}

// TestDueLeasesMigrationLeavesLeadsUnleased applies migration 0005 to a
// store holding due leads: they are not leased, so a claim takes them.
func TestDueLeasesMigrationLeavesLeadsUnleased(t *testing.T) {
	t.Parallel()
	path := tempPath(t)
	before := open(t, path, sqlite.WithMigrations(firstMigrations(t, 4)))
	migrate(t, before)
	storetest.LeadsBefore0005(t, before)
	if err := before.Close(); err != nil {
		t.Fatal(err)
	}
	db := open(t, path, sqlite.WithMigrations(firstMigrations(t, 5)))
	if applied := migrate(t, db); len(applied) != 1 || applied[0].Name != "due_leases" {
		t.Fatalf("Migrate() applied %v, want 0005_due_leases", applied)
	}
	storetest.CheckDueLeasesAfter0005(t, db)
}
