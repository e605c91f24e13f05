package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore/postgres"
	"github.com/leadscore/leadscore/postgres/pgtest"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const leadHealthName = "leadscore.v1.LeadService"

// ingestLeads is how many leads the ingest tests write events for.
const ingestLeads = 60

// liveStore registers the fixture on a fresh PostgreSQL schema, promotes
// its first version, and returns the store's URL.
func liveStore(t *testing.T) string {
	t.Helper()
	fx := liveScoringFixture(t)
	store := pgtest.URL(t)
	v1, _ := registerFixture(t, store, fx)
	runBinary(t, "promote", v1, "--force", "--reason", "live leads test", "--store", store)
	return store
}

// seedLeads writes the leads the ingest tests use.
func seedLeads(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	req := &leadscorev1.UpsertLeadsRequest{}
	for i := range ingestLeads {
		req.Leads = append(req.Leads, &leadscorev1.Lead{
			Name: fmt.Sprintf("leads/k%03d", i), CreateTime: timestamppb.New(time.Now().AddDate(0, -1, 0)),
			Attributes: map[string]*leadscorev1.AttributeValue{"industry": {Kind: &leadscorev1.AttributeValue_StringValue{StringValue: "software"}}},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := leadscorev1.NewLeadServiceClient(conn).UpsertLeads(ctx, req); err != nil {
		t.Fatalf("UpsertLeads: %v", err)
	}
}

// eventBatch is batch b of the ingest tests: 25 events with ids of their
// own, of leads drawn from the batch number, in the hour before base: the
// same batch every time it is asked for, as a retry resends it.
func eventBatch(b int, base time.Time) *leadscorev1.RecordEventsRequest {
	rng := rand.New(rand.NewPCG(uint64(b), 11))
	req := &leadscorev1.RecordEventsRequest{}
	for i := range 25 {
		req.Events = append(req.Events, &leadscorev1.Event{
			EventId: fmt.Sprintf("ev-%d-%d", b, i), Lead: fmt.Sprintf("leads/k%03d", rng.IntN(ingestLeads)),
			Type: "page_view", OccurTime: timestamppb.New(base.Add(-time.Duration(rng.IntN(3600)) * time.Second)),
		})
	}
	return req
}

// storedEvents counts the events a PostgreSQL store holds.
func storedEvents(t *testing.T, store string) int64 {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, store)
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	defer db.Close()
	n, err := db.CountHistory(ctx)
	if err != nil {
		t.Fatalf("count events: %v", err)
	}
	return n.Events
}

// TestKillDuringIngestLosesNothing kills a server with SIGKILL while
// RecordEvents calls stream in, starts another on the same database and
// sends every batch again with the same ids, as a client retrying would:
// every batch acknowledged before the kill comes back all duplicates (it
// was durable), no event is stored twice, and in the end the store holds
// each event exactly once.
func TestKillDuringIngestLosesNothing(t *testing.T) {
	t.Parallel()
	store := liveStore(t)
	p := startServe(t, nil, "--store", store, "--admin-addr", "")
	conn := p.dial(t)
	for _, service := range []string{scoringHealthName, leadHealthName} {
		waitForHealth(t, "the server", conn, service, healthpb.HealthCheckResponse_SERVING, time.Minute)
	}
	seedLeads(t, conn)

	client := leadscorev1.NewLeadServiceClient(conn)
	base := time.Now()
	acked := map[int]bool{}
	sent := 0
	killAt := time.Now().Add(1500 * time.Millisecond)
	killed := false
	for b := 0; ; b++ {
		if !killed && time.Now().After(killAt) {
			// Mid-stream: a call may be in flight on the server.
			go p.cmd.Process.Kill()
			killed = true
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := client.RecordEvents(ctx, eventBatch(b, base))
		cancel()
		sent = b + 1
		if err != nil {
			if !killed {
				t.Fatalf("batch %d failed before the kill: %v", b, err)
			}
			break
		}
		acked[b] = true
	}
	<-p.done
	if len(acked) < 5 {
		t.Fatalf("only %d batches were acknowledged before the kill", len(acked))
	}

	p2 := startServe(t, nil, "--store", store, "--admin-addr", "")
	conn2 := p2.dial(t)
	waitForHealth(t, "the second server", conn2, leadHealthName, healthpb.HealthCheckResponse_SERVING, time.Minute)
	client2 := leadscorev1.NewLeadServiceClient(conn2)
	for b := range sent {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := client2.RecordEvents(ctx, eventBatch(b, base))
		cancel()
		if err != nil {
			t.Fatalf("retry of batch %d: %v", b, err)
		}
		if acked[b] && (resp.GetRecordedCount() != 0 || resp.GetDuplicateCount() != 25) {
			t.Errorf("batch %d was acknowledged before the kill, but its retry recorded %d and found %d duplicates: it was not durable",
				b, resp.GetRecordedCount(), resp.GetDuplicateCount())
		}
		if resp.GetRecordedCount()+resp.GetDuplicateCount() != 25 || len(resp.GetConflicts()) != 0 {
			t.Errorf("retry of batch %d: %v", b, resp)
		}
	}
	if got, want := storedEvents(t, store), int64(25*sent); got != want {
		t.Errorf("the store holds %d events after the retries, want each of the %d sent once", got, want)
	}
	t.Logf("%d batches acknowledged before the kill, %d sent", len(acked), sent)
}

// TestReplicasShareIngest runs three servers on one database and sends
// RecordEvents to all of them at once: no call fails (concurrent writes of
// the same leads neither deadlock nor conflict), every event is stored
// once, and every lead ends up scored.
func TestReplicasShareIngest(t *testing.T) {
	t.Parallel()
	store := liveStore(t)
	var conns []*grpc.ClientConn
	for i := range 3 {
		p := startServe(t, nil, "--store", store, "--admin-addr", "")
		t.Cleanup(func() { checkStillRunning(t, fmt.Sprintf("replica %d", i), p) })
		conn := p.dial(t)
		// Ingest rescores with the loaded champion: each replica is ready
		// once it is loaded (scoring) and the store answers (leads).
		for _, service := range []string{scoringHealthName, leadHealthName} {
			waitForHealth(t, fmt.Sprintf("replica %d", i), conn, service, healthpb.HealthCheckResponse_SERVING, time.Minute)
		}
		conns = append(conns, conn)
	}
	seedLeads(t, conns[0])
	base := time.Now()
	const batches = 60
	var wg sync.WaitGroup
	errs := make(chan error, batches)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := leadscorev1.NewLeadServiceClient(conns[w%3])
			for b := w; b < batches; b += 6 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				resp, err := client.RecordEvents(ctx, eventBatch(b, base))
				cancel()
				if err == nil && (resp.GetRecordedCount() != 25 || resp.GetNotRescoredCount() != 0) {
					err = fmt.Errorf("batch %d: %v", b, resp)
				}
				if err != nil {
					errs <- fmt.Errorf("replica %d, batch %d: %w", w%3, b, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := storedEvents(t, store); got != 25*batches {
		t.Errorf("the store holds %d events, want %d", got, 25*batches)
	}
	client := leadscorev1.NewLeadServiceClient(conns[2])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range ingestLeads {
		got, err := client.GetLead(ctx, &leadscorev1.GetLeadRequest{Name: fmt.Sprintf("leads/k%03d", i)})
		if err != nil {
			t.Fatalf("GetLead: %v", err)
		}
		if got.GetLead().GetCurrentScore().GetModelVersion() == "" {
			t.Errorf("%s has no score", got.GetLead().GetName())
		}
	}
}
