package server

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/auth"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
)

// anyScope marks an rpc that any authenticated caller may make, whatever
// its scopes: reading the registry's and jobs' metadata.
const anyScope leadscore.Scope = ""

// rpcScopes is the one table of the scope each rpc needs. Every rpc the
// server registers is in it or in openRPCs (TestEveryRPCHasAScope). Some
// handlers ask more of particular requests (requireScope): only admin may
// store a new revision of the default gate policy.
var rpcScopes = map[string]leadscore.Scope{
	leadscorev1.ScoringService_Score_FullMethodName:       leadscore.ScopeScore,
	leadscorev1.ScoringService_ScoreBatch_FullMethodName:  leadscore.ScopeScore,
	leadscorev1.ScoringService_StreamScore_FullMethodName: leadscore.ScopeScore,

	leadscorev1.LeadService_UpsertLeads_FullMethodName:       leadscore.ScopeLeadsWrite,
	leadscorev1.LeadService_UpsertAccounts_FullMethodName:    leadscore.ScopeLeadsWrite,
	leadscorev1.LeadService_RecordEvents_FullMethodName:      leadscore.ScopeLeadsWrite,
	leadscorev1.LeadService_RecordOutcomes_FullMethodName:    leadscore.ScopeLeadsWrite,
	leadscorev1.LeadService_DeleteLead_FullMethodName:        leadscore.ScopeLeadsWrite,
	leadscorev1.LeadService_GetLead_FullMethodName:           leadscore.ScopeLeadsRead,
	leadscorev1.LeadService_ListLeads_FullMethodName:         leadscore.ScopeLeadsRead,
	leadscorev1.LeadService_WatchScoreChanges_FullMethodName: leadscore.ScopeLeadsRead,
	leadscorev1.LeadService_GetAccount_FullMethodName:        leadscore.ScopeLeadsRead,
	leadscorev1.LeadService_ListAccounts_FullMethodName:      leadscore.ScopeLeadsRead,
	leadscorev1.LeadService_GetRescoringJob_FullMethodName:   leadscore.ScopeLeadsRead,

	leadscorev1.ModelRegistryService_CreateModel_FullMethodName:             leadscore.ScopeTrain,
	leadscorev1.ModelRegistryService_UpdateModel_FullMethodName:             leadscore.ScopeTrain,
	leadscorev1.ModelRegistryService_ImportModelVersion_FullMethodName:      leadscore.ScopeTrain,
	leadscorev1.ModelRegistryService_UpdateModelVersion_FullMethodName:      leadscore.ScopeTrain,
	leadscorev1.ModelRegistryService_ArchiveModelVersion_FullMethodName:     leadscore.ScopeTrain,
	leadscorev1.ModelRegistryService_UnarchiveModelVersion_FullMethodName:   leadscore.ScopeTrain,
	leadscorev1.ModelRegistryService_GetModelVersionArtifact_FullMethodName: leadscore.ScopeTrain,
	leadscorev1.ModelRegistryService_DeleteModelVersion_FullMethodName:      leadscore.ScopeAdmin,
	leadscorev1.ModelRegistryService_PromoteModelVersion_FullMethodName:     leadscore.ScopePromote,
	leadscorev1.ModelRegistryService_RollbackAlias_FullMethodName:           leadscore.ScopePromote,
	leadscorev1.ModelRegistryService_DeleteAlias_FullMethodName:             leadscore.ScopePromote,
	leadscorev1.ModelRegistryService_GetModel_FullMethodName:                anyScope,
	leadscorev1.ModelRegistryService_ListModels_FullMethodName:              anyScope,
	leadscorev1.ModelRegistryService_GetModelVersion_FullMethodName:         anyScope,
	leadscorev1.ModelRegistryService_ListModelVersions_FullMethodName:       anyScope,
	leadscorev1.ModelRegistryService_GetAlias_FullMethodName:                anyScope,
	leadscorev1.ModelRegistryService_ListAliases_FullMethodName:             anyScope,
	leadscorev1.ModelRegistryService_ListAliasHistory_FullMethodName:        anyScope,

	leadscorev1.TrainingService_CreateTrainingJob_FullMethodName: leadscore.ScopeTrain,
	leadscorev1.TrainingService_CancelTrainingJob_FullMethodName: leadscore.ScopeTrain,
	leadscorev1.TrainingService_GetTrainingJob_FullMethodName:    anyScope,
	leadscorev1.TrainingService_ListTrainingJobs_FullMethodName:  anyScope,
	leadscorev1.TrainingService_WatchTrainingJob_FullMethodName:  anyScope,

	leadscorev1.EvaluationService_CreateEvaluationJob_FullMethodName: leadscore.ScopeEvaluate,
	leadscorev1.EvaluationService_CancelEvaluationJob_FullMethodName: leadscore.ScopeEvaluate,
	leadscorev1.EvaluationService_CreateGatePolicy_FullMethodName:    leadscore.ScopeEvaluate,
	leadscorev1.EvaluationService_GetEvaluationJob_FullMethodName:    anyScope,
	leadscorev1.EvaluationService_ListEvaluationJobs_FullMethodName:  anyScope,
	leadscorev1.EvaluationService_WatchEvaluationJob_FullMethodName:  anyScope,
	leadscorev1.EvaluationService_GetEvaluation_FullMethodName:       anyScope,
	leadscorev1.EvaluationService_ListEvaluations_FullMethodName:     anyScope,
	leadscorev1.EvaluationService_GetEvaluationReport_FullMethodName: anyScope,
	leadscorev1.EvaluationService_GetGatePolicy_FullMethodName:       anyScope,
	leadscorev1.EvaluationService_ListGatePolicies_FullMethodName:    anyScope,
}

// openRPCs need no credentials: health, for load balancers and probes,
// and server reflection, unless the server turns reflection off.
var openRPCs = map[string]bool{
	healthpb.Health_Check_FullMethodName:                                   true,
	healthpb.Health_Watch_FullMethodName:                                   true,
	healthpb.Health_List_FullMethodName:                                    true,
	reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName:      true,
	reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: true,
}

// authorize authenticates a call to method and checks its scope, and
// returns ctx carrying the caller's identity. With authentication off it
// returns ctx as it is. Refusals are status errors: UNAUTHENTICATED for
// missing or bad credentials, PERMISSION_DENIED naming the scope that
// was missing.
func (s *Server) authorize(ctx context.Context, method string) (context.Context, error) {
	if s.auth == nil || openRPCs[method] {
		return ctx, nil
	}
	need, ok := rpcScopes[method]
	if !ok {
		// An rpc missing from the table is a programming error; refuse it
		// rather than let it through.
		return nil, status.Errorf(codes.PermissionDenied, "%s has no scope in the server's table", method)
	}
	id, err := s.auth.Authenticate(ctx, credentialsOf(ctx))
	if errors.Is(err, auth.ErrUnauthenticated) {
		return nil, status.Error(codes.Unauthenticated, auth.Reason(err))
	}
	if err != nil {
		return nil, toStatus(ctx, s.logger, method, err).Err()
	}
	if need != anyScope && !id.Has(need) {
		return nil, status.Errorf(codes.PermissionDenied, "%s needs the scope %q, which %s does not hold", method, need, id.Name)
	}
	return auth.WithIdentity(ctx, id), nil
}

// requireScope fails with PERMISSION_DENIED unless the caller holds scope,
// when authentication is on (a caller has an identity): for requests that
// need more than their rpc's scope.
func requireScope(ctx context.Context, scope leadscore.Scope, what string) error {
	id, ok := auth.IdentityFrom(ctx)
	if !ok || id.Has(scope) {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "%s needs the scope %q, which %s does not hold", what, scope, id.Name)
}

// credentialsOf reads a call's credentials: the bearer token of its
// authorization header and the verified client certificate of its TLS
// connection.
func credentialsOf(ctx context.Context) auth.Credentials {
	var c auth.Credentials
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) == 1 {
		if scheme, token, ok := strings.Cut(v[0], " "); ok && strings.EqualFold(scheme, "bearer") {
			c.Bearer = strings.TrimSpace(token)
		}
	}
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.VerifiedChains) > 0 && len(info.State.VerifiedChains[0]) > 0 {
			c.Certificate = info.State.VerifiedChains[0][0]
		}
	}
	return c
}

func (s *Server) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := s.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := s.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	if ctx == ss.Context() {
		return handler(srv, ss)
	}
	return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
}
