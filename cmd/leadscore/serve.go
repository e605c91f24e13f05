package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/registry"
	"github.com/leadscore/leadscore/server"
	"github.com/leadscore/leadscore/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// serviceName is the OpenTelemetry service.name unless OTEL_SERVICE_NAME
// says otherwise.
const serviceName = "leadscore"

func runServe(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve", "serve [flags]", stderr)
	store := storeFlag(fs)
	grpcAddr := fs.String("grpc-addr", "localhost:50051", "the address the gRPC server listens on")
	adminAddr := fs.String("admin-addr", "localhost:9090",
		"the address of the admin HTTP server (/metrics, /livez, /readyz, /v1/serving); empty disables it")
	migrate := fs.Bool("migrate", true, "apply pending store migrations before serving")
	pprofOn := fs.Bool("pprof", false, "serve Go's runtime profiles under /debug/pprof/ on the admin address (off by default: profiles show internals and cost CPU while taken)")
	serveModels := &aliasListFlag{refs: []leadscore.AliasRef{{Model: "default", Alias: leadscore.AliasChampion}}}
	fs.Var(serveModels, "serve-model",
		"the aliases this process keeps loaded for scoring, as MODEL@ALIAS; repeat the flag or separate with commas; an empty value serves none")
	dataDir := fs.String("data-dir", "",
		"the directory evaluation jobs may read history files and flat tables from (paths in requests are relative to it); "+
			"empty means the folder \"data\" beside the embedded store (created empty), or no files at all with a postgres:// store")
	maxJobs := fs.Int("max-jobs", 1, "how many evaluation jobs run at once")
	pinned := fs.Int("pinned-versions", server.DefaultPinnedVersions,
		"how many pinned model versions (requests that name a version number) stay loaded besides the served aliases; the least recently used is dropped")
	maxStreams := fs.Int("max-streams", server.DefaultMaxStreams, "how many StreamScore calls run at once; more are refused with RESOURCE_EXHAUSTED")
	maxCall := fs.Duration("max-call-duration", server.DefaultMaxCallDuration, "the longest a ScoreBatch call may run, whatever its caller's deadline (DEADLINE_EXCEEDED beyond it)")
	shadowShare := fs.Float64("shadow-share", 0.1,
		"the share of champion-scored leads also scored by the model's challenger alias, off the request path, when one exists (0 turns shadow scoring off)")
	shadowQueue := fs.Int("shadow-queue", server.DefaultShadowQueue,
		"how many leads may wait for the challenger; when full, shadow items are dropped and counted, never slowing callers")
	slowCall := fs.Duration("slow-call", time.Second, "calls at least this slow are logged at info; quicker successful calls only at debug")
	leadModel := fs.String("lead-model", "default", "the model whose champion scores live leads as they change (serve its champion with --serve-model to keep it loaded)")
	rescoreEvery := fs.Duration("rescore-interval", server.DefaultRescoreInterval, "how long after its score a live lead is due to be rescored as time passes")
	stepFlag := fs.Float64("history-step", server.DefaultHistoryStep,
		"the probability move that adds a lead's score history entry when its cell and tier stay (0 records every move)")
	decayTick := fs.Duration("decay-tick", server.DefaultDecayTick, "how often this server looks for live leads due for rescoring (0 turns its scheduler off: another replica runs it)")
	decayLease := fs.Duration("decay-lease", server.DefaultDecayLease, "how long leads this server claimed for rescoring are left to it before another replica may take them")
	decayWorkers := fs.Int("decay-workers", server.DefaultDecayWorkers, "how many claimed batches of due leads this server rescores at once")
	retention := fs.Duration("change-retention", server.DefaultChangeRetention, "how long the change log behind WatchScoreChanges keeps an entry")
	requestRetention := fs.Duration("request-id-retention", server.DefaultRequestIDRetention,
		"how long a mutation's request id is remembered: a retry within it returns the first result, after it is a new request")
	shutdownTimeout := fs.Duration("shutdown-timeout", 15*time.Second,
		"how long in-flight calls may take to finish after SIGTERM before they are cut off")
	security := securityFlags(fs)
	level := logLevelFlag(fs)
	if err := parseFlags(fs, args, env); err != nil {
		return flagExit(err)
	}
	if err := security.check(); err != nil {
		fmt.Fprintf(stderr, "leadscore serve: %v\n", err)
		return exitError
	}
	if *shutdownTimeout <= 0 {
		fmt.Fprintf(stderr, "invalid --shutdown-timeout %s: must be positive\n", *shutdownTimeout)
		return exitError
	}
	if *maxJobs < 1 || *maxJobs > 64 {
		fmt.Fprintf(stderr, "invalid --max-jobs %d: must be from 1 to 64\n", *maxJobs)
		return exitError
	}
	for _, check := range []struct {
		ok   bool
		flag string
		val  any
		want string
	}{
		{*pinned >= 1 && *pinned <= 1024, "--pinned-versions", *pinned, "must be from 1 to 1024"},
		{*maxStreams >= 1 && *maxStreams <= 100000, "--max-streams", *maxStreams, "must be from 1 to 100000"},
		{*shadowShare >= 0 && *shadowShare <= 1, "--shadow-share", *shadowShare, "must be from 0 to 1"},
		{*shadowQueue >= 1 && *shadowQueue <= 1<<20, "--shadow-queue", *shadowQueue, "must be from 1 to 1048576"},
		{*slowCall > 0, "--slow-call", *slowCall, "must be positive"},
		{*maxCall > 0, "--max-call-duration", *maxCall, "must be positive"},
		{leadscore.ValidateSlug("--lead-model", *leadModel) == nil, "--lead-model", *leadModel, "must be a model id"},
		{*rescoreEvery >= time.Minute, "--rescore-interval", *rescoreEvery, "must be at least 1m"},
		{*decayTick == 0 || *decayTick >= time.Second, "--decay-tick", *decayTick, "must be 0 (off) or at least 1s"},
		{*retention >= time.Hour, "--change-retention", *retention, "must be at least 1h"},
		{*requestRetention >= time.Hour, "--request-id-retention", *requestRetention, "must be at least 1h"},
		{*decayLease >= time.Second, "--decay-lease", *decayLease, "must be at least 1s"},
		{*decayWorkers >= 1 && *decayWorkers <= 64, "--decay-workers", *decayWorkers, "must be from 1 to 64"},
		{*stepFlag >= 0 && *stepFlag <= 1, "--history-step", *stepFlag, "must be from 0 to 1"},
	} {
		if !check.ok {
			fmt.Fprintf(stderr, "invalid %s %v: %s\n", check.flag, check.val, check.want)
			return exitError
		}
	}
	logger := newLogger(stderr, *level)
	if err := serve(ctx, logger, serveConfig{
		store:            *store,
		grpcAddr:         *grpcAddr,
		adminAddr:        *adminAddr,
		pprof:            *pprofOn,
		migrate:          *migrate,
		shutdownTimeout:  *shutdownTimeout,
		serveModels:      serveModels.refs,
		dataDir:          *dataDir,
		maxJobs:          *maxJobs,
		pinned:           *pinned,
		maxStreams:       *maxStreams,
		shadow:           server.ShadowOptions{Share: *shadowShare, Queue: *shadowQueue},
		slowCall:         *slowCall,
		maxCall:          *maxCall,
		leadModel:        *leadModel,
		rescoreEvery:     *rescoreEvery,
		historyStep:      historyStep(*stepFlag),
		decayTick:        decayTickOption(*decayTick),
		decayLease:       *decayLease,
		decayWorkers:     *decayWorkers,
		changeRetention:  *retention,
		requestRetention: *requestRetention,
		security:         *security,
	}); err != nil {
		logger.Error("serve failed", slog.Any("error", err))
		return exitError
	}
	return exitOK
}

type serveConfig struct {
	store           string
	grpcAddr        string
	adminAddr       string
	pprof           bool
	migrate         bool
	shutdownTimeout time.Duration
	// serveModels are the aliases whose targets this process keeps loaded.
	serveModels []leadscore.AliasRef
	// dataDir is --data-dir as given; see dataDirFor.
	dataDir    string
	maxJobs    int
	pinned     int
	maxStreams int
	shadow     server.ShadowOptions
	slowCall   time.Duration
	maxCall    time.Duration
	// leadModel, rescoreEvery and historyStep are how live leads are
	// rescored, as server.Options takes them (zero for the defaults).
	leadModel    string
	rescoreEvery time.Duration
	historyStep  float64
	decayTick    time.Duration
	decayLease   time.Duration
	decayWorkers int
	// changeRetention is how long score changes are kept, requestRetention
	// request ids.
	changeRetention  time.Duration
	requestRetention time.Duration
	// security is how callers are authenticated and the ports protected.
	security securityConfig
}

// followedAliases are the aliases the loader keeps loaded: the served ones
// and, when shadow scoring is on, each served model's challenger.
func followedAliases(cfg serveConfig) []leadscore.AliasRef {
	out := slices.Clone(cfg.serveModels)
	if cfg.shadow.Share > 0 {
		for _, a := range cfg.serveModels {
			ch := leadscore.AliasRef{Model: a.Model, Alias: "challenger"}
			if !slices.Contains(out, ch) {
				out = append(out, ch)
			}
		}
	}
	return out
}

// aliasListFlag is --serve-model: MODEL@ALIAS references, repeated or
// comma-separated. Given at all, it replaces the default.
type aliasListFlag struct {
	refs []leadscore.AliasRef
	set  bool
}

func (f *aliasListFlag) String() string {
	if f == nil {
		return ""
	}
	names := make([]string, len(f.refs))
	for i, r := range f.refs {
		names[i] = r.Model + "@" + r.Alias
	}
	return strings.Join(names, ",")
}

func (f *aliasListFlag) Set(v string) error {
	if !f.set {
		f.refs, f.set = nil, true
	}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		ref, err := parseServeModel(part)
		if err != nil {
			return err
		}
		if !slices.Contains(f.refs, ref) {
			f.refs = append(f.refs, ref)
		}
	}
	return nil
}

// parseServeModel reads MODEL@ALIAS.
func parseServeModel(s string) (leadscore.AliasRef, error) {
	model, alias, ok := strings.Cut(s, "@")
	if !ok {
		return leadscore.AliasRef{}, fmt.Errorf("%q is not MODEL@ALIAS, such as default@champion", s)
	}
	if err := leadscore.ValidateSlug("model", model); err != nil {
		return leadscore.AliasRef{}, fmt.Errorf("%q: %w", s, err)
	}
	if err := leadscore.ValidateSlug("alias", alias); err != nil {
		return leadscore.AliasRef{}, fmt.Errorf("%q: %w", s, err)
	}
	return leadscore.AliasRef{Model: model, Alias: alias}, nil
}

// dataDirFor is the directory jobs may read files from: the one
// --data-dir names, else a folder of its own beside the embedded store
// ("data", created empty when missing), else none for a PostgreSQL store.
// Never the working directory or the store's own folder: a caller could
// then read whatever else lies there, and its names in errors.
func dataDirFor(cfg serveConfig) (string, error) {
	switch {
	case cfg.dataDir != "":
		return cfg.dataDir, nil
	case isPostgresURL(cfg.store):
		return "", nil
	}
	dir := filepath.Join(filepath.Dir(cfg.store), "data")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("create the data directory: %w", err)
	}
	return dir, nil
}

// serve runs the server until ctx is cancelled, then shuts it down in
// order: gRPC first (health, watch streams, in-flight calls), then the admin
// server, telemetry (flushing spans) and the store.
func serve(ctx context.Context, logger *slog.Logger, cfg serveConfig) (err error) {
	st, err := openStore(ctx, cfg.store)
	if err != nil {
		return fmt.Errorf("open store %s: %w", describeStore(cfg.store), err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	if err := prepareSchema(ctx, logger, st, cfg.migrate); err != nil {
		return err
	}

	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: serviceName, ServiceVersion: version(), Logger: logger})
	if err != nil {
		return fmt.Errorf("set up telemetry: %w", err)
	}
	defer func() {
		// Telemetry is flushed after the server has stopped, so the spans of
		// the last calls are exported too. ctx is already cancelled here.
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if terr := tel.Shutdown(flushCtx); terr != nil {
			logger.Warn("flush telemetry", slog.Any("error", terr))
		}
	}()

	rs, ok := st.(leadscore.RegistryStore)
	if !ok {
		return fmt.Errorf("the %s store does not keep a model registry; this binary cannot serve it", st.Backend())
	}
	reg := registry.New(rs)

	// The loader follows the served aliases for the server's whole life,
	// draining included (in-flight scoring still needs its models), and
	// stops after it.
	var loader *registry.Loader
	loaderCtx, stopLoader := context.WithCancel(context.WithoutCancel(ctx))
	loaderDone := make(chan struct{})
	defer func() {
		stopLoader()
		<-loaderDone
	}()
	if len(cfg.serveModels) > 0 {
		loader = registry.NewLoader(reg, followedAliases(cfg), logger)
	}
	if err := registerServingGauge(tel.MeterProvider(), cfg.serveModels, loader); err != nil {
		close(loaderDone)
		return fmt.Errorf("register serving metrics: %w", err)
	}

	authn, err := cfg.security.authenticator(ctx, logger, st)
	if err != nil {
		return fmt.Errorf("set up authentication: %w", err)
	}
	tlsCfg, err := cfg.security.tlsConfig()
	if err != nil {
		return err
	}
	dataDir, err := dataDirFor(cfg)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Options{
		Logger:             logger,
		Store:              st,
		TracerProvider:     tel.TracerProvider(),
		MeterProvider:      tel.MeterProvider(),
		Registry:           reg,
		DataDir:            dataDir,
		MaxJobs:            cfg.maxJobs,
		Loader:             loader,
		ServedAliases:      cfg.serveModels,
		PinnedVersions:     cfg.pinned,
		MaxStreams:         cfg.maxStreams,
		Shadow:             cfg.shadow,
		SlowCall:           cfg.slowCall,
		MaxCallDuration:    cfg.maxCall,
		LeadModel:          cfg.leadModel,
		RescoreInterval:    cfg.rescoreEvery,
		HistoryStep:        cfg.historyStep,
		DecayTick:          cfg.decayTick,
		DecayLease:         cfg.decayLease,
		DecayWorkers:       cfg.decayWorkers,
		ChangeRetention:    cfg.changeRetention,
		RequestIDRetention: cfg.requestRetention,
		Auth:               authn,
		TLS:                tlsCfg,
		NoReflection:       cfg.security.noReflection,
	})
	if err != nil {
		close(loaderDone)
		return err
	}
	if loader != nil {
		// The server's health follows what the loader has loaded.
		loader.OnChange = srv.ModelsChanged
		go runLoader(loaderCtx, logger, loader, loaderDone)
	} else {
		close(loaderDone)
	}
	lis, err := net.Listen("tcp", cfg.grpcAddr)
	if err != nil {
		return fmt.Errorf("listen for grpc on %s: %w", cfg.grpcAddr, err)
	}

	errc := make(chan error, 2)
	var admin *http.Server
	if cfg.adminAddr != "" {
		adminLis, err := net.Listen("tcp", cfg.adminAddr)
		if err != nil {
			lis.Close()
			return fmt.Errorf("listen for admin http on %s: %w", cfg.adminAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/", telemetry.AdminHandler(tel, srv.Serving))
		mux.Handle("GET /v1/serving", servingHandler(cfg.serveModels, loader))
		mux.Handle("GET /v1/shadow", shadowHandler(srv))
		if cfg.pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		if tlsCfg != nil {
			// The admin port shares the server's certificate; it asks no
			// client certificate (probes and scrapers rarely have one).
			adminLis = tls.NewListener(adminLis, &tls.Config{Certificates: tlsCfg.Certificates, MinVersion: tls.VersionTLS12})
		}
		admin = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		go func() {
			if err := admin.Serve(adminLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve admin http: %w", err)
			}
		}()
		logger.Info("admin http listening", slog.String("admin_addr", adminLis.Addr().String()))
	}
	go func() { errc <- srv.Serve(lis) }()
	logger.Info("serving",
		slog.String("grpc_addr", lis.Addr().String()),
		slog.String("store", describeStore(cfg.store)),
		slog.String("backend", st.Backend()),
		slog.Bool("tls", tlsCfg != nil),
		slog.Bool("auth", authn != nil),
		slog.String("version", version()),
	)

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", slog.Duration("timeout", cfg.shutdownTimeout))
	case serveErr = <-errc:
		logger.Error("server stopped unexpectedly; shutting down", slog.Any("error", serveErr))
	}

	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		// Cutting off calls that overran the deadline is the documented
		// behaviour of a shutdown, not a failure of it.
		logger.Warn("graceful shutdown timed out", slog.Any("error", err))
	}
	if admin != nil {
		if err := admin.Shutdown(stopCtx); err != nil {
			logger.Warn("admin http shutdown", slog.Any("error", err))
		}
	}
	if serveErr != nil {
		return serveErr
	}
	logger.Info("stopped")
	return nil
}

// runLoader runs the loader until ctx ends, restarting it when it stops
// early (its notice subscription failed, say, because the store was
// briefly unreachable at start-up), and closes done when it returns.
func runLoader(ctx context.Context, logger *slog.Logger, loader *registry.Loader, done chan<- struct{}) {
	defer close(done)
	backoff := time.Second
	for {
		err := loader.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		logger.Error("model loader stopped; restarting it", slog.Any("error", err), slog.Duration("after", backoff))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// servingAlias is one entry of GET /v1/serving.
type servingAlias struct {
	// Alias is the alias's resource name.
	Alias string `json:"alias"`
	// Loaded is the version loaded for it, null when none is.
	Loaded *servingVersion `json:"loaded"`
}

// servingVersion is a loaded version, as GET /v1/serving shows it.
type servingVersion struct {
	ModelVersion    string    `json:"model_version"`
	HistorySequence int64     `json:"history_sequence"`
	ArtifactSHA256  string    `json:"artifact_sha256"`
	LoadedAt        time.Time `json:"loaded_at"`
}

// servingHandler serves GET /v1/serving: per served alias, the version
// this process has loaded for it, so an operator (or a deploy script) can
// see what each instance scores with after a promotion.
func servingHandler(aliases []leadscore.AliasRef, loader *registry.Loader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		out := struct {
			Aliases []servingAlias `json:"aliases"`
		}{Aliases: make([]servingAlias, 0, len(aliases))}
		for _, a := range aliases {
			entry := servingAlias{Alias: a.Name()}
			if l := loaderCurrent(loader, a); l != nil {
				entry.Loaded = &servingVersion{
					ModelVersion:    l.Version.Name(),
					HistorySequence: l.Seq,
					ArtifactSHA256:  l.SHA256,
					LoadedAt:        l.LoadedAt.UTC(),
				}
			}
			out.Aliases = append(out.Aliases, entry)
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out) // a failed write is the client's disconnect
	})
}

// shadowHandler serves GET /v1/shadow: the summary of challenger shadow
// scoring over the recent pairs (agreement, mean difference, rank
// correlation, dropped items), or 404 when it is off.
func shadowHandler(srv *server.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		sum, ok := srv.ShadowSummary()
		if !ok {
			http.Error(w, "shadow scoring is off (--shadow-share 0)", http.StatusNotFound)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sum) // a failed write is the client's disconnect
	})
}

func loaderCurrent(loader *registry.Loader, ref leadscore.AliasRef) *registry.Loaded {
	if loader == nil {
		return nil
	}
	return loader.Current(ref)
}

// registerServingGauge reports leadscore_serving_model_version{model,alias}:
// the version number each served alias has loaded in this process, 0 while
// none is, so a dashboard shows instances that lag behind a promotion.
func registerServingGauge(mp metric.MeterProvider, aliases []leadscore.AliasRef, loader *registry.Loader) error {
	meter := mp.Meter("github.com/leadscore/leadscore/cmd/leadscore")
	_, err := meter.Int64ObservableGauge("leadscore_serving_model_version",
		metric.WithDescription("The model version number this process serves for each alias it follows; 0 when none is loaded."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for _, a := range aliases {
				var v int64
				if l := loaderCurrent(loader, a); l != nil {
					v = l.Version.Version
				}
				o.Observe(v, metric.WithAttributes(attribute.String("model", a.Model), attribute.String("alias", a.Alias)))
			}
			return nil
		}))
	return err
}

// prepareSchema applies pending migrations, or, when migrating at start-up
// is off, refuses to serve on a schema that is behind the binary.
func prepareSchema(ctx context.Context, logger *slog.Logger, st leadscore.Store, migrate bool) error {
	if migrate {
		applied, err := st.Migrate(ctx)
		if err != nil {
			return fmt.Errorf("migrate store: %w", err)
		}
		for _, m := range applied {
			logger.Info("applied migration", slog.Int("version", m.Version), slog.String("name", m.Name))
		}
		return nil
	}
	all, err := st.Migrations(ctx)
	if err != nil {
		return fmt.Errorf("read store migrations: %w", err)
	}
	for _, m := range all {
		if !m.Applied() {
			return leadscore.Errorf(leadscore.EPRECONDITION,
				"the store's schema is behind this binary (migration %04d_%s is pending); run 'leadscore migrate' or serve with --migrate",
				m.Version, m.Name)
		}
	}
	return nil
}

// historyStep is --history-step as server.Options takes it, where 0 means
// the default and a negative step records every move.
func historyStep(flag float64) float64 {
	if flag == 0 {
		return -1
	}
	return flag
}

// decayTickOption is --decay-tick as server.Options takes it, where 0
// means the default and a negative tick turns the scheduler off.
func decayTickOption(flag time.Duration) time.Duration {
	if flag == 0 {
		return -1
	}
	return flag
}
