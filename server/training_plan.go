package server

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/model"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/registry"
	"github.com/leadscore/leadscore/trainer"
	"google.golang.org/protobuf/proto"
)

// Limits of a training job's request.
const (
	// maxSnapshots bounds the snapshot times a SnapshotSpec may make.
	maxSnapshots = 1000
	// maxPointsRules bounds a points rules document.
	maxPointsRules = 1 << 20
)

// trainingPlan is a checked training job: the registry's request, the
// parameters given, and the names the caller gave the files read.
type trainingPlan struct {
	model  string
	req    registry.TrainRequest
	params map[string]string
	// names maps a resolved file path to the path the request named.
	names map[string]string
}

// planTraining checks a training job and returns its normalised spec
// (input fields only, as stored) and plan. Like an evaluation job's, it
// runs when the job is created, so that a bad job is refused at once, and
// again when it starts, so that the job reads what is there then.
func (p *backtestPlanner) planTraining(ctx context.Context, in *leadscorev1.TrainingJob, now time.Time) (*leadscorev1.TrainingJob, *trainingPlan, error) {
	const f = "training_job."
	plan := &trainingPlan{names: map[string]string{}}
	var err error
	if plan.model, err = leadscore.ParseModelName(f+"model", in.GetModel()); err != nil {
		return nil, nil, err
	}
	out := &leadscorev1.TrainingJob{
		Model: in.GetModel(), Family: in.GetFamily(), Seed: in.GetSeed(), Description: in.GetDescription(),
		Parameters: maps.Clone(in.GetParameters()), ExcludeFeatures: in.GetExcludeFeatures(), PointsRules: in.GetPointsRules(),
		MissingValues: in.GetMissingValues(),
	}
	var family model.Family
	switch in.GetFamily() {
	case leadscorev1.ModelFamily_MODEL_FAMILY_UNSPECIFIED:
		family = trainer.FamilyAuto
	case leadscorev1.ModelFamily_MODEL_FAMILY_POINTS:
		family = model.FamilyPoints
	case leadscorev1.ModelFamily_MODEL_FAMILY_LOGISTIC:
		family = model.FamilyLogistic
	case leadscorev1.ModelFamily_MODEL_FAMILY_GBDT:
		family = model.FamilyGBDT
	default:
		return nil, nil, leadscore.InvalidField(f+"family", in.GetFamily(), "must be MODEL_FAMILY_POINTS, MODEL_FAMILY_LOGISTIC, MODEL_FAMILY_GBDT, or unset for auto")
	}
	if err := registry.CheckDescription(f+"description", in.GetDescription()); err != nil {
		return nil, nil, err
	}
	req := &plan.req
	history := true
	switch src := in.GetData().GetSource().(type) {
	case *leadscorev1.DataSource_StoreHistory:
		if err := p.checkStoreHistory(f+"data.store_history", src.StoreHistory, "training jobs", "learn from every lead"); err != nil {
			return nil, nil, err
		}
		req.Data.Store = true
		req.HistoryStore = p.history
		if len(in.GetMissingValues()) > 0 {
			return nil, nil, leadscore.InvalidField(f+"missing_values", in.GetMissingValues()[0], "applies to history files; the store's history is already read")
		}
	case *leadscorev1.DataSource_HistoryFiles:
		files := src.HistoryFiles
		if req.Data.History, err = p.historyFiles(f+"data.history_files.", files); err != nil {
			return nil, nil, err
		}
		plan.names[req.Data.History.Leads] = files.GetLeadsPath()
		plan.names[req.Data.History.Outcomes] = files.GetOutcomesPath()
		if req.Data.History.Events != "" {
			plan.names[req.Data.History.Events] = files.GetEventsPath()
		}
		for i, v := range in.GetMissingValues() {
			if err := checkColumn(fmt.Sprintf("%smissing_values[%d]", f, i), v, false); err != nil {
				return nil, nil, err
			}
		}
		if len(in.GetMissingValues()) > 0 {
			req.Reading = dataset.ReadOptions{MissingTokens: in.GetMissingValues(), NoDefaultMissing: true}
		}
	case *leadscorev1.DataSource_FlatTable:
		history = false
		if req.Data.Flat, err = p.flatTable(f+"data.flat_table.", src.FlatTable); err != nil {
			return nil, nil, err
		}
		plan.names[req.Data.Flat.Path] = src.FlatTable.GetPath()
		if len(in.GetMissingValues()) > 0 {
			return nil, nil, leadscore.InvalidField(f+"missing_values", in.GetMissingValues()[0], "applies to history files; a flat table names its own in data.flat_table.missing_tokens")
		}
	default:
		return nil, nil, leadscore.InvalidField(f+"data", "", "must set exactly one of store_history, history_files and flat_table")
	}
	out.Data = proto.CloneOf(in.GetData())

	until, err := requestTime(f+"until_time", in.GetUntilTime())
	if err != nil {
		return nil, nil, err
	}
	switch {
	case !until.IsZero() && !history:
		return nil, nil, leadscore.InvalidField(f+"until_time", until.Format(time.RFC3339), "applies only to a history; a flat table is split by its rows")
	case until.After(now):
		return nil, nil, leadscore.InvalidField(f+"until_time", until.Format(time.RFC3339), "is in the future")
	case !until.IsZero():
		req.Until, out.UntilTime = until, timestamp(until)
	}
	if s := in.GetSnapshots(); s != nil {
		if !history {
			return nil, nil, leadscore.InvalidField(f+"snapshots", "", "apply only to a history; a flat table's rows are its examples")
		}
		if req.Snapshots, req.Horizon, err = snapshotTimes(f+"snapshots.", s); err != nil {
			return nil, nil, err
		}
		out.Snapshots = proto.CloneOf(s)
	}
	for i, c := range in.GetExcludeFeatures() {
		if err := checkColumn(fmt.Sprintf("%sexclude_features[%d]", f, i), c, true); err != nil {
			return nil, nil, err
		}
	}
	req.Exclude = in.GetExcludeFeatures()
	if r := in.GetPointsRules(); r != "" {
		if family != model.FamilyPoints {
			return nil, nil, leadscore.InvalidField(f+"points_rules", len(r), "applies only to MODEL_FAMILY_POINTS")
		}
		if len(r) > maxPointsRules {
			return nil, nil, leadscore.InvalidField(f+"points_rules", len(r), fmt.Sprintf("must be at most %d bytes", maxPointsRules))
		}
	}
	field := func(name string) string {
		if name == "family" {
			return f + "family"
		}
		return f + "parameters." + name
	}
	settings, err := registry.TrainConfig(field, family, in.GetSeed(), in.GetParameters(), false)
	if err != nil {
		return nil, nil, err
	}
	req.Config = settings.Config
	req.Config.PointsRules = []byte(in.GetPointsRules())
	req.RandomSplit = settings.RandomSplit
	if settings.RandomSplit && history {
		return nil, nil, leadscore.InvalidField(f+"parameters.random_split", "true", "applies only to a flat table; a history is split in time")
	}
	plan.params = maps.Clone(in.GetParameters())

	if ev := in.GetEvaluation(); ev != nil {
		checked, err := p.checkChainedEvaluation(ctx, f+"evaluation.", ev, history, until, now)
		if err != nil {
			return nil, nil, err
		}
		out.Evaluation = checked
	}
	return out, plan, nil
}

// snapshotTimes reads a snapshot spec into snapshot times and a horizon.
func snapshotTimes(g string, s *leadscorev1.SnapshotSpec) ([]time.Time, time.Duration, error) {
	start, err := requestTime(g+"start_time", s.GetStartTime())
	if err != nil {
		return nil, 0, err
	}
	end, err := requestTime(g+"end_time", s.GetEndTime())
	if err != nil {
		return nil, 0, err
	}
	every, err := requestDuration(g+"interval", s.GetInterval())
	if err != nil {
		return nil, 0, err
	}
	horizon, err := requestDuration(g+"horizon", s.GetHorizon())
	if err != nil {
		return nil, 0, err
	}
	switch {
	case start.IsZero():
		return nil, 0, leadscore.InvalidField(g+"start_time", "", "is required")
	case end.IsZero() || !end.After(start):
		return nil, 0, leadscore.InvalidField(g+"end_time", end.Format(time.RFC3339), "is required and must be after start_time")
	case every < time.Hour:
		return nil, 0, leadscore.InvalidField(g+"interval", every, "must be at least an hour")
	case horizon < 0 || horizon > maxHorizon:
		return nil, 0, leadscore.InvalidField(g+"horizon", horizon, fmt.Sprintf("must be positive and at most %s, or unset for 90 days", maxHorizon))
	}
	var times []time.Time
	for t := start; t.Before(end); t = t.Add(every) {
		if len(times) == maxSnapshots {
			return nil, 0, leadscore.InvalidField(g+"interval", every, fmt.Sprintf("makes more than %d snapshots between start_time and end_time", maxSnapshots))
		}
		times = append(times, t)
	}
	return times, horizon, nil
}

// checkChainedEvaluation checks what can be checked of a chained
// evaluation before there is a version to evaluate: its data, window and
// policy. The evaluation is planned in full when it starts.
func (p *backtestPlanner) checkChainedEvaluation(ctx context.Context, g string, ev *leadscorev1.ChainedEvaluation, trainHistory bool, until, now time.Time) (*leadscorev1.ChainedEvaluation, error) {
	out := proto.CloneOf(ev)
	history := trainHistory
	if d := ev.GetData(); d != nil {
		switch src := d.GetSource().(type) {
		case *leadscorev1.DataSource_StoreHistory:
			history = true
			if err := p.checkStoreHistory(g+"data.store_history", src.StoreHistory, "evaluation jobs", "score every lead eligible at the cut-off"); err != nil {
				return nil, err
			}
		case *leadscorev1.DataSource_HistoryFiles:
			history = true
			if _, err := p.historyFiles(g+"data.history_files.", src.HistoryFiles); err != nil {
				return nil, err
			}
		case *leadscorev1.DataSource_FlatTable:
			history = false
			if _, err := p.flatTable(g+"data.flat_table.", src.FlatTable); err != nil {
				return nil, err
			}
		default:
			return nil, leadscore.InvalidField(g+"data", "", "must set exactly one of store_history, history_files and flat_table, or be unset for the training data")
		}
	}
	cutoff, err := requestTime(g+"cutoff_time", ev.GetCutoffTime())
	if err != nil {
		return nil, err
	}
	horizon, err := requestDuration(g+"horizon", ev.GetHorizon())
	if err != nil {
		return nil, err
	}
	if history {
		if cutoff.IsZero() {
			cutoff = until
		}
		if horizon == 0 {
			horizon = defaultHorizon
		}
		switch {
		case cutoff.IsZero():
			return nil, leadscore.InvalidField(g+"cutoff_time", "", "is required for a history backtest when the training job sets no until_time: the version must be judged on data it did not learn from")
		case horizon < 0 || horizon > maxHorizon:
			return nil, leadscore.InvalidField(g+"horizon", horizon, fmt.Sprintf("must be positive and at most %s, or unset for 90 days", maxHorizon))
		case !until.IsZero() && cutoff.Before(until):
			return nil, leadscore.InvalidField(g+"cutoff_time", cutoff.Format(time.RFC3339), "is before the training job's until_time; a backtest must judge the version on data it did not learn from")
		case cutoff.Add(horizon).After(now):
			return nil, leadscore.InvalidField(g+"cutoff_time", cutoff.Format(time.RFC3339), fmt.Sprintf("plus the horizon (%s) is in the future, so the outcomes it judges on are not all known yet", horizon))
		}
		out.CutoffTime, out.Horizon = timestamp(cutoff), duration(horizon)
	} else if ev.GetCutoffTime() != nil || ev.GetHorizon() != nil {
		return nil, leadscore.InvalidField(g+"cutoff_time", cutoff.Format(time.RFC3339), "applies only to history sources; every row of a flat table is scored")
	}
	if name := ev.GetGatePolicy(); name != "" {
		id, rev, err := parseGatePolicyName(g+"gate_policy", name)
		if err != nil {
			return nil, err
		}
		if id != registry.DefaultPolicyName || rev != 0 {
			if _, err := p.store.GetGatePolicy(ctx, id, rev); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
