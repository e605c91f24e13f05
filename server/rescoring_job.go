package server

import (
	"context"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/leadscore/leadscore"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
)

// rescoringJobSuffix ends the resource name of a model's rescoring job.
const rescoringJobSuffix = "/rescoringJob"

// GetRescoringJob reports how far rescoring the live leads with the lead
// model's champion has come. The job is not a record of its own: the
// champion alias says which version and since when, and the store counts
// the live leads and those it has scored, so every replica answers alike
// and the figures stay true whichever replica's scheduler does the work.
func (s *leadService) GetRescoringJob(ctx context.Context, req *leadscorev1.GetRescoringJobRequest) (*leadscorev1.GetRescoringJobResponse, error) {
	name := req.GetName()
	model, ok := strings.CutSuffix(name, rescoringJobSuffix)
	if !ok {
		return nil, leadscore.InvalidField("name", name, `must be "models/{model}`+rescoringJobSuffix+`"`)
	}
	id, err := leadscore.ParseModelName("name", model)
	if err != nil {
		return nil, err
	}
	if id != s.rescore.ref.Model {
		return nil, leadscore.Errorf(leadscore.ENOTFOUND, "%s: live leads are scored by the champion of %s (the server's --lead-model)",
			name, leadscore.ModelName(s.rescore.ref.Model))
	}
	alias, err := s.aliases.GetAlias(ctx, s.rescore.ref)
	if err != nil {
		return nil, err
	}
	version := leadscore.VersionRef{Model: alias.Model, Version: alias.Version}
	p, err := s.store.RescoreProgress(ctx, version)
	if err != nil {
		return nil, err
	}
	job := &leadscorev1.RescoringJob{
		Name:          name,
		ModelVersion:  version.Name(),
		CreateTime:    timestamppb.New(alias.UpdatedAt),
		State:         leadscorev1.RescoringJob_STATE_RUNNING,
		LiveLeads:     p.Live,
		RescoredLeads: p.Rescored,
		Progress:      1,
	}
	if p.Live > 0 {
		job.Progress = float64(p.Rescored) / float64(p.Live)
	}
	if p.Rescored == p.Live {
		job.State = leadscorev1.RescoringJob_STATE_SUCCEEDED
	}
	return &leadscorev1.GetRescoringJobResponse{Job: job}, nil
}
