package server

import (
	"context"
	"fmt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"strconv"

	"github.com/leadscore/leadscore"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/registry"
)

// MaxArtifactBytes is the largest artifact ImportModelVersion accepts.
const MaxArtifactBytes = 64 << 20

// modelRegistryService serves leadscore.v1.ModelRegistryService. Changes go
// through package registry, which holds the rules (validation, the
// champion gate); plain reads go straight to the store.
type modelRegistryService struct {
	leadscorev1.UnimplementedModelRegistryServiceServer
	reg   *registry.Registry
	store leadscore.RegistryStore
	// imports holds a slot per ImportModelVersion call in progress: each
	// decodes and validates up to MaxArtifactBytes, so a burst of them is
	// refused rather than let grow memory without bound. New always sets
	// it; nil (a handler built by hand in a test) bounds nothing.
	imports chan struct{}
}

// DefaultMaxImports is how many ImportModelVersion calls run at once
// unless Options.MaxImports says otherwise; more are refused with
// RESOURCE_EXHAUSTED.
const DefaultMaxImports = 2

func (s *modelRegistryService) CreateModel(ctx context.Context, req *leadscorev1.CreateModelRequest) (*leadscorev1.CreateModelResponse, error) {
	if _, err := actorOf(ctx); err != nil {
		return nil, err
	}
	m, err := s.reg.CreateModel(ctx, req.GetModelId(), req.GetDescription())
	if err != nil {
		return nil, err
	}
	return &leadscorev1.CreateModelResponse{Model: modelProto(m, nil)}, nil
}

func (s *modelRegistryService) GetModel(ctx context.Context, req *leadscorev1.GetModelRequest) (*leadscorev1.GetModelResponse, error) {
	id, err := leadscore.ParseModelName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	m, err := s.model(ctx, id)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.GetModelResponse{Model: m}, nil
}

// model reads a model with its aliases.
func (s *modelRegistryService) model(ctx context.Context, id string) (*leadscorev1.Model, error) {
	m, err := s.store.GetModel(ctx, id)
	if err != nil {
		return nil, err
	}
	aliases, err := s.store.ListAliases(ctx, id)
	if err != nil {
		return nil, err
	}
	return modelProto(m, aliases), nil
}

func (s *modelRegistryService) ListModels(ctx context.Context, req *leadscorev1.ListModelsRequest) (*leadscorev1.ListModelsResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	filter := listFilter("ListModels")
	token, err := decodePageToken(req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	// One more than a page tells whether another page follows.
	models, err := s.store.ListModels(ctx, token.After, size+1)
	if err != nil {
		return nil, err
	}
	resp := &leadscorev1.ListModelsResponse{}
	if len(models) > size {
		models = models[:size]
		resp.NextPageToken = pageToken{Filter: filter, After: models[size-1].ID}.encode()
	}
	// One alias read per model: a page holds at most 1000 models, and a
	// model has a handful of aliases, so this stays cheap next to the
	// listing itself.
	for _, m := range models {
		aliases, err := s.store.ListAliases(ctx, m.ID)
		if err != nil {
			return nil, err
		}
		resp.Models = append(resp.Models, modelProto(m, aliases))
	}
	return resp, nil
}

func (s *modelRegistryService) UpdateModel(ctx context.Context, req *leadscorev1.UpdateModelRequest) (*leadscorev1.UpdateModelResponse, error) {
	if _, err := actorOf(ctx); err != nil {
		return nil, err
	}
	in := req.GetModel()
	if in == nil {
		return nil, leadscore.InvalidField("model", "", "is required")
	}
	id, err := leadscore.ParseModelName("model.name", in.GetName())
	if err != nil {
		return nil, err
	}
	revision, err := leadscore.ParseRevisionETag("model.etag", in.GetEtag())
	if err != nil {
		return nil, err
	}
	paths, err := maskPaths(req.GetUpdateMask(), []string{"description"}, func(string) bool { return in.GetDescription() != "" })
	if err != nil {
		return nil, err
	}
	if !paths["description"] {
		// Nothing to change; the etag is still checked, so a caller cannot
		// mistake a stale read for a current one.
		m, err := s.store.GetModel(ctx, id)
		if err != nil {
			return nil, err
		}
		if revision != 0 && revision != m.Revision {
			return nil, staleETag("model.etag", in.GetEtag(), leadscore.ModelName(id))
		}
	} else if _, err := s.reg.UpdateModelDescription(ctx, id, revision, in.GetDescription()); err != nil {
		return nil, err
	}
	m, err := s.model(ctx, id)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.UpdateModelResponse{Model: m}, nil
}

// staleETag is the error of an etag that no longer matches.
func staleETag(field, etag, resource string) error {
	return &leadscore.Error{
		Code:    leadscore.EABORTED,
		Message: fmt.Sprintf("%s changed since it was read (%s %s is stale); read it again and retry", resource, field, etag),
	}
}

func (s *modelRegistryService) ImportModelVersion(ctx context.Context, req *leadscorev1.ImportModelVersionRequest) (*leadscorev1.ImportModelVersionResponse, error) {
	if s.imports != nil {
		select {
		case s.imports <- struct{}{}:
			defer func() { <-s.imports }()
		default:
			return nil, status.Errorf(codes.ResourceExhausted, "%d imports are in progress, the most this server runs at once; retry after one ends", cap(s.imports))
		}
	}
	actor, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	id, err := leadscore.ParseModelName("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	if n := len(req.GetArtifact()); n > MaxArtifactBytes {
		return nil, leadscore.InvalidField("artifact", fmt.Sprintf("%d bytes", n), fmt.Sprintf("must be at most %d bytes (64 MiB)", MaxArtifactBytes))
	}
	if err := checkRequestID("request_id", req.GetRequestId()); err != nil {
		return nil, err
	}
	art, sum := req.GetArtifact(), req.GetArtifactSha256()
	switch req.GetFormat() {
	case leadscorev1.SourceFormat_SOURCE_FORMAT_UNSPECIFIED:
	case leadscorev1.SourceFormat_SOURCE_FORMAT_XGBOOST_JSON:
		if art, err = convertXGBoost(ctx, req); err != nil {
			return nil, err
		}
		// The client's hash is the model file's, checked by
		// convertXGBoost; the registry hashes the artifact it stores.
		sum = ""
	default:
		return nil, leadscore.InvalidField("format", req.GetFormat().String(), "must be SOURCE_FORMAT_UNSPECIFIED or SOURCE_FORMAT_XGBOOST_JSON")
	}
	v, _, err := s.reg.RegisterVersion(ctx, registry.NewVersion{
		Model:       id,
		Artifact:    art,
		SHA256:      sum,
		Description: req.GetDescription(),
		Tags:        req.GetTags(),
		Actor:       actor,
		RequestID:   req.GetRequestId(),
	})
	if err != nil {
		return nil, err
	}
	return &leadscorev1.ImportModelVersionResponse{ModelVersion: versionProto(v)}, nil
}

func (s *modelRegistryService) GetModelVersion(ctx context.Context, req *leadscorev1.GetModelVersionRequest) (*leadscorev1.GetModelVersionResponse, error) {
	ref, err := leadscore.ParseVersionName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.store.GetModelVersion(ctx, ref)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.GetModelVersionResponse{ModelVersion: versionProto(v)}, nil
}

func (s *modelRegistryService) ListModelVersions(ctx context.Context, req *leadscorev1.ListModelVersionsRequest) (*leadscorev1.ListModelVersionsResponse, error) {
	id, err := leadscore.ParseModelName("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	filter := listFilter("ListModelVersions", id, strconv.FormatBool(req.GetShowArchived()))
	token, err := decodePageToken(req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	versions, err := s.store.ListModelVersions(ctx, id, token.Before, size+1, req.GetShowArchived())
	if err != nil {
		return nil, err
	}
	resp := &leadscorev1.ListModelVersionsResponse{}
	if len(versions) > size {
		versions = versions[:size]
		resp.NextPageToken = pageToken{Filter: filter, Before: versions[size-1].Version}.encode()
	}
	for _, v := range versions {
		resp.ModelVersions = append(resp.ModelVersions, versionProto(v))
	}
	return resp, nil
}

func (s *modelRegistryService) UpdateModelVersion(ctx context.Context, req *leadscorev1.UpdateModelVersionRequest) (*leadscorev1.UpdateModelVersionResponse, error) {
	if _, err := actorOf(ctx); err != nil {
		return nil, err
	}
	in := req.GetModelVersion()
	if in == nil {
		return nil, leadscore.InvalidField("model_version", "", "is required")
	}
	ref, err := leadscore.ParseVersionName("model_version.name", in.GetName())
	if err != nil {
		return nil, err
	}
	paths, err := maskPaths(req.GetUpdateMask(), []string{"description", "tags"}, func(p string) bool {
		if p == "tags" {
			return len(in.GetTags()) > 0
		}
		return in.GetDescription() != ""
	})
	if err != nil {
		return nil, err
	}
	if etag := in.GetEtag(); etag != "" {
		// The store keeps no revision of a version, so the etag is compared
		// here and the update follows in a separate call: an update by
		// someone else between the two is not detected. The window is one
		// round trip, and the fields are descriptive (description, tags),
		// never what serves or what the gate reads; closing it needs an
		// expected etag in RegistryStore.UpdateModelVersion.
		cur, err := s.store.GetModelVersion(ctx, ref)
		if err != nil {
			return nil, err
		}
		if got := cur.ETag(); got != etag {
			return nil, staleETag("model_version.etag", etag, ref.Name())
		}
		if len(paths) == 0 {
			return &leadscorev1.UpdateModelVersionResponse{ModelVersion: versionProto(cur)}, nil
		}
	}
	if len(paths) == 0 {
		v, err := s.store.GetModelVersion(ctx, ref)
		if err != nil {
			return nil, err
		}
		return &leadscorev1.UpdateModelVersionResponse{ModelVersion: versionProto(v)}, nil
	}
	var u leadscore.VersionUpdate
	if paths["description"] {
		d := in.GetDescription()
		u.Description = &d
	}
	if paths["tags"] {
		u.Tags, u.SetTags = in.GetTags(), true
		if u.Tags == nil {
			u.Tags = map[string]string{}
		}
	}
	v, err := s.reg.UpdateVersion(ctx, ref, u)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.UpdateModelVersionResponse{ModelVersion: versionProto(v)}, nil
}

func (s *modelRegistryService) GetModelVersionArtifact(ctx context.Context, req *leadscorev1.GetModelVersionArtifactRequest) (*leadscorev1.GetModelVersionArtifactResponse, error) {
	ref, err := leadscore.ParseVersionName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	data, sum, err := s.store.ModelVersionArtifact(ctx, ref)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.GetModelVersionArtifactResponse{Artifact: data, ArtifactSha256: sum}, nil
}

func (s *modelRegistryService) ArchiveModelVersion(ctx context.Context, req *leadscorev1.ArchiveModelVersionRequest) (*leadscorev1.ArchiveModelVersionResponse, error) {
	// The store refuses, in the same transaction as the change, to archive
	// a version an alias points at (FAILED_PRECONDITION naming the alias).
	v, err := s.setState(ctx, req.GetName(), leadscore.VersionArchived)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.ArchiveModelVersionResponse{ModelVersion: v}, nil
}

func (s *modelRegistryService) UnarchiveModelVersion(ctx context.Context, req *leadscorev1.UnarchiveModelVersionRequest) (*leadscorev1.UnarchiveModelVersionResponse, error) {
	v, err := s.setState(ctx, req.GetName(), leadscore.VersionActive)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.UnarchiveModelVersionResponse{ModelVersion: v}, nil
}

// setState archives or unarchives the version a request names.
func (s *modelRegistryService) setState(ctx context.Context, name string, state leadscore.VersionState) (*leadscorev1.ModelVersion, error) {
	if _, err := actorOf(ctx); err != nil {
		return nil, err
	}
	ref, err := leadscore.ParseVersionName("name", name)
	if err != nil {
		return nil, err
	}
	v, err := s.reg.SetVersionState(ctx, ref, state)
	if err != nil {
		return nil, err
	}
	return versionProto(v), nil
}

func (s *modelRegistryService) DeleteModelVersion(ctx context.Context, req *leadscorev1.DeleteModelVersionRequest) (*leadscorev1.DeleteModelVersionResponse, error) {
	if _, err := actorOf(ctx); err != nil {
		return nil, err
	}
	ref, err := leadscore.ParseVersionName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteModelVersion(ctx, ref); err != nil {
		return nil, err
	}
	return &leadscorev1.DeleteModelVersionResponse{}, nil
}

func (s *modelRegistryService) GetAlias(ctx context.Context, req *leadscorev1.GetAliasRequest) (*leadscorev1.GetAliasResponse, error) {
	ref, err := leadscore.ParseAliasName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	a, err := s.store.GetAlias(ctx, ref)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.GetAliasResponse{Alias: aliasProto(a)}, nil
}

func (s *modelRegistryService) ListAliases(ctx context.Context, req *leadscorev1.ListAliasesRequest) (*leadscorev1.ListAliasesResponse, error) {
	id, err := leadscore.ParseModelName("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	// An unknown model is NOT_FOUND (the store's answer), not an empty
	// list.
	aliases, err := s.store.ListAliases(ctx, id)
	if err != nil {
		return nil, err
	}
	resp := &leadscorev1.ListAliasesResponse{}
	for _, a := range aliases {
		resp.Aliases = append(resp.Aliases, aliasProto(a))
	}
	return resp, nil
}

func (s *modelRegistryService) PromoteModelVersion(ctx context.Context, req *leadscorev1.PromoteModelVersionRequest) (*leadscorev1.PromoteModelVersionResponse, error) {
	actor, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	ref, err := leadscore.ParseVersionName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	alias := req.GetAlias()
	if alias != "" {
		if err := leadscore.ValidateSlug("alias", alias); err != nil {
			return nil, err
		}
	}
	revision, err := leadscore.ParseRevisionETag("etag", req.GetEtag())
	if err != nil {
		return nil, err
	}
	var evaluation string
	if req.GetEvaluation() != "" {
		if evaluation, err = parseEvaluationName("evaluation", req.GetEvaluation()); err != nil {
			return nil, err
		}
	}
	if err := checkRequestID("request_id", req.GetRequestId()); err != nil {
		return nil, err
	}
	a, change, err := s.reg.Promote(ctx, registry.Promotion{
		Version:        ref,
		Alias:          alias,
		ExpectRevision: revision,
		Evaluation:     evaluation,
		Reason:         req.GetReason(),
		Force:          req.GetForce(),
		Actor:          actor,
		RequestID:      req.GetRequestId(),
	})
	if err != nil {
		return nil, err
	}
	return &leadscorev1.PromoteModelVersionResponse{Alias: aliasProto(a), HistoryEntry: historyEntryProto(change)}, nil
}

func (s *modelRegistryService) RollbackAlias(ctx context.Context, req *leadscorev1.RollbackAliasRequest) (*leadscorev1.RollbackAliasResponse, error) {
	actor, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	ref, err := leadscore.ParseAliasName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	revision, err := leadscore.ParseRevisionETag("etag", req.GetEtag())
	if err != nil {
		return nil, err
	}
	if err := checkRequestID("request_id", req.GetRequestId()); err != nil {
		return nil, err
	}
	a, change, err := s.reg.RollbackAlias(ctx, registry.Rollback{
		Alias:          ref,
		ToSeq:          req.GetToSequence(),
		ExpectRevision: revision,
		Reason:         req.GetReason(),
		Actor:          actor,
		RequestID:      req.GetRequestId(),
	})
	if err != nil {
		return nil, err
	}
	return &leadscorev1.RollbackAliasResponse{Alias: aliasProto(a), HistoryEntry: historyEntryProto(change)}, nil
}

func (s *modelRegistryService) DeleteAlias(ctx context.Context, req *leadscorev1.DeleteAliasRequest) (*leadscorev1.DeleteAliasResponse, error) {
	actor, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	ref, err := leadscore.ParseAliasName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	revision, err := leadscore.ParseRevisionETag("etag", req.GetEtag())
	if err != nil {
		return nil, err
	}
	change, err := s.reg.DeleteAlias(ctx, ref, revision, req.GetReason(), actor)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.DeleteAliasResponse{HistoryEntry: historyEntryProto(change)}, nil
}

func (s *modelRegistryService) ListAliasHistory(ctx context.Context, req *leadscorev1.ListAliasHistoryRequest) (*leadscorev1.ListAliasHistoryResponse, error) {
	ref, err := leadscore.ParseAliasName("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	filter := listFilter("ListAliasHistory", ref.Name())
	token, err := decodePageToken(req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	changes, err := s.store.ListAliasHistory(ctx, ref, token.Before, size+1)
	if err != nil {
		return nil, err
	}
	resp := &leadscorev1.ListAliasHistoryResponse{}
	if len(changes) > size {
		changes = changes[:size]
		resp.NextPageToken = pageToken{Filter: filter, Before: changes[size-1].Seq}.encode()
	}
	for _, c := range changes {
		resp.Entries = append(resp.Entries, historyEntryProto(c))
	}
	return resp, nil
}
