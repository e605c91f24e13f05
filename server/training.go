package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/leadscore/leadscore"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/registry"
	"google.golang.org/protobuf/encoding/protojson"
)

// trainingService serves leadscore.v1.TrainingService: training jobs, run
// by the server's job runner like evaluation jobs, through the same
// registry.Train the train command uses.
type trainingService struct {
	leadscorev1.UnimplementedTrainingServiceServer
	store   leadscore.RegistryStore
	planner *backtestPlanner
	jobs    *jobRunner
	logger  *slog.Logger
}

// trainingResult is a succeeded training job's stored result.
type trainingResult struct {
	ModelVersion      string             `json:"model_version"`
	ValidationMetrics map[string]float64 `json:"validation_metrics,omitempty"`
	// EvaluationJob is the id of the chained evaluation's job, if any.
	EvaluationJob string `json:"evaluation_job,omitempty"`
}

// trainingJobName returns "trainingJobs/{id}".
func trainingJobName(id string) string { return "trainingJobs/" + id }

// parseTrainingJobName reads "trainingJobs/{id}".
func parseTrainingJobName(field, name string) (string, error) {
	return parseJobName(field, "trainingJobs", name)
}

// train is the job runner's work for a training job: plan it again (the
// files may have changed since it was created), train through
// registry.Train, register the version with its lineage, and start the
// chained evaluation, if any.
func (r *jobRunner) train(ctx context.Context, job leadscore.Job, progress func(string, float64, string)) ([]byte, error) {
	spec := &leadscorev1.TrainingJob{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(job.Spec, spec); err != nil {
		return nil, leadscore.Errorf(leadscore.EINTERNAL, "read the spec of job %s: %w", job.ID, err)
	}
	_, plan, err := r.planner.planTraining(ctx, spec, r.now())
	if err != nil {
		return nil, err
	}
	plan.req.Progress = progress
	res, err := registry.Train(ctx, plan.req)
	if err != nil {
		return nil, err
	}
	// A cancellation that came while the model was fitted stops the job
	// here: nothing is registered.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	progress("registering", 0.9, "registering a version of "+leadscore.ModelName(plan.model))
	files := make([]registry.DataFile, len(res.Files))
	for i, df := range res.Files {
		files[i] = registry.DataFile{Path: plan.names[df.Path], SHA256: df.SHA256}
	}
	v, _, err := r.reg.RegisterVersion(ctx, registry.NewVersion{
		Model:       plan.model,
		Artifact:    res.Artifact,
		Description: spec.GetDescription(),
		Actor:       job.CreatedBy,
		TrainingJob: job.ID,
		Source:      registry.TrainingSource{Kind: plan.req.SourceKind(), Files: files, Options: plan.req.Options(plan.params)},
		// A job that registered and then lost its process registers
		// nothing twice if it is run again.
		RequestID:   "train-" + job.ID,
		CreateModel: true,
	})
	if err != nil {
		return nil, err
	}
	out := trainingResult{ModelVersion: v.Ref().Name(), ValidationMetrics: res.Report.Validation}
	if ev := spec.GetEvaluation(); ev != nil {
		progress("evaluating", 0.95, "starting the evaluation of "+v.Ref().Name())
		// The version is registered: the evaluation is started even if a
		// cancellation arrives now, so the job's result stays whole.
		evJob, err := r.chainEvaluation(context.WithoutCancel(ctx), job, spec, v.Ref())
		if err != nil {
			return nil, fmt.Errorf("registered %s, then could not start its evaluation: %w", v.Ref().Name(), err)
		}
		out.EvaluationJob = evJob.ID
	}
	data, err := json.Marshal(out)
	if err != nil {
		// Only a metric that is not finite could fail, and the registry
		// refused those when it stored the lineage.
		return nil, fmt.Errorf("encode the result of %s: %w", trainingJobName(job.ID), err)
	}
	return data, nil
}

// chainEvaluation starts the evaluation a training job asks for, of the
// version it registered, as CreateEvaluationJob would.
func (r *jobRunner) chainEvaluation(ctx context.Context, job leadscore.Job, spec *leadscorev1.TrainingJob, v leadscore.VersionRef) (leadscore.Job, error) {
	ev := spec.GetEvaluation()
	in := &leadscorev1.EvaluationJob{
		Candidate:  v.Name(),
		Data:       ev.GetData(),
		CutoffTime: ev.GetCutoffTime(),
		Horizon:    ev.GetHorizon(),
		GatePolicy: ev.GetGatePolicy(),
		Seed:       ev.GetSeed(),
	}
	if in.Data == nil {
		in.Data = spec.GetData()
	}
	now := r.now()
	evSpec, _, err := r.planner.plan(ctx, in, now)
	if err != nil {
		return leadscore.Job{}, err
	}
	return r.submit(ctx, leadscore.JobEvaluation, v.Model, evSpec, "train-"+job.ID+"-evaluation", job.CreatedBy, now)
}

// trainingJobProto converts a stored training job: its spec as created,
// with the output fields from the job's record.
func trainingJobProto(j leadscore.Job) (*leadscorev1.TrainingJob, error) {
	out := &leadscorev1.TrainingJob{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(j.Spec, out); err != nil {
		return nil, leadscore.Errorf(leadscore.EINTERNAL, "read the spec of %s: %w", trainingJobName(j.ID), err)
	}
	out.Name = trainingJobName(j.ID)
	out.State, out.Progress, out.Error = jobStatusProto(j)
	if len(j.Result) > 0 {
		var res trainingResult
		if err := json.Unmarshal(j.Result, &res); err != nil {
			return nil, leadscore.Errorf(leadscore.EINTERNAL, "read the result of %s: %w", trainingJobName(j.ID), err)
		}
		out.ModelVersion = res.ModelVersion
		out.ValidationMetrics = res.ValidationMetrics
		if res.EvaluationJob != "" {
			out.EvaluationJob = evaluationJobName(res.EvaluationJob)
		}
	}
	out.Creator = j.CreatedBy
	out.CreateTime = timestamp(j.CreatedAt)
	out.StartTime = timestamp(j.StartedAt)
	out.EndTime = timestamp(j.FinishedAt)
	return out, nil
}

// trainingJob reads a training job; other kinds of job are not found.
func (s *trainingService) trainingJob(ctx context.Context, id string) (leadscore.Job, error) {
	notFound := leadscore.Errorf(leadscore.ENOTFOUND, "%s not found", trainingJobName(id))
	j, err := s.store.GetJob(ctx, id)
	if leadscore.ErrorCode(err) == leadscore.ENOTFOUND {
		return leadscore.Job{}, notFound
	}
	if err != nil {
		return leadscore.Job{}, err
	}
	if j.Kind != leadscore.JobTraining {
		return leadscore.Job{}, notFound
	}
	return j, nil
}

func (s *trainingService) CreateTrainingJob(ctx context.Context, req *leadscorev1.CreateTrainingJobRequest) (*leadscorev1.CreateTrainingJobResponse, error) {
	actor, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetTrainingJob() == nil {
		return nil, leadscore.InvalidField("training_job", "", "is required")
	}
	if err := checkRequestID("request_id", req.GetRequestId()); err != nil {
		return nil, err
	}
	job, err := s.jobs.submitTraining(ctx, req.GetTrainingJob(), req.GetRequestId(), actor, "")
	if err != nil {
		return nil, err
	}
	out, err := trainingJobProto(job)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.CreateTrainingJobResponse{TrainingJob: out}, nil
}

// submitTraining checks a training job and queues it; schedule names the
// schedule that made it, if one did.
func (r *jobRunner) submitTraining(ctx context.Context, in *leadscorev1.TrainingJob, requestID, actor, schedule string) (leadscore.Job, error) {
	now := r.now()
	spec, plan, err := r.planner.planTraining(ctx, in, now)
	if err != nil {
		return leadscore.Job{}, err
	}
	spec.Schedule = schedule
	return r.submit(ctx, leadscore.JobTraining, plan.model, spec, requestID, actor, now)
}

func (s *trainingService) GetTrainingJob(ctx context.Context, req *leadscorev1.GetTrainingJobRequest) (*leadscorev1.GetTrainingJobResponse, error) {
	id, err := parseTrainingJobName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	j, err := s.trainingJob(ctx, id)
	if err != nil {
		return nil, err
	}
	out, err := trainingJobProto(j)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.GetTrainingJobResponse{TrainingJob: out}, nil
}

func (s *trainingService) ListTrainingJobs(ctx context.Context, req *leadscorev1.ListTrainingJobsRequest) (*leadscorev1.ListTrainingJobsResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	jobs, next, err := listJobs(ctx, s.store, leadscore.JobTraining, "ListTrainingJobs", req.GetModel(), req.GetStates(), size, req.GetPageToken(), trainingJobProto)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.ListTrainingJobsResponse{TrainingJobs: jobs, NextPageToken: next}, nil
}

func (s *trainingService) CancelTrainingJob(ctx context.Context, req *leadscorev1.CancelTrainingJobRequest) (*leadscorev1.CancelTrainingJobResponse, error) {
	actor, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseTrainingJobName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	j, err := s.jobs.cancelJob(ctx, leadscore.JobTraining, id, actor)
	if err != nil {
		return nil, err
	}
	out, err := trainingJobProto(j)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.CancelTrainingJobResponse{TrainingJob: out}, nil
}

// WatchTrainingJob follows a training job to its end (watchJob).
func (s *trainingService) WatchTrainingJob(req *leadscorev1.WatchTrainingJobRequest, stream leadscorev1.TrainingService_WatchTrainingJobServer) error {
	id, err := parseTrainingJobName("name", req.GetName())
	if err != nil {
		return err
	}
	return watchJob(stream.Context(), s.jobs, s.logger, id, func(ctx context.Context) (leadscore.Job, *leadscorev1.TrainingJob, error) {
		j, err := s.trainingJob(ctx, id)
		if err != nil {
			return j, nil, err
		}
		msg, err := trainingJobProto(j)
		return j, msg, err
	}, (*leadscorev1.TrainingJob).GetProgress, func(msg *leadscorev1.TrainingJob) error {
		return stream.Send(&leadscorev1.WatchTrainingJobResponse{TrainingJob: msg})
	})
}
