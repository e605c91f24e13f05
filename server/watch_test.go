package server

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// watchEnv is a LeadService on a test clock with the decay scheduler off,
// whose change log a test writes directly (SaveScores of scores it
// chooses) or through the API.
type watchEnv struct {
	env    *scoringEnv
	clock  *testClock
	client leadscorev1.LeadServiceClient
	store  leadscore.LeadStore
	// scoredAt is the time of the next crafted score: each is later than
	// the last, so none is stale.
	scoredAt time.Time
}

var watchStart = time.Date(2024, time.September, 1, 0, 0, 0, 0, time.UTC)

func newWatchEnv(t *testing.T) *watchEnv {
	t.Helper()
	return newWatchEnvOn(t, openStore(t))
}

// newWatchEnvOn is newWatchEnv over the store st.
func newWatchEnvOn(t *testing.T, st leadscore.Store) *watchEnv {
	t.Helper()
	clock := &testClock{t: watchStart}
	env := newScoringEnv(t, st, func(o *Options) { o.Now, o.DecayTick = clock.Now, -1 })
	return &watchEnv{env: env, clock: clock, client: leadscorev1.NewLeadServiceClient(env.conn), store: st.(leadscore.LeadStore), scoredAt: watchStart}
}

// lead stores a lead without rescoring it.
func (w *watchEnv) lead(t *testing.T, id, account, owner string) {
	t.Helper()
	l := leadscore.Lead{ID: id, AccountID: account, Owner: owner, CreatedAt: watchStart.AddDate(0, -1, 0)}
	if _, err := w.store.UpsertLeads(testContext(t), []leadscore.Lead{l}, leadscore.IngestOptions{At: watchStart}); err != nil {
		t.Fatalf("UpsertLeads(%s): %v", id, err)
	}
}

// score saves a score of lead id in tier and cell, which makes a change
// when either differs from its last, and returns the log's entry of it.
func (w *watchEnv) score(t *testing.T, id string, tier leadscore.Tier, cell string) leadscore.ScoreChange {
	t.Helper()
	c, err := leadscore.ParseCell("cell", cell)
	if err != nil {
		t.Fatal(err)
	}
	w.scoredAt = w.scoredAt.Add(time.Minute)
	rec := leadscore.LeadScoreRecord{
		LeadID: id, Version: leadscore.VersionRef{Model: "default", Version: 1}, Alias: leadscore.AliasChampion,
		Probability: 0.5, Score: 50, Percentile: 0.5, Tier: tier, Cell: c, Action: leadscore.ActionNurture,
		Horizon: 90 * 24 * time.Hour, ScoredAt: w.scoredAt, Reason: leadscore.ReasonEvent,
	}
	ctx := testContext(t)
	_, newest, err := w.store.ScoreChangeBounds(ctx)
	if err != nil {
		t.Fatalf("ScoreChangeBounds: %v", err)
	}
	if res, err := w.store.SaveScores(ctx, []leadscore.LeadScoreRecord{rec}, leadscore.SaveScoresOptions{}); err != nil || res.Changes != 1 {
		t.Fatalf("SaveScores(%s %v %s) = %+v, %v; want a change", id, tier, cell, res, err)
	}
	got, err := w.store.ScoreChanges(ctx, newest, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("ScoreChanges(after %d) = %+v, %v; want the one change", newest, got, err)
	}
	return got[0]
}

// watch opens a watch and waits for its headers: from then on every
// change is sent. The watch ends with ctx.
func (w *watchEnv) watch(t *testing.T, ctx context.Context, req *leadscorev1.WatchScoreChangesRequest) leadscorev1.LeadService_WatchScoreChangesClient {
	t.Helper()
	stream, err := w.client.WatchScoreChanges(ctx, req)
	if err != nil {
		t.Fatalf("WatchScoreChanges: %v", err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatalf("WatchScoreChanges headers: %v (%v)", err, recvErr(stream))
	}
	return stream
}

func recvErr(stream leadscorev1.LeadService_WatchScoreChangesClient) error {
	_, err := stream.Recv()
	return err
}

// recv receives n changes.
func recv(t *testing.T, stream leadscorev1.LeadService_WatchScoreChangesClient, n int) []*leadscorev1.ScoreChange {
	t.Helper()
	var out []*leadscorev1.ScoreChange
	for len(out) < n {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv after %d of %d changes: %v", len(out), n, err)
		}
		out = append(out, resp.GetChange())
	}
	return out
}

// wantNoMore fails unless the stream sends nothing more before its
// deadline: a few polls of the log.
func wantNoMore(t *testing.T, stream leadscorev1.LeadService_WatchScoreChangesClient) {
	t.Helper()
	resp, err := stream.Recv()
	if err == nil {
		t.Fatalf("Recv = %v, want nothing more", resp.GetChange())
	}
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("Recv: %v, want the deadline to pass", err)
	}
}

// wantChanges fails unless got are the log's entries want, each as the
// API shows it.
func wantChanges(t *testing.T, what string, got []*leadscorev1.ScoreChange, want []leadscore.ScoreChange) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d changes, want %d", what, len(got), len(want))
	}
	for i := range want {
		w := want[i]
		g := got[i]
		if seq, err := parseChangeCursor("cursor", g.GetCursor()); err != nil || seq != w.Seq {
			t.Errorf("%s[%d]: cursor %q reads as %d, %v; want seq %d", what, i, g.GetCursor(), seq, err, w.Seq)
		}
		prevCell := ""
		if w.PreviousTier != leadscore.TierNone {
			prevCell = w.PreviousCell.String()
		}
		if g.GetLead() != leadscore.LeadName(w.LeadID) || g.GetOwner() != w.Owner ||
			g.GetPreviousTier() != tierProto(w.PreviousTier) || g.GetPreviousCell() != prevCell ||
			!g.GetChangeTime().AsTime().Equal(w.ChangedAt) {
			t.Errorf("%s[%d] = %v, want lead %s of %q from %v %q at %v", what, i, g, w.LeadID, w.Owner, w.PreviousTier, prevCell, w.ChangedAt)
		}
		if wantAccount := accountNameOrEmpty(w.AccountID); g.GetAccount() != wantAccount {
			t.Errorf("%s[%d].account = %q, want %q", what, i, g.GetAccount(), wantAccount)
		}
		if s := g.GetScore(); s.GetTier() != tierProto(w.Score.Tier) || s.GetCell() != w.Score.Cell.String() ||
			s.GetProbability() != w.Score.Probability || s.GetModelVersion() != w.Score.Version.Name() ||
			!s.GetScoreTime().AsTime().Equal(w.Score.ScoredAt) {
			t.Errorf("%s[%d].score = %v, want %v %s p=%v by %s at %v", what, i, s, w.Score.Tier, w.Score.Cell, w.Score.Probability, w.Score.Version.Name(), w.Score.ScoredAt)
		}
	}
}

func accountNameOrEmpty(id string) string {
	if id == "" {
		return ""
	}
	return leadscore.AccountName(id)
}

// TestWatchScoreChangesFromNow watches with no cursor: changes recorded
// before the call are not sent, those after it are, in log order, with
// their previous and new tier and cell and the new score; a lead's first
// score through the API comes as a change from no tier, with the score
// GetLead shows.
func TestWatchScoreChangesFromNow(t *testing.T) {
	t.Parallel()
	w := newWatchEnv(t)
	w.lead(t, "a", "acme", "sam")
	w.score(t, "a", leadscore.TierMedium, "B2")

	ctx, cancel := context.WithTimeout(testContext(t), 15*time.Second)
	defer cancel()
	stream := w.watch(t, ctx, &leadscorev1.WatchScoreChangesRequest{})
	if _, err := w.client.UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{Leads: []*leadscorev1.Lead{
		{Name: "leads/b", Account: "accounts/globex", Owner: "kim", CreateTime: timestamppb.New(watchStart.AddDate(0, -1, 0))},
	}}); err != nil {
		t.Fatalf("UpsertLeads: %v", err)
	}
	up := w.score(t, "a", leadscore.TierVeryGood, "A1")
	down := w.score(t, "a", leadscore.TierLow, "C3")

	got := recv(t, stream, 3)
	log, err := w.store.ScoreChanges(ctx, 0, 10)
	if err != nil || len(log) != 4 {
		t.Fatalf("ScoreChanges = %+v, %v; want 4 changes", log, err)
	}
	wantChanges(t, "watch from now", got, log[1:])
	if got[0].GetLead() != "leads/b" || got[0].GetPreviousTier() != leadscorev1.Tier_TIER_UNSPECIFIED || got[0].GetPreviousCell() != "" {
		t.Errorf("first change %v, want lead b's first score from no tier", got[0])
	}
	lead, err := w.client.GetLead(ctx, &leadscorev1.GetLeadRequest{Name: "leads/b"})
	if err != nil {
		t.Fatalf("GetLead: %v", err)
	}
	cur := proto.CloneOf(lead.GetLead().GetCurrentScore())
	cur.Factors = nil
	if !proto.Equal(got[0].GetScore(), cur) {
		t.Errorf("lead b's change has score %v, want its current score %v", got[0].GetScore(), cur)
	}
	if got[1].GetPreviousTier() != leadscorev1.Tier_TIER_MEDIUM || got[1].GetPreviousCell() != "B2" || got[1].GetScore().GetCell() != "A1" ||
		got[2].GetPreviousTier() != leadscorev1.Tier_TIER_VERY_GOOD || got[2].GetPreviousCell() != "A1" || got[2].GetScore().GetTier() != leadscorev1.Tier_TIER_LOW {
		t.Errorf("lead a's changes %v, %v; want medium B2 -> very good A1 -> low C3 (log: %+v, %+v)", got[1], got[2], up, down)
	}
}

// TestWatchScoreChangesResumes, on both backends, disconnects a watcher and resumes it with
// the cursor of the last change it processed: it receives every later
// change as the log holds it, those made while it was away included, and
// then those made after it resumed.
func TestWatchScoreChangesResumes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, st leadscore.Store) {
		w := newWatchEnvOn(t, st)
		for _, id := range []string{"a", "b", "c"} {
			w.lead(t, id, "", "")
		}
		ctx := testContext(t)
		first, cancelFirst := context.WithCancel(ctx)
		stream := w.watch(t, first, &leadscorev1.WatchScoreChangesRequest{})
		seen := []leadscore.ScoreChange{w.score(t, "a", leadscore.TierMedium, "B2"), w.score(t, "b", leadscore.TierLow, "D4")}
		got := recv(t, stream, 2)
		wantChanges(t, "before the disconnect", got, seen)
		cancelFirst()
		if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
			t.Fatalf("Recv after cancel: %v, want Canceled", err)
		}

		away := []leadscore.ScoreChange{
			w.score(t, "c", leadscore.TierGood, "B1"),
			w.score(t, "a", leadscore.TierVeryGood, "A1"),
			w.score(t, "b", leadscore.TierLow, "D3"),
		}
		second, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		stream = w.watch(t, second, &leadscorev1.WatchScoreChangesRequest{Cursor: got[1].GetCursor()})
		wantChanges(t, "made while away", recv(t, stream, 3), away)
		later := w.score(t, "c", leadscore.TierMedium, "C2")
		wantChanges(t, "made after resuming", recv(t, stream, 1), []leadscore.ScoreChange{later})

		// At least once: resuming from an earlier cursor sends again what
		// followed it, in order.
		third, cancel3 := context.WithTimeout(ctx, 15*time.Second)
		defer cancel3()
		stream = w.watch(t, third, &leadscorev1.WatchScoreChangesRequest{Cursor: got[0].GetCursor()})
		wantChanges(t, "from the first cursor", recv(t, stream, 5), append(append([]leadscore.ScoreChange{seen[1]}, away...), later))
	})
}

// TestWatchScoreChangesResumesOverAnErasedLead, on both backends,
// resumes a watch from a change of a lead that has since been erased, with
// its later changes: the seqs missing after the cursor were erased, not
// pruned, so the watch goes on with the next change rather than telling
// the client to resync.
func TestWatchScoreChangesResumesOverAnErasedLead(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, st leadscore.Store) {
		w := newWatchEnvOn(t, st)
		w.lead(t, "a", "", "")
		w.lead(t, "b", "", "")
		seen := w.score(t, "b", leadscore.TierLow, "D4")
		w.score(t, "b", leadscore.TierMedium, "B2")
		later := w.score(t, "a", leadscore.TierGood, "B1")
		ctx := testContext(t)
		if err := w.store.DeleteLead(ctx, "b", leadscore.Erasure{Actor: "test", At: time.Now()}); err != nil {
			t.Fatalf("DeleteLead(b): %v", err)
		}
		watch, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		stream := w.watch(t, watch, &leadscorev1.WatchScoreChangesRequest{Cursor: changeCursor(seen.Seq)})
		wantChanges(t, "after the erased lead's first change", recv(t, stream, 1), []leadscore.ScoreChange{later})
	})
}

// TestWatchScoreChangesFilters resumes watches with filters over one log:
// each sends exactly the changes that pass, a tier or cell filter those
// into or out of its members.
func TestWatchScoreChangesFilters(t *testing.T) {
	t.Parallel()
	w := newWatchEnv(t)
	w.lead(t, "o", "initech", "lee")
	w.lead(t, "p", "acme", "sam")
	w.lead(t, "q", "globex", "kim")
	start := w.score(t, "o", leadscore.TierLow, "D4")
	log := []leadscore.ScoreChange{
		w.score(t, "p", leadscore.TierMedium, "B2"),   // 0: p none -> medium B2
		w.score(t, "q", leadscore.TierLow, "C3"),      // 1: q none -> low C3
		w.score(t, "p", leadscore.TierVeryGood, "A1"), // 2: p medium B2 -> very good A1
		w.score(t, "q", leadscore.TierMedium, "B2"),   // 3: q low C3 -> medium B2
		w.score(t, "p", leadscore.TierGood, "B1"),     // 4: p very good A1 -> good B1
	}
	tests := []struct {
		name string
		req  *leadscorev1.WatchScoreChangesRequest
		want []int
	}{
		{"no filter sends every change", &leadscorev1.WatchScoreChangesRequest{}, []int{0, 1, 2, 3, 4}},
		{"a tier sends changes into and out of it",
			&leadscorev1.WatchScoreChangesRequest{Tiers: []leadscorev1.Tier{leadscorev1.Tier_TIER_VERY_GOOD}}, []int{2, 4}},
		{"tiers send changes into or out of any",
			&leadscorev1.WatchScoreChangesRequest{Tiers: []leadscorev1.Tier{leadscorev1.Tier_TIER_LOW, leadscorev1.Tier_TIER_GOOD}}, []int{1, 3, 4}},
		{"a cell sends changes into and out of it", &leadscorev1.WatchScoreChangesRequest{Cells: []string{"b2"}}, []int{0, 2, 3}},
		{"an account sends its leads' changes", &leadscorev1.WatchScoreChangesRequest{Account: "accounts/acme"}, []int{0, 2, 4}},
		{"an owner sends their leads' changes", &leadscorev1.WatchScoreChangesRequest{Owner: "kim"}, []int{1, 3}},
		{"filters together send what passes each",
			&leadscorev1.WatchScoreChangesRequest{Tiers: []leadscorev1.Tier{leadscorev1.Tier_TIER_MEDIUM}, Account: "accounts/globex"}, []int{3}},
		{"a filter nothing passes sends nothing", &leadscorev1.WatchScoreChangesRequest{Owner: "nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(testContext(t), 2*time.Second)
			defer cancel()
			tt.req.Cursor = changeCursor(start.Seq)
			stream := w.watch(t, ctx, tt.req)
			var want []leadscore.ScoreChange
			for _, i := range tt.want {
				want = append(want, log[i])
			}
			wantChanges(t, tt.name, recv(t, stream, len(want)), want)
			wantNoMore(t, stream)
		})
	}
}

// wantWatchStatus fails unless err is a status of code whose BadRequest
// details name field.
func wantWatchStatus(t *testing.T, what string, err error, code codes.Code, field string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("%s: %v, want %v", what, err, code)
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return
				}
			}
		}
	}
	t.Errorf("%s: %v has no field violation of %q", what, st.Details(), field)
}

// TestWatchScoreChangesRefusals, on both backends, checks cursors and filters a watch
// refuses: a malformed cursor or filter is INVALID_ARGUMENT naming it, a
// cursor whose successor was pruned (or past the newest change) is
// OUT_OF_RANGE, and the newest cursor stays good after every change is
// pruned.
func TestWatchScoreChangesRefusals(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, st leadscore.Store) {
		w := newWatchEnvOn(t, st)
		w.lead(t, "a", "", "")
		c0 := w.score(t, "a", leadscore.TierLow, "D4")
		c1 := w.score(t, "a", leadscore.TierMedium, "B2")
		ctx := testContext(t)
		if n, err := w.store.PruneScoreChanges(ctx, time.Now().Add(time.Hour)); err != nil || n != 2 {
			t.Fatalf("PruneScoreChanges = %d, %v; want 2", n, err)
		}
		c2 := w.score(t, "a", leadscore.TierVeryGood, "A1")

		// call opens a watch and returns the error that ends it within a
		// second, or nil when it is still open then.
		call := func(req *leadscorev1.WatchScoreChangesRequest) ([]*leadscorev1.ScoreChange, error) {
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			stream, err := w.client.WatchScoreChanges(ctx, req)
			if err != nil {
				return nil, err
			}
			var got []*leadscorev1.ScoreChange
			for {
				resp, err := stream.Recv()
				if status.Code(err) == codes.DeadlineExceeded {
					return got, nil
				}
				if err != nil {
					return got, err
				}
				got = append(got, resp.GetChange())
			}
		}
		for _, tt := range []struct {
			name  string
			req   *leadscorev1.WatchScoreChangesRequest
			code  codes.Code
			field string
		}{
			{"a cursor whose successor was pruned is out of range", &leadscorev1.WatchScoreChangesRequest{Cursor: changeCursor(c0.Seq)}, codes.OutOfRange, "cursor"},
			{"a cursor after the newest change is out of range", &leadscorev1.WatchScoreChangesRequest{Cursor: changeCursor(c2.Seq + 1)}, codes.OutOfRange, "cursor"},
			{"a cursor not in base64url is invalid", &leadscorev1.WatchScoreChangesRequest{Cursor: "not a cursor!"}, codes.InvalidArgument, "cursor"},
			{"a cursor of another spelling is invalid", &leadscorev1.WatchScoreChangesRequest{Cursor: changeCursor(c1.Seq)[:3]}, codes.InvalidArgument, "cursor"},
			{"a cursor of seq 0 is invalid", &leadscorev1.WatchScoreChangesRequest{Cursor: changeCursor(0)}, codes.InvalidArgument, "cursor"},
			{"a cell that is no cell is invalid", &leadscorev1.WatchScoreChangesRequest{Cells: []string{"Z9"}}, codes.InvalidArgument, "cells[0]"},
			{"the second bad cell is named", &leadscorev1.WatchScoreChangesRequest{Cells: []string{"A1", ""}}, codes.InvalidArgument, "cells[1]"},
			{"an unspecified tier is invalid", &leadscorev1.WatchScoreChangesRequest{Tiers: []leadscorev1.Tier{leadscorev1.Tier_TIER_UNSPECIFIED}}, codes.InvalidArgument, "tiers[0]"},
			{"an account that is no account name is invalid", &leadscorev1.WatchScoreChangesRequest{Account: "acme"}, codes.InvalidArgument, "account"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := call(tt.req)
				if len(got) != 0 {
					t.Errorf("sent %v before failing", got)
				}
				wantWatchStatus(t, tt.name, err, tt.code, tt.field)
			})
		}

		// The cursor just before the oldest retained change misses nothing.
		got, err := call(&leadscorev1.WatchScoreChangesRequest{Cursor: changeCursor(c1.Seq)})
		if err != nil {
			t.Fatalf("watch from the last pruned change: %v", err)
		}
		wantChanges(t, "watch from the last pruned change", got, []leadscore.ScoreChange{c2})

		// With every change pruned the log is empty, and the newest cursor is
		// still told from an older one.
		if n, err := w.store.PruneScoreChanges(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("PruneScoreChanges = %d, %v; want 1", n, err)
		}
		if got, err := call(&leadscorev1.WatchScoreChangesRequest{Cursor: changeCursor(c2.Seq)}); err != nil || len(got) != 0 {
			t.Errorf("watch from the newest change of an empty log: %v, %v; want it open with nothing to send", got, err)
		}
		_, err = call(&leadscorev1.WatchScoreChangesRequest{Cursor: changeCursor(c1.Seq)})
		wantWatchStatus(t, "watch from a pruned change of an empty log", err, codes.OutOfRange, "cursor")
	})
}

// TestWatchScoreChangesEndsUnavailableOnShutdown shuts the server down
// under an open watch: the stream ends with UNAVAILABLE, so its client
// resumes elsewhere, and the shutdown does not wait for it.
func TestWatchScoreChangesEndsUnavailableOnShutdown(t *testing.T) {
	t.Parallel()
	w := newWatchEnv(t)
	stream := w.watch(t, testContext(t), &leadscorev1.WatchScoreChangesRequest{})
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- w.env.srv.Shutdown(stopCtx) }()
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("Recv during shutdown: %v, want Unavailable", err)
	}
	if err := <-shutdown; err != nil {
		t.Errorf("Shutdown: %v, want a graceful stop", err)
	}
}

// TestChangeCursorRoundTrips checks that every cursor reads back as its
// seq and that the spelling is canonical.
func TestChangeCursorRoundTrips(t *testing.T) {
	t.Parallel()
	for _, seq := range []int64{1, 9, 10, 500, 1 << 40, 1<<63 - 1} {
		if got, err := parseChangeCursor("cursor", changeCursor(seq)); err != nil || got != seq {
			t.Errorf("parseChangeCursor(changeCursor(%d)) = %d, %v", seq, got, err)
		}
	}
	for _, bad := range []string{"", "seq:1", enc("seq:01"), enc("seq:+1"), enc("seq:-1"), enc("seq:"), enc("seq: 1"), enc("1"), enc("seq:9223372036854775808")} {
		if _, err := parseChangeCursor("cursor", bad); leadscore.ErrorCode(err) != leadscore.EINVALID {
			t.Errorf("parseChangeCursor(%q) = %v, want EINVALID", bad, err)
		}
	}
}

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// FuzzChangeCursor checks that no input panics the cursor parser and that
// what it accepts is the canonical cursor of what it returns.
func FuzzChangeCursor(f *testing.F) {
	for _, s := range []string{changeCursor(1), changeCursor(1 << 40), "", "c2VxOjA", "%%%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seq, err := parseChangeCursor("cursor", s)
		if err != nil {
			var e *leadscore.Error
			if !errors.As(err, &e) || e.Code != leadscore.EINVALID {
				t.Fatalf("parseChangeCursor(%q): %v, want EINVALID", s, err)
			}
			return
		}
		if seq < 1 || changeCursor(seq) != s {
			t.Fatalf("parseChangeCursor(%q) = %d, which encodes as %q", s, seq, changeCursor(seq))
		}
	})
}

// TestChangePrunerKeepsTheRetentionWindow runs the pruner over a store:
// at start it deletes the changes recorded before the window and keeps
// the others, and the default retention applies when none is set.
func TestChangePrunerKeepsTheRetentionWindow(t *testing.T) {
	t.Parallel()
	w := newWatchEnv(t)
	if got := w.env.srv.pruner.retention; got != DefaultChangeRetention {
		t.Errorf("retention = %v, want DefaultChangeRetention %v", got, DefaultChangeRetention)
	}
	w.lead(t, "a", "", "")
	old := w.score(t, "a", leadscore.TierLow, "D4")
	for !time.Now().After(old.ChangedAt.Add(2 * time.Millisecond)) {
		time.Sleep(time.Millisecond)
	}
	kept := w.score(t, "a", leadscore.TierMedium, "B2")
	// The pruner's clock stands an hour ahead, and the window is an hour
	// less the gap between the two changes.
	window := time.Hour - kept.ChangedAt.Sub(old.ChangedAt)/2
	p := &changePruner{store: w.store, retention: window, every: time.Hour, now: func() time.Time {
		return old.ChangedAt.Add(time.Hour)
	}, logger: testLogger(t)}
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan struct{})
	go func() { defer close(done); p.run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pruned, _, err := w.store.ScoreChangeBounds(ctx)
		if err != nil {
			t.Fatalf("ScoreChangeBounds: %v", err)
		}
		if pruned == old.Seq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("changes pruned through %d, want %d once the pruner ran", pruned, old.Seq)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	got, err := w.store.ScoreChanges(testContext(t), 0, 10)
	if err != nil || len(got) != 1 || got[0].Seq != kept.Seq {
		t.Errorf("ScoreChanges after pruning = %+v, %v; want only change %d", got, err, kept.Seq)
	}
	if _, err := New(Options{Logger: testLogger(t), Store: w.env.store, Registry: w.env.reg, ChangeRetention: -time.Hour}); err == nil {
		t.Errorf("New with a negative change retention succeeded, want an error")
	}
}
