package server

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/registry"
)

// MinTrainEvery is the shortest interval of a training schedule.
const MinTrainEvery = time.Second

// scheduleActor is who creates scheduled training jobs.
const scheduleActor = "leadscore-schedule"

// TrainSchedule retrains a model at a fixed interval: every run is a
// training job like any other. Periods are counted from the zero time, so
// every replica sharing a store agrees on them, and a run's request id
// names the model and its period: however many replicas serve the
// schedule, each period's job is created once.
type TrainSchedule struct {
	// Model is the model to register the versions in.
	Model string
	// Every is the interval between runs.
	Every time.Duration
	// Family is "auto" (the default), "points", "logistic" or "gbdt".
	Family string
	// Data is "store" (the store's history, the default) or a history
	// directory under the server's data directory holding leads.csv,
	// events.csv and outcomes.csv.
	Data string
	// Parameters are training parameters by name, as a training job's.
	Parameters map[string]string
	// Text is the schedule as written, shown on its jobs.
	Text string
}

// ParseTrainSchedule reads a schedule written as comma-separated
// key=value pairs: model and every are required, family and data are
// optional, and any other key is a training parameter, such as
// "model=churn,every=168h,family=auto,tune=false".
func ParseTrainSchedule(text string) (TrainSchedule, error) {
	s := TrainSchedule{Family: "auto", Data: "store", Text: text}
	const field = "train schedule"
	for _, kv := range strings.Split(text, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return s, leadscore.InvalidField(field, text, fmt.Sprintf("%q is not key=value", kv))
		}
		switch k {
		case "model":
			s.Model = v
		case "every":
			d, err := time.ParseDuration(v)
			if err != nil || d < MinTrainEvery {
				return s, leadscore.InvalidField(field, text, fmt.Sprintf("every=%s must be a duration of at least %s, such as 168h", v, MinTrainEvery))
			}
			s.Every = d
		case "family":
			s.Family = v
		case "data":
			s.Data = v
		default:
			if !slices.Contains(registry.TrainParameterNames(), k) {
				return s, leadscore.InvalidField(field, text, fmt.Sprintf("%q is neither model, every, family, data nor a training parameter (%s)", k, strings.Join(registry.TrainParameterNames(), ", ")))
			}
			if s.Parameters == nil {
				s.Parameters = map[string]string{}
			}
			s.Parameters[k] = v
		}
	}
	if err := leadscore.ValidateSlug(field+" model", s.Model); err != nil {
		return s, err
	}
	if s.Every == 0 {
		return s, leadscore.InvalidField(field, text, "needs every=DURATION, such as every=168h")
	}
	if _, err := s.job(); err != nil {
		return s, err
	}
	return s, nil
}

// job is the training job of one run.
func (s TrainSchedule) job() (*leadscorev1.TrainingJob, error) {
	j := &leadscorev1.TrainingJob{
		Model:       leadscore.ModelName(s.Model),
		Parameters:  maps.Clone(s.Parameters),
		Seed:        1,
		Description: "scheduled: " + s.Text,
	}
	switch s.Family {
	case "auto":
	case "points":
		j.Family = leadscorev1.ModelFamily_MODEL_FAMILY_POINTS
	case "logistic":
		j.Family = leadscorev1.ModelFamily_MODEL_FAMILY_LOGISTIC
	case "gbdt":
		j.Family = leadscorev1.ModelFamily_MODEL_FAMILY_GBDT
	default:
		return nil, leadscore.InvalidField("train schedule", s.Text, fmt.Sprintf("family=%s must be auto, points, logistic or gbdt", s.Family))
	}
	if s.Data == "store" {
		j.Data = &leadscorev1.DataSource{Source: &leadscorev1.DataSource_StoreHistory{StoreHistory: &leadscorev1.StoreHistory{}}}
		return j, nil
	}
	j.Data = &leadscorev1.DataSource{Source: &leadscorev1.DataSource_HistoryFiles{HistoryFiles: &leadscorev1.HistoryFiles{
		LeadsPath: path.Join(s.Data, "leads.csv"), EventsPath: path.Join(s.Data, "events.csv"), OutcomesPath: path.Join(s.Data, "outcomes.csv"),
	}}}
	return j, nil
}

// trainScheduler creates each schedule's training job once per period.
type trainScheduler struct {
	jobs      *jobRunner
	schedules []TrainSchedule
	now       func() time.Time
	logger    *slog.Logger
	// tick, when set, is how often the schedules are checked; zero means
	// a quarter of the shortest interval, at most a minute.
	tick time.Duration
}

// run checks the schedules until ctx ends: at start, so a period whose job
// no replica created yet gets it, and then a few times per shortest period.
func (s *trainScheduler) run(ctx context.Context) {
	tick := s.tick
	if tick <= 0 {
		tick = time.Minute
		for _, sc := range s.schedules {
			tick = min(tick, sc.Every/4)
		}
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	done := make([]time.Time, len(s.schedules))
	for {
		for i, sc := range s.schedules {
			period := s.now().UTC().Truncate(sc.Every)
			if period.Equal(done[i]) {
				continue
			}
			if s.submit(ctx, sc, period) {
				done[i] = period
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// submit creates the schedule's job of a period, or finds the one another
// replica created; false means it should be tried again.
func (s *trainScheduler) submit(ctx context.Context, sc TrainSchedule, period time.Time) bool {
	in, err := sc.job()
	if err != nil {
		// ParseTrainSchedule checked the schedule; this cannot happen.
		s.logger.Error("scheduled training job", slog.String("schedule", sc.Text), slog.Any("error", err))
		return true
	}
	requestID := fmt.Sprintf("schedule-%s-%d", sc.Model, period.Unix())
	job, err := s.jobs.submitTraining(ctx, in, requestID, scheduleActor, sc.Text)
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Warn("create scheduled training job; trying again", slog.String("schedule", sc.Text), slog.Any("error", err))
		}
		return false
	}
	s.logger.Info("scheduled training job", slog.String("schedule", sc.Text), slog.String("job", trainingJobName(job.ID)),
		slog.Time("period", period), slog.String("state", string(job.State)))
	return true
}
