package server

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/registry"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestDecaySchedulerRescoresDueLeads checks that leads are rescored as
// time passes once their rescore interval is over, and not before.
func TestDecaySchedulerRescoresDueLeads(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, time.September, 1, 0, 0, 0, 0, time.UTC)
	env, clock, client := leadEnv(t, t0, func(o *Options) {
		o.DecayTick = time.Hour // one round at start; the test drives the rest
		o.HistoryStep = -1
	})
	ctx := testContext(t)
	var leads []*leadscorev1.Lead
	for i := range 3 {
		leads = append(leads, &leadscorev1.Lead{Name: fmt.Sprintf("leads/l%d", i), CreateTime: timestamppb.New(t0.AddDate(0, 0, -3))})
	}
	if _, err := client.UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{Leads: leads}); err != nil {
		t.Fatalf("UpsertLeads: %v", err)
	}
	clock.Set(t0.Add(DefaultRescoreInterval - time.Hour))
	if r := env.srv.decay.round(ctx); r.Done+r.Failed != 0 {
		t.Fatalf("a round before the leads are due rescored %+v", r)
	}
	due := t0.Add(DefaultRescoreInterval + time.Hour)
	clock.Set(due)
	if r := env.srv.decay.round(ctx); r.Done != 3 || r.Failed != 0 {
		t.Fatalf("a round once the leads are due rescored %+v, want 3", r)
	}
	for _, l := range leads {
		got, err := client.GetLead(ctx, &leadscorev1.GetLeadRequest{Name: l.GetName(), ScoreHistoryLimit: 5})
		if err != nil {
			t.Fatalf("GetLead: %v", err)
		}
		if st := got.GetLead().GetCurrentScore().GetScoreTime().AsTime(); !st.Equal(due) {
			t.Errorf("%s scored at %v, want %v", l.GetName(), st, due)
		}
		if h := got.GetScoreHistory(); len(h) != 2 || h[0].GetReason() != leadscore.ReasonDecay || h[1].GetReason() != leadscore.ReasonAttributes {
			t.Errorf("%s history %v, want a decay entry over the first score", l.GetName(), h)
		}
	}
	if r := env.srv.decay.round(ctx); r.Done+r.Failed != 0 {
		t.Fatalf("a second round at the same time rescored %+v", r)
	}
}

// TestDecayReplicasShareTheWork runs the rounds of three servers over one
// store at once, as replicas on one database do, and checks that every due
// lead was rescored exactly once between them, on both backends.
func TestDecayReplicasShareTheWork(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testDecayReplicasShareTheWork)
}

func testDecayReplicasShareTheWork(t *testing.T, st leadscore.Store) {
	t0 := time.Date(2024, time.September, 1, 0, 0, 0, 0, time.UTC)
	clock := &testClock{t: t0}
	first := newScoringEnv(t, st, func(o *Options) { o.Now, o.DecayTick, o.HistoryStep = clock.Now, time.Hour, -1 })
	client := leadscorev1.NewLeadServiceClient(first.conn)
	ctx := testContext(t)
	const n = 240
	var leads []*leadscorev1.Lead
	for i := range n {
		leads = append(leads, &leadscorev1.Lead{Name: fmt.Sprintf("leads/r%03d", i), CreateTime: timestamppb.New(t0.AddDate(0, 0, -i%30-1))})
	}
	for lo := 0; lo < n; lo += 100 {
		if _, err := client.UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{Leads: leads[lo:min(n, lo+100)]}); err != nil {
			t.Fatalf("UpsertLeads: %v", err)
		}
	}
	replicas := []*Server{first.srv}
	for range 2 {
		replicas = append(replicas, newServerWith(t, st, func(o *Options) {
			o.Registry, o.Now, o.DecayTick, o.HistoryStep = first.reg, clock.Now, -1, -1
		}))
	}
	clock.Set(t0.Add(DefaultRescoreInterval + time.Minute))
	var wg sync.WaitGroup
	done := make([]rescored, len(replicas))
	for i, r := range replicas {
		// Replicas with their scheduler off are driven like the one with
		// it on: a scheduler over their own store handle and rescorer.
		d := &decayScheduler{store: r.leadsStore, rescore: r.leadScores, now: clock.Now, batch: 7, lease: time.Minute, logger: r.logger}
		wg.Add(1)
		go func() {
			defer wg.Done()
			done[i] = d.round(ctx)
		}()
	}
	wg.Wait()
	total := 0
	for _, r := range done {
		total += r.Done
		if r.Failed != 0 {
			t.Errorf("a replica failed to rescore %d leads", r.Failed)
		}
	}
	if total != n {
		t.Errorf("the replicas rescored %d leads between them (%+v), want each of %d once", total, done, n)
	}
	for _, l := range leads {
		got, err := client.GetLead(ctx, &leadscorev1.GetLeadRequest{Name: l.GetName()})
		if err != nil {
			t.Fatalf("GetLead: %v", err)
		}
		if st := got.GetLead().GetCurrentScore().GetScoreTime().AsTime(); !st.Equal(clock.Now()) {
			t.Errorf("%s scored at %v, want the round's time %v", l.GetName(), st, clock.Now())
		}
	}
}

// TestPromotionRescoresLiveLeads promotes another version of the lead
// model and checks that every live lead is rescored with it in the
// background, and the lead with an outcome is not.
func TestPromotionRescoresLiveLeads(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, time.September, 1, 0, 0, 0, 0, time.UTC)
	env, _, client := leadEnv(t, t0, func(o *Options) { o.DecayTick, o.HistoryStep = time.Hour, -1 })
	ctx := testContext(t)
	var leads []*leadscorev1.Lead
	for i := range 5 {
		leads = append(leads, &leadscorev1.Lead{Name: fmt.Sprintf("leads/p%d", i), CreateTime: timestamppb.New(t0.AddDate(0, 0, -7))})
	}
	if _, err := client.UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{Leads: leads}); err != nil {
		t.Fatalf("UpsertLeads: %v", err)
	}
	if _, err := client.RecordOutcomes(ctx, &leadscorev1.RecordOutcomesRequest{Outcomes: []*leadscorev1.Outcome{{
		Lead: "leads/p0", Status: leadscorev1.OutcomeStatus_OUTCOME_STATUS_LOST, OccurTime: timestamppb.New(t0),
	}}}); err != nil {
		t.Fatalf("RecordOutcomes: %v", err)
	}
	// The outcome made p0 due; a round scores it (with version 1) first.
	env.srv.decay.round(ctx)
	if _, _, err := env.reg.Promote(ctx, registry.Promotion{
		Version: leadscore.VersionRef{Model: "default", Version: 2}, Actor: "test", Force: true, Reason: "rescore test",
	}); err != nil {
		t.Fatalf("promote version 2: %v", err)
	}
	job := func() *leadscorev1.RescoringJob {
		t.Helper()
		res, err := client.GetRescoringJob(ctx, &leadscorev1.GetRescoringJobRequest{Name: "models/default/rescoringJob"})
		if err != nil {
			t.Fatalf("GetRescoringJob: %v", err)
		}
		return res.GetJob()
	}
	// No round has run since the promotion: the job has not started on the
	// four live leads.
	if j := job(); j.GetState() != leadscorev1.RescoringJob_STATE_RUNNING || j.GetModelVersion() != "models/default/versions/2" ||
		j.GetLiveLeads() != 4 || j.GetRescoredLeads() != 0 || j.GetProgress() != 0 || j.GetCreateTime() == nil {
		t.Errorf("rescoring job right after the promotion: %v; want running on version 2, 0 of 4 live leads", j)
	}
	version := func(name string) string {
		got, err := client.GetLead(ctx, &leadscorev1.GetLeadRequest{Name: name})
		if err != nil {
			t.Fatalf("GetLead %s: %v", name, err)
		}
		return got.GetLead().GetCurrentScore().GetModelVersion()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		env.srv.decay.round(ctx)
		all := true
		for _, l := range leads[1:] {
			all = all && version(l.GetName()) == "models/default/versions/2"
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("live leads not rescored with version 2 after the promotion")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if j := job(); j.GetState() != leadscorev1.RescoringJob_STATE_SUCCEEDED || j.GetLiveLeads() != 4 || j.GetRescoredLeads() != 4 || j.GetProgress() != 1 {
		t.Errorf("rescoring job once every live lead has version 2's score: %v; want succeeded, 4 of 4", j)
	}
	for _, bad := range []struct {
		name string
		code codes.Code
	}{
		{"models/default", codes.InvalidArgument},
		{"models/Bad Name/rescoringJob", codes.InvalidArgument},
		{"models/other/rescoringJob", codes.NotFound},
	} {
		_, err := client.GetRescoringJob(ctx, &leadscorev1.GetRescoringJobRequest{Name: bad.name})
		if status.Code(err) != bad.code || !strings.Contains(err.Error(), "name") && bad.code == codes.InvalidArgument {
			t.Errorf("GetRescoringJob(%q): %v, want %v", bad.name, err, bad.code)
		}
	}
	got, err := client.GetLead(ctx, &leadscorev1.GetLeadRequest{Name: "leads/p1", ScoreHistoryLimit: 1})
	if err != nil {
		t.Fatalf("GetLead: %v", err)
	}
	if h := got.GetScoreHistory(); len(h) != 1 || h[0].GetScore().GetModelVersion() != "models/default/versions/2" || h[0].GetReason() != leadscore.ReasonPromotion {
		t.Errorf("the newest history entry of leads/p1 is %v, want version 2's score with the reason %q", h, leadscore.ReasonPromotion)
	}
	if v := version("leads/p0"); v != "models/default/versions/1" {
		t.Errorf("the lead with an outcome was rescored with %s", v)
	}
}
