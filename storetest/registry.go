package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// RegistryStore is a store with a model registry, as RunRegistry tests
// it.
type RegistryStore interface {
	leadscore.Store
	leadscore.RegistryStore
}

// RunRegistry runs the conformance suite of leadscore.RegistryStore:
// models, versions, aliases with their history, gated and concurrent
// moves, alias notices, gate policies, evaluations and jobs. open must
// return a new, empty, migrated store that shares nothing with any other
// store open returned, and arrange for its cleanup.
func RunRegistry(t *testing.T, open func(t *testing.T) RegistryStore) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s RegistryStore)
	}{
		{"created model is returned as stored", testModelRoundTrip},
		{"model with a taken id is a conflict", testModelConflict},
		{"unknown model is not found", testModelNotFound},
		{"models list in byte order of id from after", testListModels},
		{"description update with stale revision is aborted", testUpdateModelDescription},

		{"versions are numbered from 1 per model", testVersionNumbering},
		{"version is returned as registered", testVersionRoundTrip},
		{"version of unknown model is not found", testVersionOfUnknownModel},
		{"invalid version is refused before anything is stored", testVersionInvalid},
		{"registration request id replay returns the first version", testVersionRequestID},
		{"pruned request ids are forgotten, later ones kept", testPruneRequestIDs},
		{"numbers of deleted versions are not reused", testVersionNumbersNotReused},
		{"versions list newest first and hide archived ones", testListVersions},
		{"version update changes description tags and state", testUpdateVersion},
		{"archiving the target of an alias is refused", testArchiveAliasTarget},
		{"deleting a version something refers to is refused", testDeleteVersionRefused},
		{"deleted version is gone", testDeleteVersion},

		{"promotion creates then moves an alias", testPromote},
		{"move to an unknown version or model is not found", testMoveNotFound},
		{"move to an archived version is refused", testMoveArchived},
		{"move to the current target is refused", testMoveSameTarget},
		{"invalid move is refused", testMoveInvalid},
		{"stale expected revision is aborted", testMoveStaleRevision},
		{"gate sees the move in the transaction", testGateState},
		{"gate refusal leaves alias and history unchanged", testGateRefusal},
		{"named evaluation is the only one the gate sees", testGateNamedEvaluation},
		{"move request id replay returns the first result", testMoveRequestID},
		{"rollback restores a target from the history", testRollback},
		{"rollback with nothing to restore is refused", testRollbackRefused},
		{"rollback refuses an archived version until it is unarchived", testRollbackArchived},
		{"delete removes the alias and keeps its history", testDeleteAlias},
		{"history numbers stay gap-free across delete and re-creation", testHistoryGapFree},
		{"history lists newest first in pages", testListHistory},
		{"concurrent gated promotions let exactly one win", testConcurrentGatedPromotions},
		{"concurrent forced moves are serialised without gaps", testConcurrentForcedMoves},
		{"notices report committed moves in order", testNotices},
		{"slow receiver gets a resync instead of blocking movers", testNoticesSlowReceiver},
		{"notice channel closes when its context ends or the store closes", testNoticesCanceled},

		{"gate policy revisions count per name", testGatePolicies},
		{"concurrent policy creations get distinct revisions", testConcurrentGatePolicies},
		{"invalid gate policy is refused", testGatePolicyInvalid},

		{"evaluation is returned as stored", testEvaluationRoundTrip},
		{"evaluation without times or policy is stored", testEvaluationMinimal},
		{"evaluation references must exist", testEvaluationReferences},
		{"invalid evaluation is refused", testEvaluationInvalid},
		{"evaluations list newest first in keyset pages", testListEvaluations},

		{"job is returned as created", testJobRoundTrip},
		{"job request id replay returns the first job", testJobRequestID},
		{"concurrent submissions of one request create one job", testConcurrentJobSubmissions},
		{"job update writes the changes of fn", testUpdateJob},
		{"job update error leaves the job unchanged", testUpdateJobError},
		{"job update cannot change its identity", testUpdateJobIdentity},
		{"job in a final state stays in it", testUpdateJobFinal},
		{"jobs list newest first filtered in keyset pages", testListJobs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open(t))
		})
	}
}

// base is the time the suite's records are created around. Its
// nanoseconds check that stores keep microseconds.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// minute returns base plus n minutes.
func minute(n int) time.Time { return base.Add(time.Duration(n) * time.Minute) }

// wantCode fails the test unless err has the given application code.
func wantCode(t *testing.T, what string, err error, want leadscore.Code) {
	t.Helper()
	if got := leadscore.ErrorCode(err); got != want {
		t.Fatalf("%s: error code %q, want %q (error: %v)", what, got, want, err)
	}
}

// wantPrecondition fails the test unless err is an EPRECONDITION error
// with a violation of the given type, and returns the violation.
func wantPrecondition(t *testing.T, what string, err error, typ string) leadscore.PreconditionViolation {
	t.Helper()
	wantCode(t, what, err, leadscore.EPRECONDITION)
	var e *leadscore.Error
	errors.As(err, &e)
	for _, v := range e.Preconditions {
		if v.Type == typ {
			return v
		}
	}
	t.Fatalf("%s: violations %+v, want one of type %s (error: %v)", what, e.Preconditions, typ, err)
	return leadscore.PreconditionViolation{}
}

// wantMention fails the test unless err's message contains every want.
func wantMention(t *testing.T, what string, err error, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(leadscore.ErrorMessage(err), want) {
			t.Errorf("%s: error %q does not mention %q", what, leadscore.ErrorMessage(err), want)
		}
	}
}

func createModel(t *testing.T, s RegistryStore, id string) leadscore.Model {
	t.Helper()
	m, err := s.CreateModel(t.Context(), leadscore.Model{ID: id, Description: "model " + id, CreatedAt: base})
	if err != nil {
		t.Fatalf("CreateModel(%q): %v", id, err)
	}
	return m
}

// newVersion returns a version to register whose artifact is unique to
// model and n.
func newVersion(model string, n int) leadscore.NewModelVersion {
	artifact := []byte(fmt.Sprintf("artifact of %s number %d\x00\xff", model, n))
	sum := sha256.Sum256(artifact)
	return leadscore.NewModelVersion{
		Model:          model,
		Family:         "logistic",
		Artifact:       artifact,
		ArtifactSHA256: hex.EncodeToString(sum[:]),
		Features: []leadscore.FeatureInfo{
			{Name: "attributes.industry", Kind: "categorical", Group: "fit"},
			{Name: "events.page_view.count_30d", Kind: "numeric", Group: "engagement"},
		},
		Lineage: leadscore.Lineage{
			TrainingJob:       "train-" + model,
			DataStart:         minute(-60 * 24 * 30),
			DataEnd:           minute(-60 * 24),
			DataSHA256:        strings.Repeat("ab", 32),
			Parameters:        map[string]string{"l2": "0.1", "rounds": "200"},
			TrainerVersion:    "test",
			Seed:              18446744073709551615,
			ValidationMetrics: map[string]float64{"auc": 0.8125, "log_loss": 0.4375},
		},
		Description: fmt.Sprintf("version %d", n),
		Tags:        map[string]string{"team": "growth"},
		CreatedBy:   "tester",
		CreatedAt:   minute(n),
	}
}

func createVersion(t *testing.T, s RegistryStore, model string, n int) leadscore.ModelVersion {
	t.Helper()
	v, err := s.CreateModelVersion(t.Context(), newVersion(model, n))
	if err != nil {
		t.Fatalf("CreateModelVersion(%s, %d): %v", model, n, err)
	}
	return v
}

// modelWithVersions creates a model with versions 1 to n.
func modelWithVersions(t *testing.T, s RegistryStore, model string, n int) {
	t.Helper()
	createModel(t, s, model)
	for i := 1; i <= n; i++ {
		createVersion(t, s, model, i)
	}
}

// storedVersion is what a store returns for nv registered as number n.
func storedVersion(nv leadscore.NewModelVersion, n int64) leadscore.ModelVersion {
	l := nv.Lineage
	l.DataStart, l.DataEnd = stored(l.DataStart), stored(l.DataEnd)
	return leadscore.ModelVersion{
		Model: nv.Model, Version: n, Family: nv.Family, ArtifactSHA256: nv.ArtifactSHA256,
		ArtifactSize: int64(len(nv.Artifact)), Features: nv.Features, Lineage: l,
		Description: nv.Description, Tags: nv.Tags, State: leadscore.VersionActive,
		CreatedBy: nv.CreatedBy, CreatedAt: stored(nv.CreatedAt),
	}
}

func checkVersion(t *testing.T, what string, got, want leadscore.ModelVersion) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %+v\nwant %+v", what, got, want)
	}
}

func testModelRoundTrip(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	created, err := s.CreateModel(ctx, leadscore.Model{ID: "churn", Description: "who leaves", CreatedAt: base})
	if err != nil {
		t.Fatalf("CreateModel(): %v", err)
	}
	want := leadscore.Model{ID: "churn", Description: "who leaves", Revision: 1, CreatedAt: stored(base), UpdatedAt: stored(base)}
	if created != want {
		t.Errorf("CreateModel() = %+v, want %+v", created, want)
	}
	got, err := s.GetModel(ctx, "churn")
	if err != nil {
		t.Fatalf("GetModel(): %v", err)
	}
	if got != want {
		t.Errorf("GetModel() = %+v, want %+v", got, want)
	}
}

func testModelConflict(t *testing.T, s RegistryStore) {
	createModel(t, s, "churn")
	_, err := s.CreateModel(t.Context(), leadscore.Model{ID: "churn", CreatedAt: base})
	wantCode(t, "CreateModel() of a taken id", err, leadscore.ECONFLICT)
	wantMention(t, "CreateModel() of a taken id", err, "models/churn")
}

func testModelNotFound(t *testing.T, s RegistryStore) {
	_, err := s.GetModel(t.Context(), "nope")
	wantCode(t, "GetModel() of an unknown model", err, leadscore.ENOTFOUND)
	wantMention(t, "GetModel() of an unknown model", err, "models/nope")
	_, err = s.UpdateModelDescription(t.Context(), "nope", 0, "x", base)
	wantCode(t, "UpdateModelDescription() of an unknown model", err, leadscore.ENOTFOUND)
}

func testListModels(t *testing.T, s RegistryStore) {
	// "b-x" sorts after "b" and before "c" byte by byte; a locale's
	// collation, which skips "-", would sort "b-x" after "bb".
	for _, id := range []string{"c", "bb", "a", "b-x", "b"} {
		createModel(t, s, id)
	}
	ids := func(after string, limit int) string {
		t.Helper()
		models, err := s.ListModels(t.Context(), after, limit)
		if err != nil {
			t.Fatalf("ListModels(%q, %d): %v", after, limit, err)
		}
		var ids []string
		for _, m := range models {
			ids = append(ids, m.ID)
		}
		return strings.Join(ids, " ")
	}
	for _, tt := range []struct {
		after string
		limit int
		want  string
	}{
		{"", 0, "a b b-x bb c"},
		{"", 2, "a b"},
		{"b", 2, "b-x bb"},
		{"bb", 2, "c"},
		{"c", 2, ""},
	} {
		if got := ids(tt.after, tt.limit); got != tt.want {
			t.Errorf("ListModels(%q, %d) = %q, want %q", tt.after, tt.limit, got, tt.want)
		}
	}
	_, err := s.ListModels(t.Context(), "", -1)
	wantCode(t, "ListModels() with a negative limit", err, leadscore.EINVALID)
}

func testUpdateModelDescription(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	createModel(t, s, "churn")
	m, err := s.UpdateModelDescription(ctx, "churn", 1, "second", minute(1))
	if err != nil {
		t.Fatalf("UpdateModelDescription(revision 1): %v", err)
	}
	if m.Description != "second" || m.Revision != 2 || !m.UpdatedAt.Equal(stored(minute(1))) || !m.CreatedAt.Equal(stored(base)) {
		t.Errorf("UpdateModelDescription() = %+v, want description second, revision 2, updated at %v", m, stored(minute(1)))
	}
	_, err = s.UpdateModelDescription(ctx, "churn", 1, "third", minute(2))
	wantCode(t, "UpdateModelDescription() with a stale revision", err, leadscore.EABORTED)
	wantMention(t, "UpdateModelDescription() with a stale revision", err, "revision 2", "not 1")
	m, err = s.UpdateModelDescription(ctx, "churn", 0, "fourth", minute(3))
	if err != nil {
		t.Fatalf("UpdateModelDescription(revision 0): %v", err)
	}
	got, err := s.GetModel(ctx, "churn")
	if err != nil {
		t.Fatal(err)
	}
	if got != m || got.Description != "fourth" || got.Revision != 3 {
		t.Errorf("GetModel() = %+v, want %+v with description fourth and revision 3", got, m)
	}
}

func testVersionNumbering(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	createModel(t, s, "a")
	createModel(t, s, "b")
	for i, model := range []string{"a", "b", "a", "a", "b"} {
		v := createVersion(t, s, model, i)
		want := map[int]int64{0: 1, 1: 1, 2: 2, 3: 3, 4: 2}[i]
		if v.Version != want {
			t.Errorf("registration %d of %s got version %d, want %d", i, model, v.Version, want)
		}
	}
	for model, want := range map[string]int64{"a": 3, "b": 2} {
		m, err := s.GetModel(ctx, model)
		if err != nil {
			t.Fatal(err)
		}
		if m.LatestVersion != want {
			t.Errorf("GetModel(%s).LatestVersion = %d, want %d", model, m.LatestVersion, want)
		}
		if m.Revision != 1 {
			t.Errorf("GetModel(%s).Revision = %d after registrations, want 1: versions are not the model's own fields", model, m.Revision)
		}
	}
}

func testVersionRoundTrip(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	createModel(t, s, "churn")
	nv := newVersion("churn", 1)
	created, err := s.CreateModelVersion(ctx, nv)
	if err != nil {
		t.Fatalf("CreateModelVersion(): %v", err)
	}
	want := storedVersion(nv, 1)
	checkVersion(t, "CreateModelVersion()", created, want)
	got, err := s.GetModelVersion(ctx, leadscore.VersionRef{Model: "churn", Version: 1})
	if err != nil {
		t.Fatalf("GetModelVersion(): %v", err)
	}
	checkVersion(t, "GetModelVersion()", got, want)
	artifact, sum, err := s.ModelVersionArtifact(ctx, got.Ref())
	if err != nil {
		t.Fatalf("ModelVersionArtifact(): %v", err)
	}
	if string(artifact) != string(nv.Artifact) || sum != nv.ArtifactSHA256 {
		t.Errorf("ModelVersionArtifact() = %q, %s, want %q, %s", artifact, sum, nv.Artifact, nv.ArtifactSHA256)
	}

	// A version without features, tags or a training window.
	bare := newVersion("churn", 2)
	bare.Features, bare.Tags, bare.Lineage = nil, nil, leadscore.Lineage{}
	created, err = s.CreateModelVersion(ctx, bare)
	if err != nil {
		t.Fatalf("CreateModelVersion() of a bare version: %v", err)
	}
	checkVersion(t, "CreateModelVersion() of a bare version", created, storedVersion(bare, 2))
	if created.Lineage.HasWindow() {
		t.Errorf("bare version has a training window %v to %v", created.Lineage.DataStart, created.Lineage.DataEnd)
	}

	_, err = s.GetModelVersion(ctx, leadscore.VersionRef{Model: "churn", Version: 3})
	wantCode(t, "GetModelVersion() of an unknown version", err, leadscore.ENOTFOUND)
	wantMention(t, "GetModelVersion() of an unknown version", err, "models/churn/versions/3")
	_, _, err = s.ModelVersionArtifact(ctx, leadscore.VersionRef{Model: "churn", Version: 3})
	wantCode(t, "ModelVersionArtifact() of an unknown version", err, leadscore.ENOTFOUND)
}

func testVersionOfUnknownModel(t *testing.T, s RegistryStore) {
	_, err := s.CreateModelVersion(t.Context(), newVersion("nope", 1))
	wantCode(t, "CreateModelVersion() of an unknown model", err, leadscore.ENOTFOUND)
	wantMention(t, "CreateModelVersion() of an unknown model", err, "models/nope")
	_, err = s.ListModelVersions(t.Context(), "nope", 0, 0, true)
	wantCode(t, "ListModelVersions() of an unknown model", err, leadscore.ENOTFOUND)
}

func testVersionInvalid(t *testing.T, s RegistryStore) {
	createModel(t, s, "churn")
	for _, tt := range []struct {
		name   string
		change func(*leadscore.NewModelVersion)
	}{
		{"no family", func(v *leadscore.NewModelVersion) { v.Family = "" }},
		{"no artifact", func(v *leadscore.NewModelVersion) { v.Artifact = nil }},
		{"bad checksum", func(v *leadscore.NewModelVersion) { v.ArtifactSHA256 = "abc" }},
		{"NaN metric", func(v *leadscore.NewModelVersion) {
			v.Lineage.ValidationMetrics = map[string]float64{"auc": math.NaN()}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nv := newVersion("churn", 1)
			tt.change(&nv)
			_, err := s.CreateModelVersion(t.Context(), nv)
			wantCode(t, "CreateModelVersion()", err, leadscore.EINVALID)
		})
	}
	m, err := s.GetModel(t.Context(), "churn")
	if err != nil {
		t.Fatal(err)
	}
	if m.LatestVersion != 0 {
		t.Errorf("LatestVersion = %d after refused registrations, want 0", m.LatestVersion)
	}
}

func testVersionRequestID(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	createModel(t, s, "churn")
	createModel(t, s, "other")
	nv := newVersion("churn", 1)
	nv.RequestID = "req-1"
	first, err := s.CreateModelVersion(ctx, nv)
	if err != nil {
		t.Fatalf("first CreateModelVersion(): %v", err)
	}
	retry := newVersion("churn", 2) // Even with other content, the request id decides.
	retry.RequestID = "req-1"
	second, err := s.CreateModelVersion(ctx, retry)
	if err != nil {
		t.Fatalf("retried CreateModelVersion(): %v", err)
	}
	checkVersion(t, "retried CreateModelVersion()", second, first)
	m, err := s.GetModel(ctx, "churn")
	if err != nil {
		t.Fatal(err)
	}
	if m.LatestVersion != 1 {
		t.Errorf("LatestVersion = %d after a retried registration, want 1", m.LatestVersion)
	}

	elsewhere := newVersion("other", 1)
	elsewhere.RequestID = "req-1"
	_, err = s.CreateModelVersion(ctx, elsewhere)
	wantCode(t, "CreateModelVersion() of another model with a used request id", err, leadscore.ECONFLICT)

	_, _, err = s.MoveAlias(ctx, leadscore.AliasMove{
		Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: 1,
		RequestID: "req-1", Method: "PromoteModelVersion", At: minute(5),
	}, nil)
	wantCode(t, "MoveAlias() with a registration's request id", err, leadscore.ECONFLICT)
	if _, err := s.GetAlias(ctx, leadscore.AliasRef{Model: "churn", Alias: "champion"}); leadscore.ErrorCode(err) != leadscore.ENOTFOUND {
		t.Errorf("GetAlias() after a refused move = %v, want not found", err)
	}
}

func testVersionNumbersNotReused(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 2)
	if err := s.DeleteModelVersion(ctx, leadscore.VersionRef{Model: "churn", Version: 2}); err != nil {
		t.Fatalf("DeleteModelVersion(): %v", err)
	}
	v := createVersion(t, s, "churn", 3)
	if v.Version != 3 {
		t.Errorf("version registered after deleting version 2 got number %d, want 3", v.Version)
	}
	m, err := s.GetModel(ctx, "churn")
	if err != nil {
		t.Fatal(err)
	}
	if m.LatestVersion != 3 {
		t.Errorf("LatestVersion = %d, want 3", m.LatestVersion)
	}
}

func testListVersions(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 5)
	archived := leadscore.VersionArchived
	if _, err := s.UpdateModelVersion(ctx, leadscore.VersionRef{Model: "churn", Version: 2}, leadscore.VersionUpdate{State: &archived}); err != nil {
		t.Fatalf("archive version 2: %v", err)
	}
	numbers := func(before int64, limit int, archived bool) string {
		t.Helper()
		vs, err := s.ListModelVersions(ctx, "churn", before, limit, archived)
		if err != nil {
			t.Fatalf("ListModelVersions(%d, %d, %v): %v", before, limit, archived, err)
		}
		var ns []string
		for _, v := range vs {
			ns = append(ns, fmt.Sprint(v.Version))
		}
		return strings.Join(ns, " ")
	}
	for _, tt := range []struct {
		before   int64
		limit    int
		archived bool
		want     string
	}{
		{0, 0, false, "5 4 3 1"},
		{0, 0, true, "5 4 3 2 1"},
		{0, 2, false, "5 4"},
		{4, 2, false, "3 1"},
		{4, 2, true, "3 2"},
		{1, 2, true, ""},
	} {
		if got := numbers(tt.before, tt.limit, tt.archived); got != tt.want {
			t.Errorf("ListModelVersions(before %d, limit %d, archived %v) = %q, want %q", tt.before, tt.limit, tt.archived, got, tt.want)
		}
	}
	vs, err := s.ListModelVersions(ctx, "churn", 0, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	checkVersion(t, "listed version 5", vs[0], storedVersion(newVersion("churn", 5), 5))
}

func testUpdateVersion(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 1)
	ref := leadscore.VersionRef{Model: "churn", Version: 1}
	want := storedVersion(newVersion("churn", 1), 1)
	desc := "better"
	archived, active := leadscore.VersionArchived, leadscore.VersionActive
	for _, tt := range []struct {
		name   string
		update leadscore.VersionUpdate
		change func(*leadscore.ModelVersion)
	}{
		{"nothing changes nothing", leadscore.VersionUpdate{}, func(*leadscore.ModelVersion) {}},
		{"description", leadscore.VersionUpdate{Description: &desc}, func(v *leadscore.ModelVersion) { v.Description = desc }},
		{"tags replace tags", leadscore.VersionUpdate{Tags: map[string]string{"owner": "sam"}},
			func(v *leadscore.ModelVersion) { v.Tags = map[string]string{"owner": "sam"} }},
		{"set nil tags clears them", leadscore.VersionUpdate{SetTags: true}, func(v *leadscore.ModelVersion) { v.Tags = nil }},
		{"archive", leadscore.VersionUpdate{State: &archived}, func(v *leadscore.ModelVersion) { v.State = archived }},
		{"archive again", leadscore.VersionUpdate{State: &archived}, func(*leadscore.ModelVersion) {}},
		{"unarchive", leadscore.VersionUpdate{State: &active}, func(v *leadscore.ModelVersion) { v.State = active }},
	} {
		got, err := s.UpdateModelVersion(ctx, ref, tt.update)
		if err != nil {
			t.Fatalf("%s: UpdateModelVersion(): %v", tt.name, err)
		}
		tt.change(&want)
		checkVersion(t, tt.name+": UpdateModelVersion()", got, want)
		got, err = s.GetModelVersion(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		checkVersion(t, tt.name+": GetModelVersion()", got, want)
	}
	bad := leadscore.VersionState("deleted")
	_, err := s.UpdateModelVersion(ctx, ref, leadscore.VersionUpdate{State: &bad})
	wantCode(t, "UpdateModelVersion() to an unknown state", err, leadscore.EINVALID)
	_, err = s.UpdateModelVersion(ctx, leadscore.VersionRef{Model: "churn", Version: 2}, leadscore.VersionUpdate{Description: &desc})
	wantCode(t, "UpdateModelVersion() of an unknown version", err, leadscore.ENOTFOUND)
}

func testArchiveAliasTarget(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 2)
	promote(t, s, "churn", "challenger", 2)
	archived := leadscore.VersionArchived
	ref := leadscore.VersionRef{Model: "churn", Version: 2}
	_, err := s.UpdateModelVersion(ctx, ref, leadscore.VersionUpdate{State: &archived})
	v := wantPrecondition(t, "archiving the target of an alias", err, "ALIAS")
	if v.Subject != "models/churn/aliases/challenger" {
		t.Errorf("violation subject = %q, want the alias", v.Subject)
	}
	got, err := s.GetModelVersion(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != leadscore.VersionActive {
		t.Errorf("state after a refused archive = %s, want active", got.State)
	}
}

func testDeleteVersionRefused(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 4)
	promote(t, s, "churn", "champion", 1)
	promote(t, s, "churn", "shadow", 1)
	promote(t, s, "churn", "champion", 2)
	createEvaluation(t, s, leadscore.Evaluation{ID: "ev-3", Model: "churn", Version: 3, CreatedAt: base})
	createEvaluation(t, s, leadscore.Evaluation{ID: "ev-4", Model: "churn", Version: 4, ChampionVersion: 3, CreatedAt: base})

	for _, tt := range []struct {
		version  int64
		typ      string
		subjects []string
	}{
		{1, "ALIAS", []string{"models/churn/aliases/shadow"}},
		{1, "ALIAS_HISTORY", []string{"models/churn/aliases/champion/history/1"}},
		{2, "ALIAS", []string{"models/churn/aliases/champion"}},
		{3, "EVALUATION", []string{"evaluations/ev-3"}},
		{4, "EVALUATION", []string{"evaluations/ev-4"}},
	} {
		ref := leadscore.VersionRef{Model: "churn", Version: tt.version}
		err := s.DeleteModelVersion(ctx, ref)
		v := wantPrecondition(t, "DeleteModelVersion("+ref.Name()+")", err, tt.typ)
		wantMention(t, "DeleteModelVersion("+ref.Name()+")", err, append([]string{ref.Name()}, tt.subjects...)...)
		if v.Subject != tt.subjects[0] {
			t.Errorf("DeleteModelVersion(%s) violation %s subject = %q, want %q", ref.Name(), tt.typ, v.Subject, tt.subjects[0])
		}
		if _, err := s.GetModelVersion(ctx, ref); err != nil {
			t.Errorf("GetModelVersion(%s) after a refused delete: %v", ref.Name(), err)
		}
	}
	// Version 3 is also the champion ev-4 was compared with.
	err := s.DeleteModelVersion(ctx, leadscore.VersionRef{Model: "churn", Version: 3})
	wantMention(t, "DeleteModelVersion(version 3)", err, "and 1 more")
}

func testDeleteVersion(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 2)
	ref := leadscore.VersionRef{Model: "churn", Version: 1}
	if err := s.DeleteModelVersion(ctx, ref); err != nil {
		t.Fatalf("DeleteModelVersion(): %v", err)
	}
	_, err := s.GetModelVersion(ctx, ref)
	wantCode(t, "GetModelVersion() of a deleted version", err, leadscore.ENOTFOUND)
	_, _, err = s.ModelVersionArtifact(ctx, ref)
	wantCode(t, "ModelVersionArtifact() of a deleted version", err, leadscore.ENOTFOUND)
	err = s.DeleteModelVersion(ctx, ref)
	wantCode(t, "second DeleteModelVersion()", err, leadscore.ENOTFOUND)
	err = s.DeleteModelVersion(ctx, leadscore.VersionRef{Model: "nope", Version: 1})
	wantCode(t, "DeleteModelVersion() of an unknown model", err, leadscore.ENOTFOUND)
	if _, err := s.GetModelVersion(ctx, leadscore.VersionRef{Model: "churn", Version: 2}); err != nil {
		t.Errorf("GetModelVersion() of the version kept: %v", err)
	}
}

// testPruneRequestIDs registers versions with request ids at two times,
// prunes before the second: a retry of the first is a new request, a retry
// of the second still returns its version, and a zero time is refused.
func testPruneRequestIDs(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	createModel(t, s, "churn")
	register := func(id string, at time.Time) leadscore.ModelVersion {
		t.Helper()
		nv := newVersion("churn", 1)
		nv.RequestID, nv.CreatedAt = id, at
		v, err := s.CreateModelVersion(ctx, nv)
		if err != nil {
			t.Fatalf("CreateModelVersion(%s): %v", id, err)
		}
		return v
	}
	register("req-old", minute(1))
	recent := register("req-new", minute(10))
	n, err := s.PruneRequestIDs(ctx, minute(5))
	if err != nil || n != 1 {
		t.Fatalf("PruneRequestIDs(minute 5) = %d, %v; want 1 forgotten", n, err)
	}
	if v := register("req-old", minute(11)); v.Version != 3 {
		t.Errorf("a retry of a forgotten request id registered version %d, want a new version 3", v.Version)
	}
	if v := register("req-new", minute(12)); v.Version != recent.Version {
		t.Errorf("a retry of a kept request id returned version %d, want %d", v.Version, recent.Version)
	}
	_, err = s.PruneRequestIDs(ctx, time.Time{})
	wantCode(t, "PruneRequestIDs(zero time)", err, leadscore.EINVALID)
}
