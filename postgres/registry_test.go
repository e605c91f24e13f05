package postgres_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/postgres"
	"github.com/leadscore/leadscore/postgres/pgtest"
	"github.com/leadscore/leadscore/storetest"
)

func TestRegistryConformance(t *testing.T) {
	t.Parallel()
	storetest.RunRegistry(t, func(t *testing.T) storetest.RegistryStore {
		return pgtest.Open(t)
	})
}

// TestRegistryHandlesConformance holds PostgreSQL to what two handles on
// one database (two serving processes) must see of each other's moves.
func TestRegistryHandlesConformance(t *testing.T) {
	t.Parallel()
	storetest.RunRegistryHandles(t, func(t *testing.T) (storetest.RegistryStore, storetest.RegistryStore) {
		url := pgtest.URL(t)
		first := open(t, url)
		migrate(t, first)
		return first, open(t, url)
	})
}

var _ storetest.RegistryStore = (*postgres.DB)(nil)

// at is the time the tests' records are created at.
var at = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// modelWithVersions creates a model with versions 1 to n.
func modelWithVersions(t *testing.T, db *postgres.DB, model string, n int) {
	t.Helper()
	ctx := t.Context()
	if _, err := db.CreateModel(ctx, leadscore.Model{ID: model, CreatedAt: at}); err != nil {
		t.Fatalf("CreateModel(%s): %v", model, err)
	}
	for i := range n {
		artifact := []byte(fmt.Sprintf("%s %d", model, i))
		sum := sha256.Sum256(artifact)
		_, err := db.CreateModelVersion(ctx, leadscore.NewModelVersion{
			Model: model, Family: "logistic", Artifact: artifact, ArtifactSHA256: hex.EncodeToString(sum[:]), CreatedAt: at,
		})
		if err != nil {
			t.Fatalf("CreateModelVersion(%s): %v", model, err)
		}
	}
}

func moveTo(t *testing.T, db *postgres.DB, model, alias string, version int64) {
	t.Helper()
	_, _, err := db.MoveAlias(t.Context(), leadscore.AliasMove{Model: model, Alias: alias, Kind: leadscore.AliasForce, ToVersion: version, At: at}, nil)
	if err != nil {
		t.Fatalf("MoveAlias(%s/%s to %d): %v", model, alias, version, err)
	}
}

func TestAliasNoticesReachAnotherStoreOfTheSchema(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	mover := open(t, url)
	migrate(t, mover)
	listener := open(t, url)
	// A store in another schema of the same database shares the
	// notification channel but not the notices.
	elsewhere := pgtest.Open(t)
	for _, db := range []*postgres.DB{mover, elsewhere} {
		modelWithVersions(t, db, "churn", 2)
	}
	ch, err := listener.AliasNotices(t.Context())
	if err != nil {
		t.Fatalf("AliasNotices(): %v", err)
	}
	moveTo(t, elsewhere, "churn", "champion", 1)
	moveTo(t, mover, "churn", "champion", 2)
	want := leadscore.AliasNotice{Model: "churn", Alias: "champion", Seq: 1, Version: 2}
	if got := storetest.ReceiveNotice(t, ch); got != want {
		t.Errorf("notice = %+v, want %+v from the other store of the schema", got, want)
	}
}

func TestAliasNoticesResyncAfterLostConnection(t *testing.T) {
	t.Parallel()
	var random [6]byte
	_, _ = rand.Read(random[:])
	app := "leadscore_notice_test_" + hex.EncodeToString(random[:])
	db := open(t, pgtest.URL(t)+"&application_name="+app)
	migrate(t, db)
	modelWithVersions(t, db, "churn", 2)
	ctx := t.Context()
	ch, err := db.AliasNotices(ctx)
	if err != nil {
		t.Fatalf("AliasNotices(): %v", err)
	}
	var killed int
	err = db.Pool().QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = $1 AND query LIKE 'LISTEN %'`, app).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate the listening connection: %d terminated, %v; want 1", killed, err)
	}
	if got := storetest.ReceiveNotice(t, ch); !got.Resync() {
		t.Fatalf("first notice after the connection was lost = %+v, want a resync notice", got)
	}
	moveTo(t, db, "churn", "champion", 1)
	want := leadscore.AliasNotice{Model: "churn", Alias: "champion", Seq: 1, Version: 1}
	if got := storetest.ReceiveNotice(t, ch); got != want {
		t.Errorf("notice after reconnecting = %+v, want %+v", got, want)
	}
}

func TestDeleteModelVersionRefusedWhileScoresUseIt(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ctx := t.Context()
	modelWithVersions(t, db, "churn", 1)
	_, err := db.Pool().Exec(ctx, `
INSERT INTO leads (id, created_at, updated_at) VALUES ('lead', now(), now());
INSERT INTO score_history (lead_id, model_version_id, probability, score, grade, level, tier, scored_at, reason)
SELECT 'lead', id, 0.5, 50, 'B', 2, 'warm', now(), 'event' FROM model_versions`)
	if err != nil {
		t.Fatalf("insert scores: %v", err)
	}
	err = db.DeleteModelVersion(ctx, leadscore.VersionRef{Model: "churn", Version: 1})
	var e *leadscore.Error
	if !errors.As(err, &e) || e.Code != leadscore.EPRECONDITION || len(e.Preconditions) != 1 || e.Preconditions[0].Type != "SCORES" {
		t.Errorf("DeleteModelVersion() of a version scores use = %v, want EPRECONDITION with a SCORES violation", err)
	}
}

// firstMigrations returns the shipped migrations up to version n.
func firstMigrations(t *testing.T, n int) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	entries, err := fs.ReadDir(postgres.MigrationsFS, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries[:n] {
		data, err := fs.ReadFile(postgres.MigrationsFS, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		fsys[e.Name()] = &fstest.MapFile{Data: data}
	}
	return fsys
}

func TestRegistryMigrationKeepsExistingRows(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	before := open(t, url, postgres.WithMigrations(firstMigrations(t, 2)))
	migrate(t, before)
	_, err := before.Pool().Exec(t.Context(), fmt.Sprintf(storetest.RegistryBefore0003,
		"'2025-03-14T15:09:26Z'", `'\x00'`, strings.Repeat("0", 64), "'2025-03-14T16:09:26Z'"))
	if err != nil {
		t.Fatalf("insert data before migration 0003: %v", err)
	}
	// Later migrations are applied by the tests of their own changes.
	db := open(t, url, postgres.WithMigrations(firstMigrations(t, 3)))
	if applied := migrate(t, db); len(applied) != 1 || applied[0].Name != "registry" {
		t.Fatalf("Migrate() applied %v, want 0003_registry", applied)
	}
	storetest.CheckRegistryAfter0003(t, db)
}

func TestAPIKeysConformance(t *testing.T) {
	t.Parallel()
	storetest.RunAPIKeys(t, func(t *testing.T) leadscore.APIKeyStore {
		return pgtest.Open(t)
	})
}
