package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/model"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/registry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var champion = leadscore.AliasRef{Model: "default", Alias: leadscore.AliasChampion}

// scoringEnv is a server serving default@champion over a store whose
// registry holds the fixture artifacts as versions 1 and 2, version 1 the
// champion.
type scoringEnv struct {
	store  leadscore.Store
	reg    *registry.Registry
	loader *registry.Loader
	srv    *Server
	conn   *grpc.ClientConn
	client leadscorev1.ScoringServiceClient
	fx     fixtures
}

func newScoringEnv(t *testing.T, st leadscore.Store, edit func(*Options)) *scoringEnv {
	t.Helper()
	fx := testFixtures(t)
	ctx := testContext(t)
	reg := registry.New(st.(leadscore.RegistryStore))
	for _, a := range fx.artifacts {
		if _, _, err := reg.RegisterVersion(ctx, registry.NewVersion{Model: "default", Artifact: a, Actor: "test", CreateModel: true}); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	if _, _, err := reg.Promote(ctx, registry.Promotion{Version: leadscore.VersionRef{Model: "default", Version: 1}, Actor: "test", Force: true, Reason: "test fixture"}); err != nil {
		t.Fatalf("promote: %v", err)
	}
	aliases := []leadscore.AliasRef{champion, {Model: "default", Alias: "challenger"}}
	loader := registry.NewLoader(reg, aliases, testLogger(t))
	loader.ResyncInterval = 50 * time.Millisecond
	srv := newServerWith(t, st, func(o *Options) {
		o.Registry = reg
		o.Loader = loader
		o.ServedAliases = []leadscore.AliasRef{champion}
		if edit != nil {
			edit(o)
		}
	})
	loader.OnChange = srv.ModelsChanged
	lctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = loader.Run(lctx) }()
	t.Cleanup(func() { cancel(); <-done })
	conn := start(t, srv)
	env := &scoringEnv{store: st, reg: reg, loader: loader, srv: srv, conn: conn, client: leadscorev1.NewScoringServiceClient(conn), fx: fx}
	env.waitHealth(t, scoringServiceName, healthpb.HealthCheckResponse_SERVING)
	return env
}

// waitHealth waits until a service reports want.
func (e *scoringEnv) waitHealth(t *testing.T, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	client := healthpb.NewHealthClient(e.conn)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Check(testContext(t), &healthpb.HealthCheckRequest{Service: service})
		if err == nil && resp.GetStatus() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health of %q: got %v, %v; want %v", service, resp.GetStatus(), err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// inlineLead converts lead i of the fixture history, with its events
// before at, into an inline lead.
func inlineLead(fx fixtures, i int, at time.Time) *leadscorev1.InlineLead {
	return InlineLead(fx.history.Lead(i), fx.history.Events(i), at)
}

// activeLead returns the index of a lead created before at with at least
// minEvents events before at.
func activeLead(t *testing.T, fx fixtures, at time.Time, minEvents int) int {
	t.Helper()
	for i := range fx.history.Len() {
		if !fx.history.Created(i).Before(at) {
			continue
		}
		n := 0
		for _, e := range fx.history.Events(i) {
			if e.OccurredAt.Before(at) {
				n++
			}
		}
		if n >= minEvents {
			return i
		}
	}
	t.Fatalf("no lead with %d events before %s", minEvents, at)
	return 0
}

func scoreOpts(at time.Time) *leadscorev1.ScoreOptions {
	return &leadscorev1.ScoreOptions{ScoreTime: timestamppb.New(at)}
}

// TestScoreAgreesWithTheBacktestPath scores history leads inline over the
// transport and checks each score against the one the backtest path
// computes for the same lead, time and version (History.Bind, the
// featurizer and the scorer), to 1e-9.
func TestScoreAgreesWithTheBacktestPath(t *testing.T) {
	t.Parallel()
	env := newScoringEnv(t, openStore(t), nil)
	ctx := testContext(t)
	m, _, err := env.reg.LoadVersion(ctx, leadscore.VersionRef{Model: "default", Version: 1})
	if err != nil {
		t.Fatalf("load version: %v", err)
	}
	bind, err := env.fx.history.Bind(m.Spec)
	if err != nil {
		t.Fatalf("bind: %v", err)
	}
	sc, err := model.NewScorer(m)
	if err != nil {
		t.Fatalf("scorer: %v", err)
	}
	at := time.Date(2024, time.October, 15, 12, 0, 0, 0, time.UTC)
	checked := 0
	for i := 0; i < env.fx.history.Len() && checked < 40; i += 97 {
		if !env.fx.history.Created(i).Before(at) {
			continue
		}
		row := make([]float64, bind.Width())
		if err := bind.Row(i, at, row); err != nil {
			t.Fatalf("row of lead %d: %v", i, err)
		}
		var want model.Scored
		if err := sc.Score(row, &want); err != nil {
			t.Fatalf("score lead %d offline: %v", i, err)
		}
		resp, err := env.client.Score(ctx, &leadscorev1.ScoreRequest{
			Item:    &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: inlineLead(env.fx, i, at)}},
			Options: scoreOpts(at),
		})
		if err != nil {
			t.Fatalf("Score lead %d: %v", i, err)
		}
		got := resp.GetScore()
		if d := math.Abs(got.GetProbability() - want.Probability); d > 1e-9 {
			t.Errorf("lead %d: probability %v over the API, %v offline (diff %g)", i, got.GetProbability(), want.Probability, d)
		}
		if got.GetCell() != want.Cell.String() || got.GetTier() != tierProto(want.Tier) {
			t.Errorf("lead %d: cell %s tier %v over the API, %s %v offline", i, got.GetCell(), got.GetTier(), want.Cell, want.Tier)
		}
		checked++
	}
	if checked < 20 {
		t.Fatalf("checked only %d leads", checked)
	}
}

func TestScoreFillsEveryField(t *testing.T) {
	t.Parallel()
	env := newScoringEnv(t, openStore(t), nil)
	ctx := testContext(t)
	at := time.Date(2024, time.October, 15, 0, 0, 0, 0, time.UTC)
	i := activeLead(t, env.fx, at, 5)
	lead := inlineLead(env.fx, i, at)
	lead.Attributes["favourite_colour"] = &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_StringValue{StringValue: "teal"}}
	lead.Attributes["shoe_size"] = &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_NumberValue{NumberValue: 42}}
	opts := scoreOpts(at)
	opts.Explain, opts.MaxFactors = true, 3
	resp, err := env.client.Score(ctx, &leadscorev1.ScoreRequest{
		Item: &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: lead}, Key: "crm-1"}, Options: opts,
	})
	if err != nil {
		t.Fatalf("Score: %v", err)
	}
	s := resp.GetScore()
	if p := s.GetProbability(); !(p > 0 && p < 1) {
		t.Errorf("probability %v, want in (0, 1)", p)
	}
	if got, want := s.GetScore(), int32(min(99, max(1, math.Round(s.GetProbability()*100)))); got != want {
		t.Errorf("score %d, want %d", got, want)
	}
	if s.GetTier() == leadscorev1.Tier_TIER_UNSPECIFIED || s.GetGrade() == leadscorev1.Grade_GRADE_UNSPECIFIED ||
		s.GetEngagementLevel() == leadscorev1.EngagementLevel_ENGAGEMENT_LEVEL_UNSPECIFIED {
		t.Errorf("tier %v grade %v level %v: all must be set", s.GetTier(), s.GetGrade(), s.GetEngagementLevel())
	}
	if want := string(rune('A'+s.GetGrade()-1)) + string(rune('0'+s.GetEngagementLevel())); s.GetCell() != want {
		t.Errorf("cell %q, want %q from the grade and level", s.GetCell(), want)
	}
	if s.GetNextAction() == "" || s.GetPercentile() < 0 || s.GetPercentile() > 100 {
		t.Errorf("next action %q, percentile %v", s.GetNextAction(), s.GetPercentile())
	}
	if s.GetModelVersion() != "models/default/versions/1" || s.GetAlias() != "champion" {
		t.Errorf("model version %q alias %q, want models/default/versions/1 through champion", s.GetModelVersion(), s.GetAlias())
	}
	if !s.GetScoreTime().AsTime().Equal(at) || s.GetHorizon().AsDuration() != 90*24*time.Hour {
		t.Errorf("score time %v horizon %v", s.GetScoreTime().AsTime(), s.GetHorizon().AsDuration())
	}
	if got, want := resp.GetUnknownAttributes(), []string{"favourite_colour", "shoe_size"}; !slices.Equal(got, want) {
		t.Errorf("unknown attributes %v, want %v", got, want)
	}
	var pos, neg int
	for _, f := range s.GetFactors() {
		if f.GetDescription() == "" || f.GetFeature() == "" || f.GetGroup() == leadscorev1.FactorGroup_FACTOR_GROUP_UNSPECIFIED {
			t.Errorf("factor %v lacks words", f)
		}
		if f.GetContribution() > 0 {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || pos > 3 || neg > 3 {
		t.Errorf("%d positive and %d negative factors, want 1 to 3 and at most 3", pos, neg)
	}
	// Explaining changes nothing but the factors.
	opts.Explain = false
	plain, err := env.client.Score(ctx, &leadscorev1.ScoreRequest{
		Item: &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: lead}}, Options: opts,
	})
	if err != nil {
		t.Fatalf("Score without explanations: %v", err)
	}
	if plain.GetScore().GetProbability() != s.GetProbability() || plain.GetScore().GetCell() != s.GetCell() || len(plain.GetScore().GetFactors()) != 0 {
		t.Errorf("without explanations: %v, want the same probability and cell and no factors", plain.GetScore())
	}
}

func TestScoreRefusesMalformedInput(t *testing.T) {
	t.Parallel()
	env := newScoringEnv(t, openStore(t), nil)
	ctx := testContext(t)
	at := time.Date(2024, time.October, 15, 0, 0, 0, 0, time.UTC)
	i := activeLead(t, env.fx, at, 1)
	m, _, err := env.reg.LoadVersion(ctx, leadscore.VersionRef{Model: "default", Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	var numeric, categorical string
	for _, f := range m.Spec.Fit {
		switch {
		case f.Kind == model.KindNumeric && numeric == "":
			numeric = f.Attribute
		case f.Kind == model.KindCategorical && categorical == "":
			categorical = f.Attribute
		}
	}
	if numeric == "" || categorical == "" {
		t.Fatalf("the fixture model has no numeric or no categorical attribute: %+v", m.Spec.Fit)
	}
	num := func(x float64) *leadscorev1.AttributeValue {
		return &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_NumberValue{NumberValue: x}}
	}
	str := func(s string) *leadscorev1.AttributeValue {
		return &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_StringValue{StringValue: s}}
	}
	tests := []struct {
		name  string
		edit  func(*leadscorev1.ScoreRequest)
		code  codes.Code
		field string
	}{
		{"a NaN number", func(r *leadscorev1.ScoreRequest) { inl(r).Attributes[numeric] = num(math.NaN()) }, codes.InvalidArgument, "item.inline_lead.attributes." + numeric},
		{"an infinite number", func(r *leadscorev1.ScoreRequest) { inl(r).Attributes[numeric] = num(math.Inf(1)) }, codes.InvalidArgument, "item.inline_lead.attributes." + numeric},
		{"a string for a number", func(r *leadscorev1.ScoreRequest) { inl(r).Attributes[numeric] = str("many") }, codes.InvalidArgument, "item.inline_lead.attributes." + numeric},
		{"a number for a category", func(r *leadscorev1.ScoreRequest) { inl(r).Attributes[categorical] = num(3) }, codes.InvalidArgument, "item.inline_lead.attributes." + categorical},
		{"an over-long string", func(r *leadscorev1.ScoreRequest) { inl(r).Attributes[categorical] = str(strings.Repeat("x", 1025)) }, codes.InvalidArgument, "item.inline_lead.attributes." + categorical},
		{"a value with no kind", func(r *leadscorev1.ScoreRequest) { inl(r).Attributes[categorical] = &leadscorev1.AttributeValue{} }, codes.InvalidArgument, "item.inline_lead.attributes." + categorical},
		{"a badly spelt unknown key", func(r *leadscorev1.ScoreRequest) { inl(r).Attributes["Bad Key!"] = str("x") }, codes.InvalidArgument, "item.inline_lead.attributes"},
		{"an event of an unknown type", func(r *leadscorev1.ScoreRequest) { inl(r).Events[0].Type = "telepathy" }, codes.InvalidArgument, "item.inline_lead.events[0].type"},
		{"an event after the score time", func(r *leadscorev1.ScoreRequest) {
			inl(r).Events[0].OccurTime = timestamppb.New(at.Add(time.Hour))
		}, codes.InvalidArgument, "item.inline_lead.events[0].occur_time"},
		{"an event without a time", func(r *leadscorev1.ScoreRequest) { inl(r).Events[0].OccurTime = nil }, codes.InvalidArgument, "item.inline_lead.events[0].occur_time"},
		{"an event with a bad property", func(r *leadscorev1.ScoreRequest) {
			inl(r).Events[0].Properties = map[string]string{"page": strings.Repeat("p", 1025)}
		}, codes.InvalidArgument, "item.inline_lead.events[0].properties.page"},
		{"a creation after the score time", func(r *leadscorev1.ScoreRequest) { inl(r).CreateTime = timestamppb.New(at.Add(time.Hour)) }, codes.InvalidArgument, "item.inline_lead.create_time"},
		{"a bad account name", func(r *leadscorev1.ScoreRequest) { inl(r).Account = "acme" }, codes.InvalidArgument, "item.inline_lead.account"},
		{"a score time in the future", func(r *leadscorev1.ScoreRequest) {
			r.Options.ScoreTime = timestamppb.New(time.Now().Add(24 * time.Hour))
		}, codes.InvalidArgument, "options.score_time"},
		{"too many factors", func(r *leadscorev1.ScoreRequest) { r.Options.MaxFactors = 51 }, codes.InvalidArgument, "options.max_factors"},
		{"a bad model name", func(r *leadscorev1.ScoreRequest) { r.Options.Model = &leadscorev1.ModelSelector{Model: "default"} }, codes.InvalidArgument, "options.model.model"},
		{"version zero", func(r *leadscorev1.ScoreRequest) {
			r.Options.Model = &leadscorev1.ModelSelector{Target: &leadscorev1.ModelSelector_Version{Version: -1}}
		}, codes.InvalidArgument, "options.model.version"},
		{"a bad alias", func(r *leadscorev1.ScoreRequest) {
			r.Options.Model = &leadscorev1.ModelSelector{Target: &leadscorev1.ModelSelector_Alias{Alias: "Champion!"}}
		}, codes.InvalidArgument, "options.model.alias"},
		{"an over-long key", func(r *leadscorev1.ScoreRequest) { r.Item.Key = strings.Repeat("k", 129) }, codes.InvalidArgument, "item.key"},
		{"no subject", func(r *leadscorev1.ScoreRequest) { r.Item.Subject = nil }, codes.InvalidArgument, "item.subject"},
		{"no item", func(r *leadscorev1.ScoreRequest) { r.Item = nil }, codes.InvalidArgument, "item"},
		{"a bad lead name", func(r *leadscorev1.ScoreRequest) { r.Item.Subject = &leadscorev1.ScoreItem_Lead{Lead: "lead-1"} }, codes.InvalidArgument, "item.lead"},
		{"a stored lead the store does not hold", func(r *leadscorev1.ScoreRequest) { r.Item.Subject = &leadscorev1.ScoreItem_Lead{Lead: "leads/lead-1"} }, codes.NotFound, ""},
		{"a version that does not exist", func(r *leadscorev1.ScoreRequest) {
			r.Options.Model = &leadscorev1.ModelSelector{Target: &leadscorev1.ModelSelector_Version{Version: 99}}
		}, codes.NotFound, ""},
		{"a model that does not exist", func(r *leadscorev1.ScoreRequest) {
			r.Options.Model = &leadscorev1.ModelSelector{Model: "models/nobody"}
		}, codes.NotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			req := &leadscorev1.ScoreRequest{
				Item:    &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: inlineLead(env.fx, i, at)}},
				Options: scoreOpts(at),
			}
			tt.edit(req)
			_, err := env.client.Score(ctx, req)
			if tt.field != "" {
				wantBadField(t, tt.name, err, tt.field)
				return
			}
			wantStatus(t, tt.name, err, tt.code)
		})
	}
}

// inl returns a request's inline lead.
func inl(r *leadscorev1.ScoreRequest) *leadscorev1.InlineLead { return r.GetItem().GetInlineLead() }

func TestScoreBatchAndStreamScoreKeepKeysAndReportBadItems(t *testing.T) {
	t.Parallel()
	env := newScoringEnv(t, openStore(t), nil)
	ctx := testContext(t)
	at := time.Date(2024, time.October, 15, 0, 0, 0, 0, time.UTC)
	var items []*leadscorev1.ScoreItem
	for i := 0; len(items) < 50; i++ {
		if env.fx.history.Created(i).Before(at) {
			items = append(items, &leadscorev1.ScoreItem{Key: env.fx.history.LeadID(i), Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: inlineLead(env.fx, i, at)}})
		}
	}
	bad := proto.Clone(items[7]).(*leadscorev1.ScoreItem)
	bad.GetInlineLead().Attributes["employees"] = &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_NumberValue{NumberValue: math.Inf(-1)}}
	bad.GetInlineLead().CreateTime = timestamppb.New(at.Add(time.Hour))
	items[7] = bad
	check := func(t *testing.T, what string, results []*leadscorev1.ScoreItemResult) {
		t.Helper()
		if len(results) != len(items) {
			t.Fatalf("%s: %d results for %d items", what, len(results), len(items))
		}
		for k, r := range results {
			if r.GetKey() != items[k].GetKey() {
				t.Errorf("%s: result %d has key %q, want %q", what, k, r.GetKey(), items[k].GetKey())
			}
			if k == 7 {
				e := r.GetError()
				if e.GetCode() != "INVALID_ARGUMENT" || len(e.GetFieldViolations()) == 0 || !strings.HasPrefix(e.GetFieldViolations()[0].GetField(), "items[7].inline_lead.") {
					t.Errorf("%s: bad item's result %v, want INVALID_ARGUMENT naming items[7].inline_lead...", what, r)
				}
				continue
			}
			if r.GetScore() == nil || r.GetScore().GetCell() == "" {
				t.Errorf("%s: item %d has no score: %v", what, k, r)
			}
		}
	}
	batch, err := env.client.ScoreBatch(ctx, &leadscorev1.ScoreBatchRequest{Items: items, Options: scoreOpts(at)})
	if err != nil {
		t.Fatalf("ScoreBatch: %v", err)
	}
	check(t, "ScoreBatch", batch.GetResults())
	if batch.GetModelVersion() != "models/default/versions/1" || batch.GetAlias() != "champion" {
		t.Errorf("batch scored by %q through %q", batch.GetModelVersion(), batch.GetAlias())
	}

	too := make([]*leadscorev1.ScoreItem, MaxBatchItems+1)
	for k := range too {
		too[k] = items[0]
	}
	_, err = env.client.ScoreBatch(ctx, &leadscorev1.ScoreBatchRequest{Items: too})
	wantBadField(t, "ScoreBatch of 1001 items", err, "items")

	stream, err := env.client.StreamScore(ctx)
	if err != nil {
		t.Fatalf("StreamScore: %v", err)
	}
	const chunks = 3
	for c := range chunks {
		req := &leadscorev1.StreamScoreRequest{Items: items}
		if c == 0 {
			req.Options = scoreOpts(at)
		}
		if err := stream.Send(req); err != nil {
			t.Fatalf("send chunk %d: %v", c, err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for c := range chunks {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("receive chunk %d: %v", c, err)
		}
		if resp.GetChunk() != int64(c) || resp.GetModelVersion() != "models/default/versions/1" {
			t.Errorf("chunk %d answered as chunk %d by %q", c, resp.GetChunk(), resp.GetModelVersion())
		}
		check(t, "StreamScore", resp.GetResults())
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last chunk: %v, want EOF", err)
	}

	// Options on a later chunk end the stream with INVALID_ARGUMENT.
	stream, err = env.client.StreamScore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := stream.Send(&leadscorev1.StreamScoreRequest{Items: items[:1], Options: scoreOpts(at)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	_, err = stream.Recv()
	wantBadField(t, "options on chunk 1", err, "options")
}

func TestPinnedVersionsLoadOnDemandIntoABoundedCache(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	env := newScoringEnv(t, st, func(o *Options) { o.PinnedVersions = 1 })
	ctx := testContext(t)
	// A third version, so that two pins besides the champion compete for
	// one cache slot.
	if _, _, err := env.reg.RegisterVersion(ctx, registry.NewVersion{Model: "default", Artifact: env.fx.artifacts[1], Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, time.October, 15, 0, 0, 0, 0, time.UTC)
	item := &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: inlineLead(env.fx, activeLead(t, env.fx, at, 1), at)}}
	for _, v := range []int64{2, 3, 1, 2} {
		opts := scoreOpts(at)
		opts.Model = &leadscorev1.ModelSelector{Target: &leadscorev1.ModelSelector_Version{Version: v}}
		resp, err := env.client.Score(ctx, &leadscorev1.ScoreRequest{Item: item, Options: opts})
		if err != nil {
			t.Fatalf("Score pinned to version %d: %v", v, err)
		}
		want := (leadscore.VersionRef{Model: "default", Version: v}).Name()
		if got := resp.GetScore().GetModelVersion(); got != want || resp.GetScore().GetAlias() != "" {
			t.Errorf("pinned to %d: scored by %q alias %q", v, resp.GetScore().GetModelVersion(), resp.GetScore().GetAlias())
		}
		if n := env.srv.models.pins.len(); n > 1 {
			t.Errorf("after pinning version %d the cache holds %d versions, want at most 1", v, n)
		}
	}
}

func TestPromotionSwapsTheServedVersion(t *testing.T) {
	t.Parallel()
	env := newScoringEnv(t, openStore(t), nil)
	ctx := testContext(t)
	at := time.Date(2024, time.October, 15, 0, 0, 0, 0, time.UTC)
	req := &leadscorev1.ScoreRequest{
		Item:    &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: inlineLead(env.fx, activeLead(t, env.fx, at, 1), at)}},
		Options: scoreOpts(at),
	}
	if _, _, err := env.reg.Promote(ctx, registry.Promotion{Version: leadscore.VersionRef{Model: "default", Version: 2}, Actor: "test", Force: true, Reason: "swap test"}); err != nil {
		t.Fatalf("promote: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := env.client.Score(ctx, req)
		if err != nil {
			t.Fatalf("Score during the swap: %v", err)
		}
		v := resp.GetScore().GetModelVersion()
		if v == "models/default/versions/2" {
			break
		}
		if v != "models/default/versions/1" {
			t.Fatalf("scored by %q, want version 1 or 2", v)
		}
		if time.Now().After(deadline) {
			t.Fatal("the promotion did not reach the server in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHealthFollowsModelsAndStore(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	env := newScoringEnv(t, st, nil)
	env.waitHealth(t, "", healthpb.HealthCheckResponse_SERVING)
	for _, name := range unbuiltServiceNames {
		env.waitHealth(t, name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	for _, name := range storeServiceNames {
		env.waitHealth(t, name, healthpb.HealthCheckResponse_SERVING)
	}
	// The store goes away: the services that need it say so; scoring of
	// inline leads goes on from the loaded model.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range storeServiceNames {
		env.waitHealth(t, name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	env.waitHealth(t, scoringServiceName, healthpb.HealthCheckResponse_SERVING)
	env.waitHealth(t, "", healthpb.HealthCheckResponse_SERVING)
	at := time.Date(2024, time.October, 15, 0, 0, 0, 0, time.UTC)
	_, err := env.client.Score(testContext(t), &leadscorev1.ScoreRequest{
		Item:    &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: inlineLead(env.fx, activeLead(t, env.fx, at, 1), at)}},
		Options: scoreOpts(at),
	})
	if err != nil {
		t.Fatalf("Score with the store gone: %v", err)
	}
}

func TestScoringIsNotServingUntilTheChampionExists(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	reg := registry.New(st.(leadscore.RegistryStore))
	loader := registry.NewLoader(reg, []leadscore.AliasRef{champion}, testLogger(t))
	loader.ResyncInterval = 20 * time.Millisecond
	srv := newServerWith(t, st, func(o *Options) { o.Registry, o.Loader, o.ServedAliases = reg, loader, []leadscore.AliasRef{champion} })
	loader.OnChange = srv.ModelsChanged
	lctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = loader.Run(lctx) }()
	t.Cleanup(func() { cancel(); <-done })
	env := &scoringEnv{conn: start(t, srv)}
	env.waitHealth(t, scoringServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	// The registry serves, so the first champion can be promoted through it.
	env.waitHealth(t, "", healthpb.HealthCheckResponse_SERVING)
	// Before its first read of the alias the loader cannot tell "absent"
	// from "not loaded yet" (UNAVAILABLE, retry); after it, it can.
	for deadline := time.Now().Add(10 * time.Second); !loader.Absent(champion); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the loader did not find the champion absent within 10s")
		}
	}
	_, err := leadscorev1.NewScoringServiceClient(env.conn).Score(testContext(t), &leadscorev1.ScoreRequest{
		Item: &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: &leadscorev1.InlineLead{}}},
	})
	wantStatus(t, "Score with no champion", err, codes.FailedPrecondition)

	fx := testFixtures(t)
	ctx := testContext(t)
	if _, _, err := reg.RegisterVersion(ctx, registry.NewVersion{Model: "default", Artifact: fx.artifacts[0], Actor: "test", CreateModel: true}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.Promote(ctx, registry.Promotion{Version: leadscore.VersionRef{Model: "default", Version: 1}, Actor: "test", Force: true, Reason: "first"}); err != nil {
		t.Fatal(err)
	}
	env.waitHealth(t, scoringServiceName, healthpb.HealthCheckResponse_SERVING)
}

func TestShadowScoringComparesTheChallenger(t *testing.T) {
	t.Parallel()
	env := newScoringEnv(t, openStore(t), func(o *Options) { o.Shadow = ShadowOptions{Share: 1, Queue: 4096} })
	ctx := testContext(t)
	if _, _, err := env.reg.Promote(ctx, registry.Promotion{Alias: "challenger", Version: leadscore.VersionRef{Model: "default", Version: 2}, Actor: "test"}); err != nil {
		t.Fatalf("set challenger: %v", err)
	}
	challenger := leadscore.AliasRef{Model: "default", Alias: "challenger"}
	for env.loader.Current(challenger) == nil {
		time.Sleep(5 * time.Millisecond)
	}
	at := time.Date(2024, time.October, 15, 0, 0, 0, 0, time.UTC)
	var items []*leadscorev1.ScoreItem
	for i := 0; len(items) < 200; i++ {
		if env.fx.history.Created(i).Before(at) {
			items = append(items, &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: inlineLead(env.fx, i, at)}})
		}
	}
	if _, err := env.client.ScoreBatch(ctx, &leadscorev1.ScoreBatchRequest{Items: items, Options: scoreOpts(at)}); err != nil {
		t.Fatal(err)
	}
	var sum ShadowSummary
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		sum, _ = env.srv.ShadowSummary()
		if sum.Scored+sum.Dropped+sum.Failed == int64(len(items)) {
			break
		}
	}
	if sum.Offered != int64(len(items)) || sum.Scored == 0 || sum.Pairs != int(sum.Scored) {
		t.Fatalf("summary %+v: want every item offered and the scored ones paired", sum)
	}
	if sum.Champion != "models/default/versions/1" || sum.Challenger != "models/default/versions/2" {
		t.Errorf("pairs of %q and %q", sum.Champion, sum.Challenger)
	}
	// The two fixture models differ only in regularisation: they rank
	// leads much alike, but not identically.
	if !(sum.RankCorrelation > 0.9 && sum.RankCorrelation <= 1) || !(sum.CellAgreement > 0.5) || sum.MeanAbsDifference == 0 {
		t.Errorf("summary %+v: want a rank correlation above 0.9, most cells agreeing and some difference", sum)
	}
}

func TestShadowQueueDropsRatherThanBlocks(t *testing.T) {
	t.Parallel()
	sh := newShadow(nil, ShadowOptions{Share: 1, Queue: 2}, nil)
	// No goroutine drains the queue: offers beyond its size are dropped at
	// once.
	sm := &servedModel{ref: leadscore.VersionRef{Model: "m", Version: 1}}
	sh.models = &modelSet{served: map[*model.Model]*servedModel{}}
	for range 2 {
		select {
		case sh.queue <- shadowJob{champion: sm}:
		default:
			t.Fatal("the queue refused an item below its size")
		}
	}
	sh.offered.Add(1)
	select {
	case sh.queue <- shadowJob{}:
		t.Fatal("a full queue took an item")
	default:
		sh.dropped.Add(1)
	}
	if got := sh.summary(); got.Dropped != 1 || got.Pairs != 0 {
		t.Errorf("summary %+v", got)
	}
}

func TestSpearman(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b []float64
		want float64
	}{
		{"same order", []float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, 1},
		{"reversed", []float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},
		{"ties share ranks", []float64{1, 1, 2}, []float64{1, 1, 2}, 1},
		{"no variation", []float64{1, 1, 1}, []float64{1, 2, 3}, 0},
		{"one pair", []float64{1}, []float64{1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := spearman(tt.a, tt.b); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzScoreRequest decodes arbitrary bytes as a ScoreRequest and checks it
// the way Score does against a served model: it must never panic, and a
// refusal must be a caller error naming a field.
func FuzzScoreRequest(f *testing.F) {
	fx := fuzzModel(f)
	seed := &leadscorev1.ScoreRequest{
		Item: &leadscorev1.ScoreItem{Key: "k", Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: &leadscorev1.InlineLead{
			Attributes: map[string]*leadscorev1.AttributeValue{"industry": {Kind: &leadscorev1.AttributeValue_StringValue{StringValue: "saas"}}},
			Events:     []*leadscorev1.Event{{Type: "page_view", OccurTime: timestamppb.New(time.Unix(1.7e9, 0)), Properties: map[string]string{"page": "pricing"}}},
		}}},
		Options: &leadscorev1.ScoreOptions{ScoreTime: timestamppb.New(time.Unix(1.71e9, 0)), Explain: true},
	}
	b, _ := proto.Marshal(seed)
	f.Add(b)
	rowSeed := &leadscorev1.ScoreRequest{
		Item: &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_Row{Row: &leadscorev1.LeadRow{Numbers: []float64{3, math.NaN()}, Strings: []string{"saas"}}}},
		Options: &leadscorev1.ScoreOptions{Columns: []*leadscorev1.Column{
			{Attribute: "employees", Kind: leadscorev1.ColumnKind_COLUMN_KIND_NUMBER},
			{Attribute: "is_partner", Kind: leadscorev1.ColumnKind_COLUMN_KIND_BOOL},
			{Attribute: "industry", Kind: leadscorev1.ColumnKind_COLUMN_KIND_STRING},
		}},
	}
	b, _ = proto.Marshal(rowSeed)
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var req leadscorev1.ScoreRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		opts, err := parseScoreOptions("options", req.GetOptions(), time.Unix(1.72e9, 0))
		if err == nil && req.GetItem() != nil {
			sc := fx.get()
			var in itemInput
			var plan *columnPlan
			if plan, err = bindColumns("options", opts.columns, fx); err == nil {
				in, err = parseItem(req.GetItem(), fx, &opts, plan, sc.fit)
			}
			if err == nil && in.storedID == "" {
				err = sc.feat.Compute(sc.fit, in.created, in.act, opts.unix, sc.row)
				if err == nil {
					err = sc.scorer.Explain(sc.row, &sc.out)
				}
			}
			fx.put(sc)
		}
		if err != nil && leadscore.ErrorCode(err) != leadscore.EINVALID {
			t.Fatalf("refused with %v (%s), want an invalid-argument error", err, leadscore.ErrorCode(err))
		}
	})
}

// fuzzModel is a served form of the first fixture model.
func fuzzModel(f *testing.F) *servedModel {
	f.Helper()
	return fuzzModelFrom(f, testFixtures(f))
}

// fuzzModelFrom is a served form of the first of the fixtures' models.
func fuzzModelFrom(tb testing.TB, fx fixtures) *servedModel {
	tb.Helper()
	m, err := artifact.Unmarshal(fx.artifacts[0])
	if err != nil {
		tb.Fatal(err)
	}
	sm, err := newServedModel(leadscore.VersionRef{Model: "default", Version: 1}, "", m)
	if err != nil {
		tb.Fatal(err)
	}
	return sm
}

// rowsOf turns inline leads into rows of columns covering every attribute
// the leads carry, kinds from their values.
func rowsOf(t *testing.T, leads []*leadscorev1.InlineLead) ([]*leadscorev1.Column, []*leadscorev1.LeadRow) {
	t.Helper()
	kinds := map[string]leadscorev1.ColumnKind{}
	for _, l := range leads {
		for k, v := range l.GetAttributes() {
			switch v.GetKind().(type) {
			case *leadscorev1.AttributeValue_NumberValue:
				kinds[k] = leadscorev1.ColumnKind_COLUMN_KIND_NUMBER
			case *leadscorev1.AttributeValue_BoolValue:
				kinds[k] = leadscorev1.ColumnKind_COLUMN_KIND_BOOL
			default:
				kinds[k] = leadscorev1.ColumnKind_COLUMN_KIND_STRING
			}
		}
	}
	var cols []*leadscorev1.Column
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		cols = append(cols, &leadscorev1.Column{Attribute: k, Kind: kinds[k]})
	}
	var rows []*leadscorev1.LeadRow
	for _, l := range leads {
		r := &leadscorev1.LeadRow{CreateTime: l.GetCreateTime(), Events: l.GetEvents(), Account: l.GetAccount()}
		for _, c := range cols {
			v, ok := l.GetAttributes()[c.GetAttribute()]
			switch c.GetKind() {
			case leadscorev1.ColumnKind_COLUMN_KIND_STRING:
				r.Strings = append(r.Strings, v.GetStringValue())
			case leadscorev1.ColumnKind_COLUMN_KIND_BOOL:
				x := math.NaN()
				if ok {
					x = 0
					if v.GetBoolValue() {
						x = 1
					}
				}
				r.Numbers = append(r.Numbers, x)
			default:
				x := math.NaN()
				if ok {
					x = v.GetNumberValue()
				}
				r.Numbers = append(r.Numbers, x)
			}
		}
		rows = append(rows, r)
	}
	return cols, rows
}

func TestRowsScoreAsTheirInlineLeads(t *testing.T) {
	t.Parallel()
	env := newScoringEnv(t, openStore(t), nil)
	ctx := testContext(t)
	at := time.Date(2024, time.October, 15, 0, 0, 0, 0, time.UTC)
	var leads []*leadscorev1.InlineLead
	var mapItems []*leadscorev1.ScoreItem
	for i := 0; len(leads) < 60; i++ {
		if env.fx.history.Created(i).Before(at) {
			l := inlineLead(env.fx, i, at)
			l.Attributes["shoe_size"] = &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_NumberValue{NumberValue: 42}}
			leads = append(leads, l)
			mapItems = append(mapItems, &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: l}})
		}
	}
	cols, rows := rowsOf(t, leads)
	var rowItems []*leadscorev1.ScoreItem
	for _, r := range rows {
		rowItems = append(rowItems, &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_Row{Row: r}})
	}
	want, err := env.client.ScoreBatch(ctx, &leadscorev1.ScoreBatchRequest{Items: mapItems, Options: scoreOpts(at)})
	if err != nil {
		t.Fatal(err)
	}
	opts := scoreOpts(at)
	opts.Columns = cols
	got, err := env.client.ScoreBatch(ctx, &leadscorev1.ScoreBatchRequest{Items: rowItems, Options: opts})
	if err != nil {
		t.Fatalf("ScoreBatch of rows: %v", err)
	}
	for k := range rows {
		g, w := got.GetResults()[k], want.GetResults()[k]
		if g.GetScore() == nil || g.GetScore().GetProbability() != w.GetScore().GetProbability() || g.GetScore().GetCell() != w.GetScore().GetCell() {
			t.Errorf("lead %d: as a row %v, as a map %v", k, g, w)
		}
		if !slices.Equal(g.GetUnknownAttributes(), []string{"shoe_size"}) {
			t.Errorf("lead %d: unknown attributes %v, want [shoe_size]", k, g.GetUnknownAttributes())
		}
	}

	// Bad rows are refused item by item, naming the value.
	numeric := slices.IndexFunc(cols, func(c *leadscorev1.Column) bool { return c.GetKind() == leadscorev1.ColumnKind_COLUMN_KIND_NUMBER })
	nIdx := 0
	for _, c := range cols[:numeric] {
		if c.GetKind() != leadscorev1.ColumnKind_COLUMN_KIND_STRING {
			nIdx++
		}
	}
	bad := func(edit func(r *leadscorev1.LeadRow)) *leadscorev1.ScoreItem {
		r := proto.Clone(rows[0]).(*leadscorev1.LeadRow)
		edit(r)
		return &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_Row{Row: r}}
	}
	items := []*leadscorev1.ScoreItem{
		bad(func(r *leadscorev1.LeadRow) { r.Numbers = r.Numbers[1:] }),
		bad(func(r *leadscorev1.LeadRow) { r.Numbers[nIdx] = math.Inf(1) }),
		bad(func(r *leadscorev1.LeadRow) { r.Strings[0] = strings.Repeat("s", 1025) }),
		bad(func(r *leadscorev1.LeadRow) { r.CreateTime = timestamppb.New(at.Add(time.Hour)) }),
	}
	fields := []string{"items[0].row.numbers", fmt.Sprintf("items[1].row.numbers[%d]", nIdx), "items[2].row.strings[0]", "items[3].row.create_time"}
	resp, err := env.client.ScoreBatch(ctx, &leadscorev1.ScoreBatchRequest{Items: items, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	for k, r := range resp.GetResults() {
		fv := r.GetError().GetFieldViolations()
		if r.GetError().GetCode() != "INVALID_ARGUMENT" || len(fv) == 0 || fv[0].GetField() != fields[k] {
			t.Errorf("bad row %d: %v, want INVALID_ARGUMENT on %s", k, r, fields[k])
		}
	}

	// Request-level problems with the columns.
	for _, tt := range []struct {
		name  string
		cols  []*leadscorev1.Column
		items []*leadscorev1.ScoreItem
		field string
	}{
		{"a row without columns", nil, rowItems[:1], "items[0].row"},
		{"a kind the model does not read", []*leadscorev1.Column{{Attribute: cols[numeric].GetAttribute(), Kind: leadscorev1.ColumnKind_COLUMN_KIND_STRING}}, rowItems[:1], "options.columns[0].kind"},
		{"a column named twice", []*leadscorev1.Column{cols[0], cols[0]}, rowItems[:1], "options.columns[1].attribute"},
		{"a column without a kind", []*leadscorev1.Column{{Attribute: "x"}}, rowItems[:1], "options.columns[0].kind"},
		{"a badly spelt column", []*leadscorev1.Column{{Attribute: "Bad Key", Kind: leadscorev1.ColumnKind_COLUMN_KIND_NUMBER}}, rowItems[:1], "options.columns[0].attribute"},
	} {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			o := scoreOpts(at)
			o.Columns = tt.cols
			resp, err := env.client.ScoreBatch(ctx, &leadscorev1.ScoreBatchRequest{Items: tt.items, Options: o})
			if err == nil {
				fv := resp.GetResults()[0].GetError().GetFieldViolations()
				if len(fv) == 0 || fv[0].GetField() != tt.field {
					t.Fatalf("got %v, want an error on %s", resp.GetResults()[0], tt.field)
				}
				return
			}
			wantBadField(t, tt.name, err, tt.field)
		})
	}
}

func TestScoreBatchStopsAtTheServersDeadline(t *testing.T) {
	t.Parallel()
	env := newScoringEnv(t, openStore(t), func(o *Options) { o.MaxCallDuration = time.Nanosecond })
	at := time.Date(2024, time.October, 15, 0, 0, 0, 0, time.UTC)
	item := &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: inlineLead(env.fx, activeLead(t, env.fx, at, 1), at)}}
	_, err := env.client.ScoreBatch(testContext(t), &leadscorev1.ScoreBatchRequest{Items: []*leadscorev1.ScoreItem{item}, Options: scoreOpts(at)})
	wantStatus(t, "ScoreBatch past --max-call-duration", err, codes.DeadlineExceeded)
	// Score of one lead is bounded by its size, not by the batch limit.
	if _, err := env.client.Score(testContext(t), &leadscorev1.ScoreRequest{Item: item, Options: scoreOpts(at)}); err != nil {
		t.Errorf("Score: %v", err)
	}
}
