package server

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/artifact"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/registry"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// wantStatus fails the test unless err has code want, and returns its
// status.
func wantStatus(t *testing.T, what string, err error, want codes.Code) *status.Status {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != want {
		t.Fatalf("%s: got %v (%q), want %v", what, st.Code(), st.Message(), want)
	}
	return st
}

// badFields lists the fields of a status's BadRequest detail.
func badFields(st *status.Status) []string {
	var out []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

// wantBadField fails the test unless err is INVALID_ARGUMENT with a
// BadRequest violation of field.
func wantBadField(t *testing.T, what string, err error, field string) {
	t.Helper()
	st := wantStatus(t, what, err, codes.InvalidArgument)
	if fields := badFields(st); !slices.Contains(fields, field) {
		t.Errorf("%s: BadRequest fields %v, want %q (message %q)", what, fields, field, st.Message())
	}
}

// preconditions returns a status's PreconditionFailure violations.
func preconditions(st *status.Status) []*errdetails.PreconditionFailure_Violation {
	var out []*errdetails.PreconditionFailure_Violation
	for _, d := range st.Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok {
			out = append(out, pf.GetViolations()...)
		}
	}
	return out
}

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// TestRegistryWalk drives the model registry through its life over the
// real transport: models, versions, updates with masks and etags, archive
// and delete refusals, gated and forced promotion, request ids, rollback,
// alias deletion and the alias history.
func TestRegistryWalk(t *testing.T) {
	t.Parallel()
	fx := testFixtures(t)
	forEachBackend(t, func(t *testing.T, st leadscore.Store) {
		conn := start(t, newServer(t, st))
		client := leadscorev1.NewModelRegistryServiceClient(conn)
		ctx := asActor(testContext(t), "alice@example.com")

		// Models.
		created, err := client.CreateModel(ctx, &leadscorev1.CreateModelRequest{ModelId: "leads", Description: "inbound leads"})
		if err != nil {
			t.Fatalf("create model: %v", err)
		}
		if got, want := created.GetModel().GetName(), "models/leads"; got != want {
			t.Errorf("model name: got %q, want %q", got, want)
		}
		if got, want := created.GetModel().GetEtag(), `"1"`; got != want {
			t.Errorf("model etag: got %s, want %s", got, want)
		}
		_, err = client.CreateModel(ctx, &leadscorev1.CreateModelRequest{ModelId: "leads"})
		wantStatus(t, "create a model twice", err, codes.AlreadyExists)
		_, err = client.CreateModel(ctx, &leadscorev1.CreateModelRequest{ModelId: "Leads!"})
		wantBadField(t, "create a model with a bad id", err, "model_id")
		_, err = client.GetModel(ctx, &leadscorev1.GetModelRequest{Name: "models/nope"})
		wantStatus(t, "get an unknown model", err, codes.NotFound)
		_, err = client.GetModel(ctx, &leadscorev1.GetModelRequest{Name: "leads"})
		wantBadField(t, "get a model by a bad name", err, "name")

		// Versions.
		art1, art2 := fx.artifacts[0], fx.artifacts[1]
		imp := &leadscorev1.ImportModelVersionRequest{
			Parent: "models/leads", Artifact: art1, ArtifactSha256: artifact.SHA256(art1),
			Description: "first", Tags: map[string]string{"team": "growth"}, RequestId: "import-1",
		}
		v1, err := client.ImportModelVersion(ctx, imp)
		if err != nil {
			t.Fatalf("import v1: %v", err)
		}
		if got := v1.GetModelVersion(); got.GetName() != "models/leads/versions/1" || got.GetFamily() != leadscorev1.ModelFamily_MODEL_FAMILY_LOGISTIC ||
			got.GetCreator() != "alice@example.com" || got.GetTags()["team"] != "growth" || got.GetLineage().GetDataWindowEnd() == nil ||
			got.GetState() != leadscorev1.ModelVersionState_MODEL_VERSION_STATE_ACTIVE || len(got.GetFeatures()) == 0 {
			t.Errorf("imported version: got %v", got)
		}
		again, err := client.ImportModelVersion(ctx, imp)
		if err != nil || again.GetModelVersion().GetVersion() != 1 {
			t.Errorf("import retried with its request id: got %v, %v; want version 1 again", again.GetModelVersion().GetName(), err)
		}
		_, err = client.ImportModelVersion(ctx, &leadscorev1.ImportModelVersionRequest{Parent: "models/leads", Artifact: art2, ArtifactSha256: strings.Repeat("0", 64)})
		wantBadField(t, "import with a wrong sha256", err, "artifact_sha256")
		_, err = client.ImportModelVersion(ctx, &leadscorev1.ImportModelVersionRequest{Parent: "models/leads", Artifact: []byte("not a model")})
		wantStatus(t, "import garbage", err, codes.InvalidArgument)
		_, err = client.ImportModelVersion(ctx, &leadscorev1.ImportModelVersionRequest{Parent: "models/ghost", Artifact: art2})
		wantStatus(t, "import into an unknown model", err, codes.NotFound)
		if _, err := client.ImportModelVersion(ctx, &leadscorev1.ImportModelVersionRequest{Parent: "models/leads", Artifact: art2, Description: "second"}); err != nil {
			t.Fatalf("import v2: %v", err)
		}

		model, err := client.GetModel(ctx, &leadscorev1.GetModelRequest{Name: "models/leads"})
		if err != nil {
			t.Fatalf("get model: %v", err)
		}
		if got := model.GetModel(); got.GetLatestVersion() != 2 || len(got.GetAliases()) != 0 {
			t.Errorf("model after two imports: got latest %d, aliases %v; want 2 and none", got.GetLatestVersion(), got.GetAliases())
		}

		// UpdateModel: the mask, the etag.
		upd, err := client.UpdateModel(ctx, &leadscorev1.UpdateModelRequest{
			Model:      &leadscorev1.Model{Name: "models/leads", Description: "all inbound leads", Etag: `"1"`},
			UpdateMask: mask("description"),
		})
		if err != nil {
			t.Fatalf("update model: %v", err)
		}
		if got := upd.GetModel(); got.GetDescription() != "all inbound leads" || got.GetEtag() != `"2"` {
			t.Errorf("updated model: got description %q, etag %s", got.GetDescription(), got.GetEtag())
		}
		_, err = client.UpdateModel(ctx, &leadscorev1.UpdateModelRequest{
			Model: &leadscorev1.Model{Name: "models/leads", Description: "x", Etag: `"1"`}, UpdateMask: mask("description"),
		})
		wantStatus(t, "update a model with a stale etag", err, codes.Aborted)
		_, err = client.UpdateModel(ctx, &leadscorev1.UpdateModelRequest{
			Model: &leadscorev1.Model{Name: "models/leads", Description: "x"}, UpdateMask: mask("description", "latest_version"),
		})
		wantBadField(t, "update a model's output-only field", err, "update_mask.paths[1]")
		_, err = client.UpdateModel(ctx, &leadscorev1.UpdateModelRequest{Model: &leadscorev1.Model{Name: "models/leads", Etag: "2"}})
		wantBadField(t, "update a model with an unquoted etag", err, "model.etag")

		// ListModelVersions: pages and tokens.
		page1, err := client.ListModelVersions(ctx, &leadscorev1.ListModelVersionsRequest{Parent: "models/leads", PageSize: 1})
		if err != nil {
			t.Fatalf("list versions: %v", err)
		}
		if len(page1.GetModelVersions()) != 1 || page1.GetModelVersions()[0].GetVersion() != 2 || page1.GetNextPageToken() == "" {
			t.Fatalf("first page: got %v, token %q; want version 2 and a token", page1.GetModelVersions(), page1.GetNextPageToken())
		}
		page2, err := client.ListModelVersions(ctx, &leadscorev1.ListModelVersionsRequest{Parent: "models/leads", PageSize: 1, PageToken: page1.GetNextPageToken()})
		if err != nil {
			t.Fatalf("list versions, page 2: %v", err)
		}
		if len(page2.GetModelVersions()) != 1 || page2.GetModelVersions()[0].GetVersion() != 1 || page2.GetNextPageToken() != "" {
			t.Errorf("second page: got %v, token %q; want version 1 and no token", page2.GetModelVersions(), page2.GetNextPageToken())
		}
		_, err = client.ListModelVersions(ctx, &leadscorev1.ListModelVersionsRequest{Parent: "models/leads", PageSize: 1, PageToken: page1.GetNextPageToken(), ShowArchived: true})
		wantBadField(t, "a page token with other filters", err, "page_token")
		_, err = client.ListModels(ctx, &leadscorev1.ListModelsRequest{PageToken: page1.GetNextPageToken()})
		wantBadField(t, "a page token of another list", err, "page_token")
		_, err = client.ListModelVersions(ctx, &leadscorev1.ListModelVersionsRequest{Parent: "models/leads", PageToken: "garbage!"})
		wantBadField(t, "a page token that is not one", err, "page_token")
		_, err = client.ListModelVersions(ctx, &leadscorev1.ListModelVersionsRequest{Parent: "models/leads", PageSize: 1001})
		wantBadField(t, "a page size over 1000", err, "page_size")
		models, err := client.ListModels(ctx, &leadscorev1.ListModelsRequest{})
		if err != nil || len(models.GetModels()) != 1 || models.GetModels()[0].GetName() != "models/leads" {
			t.Errorf("list models: got %v, %v", models.GetModels(), err)
		}

		// UpdateModelVersion: masks and the version etag.
		mv := page2.GetModelVersions()[0]
		updated, err := client.UpdateModelVersion(ctx, &leadscorev1.UpdateModelVersionRequest{
			ModelVersion: &leadscorev1.ModelVersion{Name: mv.GetName(), Description: "the first one", Tags: map[string]string{"stage": "canary"}, Etag: mv.GetEtag()},
			UpdateMask:   mask("description", "tags"),
		})
		if err != nil {
			t.Fatalf("update version: %v", err)
		}
		if got := updated.GetModelVersion(); got.GetDescription() != "the first one" || len(got.GetTags()) != 1 || got.GetTags()["stage"] != "canary" || got.GetEtag() == mv.GetEtag() {
			t.Errorf("updated version: got description %q, tags %v, etag %s (was %s)", got.GetDescription(), got.GetTags(), got.GetEtag(), mv.GetEtag())
		}
		_, err = client.UpdateModelVersion(ctx, &leadscorev1.UpdateModelVersionRequest{
			ModelVersion: &leadscorev1.ModelVersion{Name: mv.GetName(), Description: "late", Etag: mv.GetEtag()}, UpdateMask: mask("description"),
		})
		wantStatus(t, "update a version with a stale etag", err, codes.Aborted)
		_, err = client.UpdateModelVersion(ctx, &leadscorev1.UpdateModelVersionRequest{
			ModelVersion: &leadscorev1.ModelVersion{Name: mv.GetName()}, UpdateMask: mask("artifact_sha256"),
		})
		wantBadField(t, "update a version's artifact", err, "update_mask.paths[0]")
		_, err = client.UpdateModelVersion(ctx, &leadscorev1.UpdateModelVersionRequest{
			ModelVersion: &leadscorev1.ModelVersion{Name: mv.GetName(), Tags: map[string]string{"Bad Key": "x"}}, UpdateMask: mask("tags"),
		})
		wantStatus(t, "update a version with a bad tag key", err, codes.InvalidArgument)

		got, err := client.GetModelVersionArtifact(ctx, &leadscorev1.GetModelVersionArtifactRequest{Name: "models/leads/versions/1"})
		if err != nil || !bytes.Equal(got.GetArtifact(), art1) || got.GetArtifactSha256() != artifact.SHA256(art1) {
			t.Errorf("artifact of v1: got %d bytes, sha %s, %v; want the imported bytes", len(got.GetArtifact()), got.GetArtifactSha256(), err)
		}

		// The champion gate refuses a version without a passing evaluation.
		_, err = client.PromoteModelVersion(ctx, &leadscorev1.PromoteModelVersionRequest{Name: "models/leads/versions/1"})
		refused := wantStatus(t, "promote without an evaluation", err, codes.FailedPrecondition)
		vs := preconditions(refused)
		if len(vs) == 0 || !slices.ContainsFunc(vs, func(v *errdetails.PreconditionFailure_Violation) bool {
			return v.GetSubject() == "models/leads/versions/1"
		}) {
			t.Errorf("refused promotion: PreconditionFailure %v does not name models/leads/versions/1", vs)
		}
		_, err = client.PromoteModelVersion(ctx, &leadscorev1.PromoteModelVersionRequest{Name: "models/leads/versions/1", Force: true})
		wantBadField(t, "force without a reason", err, "reason")

		// A forced promotion, retried with its request id, moves once.
		force := &leadscorev1.PromoteModelVersionRequest{Name: "models/leads/versions/1", Force: true, Reason: "first champion", RequestId: "promote-1"}
		p1, err := client.PromoteModelVersion(ctx, force)
		if err != nil {
			t.Fatalf("force promote v1: %v", err)
		}
		if e := p1.GetHistoryEntry(); e.GetKind() != leadscorev1.AliasChangeKind_ALIAS_CHANGE_KIND_FORCE || e.GetSequence() != 1 ||
			e.GetToModelVersion() != "models/leads/versions/1" || e.GetActor() != "alice@example.com" || e.GetReason() != "first champion" ||
			e.GetName() != "models/leads/aliases/champion/history/1" || e.GetRequestId() != "promote-1" {
			t.Errorf("forced promotion's entry: got %v", e)
		}
		if a := p1.GetAlias(); a.GetModelVersion() != "models/leads/versions/1" || a.GetName() != "models/leads/aliases/champion" {
			t.Errorf("alias after promotion: got %v", a)
		}
		p1again, err := client.PromoteModelVersion(ctx, force)
		if err != nil || p1again.GetHistoryEntry().GetSequence() != 1 {
			t.Errorf("promotion retried with its request id: got entry %v, %v; want entry 1 again", p1again.GetHistoryEntry(), err)
		}

		// A stale alias etag is ABORTED; the current one moves it.
		_, err = client.PromoteModelVersion(ctx, &leadscorev1.PromoteModelVersionRequest{Name: "models/leads/versions/2", Force: true, Reason: "r", Etag: `"99"`})
		wantStatus(t, "promote with a stale etag", err, codes.Aborted)
		p2, err := client.PromoteModelVersion(ctx, &leadscorev1.PromoteModelVersionRequest{
			Name: "models/leads/versions/2", Force: true, Reason: "better model", Etag: p1.GetAlias().GetEtag(),
		})
		if err != nil {
			t.Fatalf("force promote v2: %v", err)
		}
		if p2.GetHistoryEntry().GetSequence() != 2 || p2.GetHistoryEntry().GetFromModelVersion() != "models/leads/versions/1" {
			t.Errorf("second promotion's entry: got %v", p2.GetHistoryEntry())
		}

		// Archive and delete refuse versions in use.
		_, err = client.ArchiveModelVersion(ctx, &leadscorev1.ArchiveModelVersionRequest{Name: "models/leads/versions/2"})
		refused = wantStatus(t, "archive the champion's version", err, codes.FailedPrecondition)
		if vs := preconditions(refused); len(vs) != 1 || vs[0].GetType() != "ALIAS" || !strings.Contains(vs[0].GetSubject()+vs[0].GetDescription(), "champion") {
			t.Errorf("archive refusal: got violations %v, want one naming the champion alias", vs)
		}
		if _, err := client.ArchiveModelVersion(ctx, &leadscorev1.ArchiveModelVersionRequest{Name: "models/leads/versions/1"}); err != nil {
			t.Fatalf("archive v1: %v", err)
		}
		active, err := client.ListModelVersions(ctx, &leadscorev1.ListModelVersionsRequest{Parent: "models/leads"})
		if err != nil || len(active.GetModelVersions()) != 1 {
			t.Errorf("versions without archived: got %v, %v; want only v2", active.GetModelVersions(), err)
		}
		_, err = client.PromoteModelVersion(ctx, &leadscorev1.PromoteModelVersionRequest{Name: "models/leads/versions/1", Alias: "shadow"})
		wantStatus(t, "promote an archived version", err, codes.FailedPrecondition)
		if _, err := client.UnarchiveModelVersion(ctx, &leadscorev1.UnarchiveModelVersionRequest{Name: "models/leads/versions/1"}); err != nil {
			t.Fatalf("unarchive v1: %v", err)
		}
		_, err = client.DeleteModelVersion(ctx, &leadscorev1.DeleteModelVersionRequest{Name: "models/leads/versions/1"})
		wantStatus(t, "delete a version the history refers to", err, codes.FailedPrecondition)

		// A version nothing refers to can be deleted.
		v3, err := client.ImportModelVersion(ctx, &leadscorev1.ImportModelVersionRequest{Parent: "models/leads", Artifact: art1, Description: "third"})
		if err != nil {
			t.Fatalf("import v3: %v", err)
		}
		if _, err := client.DeleteModelVersion(ctx, &leadscorev1.DeleteModelVersionRequest{Name: v3.GetModelVersion().GetName()}); err != nil {
			t.Fatalf("delete v3: %v", err)
		}
		_, err = client.GetModelVersion(ctx, &leadscorev1.GetModelVersionRequest{Name: v3.GetModelVersion().GetName()})
		wantStatus(t, "get a deleted version", err, codes.NotFound)

		// Rollback needs a reason and restores the previous target.
		_, err = client.RollbackAlias(ctx, &leadscorev1.RollbackAliasRequest{Name: "models/leads/aliases/champion"})
		wantBadField(t, "roll back without a reason", err, "reason")
		rb, err := client.RollbackAlias(ctx, &leadscorev1.RollbackAliasRequest{Name: "models/leads/aliases/champion", Reason: "v2 misbehaves", Etag: p2.GetAlias().GetEtag()})
		if err != nil {
			t.Fatalf("roll back: %v", err)
		}
		if e := rb.GetHistoryEntry(); e.GetKind() != leadscorev1.AliasChangeKind_ALIAS_CHANGE_KIND_ROLLBACK || e.GetSequence() != 3 || e.GetToModelVersion() != "models/leads/versions/1" {
			t.Errorf("rollback entry: got %v", e)
		}

		// Ungated aliases move freely and can be deleted; champion cannot.
		if _, err := client.PromoteModelVersion(ctx, &leadscorev1.PromoteModelVersionRequest{Name: "models/leads/versions/2", Alias: "challenger"}); err != nil {
			t.Fatalf("promote to challenger: %v", err)
		}
		del, err := client.DeleteAlias(ctx, &leadscorev1.DeleteAliasRequest{Name: "models/leads/aliases/challenger", Reason: "experiment over"})
		if err != nil {
			t.Fatalf("delete challenger: %v", err)
		}
		if e := del.GetHistoryEntry(); e.GetKind() != leadscorev1.AliasChangeKind_ALIAS_CHANGE_KIND_DELETE || e.GetToModelVersion() != "" {
			t.Errorf("delete entry: got %v", e)
		}
		_, err = client.DeleteAlias(ctx, &leadscorev1.DeleteAliasRequest{Name: "models/leads/aliases/champion", Reason: "no"})
		wantBadField(t, "delete champion", err, "name")
		_, err = client.GetAlias(ctx, &leadscorev1.GetAliasRequest{Name: "models/leads/aliases/challenger"})
		wantStatus(t, "get a deleted alias", err, codes.NotFound)

		// The history is newest first, numbered without gaps, paged.
		var seqs []int64
		var kinds []leadscorev1.AliasChangeKind
		token := ""
		for {
			h, err := client.ListAliasHistory(ctx, &leadscorev1.ListAliasHistoryRequest{Parent: "models/leads/aliases/champion", PageSize: 2, PageToken: token})
			if err != nil {
				t.Fatalf("list history: %v", err)
			}
			for _, e := range h.GetEntries() {
				seqs = append(seqs, e.GetSequence())
				kinds = append(kinds, e.GetKind())
			}
			if token = h.GetNextPageToken(); token == "" {
				break
			}
		}
		if want := []int64{3, 2, 1}; !slices.Equal(seqs, want) {
			t.Errorf("history sequences: got %v, want %v", seqs, want)
		}
		if want := []leadscorev1.AliasChangeKind{
			leadscorev1.AliasChangeKind_ALIAS_CHANGE_KIND_ROLLBACK, leadscorev1.AliasChangeKind_ALIAS_CHANGE_KIND_FORCE, leadscorev1.AliasChangeKind_ALIAS_CHANGE_KIND_FORCE,
		}; !slices.Equal(kinds, want) {
			t.Errorf("history kinds: got %v, want %v", kinds, want)
		}

		model, err = client.GetModel(ctx, &leadscorev1.GetModelRequest{Name: "models/leads"})
		if err != nil {
			t.Fatalf("get model: %v", err)
		}
		if as := model.GetModel().GetAliases(); len(as) != 1 || as[0].GetModelVersion() != "models/leads/versions/1" || as[0].GetHistorySequence() != 3 {
			t.Errorf("model's aliases: got %v, want champion at version 1 from entry 3", as)
		}
		aliases, err := client.ListAliases(ctx, &leadscorev1.ListAliasesRequest{Parent: "models/leads"})
		if err != nil || len(aliases.GetAliases()) != 1 {
			t.Errorf("list aliases: got %v, %v", aliases.GetAliases(), err)
		}
		_, err = client.ListAliases(ctx, &leadscorev1.ListAliasesRequest{Parent: "models/ghost"})
		wantStatus(t, "aliases of an unknown model", err, codes.NotFound)
	})
}

func TestActorComesFromMetadata(t *testing.T) {
	t.Parallel()
	conn := start(t, newServer(t, openStore(t)))
	client := leadscorev1.NewModelRegistryServiceClient(conn)
	ctx := testContext(t)
	art := testFixtures(t).artifacts[0]
	if _, err := client.CreateModel(ctx, &leadscorev1.CreateModelRequest{ModelId: "m"}); err != nil {
		t.Fatalf("create model: %v", err)
	}
	tests := []struct {
		name    string
		ctx     context.Context
		want    string
		wantErr bool
	}{
		{"no header is anonymous", ctx, AnonymousActor, false},
		{"header names the actor", asActor(ctx, "ci-bot"), "ci-bot", false},
		{"blank header is refused", asActor(ctx, "  "), "", true},
		{"an overlong actor is refused", asActor(ctx, strings.Repeat("a", 300)), "", true},
		{"two headers are refused", metadata.AppendToOutgoingContext(ctx, ActorHeader, "a", ActorHeader, "b"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.ImportModelVersion(tt.ctx, &leadscorev1.ImportModelVersionRequest{Parent: "models/m", Artifact: art})
			if tt.wantErr {
				wantBadField(t, "import", err, "metadata."+ActorHeader)
				return
			}
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			if got := resp.GetModelVersion().GetCreator(); got != tt.want {
				t.Errorf("creator: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestImportRefusesAnArtifactOver64MiB(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	svc := &modelRegistryService{reg: registry.New(st.(leadscore.RegistryStore)), store: st.(leadscore.RegistryStore)}
	// Called directly: the transport's own limit would refuse the message
	// before the handler saw it.
	_, err := svc.ImportModelVersion(context.Background(), &leadscorev1.ImportModelVersionRequest{
		Parent: "models/m", Artifact: make([]byte, MaxArtifactBytes+1),
	})
	var e *leadscore.Error
	if !errors.As(err, &e) || e.Code != leadscore.EINVALID || len(e.Fields) != 1 || e.Fields[0].Field != "artifact" {
		t.Errorf("got %v, want an invalid artifact field", err)
	}
}

func TestPageTokens(t *testing.T) {
	t.Parallel()
	filter := listFilter("ListThings", "a")
	tok := pageToken{Filter: filter, After: "x"}.encode()
	got, err := decodePageToken(tok, filter)
	if err != nil || got.After != "x" {
		t.Errorf("round trip: got %+v, %v", got, err)
	}
	for name, token := range map[string]string{
		"other filter":      pageToken{Filter: listFilter("ListThings", "b"), After: "x"}.encode(),
		"not base64":        "%%%",
		"not json":          "bm90IGpzb24",
		"unknown field":     "eyJmIjoiIiwieiI6MX0",
		"negative position": pageToken{Filter: filter, Before: -1}.encode(),
	} {
		if _, err := decodePageToken(token, filter); leadscore.ErrorCode(err) != leadscore.EINVALID {
			t.Errorf("%s: got %v, want an invalid page_token", name, err)
		}
	}
}

func FuzzDecodePageToken(f *testing.F) {
	filter := listFilter("ListThings")
	f.Add(pageToken{Filter: filter, After: "x"}.encode())
	f.Add("")
	f.Add("eyJmIjoiIn0")
	f.Fuzz(func(t *testing.T, token string) {
		tok, err := decodePageToken(token, filter)
		if err == nil && tok.Filter != filter {
			t.Errorf("accepted a token of another filter: %+v", tok)
		}
		if err != nil && leadscore.ErrorCode(err) != leadscore.EINVALID {
			t.Errorf("error %v is not EINVALID", err)
		}
	})
}

func TestRevisionETags(t *testing.T) {
	t.Parallel()
	if got, err := leadscore.ParseRevisionETag("etag", leadscore.RevisionETag(42)); err != nil || got != 42 {
		t.Errorf("round trip: got %d, %v", got, err)
	}
	if got, err := leadscore.ParseRevisionETag("etag", ""); err != nil || got != 0 {
		t.Errorf("empty etag: got %d, %v; want 0 (no check)", got, err)
	}
	for _, bad := range []string{"42", `"0"`, `"-1"`, `"042"`, `"x"`, `"`, `W/"3"`} {
		if _, err := leadscore.ParseRevisionETag("etag", bad); leadscore.ErrorCode(err) != leadscore.EINVALID {
			t.Errorf("etag %s: got %v, want invalid", bad, err)
		}
	}
}
