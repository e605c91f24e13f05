package server

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// DefaultRescoreInterval is how long a scored lead waits before the decay
// scheduler rescores it, unless configured otherwise: engagement decays
// and a lead's age and days since its last activity grow day by day.
const DefaultRescoreInterval = 24 * time.Hour

// DefaultHistoryStep is the probability move that earns a score history
// entry when the cell and tier stay the same, unless configured otherwise.
const DefaultHistoryStep = 0.05

// rescorer scores stored leads with one model's champion and saves the
// scores: inside the transaction of a write of leads or events (inWrite),
// and in the decay scheduler's rounds (rescore). Leads it cannot score stay
// due in the store, to be rescored later.
type rescorer struct {
	store  leadscore.LeadStore
	models *modelSet
	ref    leadscore.AliasRef
	// step is the history step; every the time until a scored lead is due
	// again.
	step   float64
	every  time.Duration
	logger *slog.Logger
}

// rescored says how a rescoring went: every lead asked for is counted in
// exactly one of Done and Failed.
type rescored struct {
	Done, Failed int
}

// rescore scores the leads ids as of at with the champion and saves their
// scores, with reason in their history. It never fails: the leads are
// already due in the store, so a lead that cannot be
// scored now (no champion, a store error, data the model refuses) is
// counted and logged, and stays due.
func (r *rescorer) rescore(ctx context.Context, ids []string, at time.Time, reason string) rescored {
	if len(ids) == 0 {
		return rescored{}
	}
	fail := func(msg string, err error) rescored {
		r.logger.WarnContext(ctx, msg, slog.Int("leads", len(ids)), slog.String("reason", reason), slog.Any("error", err))
		return rescored{Failed: len(ids)}
	}
	sel, err := r.models.resolve(ctx, r.ref, 0)
	if err != nil {
		return fail("leads not rescored: no model to score them with", err)
	}
	acts, err := r.store.LeadActivity(ctx, ids)
	if err != nil {
		return fail("leads not rescored: reading their activity failed", err)
	}
	records, failed := scoreStored(sel, acts, at, reason, r.every, r.notScored(ctx))
	if len(records) > 0 {
		if _, err := r.store.SaveScores(ctx, records, leadscore.SaveScoresOptions{HistoryStep: r.step}); err != nil {
			return fail("leads not rescored: saving their scores failed", err)
		}
	}
	// A lead deleted since its write has nothing to score.
	failed += len(ids) - len(acts)
	return rescored{Done: len(records), Failed: failed}
}

// notScored logs a lead the model could not score.
func (r *rescorer) notScored(ctx context.Context) func(id string, err error) {
	return func(id string, err error) {
		r.logger.InfoContext(ctx, "lead not rescored", slog.String("lead", leadscore.LeadName(id)), slog.Any("error", err))
	}
}

// inWrite prepares a write of leads or events to rescore the leads it
// makes due inside its transaction (IngestOptions.Rescore), with the
// champion as of opts.At: the write and the scores it causes then take one
// commit, and hold their leads' locks once. It returns the options to
// write with and tally, which counts how the rescoring went from the
// write's result: every lead the write made due is counted in exactly one
// of Done and Failed. With no champion to score with the write goes
// without, and its leads stay due for the scheduler.
func (r *rescorer) inWrite(ctx context.Context, opts leadscore.IngestOptions, reason string) (leadscore.IngestOptions, func(due []string, err error) rescored) {
	sel, err := r.models.resolve(ctx, r.ref, 0)
	if err != nil {
		return opts, func(due []string, _ error) rescored {
			if len(due) > 0 {
				r.logger.WarnContext(ctx, "leads not rescored: no model to score them with", slog.Int("leads", len(due)),
					slog.String("reason", reason), slog.Any("error", err))
			}
			return rescored{Failed: len(due)}
		}
	}
	// scored holds the leads whose latest scoring succeeded: Rescore may
	// be called again for some of them.
	scored := map[string]bool{}
	opts.Rescore = func(acts []leadscore.LeadActivity) []leadscore.LeadScoreRecord {
		records, _ := scoreStored(sel, acts, opts.At, reason, r.every, r.notScored(ctx))
		for _, a := range acts {
			delete(scored, a.Lead.ID)
		}
		for _, rec := range records {
			scored[rec.LeadID] = true
		}
		return records
	}
	opts.RescoreOptions = leadscore.SaveScoresOptions{HistoryStep: r.step}
	return opts, func(due []string, err error) rescored {
		if err != nil {
			r.logger.WarnContext(ctx, "leads not rescored: saving their scores failed", slog.Int("leads", len(due)),
				slog.String("reason", reason), slog.Any("error", err))
			return rescored{Failed: len(due)}
		}
		return rescored{Done: len(scored), Failed: len(due) - len(scored)}
	}
}

// scoreStored scores stored leads as of at with one version, as a batch,
// and returns their score records (without factors: those are computed
// when a lead is read). onFail hears of each lead that cannot be scored.
func scoreStored(sel selection, acts []leadscore.LeadActivity, at time.Time, reason string, every time.Duration,
	onFail func(id string, err error)) ([]leadscore.LeadScoreRecord, int) {
	sm := sel.sm
	sc := sm.get()
	defer sm.put(sc)
	n, w := len(acts), len(sc.row)
	if cap(sc.matrix) < n*w {
		sc.matrix = make([]float64, n*w)
		sc.batch, sc.batchErrs = make([]model.Scored, n), make([]error, n)
	}
	mat, batch, batchErrs := sc.matrix[:n*w], sc.batch[:n], sc.batchErrs[:n]
	errs := make([]error, n)
	for i := range acts {
		row := mat[i*w : (i+1)*w]
		clear(sc.fit)
		if errs[i] = storedFeatures(sm, &acts[i], at, sc, row); errs[i] != nil {
			for j := range row {
				row[j] = math.NaN()
			}
		}
	}
	if err := sc.scorer.ScoreBatch(mat, batch, batchErrs); err != nil {
		// The matrix is shaped for the scorer; this is a programming error.
		panic(fmt.Sprintf("server: score stored leads: %v", err))
	}
	records := make([]leadscore.LeadScoreRecord, 0, n)
	failed := 0
	for i := range acts {
		err := errs[i]
		if err == nil {
			err = batchErrs[i]
		}
		if err != nil {
			failed++
			onFail(acts[i].Lead.ID, err)
			continue
		}
		why := reason
		if prev := acts[i].Score; reason == leadscore.ReasonDecay && prev != nil && prev.Version != sm.ref {
			// Due because the champion moved (LeadStore.MarkAllDue), or
			// due anyway and now scored by the new one: either way the
			// version is what changed the score.
			why = leadscore.ReasonPromotion
		}
		rec := scoreRecord(acts[i].Lead.ID, sel, &batch[i], at, why)
		if every > 0 {
			rec.NextDue = at.Add(every)
		}
		records = append(records, rec)
	}
	return records, failed
}

// storedFeatures computes the feature row of a stored lead as of at into
// row, with the scratch's fit values (which must be clear): its attributes,
// creation time and the events before at, read by the shared featurizer as
// an inline lead with the same records is, and as backtests read a
// history. Attributes the model does not read are ignored.
func storedFeatures(sm *servedModel, la *leadscore.LeadActivity, at time.Time, sc *scoreScratch, row []float64) error {
	for k, v := range la.Lead.Attributes {
		if i, ok := sm.fitIndex[k]; ok {
			sc.fit[i] = v
		}
	}
	// The events come in time order; those at or after at are not known
	// yet.
	evs := la.Events[:sort.Search(len(la.Events), func(i int) bool { return !la.Events[i].OccurredAt.Before(at) })]
	act := sm.m.Spec.ActivityFromEvents(evs)
	if err := sc.feat.Compute(sc.fit, la.Lead.CreatedAt.Unix(), act, at.Unix(), row); err != nil {
		return leadscore.Errorf(leadscore.EPRECONDITION, "%s cannot be scored by %s: %s",
			leadscore.LeadName(la.Lead.ID), sm.name, leadscore.ErrorMessage(err))
	}
	return nil
}

// scoreRecord is a scorer's result as the store keeps it.
func scoreRecord(id string, sel selection, sc *model.Scored, at time.Time, reason string) leadscore.LeadScoreRecord {
	return leadscore.LeadScoreRecord{
		LeadID:      id,
		Version:     sel.sm.ref,
		Alias:       sel.alias,
		Probability: sc.Probability,
		Score:       sc.Score,
		Percentile:  sc.Percentile,
		Tier:        sc.Tier,
		Cell:        sc.Cell,
		Action:      sc.Action,
		BaseValue:   sc.Base,
		RawOutput:   sc.Raw,
		Horizon:     sel.sm.m.Metadata.Horizon,
		ScoredAt:    at,
		Reason:      reason,
	}
}
