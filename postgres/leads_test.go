package postgres_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/postgres"
	"github.com/leadscore/leadscore/postgres/pgtest"
	"github.com/leadscore/leadscore/storetest"
)

func TestLeadsConformance(t *testing.T) {
	t.Parallel()
	storetest.RunLeads(t, func(t *testing.T) leadscore.LeadStore {
		return pgtest.Open(t)
	})
	storetest.RunConcurrentWrites(t, func(t *testing.T) leadscore.LeadStore {
		return pgtest.Open(t)
	})
}

// TestLiveLeadsMigrationKeepsScores applies migration 0004, then the
// later ones, to a store holding a score, its history and a change
// written before it: they read back, the change as scored when it
// changed, and the lead takes new scores.
func TestLiveLeadsMigrationKeepsScores(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	before := open(t, url, postgres.WithMigrations(firstMigrations(t, 3)))
	migrate(t, before)
	ctx := t.Context()
	if _, err := before.Pool().Exec(ctx, fmt.Sprintf(fixture, "'2025-01-01T00:00:00Z'", `'\x00'`, strings.Repeat("0", 64))); err != nil {
		t.Fatalf("insert fixture: %v", err)
	}
	db := open(t, url, postgres.WithMigrations(firstMigrations(t, 4)))
	if applied := migrate(t, db); len(applied) != 1 || applied[0].Name != "live_leads" {
		t.Fatalf("Migrate() applied %v, want 0004_live_leads", applied)
	}
	// The store's code is that of the latest schema, so the check runs
	// after the later migrations too: they must keep what 0004 left.
	db = open(t, url)
	migrate(t, db)
	storetest.CheckLiveLeadsAfter0004(t, db, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
}

// TestDueLeasesMigrationLeavesLeadsUnleased applies migration 0005 to a
// store holding due leads: they are not leased, so a claim takes them.
func TestDueLeasesMigrationLeavesLeadsUnleased(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	before := open(t, url, postgres.WithMigrations(firstMigrations(t, 4)))
	migrate(t, before)
	storetest.LeadsBefore0005(t, before)
	db := open(t, url, postgres.WithMigrations(firstMigrations(t, 5)))
	if applied := migrate(t, db); len(applied) != 1 || applied[0].Name != "due_leases" {
		t.Fatalf("Migrate() applied %v, want 0005_due_leases", applied)
	}
	storetest.CheckDueLeasesAfter0005(t, db)
}
