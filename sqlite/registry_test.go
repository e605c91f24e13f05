package sqlite_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/sqlite"
	"github.com/leadscore/leadscore/storetest"
)

func TestRegistryConformance(t *testing.T) {
	t.Parallel()
	storetest.RunRegistry(t, func(t *testing.T) storetest.RegistryStore {
		db := open(t, tempPath(t))
		migrate(t, db)
		return db
	})
}

// TestRegistryHandlesConformance opens two handles on one file, as two
// processes would.
func TestRegistryHandlesConformance(t *testing.T) {
	t.Parallel()
	storetest.RunRegistryHandles(t, func(t *testing.T) (storetest.RegistryStore, storetest.RegistryStore) {
		path := tempPath(t)
		first := open(t, path)
		migrate(t, first)
		return first, open(t, path)
	})
}

var _ storetest.RegistryStore = (*sqlite.DB)(nil)

// modelWithVersions creates a model with versions 1 to n.
func modelWithVersions(t *testing.T, db *sqlite.DB, model string, n int) {
	t.Helper()
	ctx := t.Context()
	if _, err := db.CreateModel(ctx, leadscore.Model{ID: model, CreatedAt: storetest.MigratedAt}); err != nil {
		t.Fatalf("CreateModel(%s): %v", model, err)
	}
	for i := range n {
		artifact := []byte(fmt.Sprintf("%s %d", model, i))
		sum := sha256.Sum256(artifact)
		_, err := db.CreateModelVersion(ctx, leadscore.NewModelVersion{
			Model: model, Family: "logistic", Artifact: artifact, ArtifactSHA256: hex.EncodeToString(sum[:]),
		})
		if err != nil {
			t.Fatalf("CreateModelVersion(%s): %v", model, err)
		}
	}
}

// TestConcurrentMovesFromSeparateHandles moves one alias from two handles
// on one file, as two processes would: BEGIN IMMEDIATE and the busy
// timeout make the writers take turns, so none fails with SQLITE_BUSY.
func TestConcurrentMovesFromSeparateHandles(t *testing.T) {
	t.Parallel()
	path := tempPath(t)
	first := open(t, path)
	migrate(t, first)
	second := open(t, path)
	const movers = 20
	modelWithVersions(t, first, "churn", movers)
	handles := []*sqlite.DB{first, second}
	errs := make([]error, movers)
	var wg sync.WaitGroup
	for i := range movers {
		wg.Go(func() {
			_, _, errs[i] = handles[i%2].MoveAlias(t.Context(), leadscore.AliasMove{
				Model: "churn", Alias: "champion", Kind: leadscore.AliasForce, ToVersion: int64(i + 1),
			}, nil)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("mover %d: %v", i, err)
		}
	}
	h, err := second.ListAliasHistory(t.Context(), leadscore.AliasRef{Model: "churn", Alias: "champion"}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != movers || h[0].Seq != movers {
		t.Errorf("history has %d entries, the newest seq %d; want %d", len(h), h[0].Seq, movers)
	}
}

func TestDeleteModelVersionRefusedWhileScoresUseIt(t *testing.T) {
	t.Parallel()
	db := open(t, tempPath(t))
	migrate(t, db)
	ctx := t.Context()
	modelWithVersions(t, db, "churn", 1)
	_, err := db.SQL().ExecContext(ctx, `
INSERT INTO leads (id, created_at, updated_at) VALUES ('lead', 1, 1);
INSERT INTO lead_scores (lead_id, model_version_id, probability, score, grade, level, tier, scored_at)
SELECT 'lead', id, 0.5, 50, 'B', 2, 'warm', 1 FROM model_versions`)
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
	entries, err := fs.ReadDir(sqlite.MigrationsFS, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries[:n] {
		data, err := fs.ReadFile(sqlite.MigrationsFS, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		fsys[e.Name()] = &fstest.MapFile{Data: data}
	}
	return fsys
}

// TestRegistryMigrationKeepsExistingRows checks the table rebuilds of
// migration 0003: every row is kept, evaluations keep their jobs (dropping
// the old jobs table must not set evaluations.job_id to NULL), foreign
// keys still hold, and alias history ids go on after the old ones.
func TestRegistryMigrationKeepsExistingRows(t *testing.T) {
	t.Parallel()
	path := tempPath(t)
	before := open(t, path, sqlite.WithMigrations(firstMigrations(t, 2)))
	migrate(t, before)
	ctx := t.Context()
	ts := storetest.MigratedAt.UnixMicro()
	_, err := before.SQL().ExecContext(ctx, fmt.Sprintf(storetest.RegistryBefore0003,
		fmt.Sprint(ts), "X'00'", strings.Repeat("0", 64), fmt.Sprint(storetest.MigratedAt.Add(3600e9).UnixMicro())))
	if err != nil {
		t.Fatalf("insert data before migration 0003: %v", err)
	}
	// An alias history row since deleted leaves the AUTOINCREMENT counter
	// above the highest id.
	if _, err := before.SQL().ExecContext(ctx, `UPDATE sqlite_sequence SET seq = 41 WHERE name = 'alias_history'`); err != nil {
		t.Fatal(err)
	}
	if err := before.Close(); err != nil {
		t.Fatal(err)
	}

	// Later migrations are applied by the tests of their own changes.
	db := open(t, path, sqlite.WithMigrations(firstMigrations(t, 3)))
	if applied := migrate(t, db); len(applied) != 1 || applied[0].Name != "registry" {
		t.Fatalf("Migrate() applied %v, want 0003_registry", applied)
	}
	storetest.CheckRegistryAfter0003(t, db)

	rows, err := db.SQL().QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Error("PRAGMA foreign_key_check reports violations after migration 0003")
	}
	var id int64
	if err := db.SQL().QueryRowContext(ctx, `SELECT id FROM alias_history WHERE seq = 3`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if id != 42 {
		t.Errorf("first alias history id after the migration = %d, want 42, after the old table's counter", id)
	}
	var tables int
	err = db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name LIKE '%\_0002' ESCAPE '\'`).Scan(&tables)
	if err != nil || tables != 0 {
		t.Errorf("%d old tables are left after migration 0003 (%v), want none", tables, err)
	}
}

func TestAPIKeysConformance(t *testing.T) {
	t.Parallel()
	storetest.RunAPIKeys(t, func(t *testing.T) leadscore.APIKeyStore {
		db := open(t, tempPath(t))
		migrate(t, db)
		return db
	})
}
