package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/auth"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/registry"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
)

// MaxMessageBytes is the largest request the server accepts. It is sized for
// ImportModelVersion, whose artifacts reach tens of MiB; other requests are
// bounded far below it by their own item limits.
const MaxMessageBytes = 64 << 20

// Options configures a Server.
type Options struct {
	// Logger receives access logs and errors. Required.
	Logger *slog.Logger
	// Store is the storage backend. Required: its reachability drives the
	// health status.
	Store leadscore.Store
	// TracerProvider and MeterProvider instrument every rpc through the
	// OpenTelemetry stats handler. Nil means the global providers.
	TracerProvider trace.TracerProvider
	// MeterProvider records rpc metrics. Nil means the global provider.
	MeterProvider metric.MeterProvider
	// StoreCheckInterval is how often the store is pinged to keep the health
	// status true. Zero means five seconds.
	StoreCheckInterval time.Duration

	// Registry holds the model registry's rules over its store; the
	// registry and evaluation services serve it, and their reads go to
	// its store (Registry.Store). Required.
	Registry *registry.Registry
	// DataDir is the directory training and evaluation jobs may read
	// history files and flat tables from; requests name paths relative to
	// it. Empty means jobs may read only the store's own history.
	DataDir string
	// MaxImports bounds the ImportModelVersion calls in progress. Zero
	// means DefaultMaxImports.
	MaxImports int
	// MaxJobs is how many training and evaluation jobs run at once. Zero
	// means one: a fit or a backtest uses every core it is given.
	MaxJobs int
	// JobHeartbeat is how often the server touches the jobs it holds, so
	// that other servers sharing the store can tell them from jobs
	// orphaned by a server that stopped (untouched for six heartbeats).
	// Zero means ten seconds.
	JobHeartbeat time.Duration

	// Loader keeps the served aliases' versions loaded; nil serves none
	// (scoring then works only through pinned versions and aliases read
	// from the registry per call). The server does not run it.
	Loader *registry.Loader
	// ServedAliases are the aliases ScoringService needs loaded before its
	// health reports SERVING (the --serve-model aliases).
	ServedAliases []leadscore.AliasRef
	// PinnedVersions bounds the pinned versions kept loaded. Zero means
	// DefaultPinnedVersions.
	PinnedVersions int
	// MaxStreams bounds the StreamScore calls held at once. Zero means
	// DefaultMaxStreams.
	MaxStreams int
	// MaxCallDuration bounds a ScoreBatch call, whatever deadline its
	// caller set (a batch of explained leads with many events is the
	// costliest call there is). Zero means DefaultMaxCallDuration.
	MaxCallDuration time.Duration
	// Shadow configures challenger shadow scoring; a zero Share turns it
	// off.
	Shadow ShadowOptions
	// SlowCall is the duration from which a successful call is logged at
	// INFO; quicker ones are logged at DEBUG only. Zero means one second.
	SlowCall time.Duration

	// Now is the server's clock: the default scoring time, and the time
	// of lead writes and the rescoring they cause. Nil means time.Now.
	Now func() time.Time
	// LeadModel is the model whose champion scores live leads when they
	// change. Empty means "default".
	LeadModel string
	// RescoreInterval is how long after a score its lead is due to be
	// rescored as time passes. Zero means DefaultRescoreInterval.
	RescoreInterval time.Duration
	// HistoryStep is the probability move that earns a lead a score
	// history entry when its cell and tier stay. Zero means
	// DefaultHistoryStep; a negative step records every rescoring.
	HistoryStep float64
	// DecayTick is how often the decay scheduler looks for due leads.
	// Zero means DefaultDecayTick; a negative tick turns it off (another
	// replica runs it, or a test drives it).
	DecayTick time.Duration
	// DecayLease is how long leads the scheduler claimed are left to it
	// before another replica may take them. Zero means DefaultDecayLease.
	DecayLease time.Duration
	// DecayWorkers is how many claimed batches the scheduler rescores at
	// once. Zero means DefaultDecayWorkers.
	DecayWorkers int
	// Auth authenticates callers and the scope table authorizes them; nil
	// turns authentication off (local development only): any caller may
	// make every rpc, and the audit trail records the actor a caller names
	// in the x-leadscore-actor header. Once it is on, that header is
	// ignored and the actor is the caller's identity.
	Auth *auth.Authenticator
	// TLS, when set, serves gRPC over TLS with it; a ClientCAs pool with
	// ClientAuth VerifyClientCertIfGiven or RequireAndVerifyClientCert
	// makes it mutual, and Auth's certificate map names the identities of
	// the verified client certificates.
	TLS *tls.Config
	// NoReflection turns server reflection off. Reflection needs no
	// credentials; it tells a caller the services and messages, nothing
	// of the data.
	NoReflection bool

	// RequestIDRetention is how long a mutation's request id is remembered
	// (a retry within it returns the first result); the server forgets
	// older ones with the change log's prunes. Zero means
	// DefaultRequestIDRetention.
	RequestIDRetention time.Duration
	// TrainSchedules retrain models at fixed intervals, each run a training
	// job (see TrainSchedule); replicas sharing a store create each run
	// once.
	TrainSchedules []TrainSchedule
	// ChangeRetention is how long the change log behind WatchScoreChanges
	// keeps an entry; the server prunes older entries at start and every
	// hour. Zero means DefaultChangeRetention.
	ChangeRetention time.Duration
}

// Server is leadscore's gRPC server: the v1 services, grpc.health.v1 and
// server reflection behind one interceptor chain.
type Server struct {
	logger *slog.Logger
	store  leadscore.Store
	auth   *auth.Authenticator // nil: authentication off
	grpc   *grpc.Server
	health *healthService
	jobs   *jobRunner

	checkInterval time.Duration
	slowCall      time.Duration

	// callDuration is rpc.server.call.duration; callAttrs caches its
	// attribute set per method and status code.
	callDuration metric.Float64Histogram
	callAttrs    sync.Map // callKey -> metric.RecordOption

	models    *modelSet
	shadow    *shadow
	decay     *decayScheduler // nil when off
	decayDone chan struct{}   // closed when the scheduler has stopped
	// trainSchedule creates scheduled training jobs; nil when none are
	// configured.
	trainSchedule *trainScheduler
	trainDone     chan struct{} // closed when trainSchedule has stopped
	pruner        *changePruner
	pruneDone     chan struct{} // closed when the pruner has stopped
	// leadChampion is the alias live leads are scored with; leadVersion
	// the version it was last seen at (guarded by mu), so that a
	// promotion makes every live lead due for rescoring.
	leadChampion  leadscore.AliasRef
	leadVersion   leadscore.VersionRef
	leadsStore    leadscore.LeadStore
	leadScores    *rescorer
	now           func() time.Time
	servedAliases []leadscore.AliasRef
	loader        *registry.Loader

	// draining is cancelled when shutdown begins; watch streams observe it.
	draining context.Context
	drain    context.CancelFunc

	mu       sync.Mutex
	storeUp  bool // the last store check succeeded, guarded by mu
	serving  bool // the overall health status set last, guarded by mu
	stopping bool // shutdown has begun, guarded by mu

	stopCheck context.CancelFunc
	checkDone chan struct{}
}

// The services whose health is reported individually, besides the empty
// name that stands for the whole server. Services whose rpcs are not built
// yet are listed as such and never reported SERVING.
var (
	scoringServiceName = leadscorev1.ScoringService_ServiceDesc.ServiceName
	// storeServiceNames are the built services that need the store.
	storeServiceNames = []string{
		leadscorev1.ModelRegistryService_ServiceDesc.ServiceName,
		leadscorev1.EvaluationService_ServiceDesc.ServiceName,
		leadscorev1.TrainingService_ServiceDesc.ServiceName,
		leadscorev1.LeadService_ServiceDesc.ServiceName,
	}
	// unbuiltServiceNames answer UNIMPLEMENTED until their issues are
	// built; every service is built now.
	unbuiltServiceNames = []string{}
)

// New returns a server with every service registered. It reports
// NOT_SERVING until Serve has checked that the store is reachable.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		return nil, errors.New("new server: a logger is required")
	}
	if opts.Store == nil {
		return nil, errors.New("new server: a store is required")
	}
	if opts.Registry == nil {
		return nil, errors.New("new server: a registry is required")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	leads, ok := opts.Store.(leadscore.LeadStore)
	if !ok {
		return nil, fmt.Errorf("new server: the %s store keeps no live leads", opts.Store.Backend())
	}
	if math.IsNaN(opts.HistoryStep) || opts.HistoryStep > 1 {
		return nil, fmt.Errorf("new server: history step %v must be at most 1", opts.HistoryStep)
	}
	dir, err := newDataDir(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	// Health checks come every few seconds from every load balancer and
	// prove nothing worth a span or a latency sample.
	otelOpts := []otelgrpc.Option{otelgrpc.WithFilter(filters.Not(filters.HealthCheck()))}
	if opts.TracerProvider != nil {
		otelOpts = append(otelOpts, otelgrpc.WithTracerProvider(opts.TracerProvider))
	}
	// The stats handler builds an attribute set per call for its duration
	// metric (profiled at about 6 µs a call); the server records
	// rpc.server.call.duration itself with sets cached per method and code
	// (observeCall), so the handler's own metrics are off.
	otelOpts = append(otelOpts, otelgrpc.WithMeterProvider(noop.NewMeterProvider()))
	regStore := opts.Registry.Store()
	// The store's own lead history, for jobs that backtest on it; a store
	// that keeps none leaves it nil and such jobs are refused.
	history, _ := opts.Store.(leadscore.HistoryStore)
	planner := &backtestPlanner{store: regStore, history: history, dir: dir}
	s := &Server{
		logger:        opts.Logger,
		store:         opts.Store,
		auth:          opts.Auth,
		health:        newHealthService(),
		checkInterval: opts.StoreCheckInterval,
		slowCall:      opts.SlowCall,
		jobs:          newJobRunner(regStore, opts.Registry, planner, opts.Logger, opts.MaxJobs, opts.JobHeartbeat),
		models:        newModelSet(opts.Registry, opts.Loader, opts.PinnedVersions),
		servedAliases: slices.Clone(opts.ServedAliases),
		loader:        opts.Loader,
	}
	if s.checkInterval <= 0 {
		s.checkInterval = 5 * time.Second
	}
	if s.slowCall <= 0 {
		s.slowCall = time.Second
	}
	if opts.Shadow.Share < 0 || opts.Shadow.Share > 1 || math.IsNaN(opts.Shadow.Share) {
		return nil, fmt.Errorf("new server: shadow share %v must be from 0 to 1", opts.Shadow.Share)
	}
	if opts.Shadow.Share > 0 {
		s.shadow = newShadow(s.models, opts.Shadow, opts.Logger)
	}
	maxStreams := opts.MaxStreams
	if maxStreams <= 0 {
		maxStreams = DefaultMaxStreams
	}
	if err := s.registerMetrics(opts.MeterProvider); err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	s.draining, s.drain = context.WithCancel(context.Background())
	serverOpts := []grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelOpts...)),
		grpc.ChainUnaryInterceptor(s.unaryInterceptors()...),
		grpc.ChainStreamInterceptor(s.streamInterceptors()...),
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		// A worker per core serves streams on goroutines whose stacks have
		// already grown, rather than a new goroutine per call growing its
		// stack again (about 12 µs a call in the profile).
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		// Ping idle connections so that dead watchers are noticed, and let
		// clients keep watch streams alive with pings of their own.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if opts.TLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	s.grpc = grpc.NewServer(serverOpts...)
	leadscorev1.RegisterScoringServiceServer(s.grpc, &scoringService{
		models: s.models, leads: leads, shadow: s.shadow, logger: opts.Logger,
		streams: make(chan struct{}, maxStreams), now: now,
		maxCall: cmp.Or(opts.MaxCallDuration, DefaultMaxCallDuration),
	})
	step := opts.HistoryStep
	switch {
	case step == 0:
		step = DefaultHistoryStep
	case step < 0:
		step = 0
	}
	leadModel := cmp.Or(opts.LeadModel, "default")
	if err := leadscore.ValidateSlug("lead model", leadModel); err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	leadScores := &rescorer{
		store: leads, models: s.models, ref: leadscore.AliasRef{Model: leadModel, Alias: leadscore.AliasChampion},
		step: step, every: cmp.Or(opts.RescoreInterval, DefaultRescoreInterval), logger: opts.Logger,
	}
	leadscorev1.RegisterLeadServiceServer(s.grpc, &leadService{store: leads, aliases: s.models.reg.Store(), rescore: leadScores, logger: opts.Logger, now: now, draining: s.draining})
	if opts.DecayTick >= 0 {
		s.decay = &decayScheduler{
			store: leads, rescore: leadScores, now: now, logger: opts.Logger,
			tick: cmp.Or(opts.DecayTick, DefaultDecayTick), batch: DefaultDecayBatch, lease: cmp.Or(opts.DecayLease, DefaultDecayLease),
			workers: cmp.Or(opts.DecayWorkers, DefaultDecayWorkers),
		}
	}
	if opts.ChangeRetention < 0 {
		return nil, fmt.Errorf("new server: change retention %v must not be negative", opts.ChangeRetention)
	}
	if opts.RequestIDRetention < 0 {
		return nil, fmt.Errorf("new server: request id retention %v must not be negative", opts.RequestIDRetention)
	}
	s.pruner = &changePruner{store: leads, retention: cmp.Or(opts.ChangeRetention, DefaultChangeRetention),
		requests: regStore, requestRetention: cmp.Or(opts.RequestIDRetention, DefaultRequestIDRetention),
		every: changePruneEvery, now: now, logger: opts.Logger}
	s.leadChampion, s.leadsStore, s.leadScores, s.now = leadScores.ref, leads, leadScores, now
	if len(opts.TrainSchedules) > 0 {
		s.trainSchedule = &trainScheduler{jobs: s.jobs, schedules: slices.Clone(opts.TrainSchedules), now: now, logger: opts.Logger}
	}
	if opts.MaxImports < 0 {
		return nil, fmt.Errorf("new server: max imports %d must not be negative", opts.MaxImports)
	}
	leadscorev1.RegisterModelRegistryServiceServer(s.grpc, &modelRegistryService{reg: opts.Registry, store: regStore,
		imports: make(chan struct{}, cmp.Or(opts.MaxImports, DefaultMaxImports))})
	leadscorev1.RegisterTrainingServiceServer(s.grpc, &trainingService{store: regStore, planner: planner, jobs: s.jobs, logger: opts.Logger})
	leadscorev1.RegisterEvaluationServiceServer(s.grpc, &evaluationService{
		reg: opts.Registry, store: regStore, planner: planner, jobs: s.jobs, logger: opts.Logger,
	})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	if !opts.NoReflection {
		reflection.Register(s.grpc)
	}
	s.refreshHealth()
	return s, nil
}

// Serve accepts connections on lis until Shutdown. It checks the store
// first and keeps checking it in the background, reporting NOT_SERVING
// while the store is unreachable. It returns nil after a shutdown.
func (s *Server) Serve(lis net.Listener) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return errors.New("serve: the server was shut down")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopCheck = cancel
	s.checkDone = make(chan struct{})
	s.mu.Unlock()

	s.checkStore(ctx)
	go s.watchStore(ctx)
	if s.shadow != nil {
		go s.shadow.run(ctx)
	}
	if s.decay != nil {
		s.decayDone = make(chan struct{})
		go func() {
			defer close(s.decayDone)
			s.decay.run(ctx)
		}()
	}
	s.pruneDone = make(chan struct{})
	go func() {
		defer close(s.pruneDone)
		s.pruner.run(ctx)
	}()
	s.jobs.start()
	if s.trainSchedule != nil {
		s.trainDone = make(chan struct{})
		go func() {
			defer close(s.trainDone)
			s.trainSchedule.run(ctx)
		}()
	}
	if err := s.grpc.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve grpc on %s: %w", lis.Addr(), err)
	}
	return nil
}

// watchStore pings the store until ctx is cancelled.
func (s *Server) watchStore(ctx context.Context) {
	defer close(s.checkDone)
	ticker := time.NewTicker(s.checkInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			s.checkStore(ctx)
		}
	}
}

// checkStore pings the store once and sets the health status from it.
func (s *Server) checkStore(ctx context.Context) {
	pingCtx, cancel := context.WithTimeout(ctx, s.checkInterval)
	defer cancel()
	err := s.store.Ping(pingCtx)
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	was := s.storeUp
	s.storeUp = err == nil
	s.mu.Unlock()
	switch {
	case err != nil && was:
		s.logger.Error("store unreachable; the services that need it report NOT_SERVING, scoring goes on from the loaded models", slog.Any("error", err))
	case err == nil && !was:
		s.logger.Info("store reachable", slog.String("backend", s.store.Backend()))
	}
	s.refreshHealth()
}

// ModelsChanged recomputes the health status after the loader loaded,
// swapped or lost a served version. Wire it to the loader's OnChange.
func (s *Server) ModelsChanged() {
	s.refreshHealth()
	s.leadChampionMoved()
}

// leadChampionMoved makes every live lead due for rescoring when the
// champion that scores them has moved to another version since it was
// last seen, so the decay scheduler rescores them with the new one in the
// background. Replicas that see the same move mark the same leads: the
// store marks only those not yet scored by the new version.
func (s *Server) leadChampionMoved() {
	sm := s.models.current(s.leadChampion)
	if sm == nil {
		return
	}
	s.mu.Lock()
	prev := s.leadVersion
	s.leadVersion = sm.ref
	s.mu.Unlock()
	if prev == sm.ref || prev.Model == "" {
		// The first version seen is the one the leads were scored with
		// before this process started, or a first champion: leads due
		// for other reasons are rescored by the scheduler anyway.
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(s.draining, 10*time.Minute)
		defer cancel()
		var n int64
		var err error
		for try := range 5 {
			// One statement over every live lead may deadlock with a
			// write of a few of them (ABORTED): it is then tried again.
			if n, err = s.leadsStore.MarkAllDue(ctx, s.now(), sm.ref); leadscore.ErrorCode(err) != leadscore.EABORTED {
				break
			}
			time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
		}
		if err != nil {
			s.logger.Warn("live leads not marked for rescoring after a promotion", slog.String("version", sm.name), slog.Any("error", err))
			return
		}
		s.logger.Info("live leads due for rescoring after a promotion", slog.String("version", sm.name), slog.Int64("leads", n))
	}()
}

// refreshHealth sets every service's health status from what it needs:
// ScoringService needs each served alias loaded (not the store: inline
// leads score from memory), the registry and evaluation services need the
// store, and services not built yet never report SERVING. The whole
// server (the empty name, and /readyz) is SERVING while either scoring or
// the store is. Once shutdown has begun everything stays NOT_SERVING.
func (s *Server) refreshHealth() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return
	}
	scoring := s.loader != nil && len(s.servedAliases) > 0 && s.loader.Ready(s.servedAliases)
	// The process is worth routing to while it can do either job: score
	// from loaded models with the store down, or serve the registry before
	// any champion exists (the first one is promoted through it).
	overall := s.storeUp || scoring
	s.serving = overall
	s.health.set(servingStatus(overall), "")
	s.health.set(servingStatus(scoring), scoringServiceName)
	s.health.set(servingStatus(s.storeUp), storeServiceNames...)
	s.health.set(healthpb.HealthCheckResponse_NOT_SERVING, unbuiltServiceNames...)
}

func servingStatus(ok bool) healthpb.HealthCheckResponse_ServingStatus {
	if ok {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}

// Serving reports whether the server as a whole reports SERVING (see
// refreshHealth) and shutdown has not begun. The admin readiness endpoint
// uses it.
func (s *Server) Serving() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serving && !s.stopping
}

// ShadowSummary summarises challenger shadow scoring; ok is false when it
// is off.
func (s *Server) ShadowSummary() (sum ShadowSummary, ok bool) {
	if s.shadow == nil {
		return ShadowSummary{}, false
	}
	return s.shadow.summary(), true
}

// Shutdown stops the server in the order load balancers and clients expect:
// health turns NOT_SERVING (watchers are told), watch streams end with
// Unavailable so their clients reconnect elsewhere, new calls are refused
// while in-flight calls finish, and when ctx expires whatever is still
// running is cut off. It returns ctx's error if it had to force the stop.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopping = true
	s.serving = false
	stopCheck, checkDone := s.stopCheck, s.checkDone
	// The health status turns NOT_SERVING under the same lock that guards
	// setServing, so a store check running now cannot turn it back.
	s.health.shutdown()
	s.mu.Unlock()

	// Jobs stop before watch streams are drained, so that a watcher of a
	// job running here receives the job's final state (failed, ABORTED
	// "server stopped") rather than only UNAVAILABLE.
	if err := s.jobs.stop(ctx); err != nil {
		s.logger.Warn("jobs did not stop in time", slog.Any("error", err))
	}
	s.drain()
	if stopCheck != nil {
		stopCheck()
		<-checkDone
		if s.decayDone != nil {
			<-s.decayDone
		}
		if s.trainDone != nil {
			<-s.trainDone
		}
		if s.pruneDone != nil {
			<-s.pruneDone
		}
	}

	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		s.grpc.Stop()
		<-stopped
		return fmt.Errorf("shutdown: forced stop of in-flight calls: %w", ctx.Err())
	}
}
