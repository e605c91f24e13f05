package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// MigratedAt is the time of the records of RegistryBefore0003.
var MigratedAt = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// RegistryBefore0003 is registry data in the schema before migration 0003
// (0003_registry.sql), for checking that the migration keeps it. It is a
// format: %[1]s is a backend's literal for the time MigratedAt, %[4]s for
// an hour later, %[2]s a byte string literal and %[3]s a checksum.
const RegistryBefore0003 = `
INSERT INTO models (id, name, created_at, updated_at) VALUES (1, 'churn', %[1]s, %[1]s);
INSERT INTO model_versions (id, model_id, version, family, artifact, artifact_sha256, feature_spec, created_by, created_at)
VALUES (10, 1, 1, 'logistic', %[2]s, '%[3]s', '[]', 'test', %[1]s),
       (11, 1, 2, 'logistic', %[2]s, '%[3]s', '[]', 'test', %[1]s);
INSERT INTO jobs (id, kind, state, spec, error, created_by, created_at, updated_at)
VALUES ('job-1', 'evaluation', 'failed', '{"b": 1, "a": 2}', 'out of memory', 'ann', %[1]s, %[1]s);
INSERT INTO gate_policies (id, name, version, document, created_by, created_at) VALUES (5, 'default', 1, '{"min": 1}', 'ann', %[1]s);
INSERT INTO evaluations (id, job_id, model_version_id, champion_version_id, baseline, gate_policy_id, passed,
                         data_window_start, data_window_end, report, created_at)
VALUES ('ev-1', 'job-1', 11, 10, '{"name": "builtin:points"}', 5, true, %[1]s, %[4]s, '{}', %[1]s);
INSERT INTO aliases (model_id, name, model_version_id, revision, updated_at) VALUES (1, 'champion', 11, 2, %[1]s);
INSERT INTO alias_history (model_id, alias, seq, from_version_id, to_version_id, actor, evaluation_id, forced, created_at)
VALUES (1, 'champion', 1, NULL, 10, 'ann', NULL, false, %[1]s),
       (1, 'champion', 2, 10, 11, 'bob', 'ev-1', true, %[1]s);
`

// CheckRegistryAfter0003 checks, through the store, that the data of
// RegistryBefore0003 reads as it should after migration 0003, and that the
// registry goes on from it.
func CheckRegistryAfter0003(t *testing.T, s leadscore.RegistryStore) {
	t.Helper()
	ctx := t.Context()
	m, err := s.GetModel(ctx, "churn")
	if err != nil || m.LatestVersion != 2 {
		t.Errorf("GetModel() = %+v, %v; want latest version 2", m, err)
	}
	a, err := s.GetAlias(ctx, leadscore.AliasRef{Model: "churn", Alias: "champion"})
	if want := (leadscore.Alias{Model: "churn", Name: "champion", Version: 2, Seq: 2, Revision: 2, UpdatedAt: MigratedAt}); err != nil || a != want {
		t.Errorf("GetAlias() = %+v, %v; want %+v", a, err, want)
	}
	h, err := s.ListAliasHistory(ctx, leadscore.AliasRef{Model: "churn", Alias: "champion"}, 0, 0)
	want := []leadscore.AliasChange{
		{Model: "churn", Alias: "champion", Seq: 2, Kind: leadscore.AliasForce, FromVersion: 1, ToVersion: 2, Actor: "bob", Evaluation: "ev-1", CreatedAt: MigratedAt},
		{Model: "churn", Alias: "champion", Seq: 1, Kind: leadscore.AliasPromote, ToVersion: 1, Actor: "ann", CreatedAt: MigratedAt},
	}
	if err != nil || !reflect.DeepEqual(h, want) {
		t.Errorf("ListAliasHistory() = %+v, %v\nwant %+v", h, err, want)
	}
	e, err := s.GetEvaluation(ctx, "ev-1")
	if err != nil || e.JobID != "job-1" || e.Baseline != "builtin:points" || e.ChampionVersion != 1 ||
		e.GatePolicy != "default" || e.GatePolicyRevision != 1 || e.Passed == nil || !*e.Passed || !e.DataEnd.Equal(MigratedAt.Add(time.Hour)) {
		t.Errorf("GetEvaluation() = %+v, %v; want job-1, baseline builtin:points, champion 1, passing policy default revision 1, window to %v", e, err, MigratedAt.Add(time.Hour))
	}
	j, err := s.GetJob(ctx, "job-1")
	if err != nil || j.ErrorMessage != "out of memory" || j.ErrorCode != "" || j.Model != "" || j.State != leadscore.JobFailed {
		t.Errorf("GetJob() = %+v, %v; want the failed job with its error message", j, err)
	}
	p, err := s.GetGatePolicy(ctx, "default", 0)
	if err != nil || !strings.Contains(string(p.Document), `"min"`) {
		t.Errorf("GetGatePolicy() = %+v, %v; want revision 1's document", p, err)
	}

	// The registry goes on from the migrated data.
	artifact := []byte("v3")
	sum := sha256.Sum256(artifact)
	v, err := s.CreateModelVersion(ctx, leadscore.NewModelVersion{Model: "churn", Family: "logistic", Artifact: artifact, ArtifactSHA256: hex.EncodeToString(sum[:])})
	if err != nil || v.Version != 3 {
		t.Fatalf("CreateModelVersion() after the migration = %+v, %v; want version 3", v, err)
	}
	a, c, err := s.MoveAlias(ctx, leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasRollback}, nil)
	if err != nil || a.Version != 1 || a.Seq != 3 || a.Revision != 3 || c.FromVersion != 2 {
		t.Errorf("rollback after the migration = %+v, %+v, %v; want version 1 at seq and revision 3", a, c, err)
	}
}
