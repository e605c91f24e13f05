package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/registry"
	"github.com/leadscore/leadscore/server"
	"github.com/leadscore/leadscore/sqlite"
	"github.com/leadscore/leadscore/telemetry"
)

// serve runs leadscore's gRPC server in this process, wired as
// cmd/leadscore's serve wires it with its default flags (telemetry from
// the OTEL_* environment, the loader following default@champion and, as
// shadow scoring is on by default, default@challenger), so that a CPU
// profile of it is a profile of `leadscore serve`. Left out: the admin
// HTTP server (the benchmark runs serve with --admin-addr ”) and the
// leadscore_serving_model_version gauge, which costs nothing per call.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	store := fs.String("store", "", "the embedded store's SQLite file")
	addr := fs.String("addr", "127.0.0.1:0", "the gRPC address to listen on")
	pprofAddr := fs.String("pprof-addr", "", "serve net/http/pprof here; empty: none")
	level := new(slog.Level)
	fs.TextVar(level, "log-level", slog.LevelWarn, "the least severe log level written")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: *level}))

	st, err := sqlite.Open(ctx, *store)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "leadscore", ServiceVersion: "bench", Logger: logger})
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.Background())
	reg := registry.New(st)
	served := []leadscore.AliasRef{{Model: "default", Alias: leadscore.AliasChampion}}
	shadow := server.ShadowOptions{Share: 0.1, Queue: server.DefaultShadowQueue}
	loader := registry.NewLoader(reg, append(served, leadscore.AliasRef{Model: "default", Alias: "challenger"}), logger)
	srv, err := server.New(server.Options{
		Logger:         logger,
		Store:          st,
		TracerProvider: tel.TracerProvider(),
		MeterProvider:  tel.MeterProvider(),
		Registry:       reg,
		DataDir:        filepath.Dir(*store),
		MaxJobs:        1,
		Loader:         loader,
		ServedAliases:  served,
		PinnedVersions: server.DefaultPinnedVersions,
		MaxStreams:     server.DefaultMaxStreams,
		Shadow:         shadow,
		SlowCall:       time.Second,
	})
	if err != nil {
		return err
	}
	loader.OnChange = srv.ModelsChanged
	loaderCtx, stopLoader := context.WithCancel(context.Background())
	defer stopLoader()
	go func() {
		if err := loader.Run(loaderCtx); err != nil && loaderCtx.Err() == nil {
			logger.Error("model loader stopped", slog.Any("error", err))
		}
	}()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		go func() { fmt.Fprintln(os.Stderr, http.ListenAndServe(*pprofAddr, nil)) }()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
