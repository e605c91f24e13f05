package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Config says who the process is, for the telemetry resource, and where
// telemetry's own failures are reported. Everything about where telemetry
// goes comes from the standard OTEL_* environment instead, so operators
// configure leadscore the way they configure every other OpenTelemetry
// service.
type Config struct {
	// ServiceName becomes the service.name resource attribute. It is
	// required. OTEL_SERVICE_NAME, when set, wins, so one build can run
	// under different names per deployment.
	ServiceName string
	// ServiceVersion becomes service.version, typically the build version,
	// so traces and metrics can be split by release.
	ServiceVersion string
	// Logger receives errors from the exporters and the SDK. They run in
	// background goroutines and have no caller to return errors to, so
	// without a logger a collector outage would go unnoticed. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Telemetry owns the process's tracer and meter providers and the exporters
// behind them. Create it with Setup and stop it with Shutdown.
type Telemetry struct {
	tracerProvider *sdktrace.TracerProvider
	meterProvider  *sdkmetric.MeterProvider
	metricsHandler http.Handler

	// tracesProtocol and metricsProtocol are the OTLP transports in use,
	// empty when the signal is not pushed.
	tracesProtocol  protocol
	metricsProtocol protocol

	shutdownOnce sync.Once
	shutdownErr  error
}

// Setup builds the tracer and meter providers from cfg and the standard
// OpenTelemetry environment, and installs them, together with W3C
// tracecontext and baggage propagators and an error handler that logs to
// cfg.Logger, as the otel globals. Installing globals is deliberate: the
// gRPC, database and HTTP instrumentation libraries find the providers
// there, and the propagators make incoming trace context flow into outgoing
// calls. Call Setup once per process, before serving.
//
// Traces are pushed over OTLP, through a batch span processor, when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set
// (or OTEL_TRACES_EXPORTER says "otlp") and OTEL_TRACES_EXPORTER is not
// "none". Otherwise spans are still created and sampled, so trace context
// propagates to downstream services, but nothing is exported and no network
// connection is attempted. The OTLP transport is "grpc" unless
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL says
// "http/protobuf"; headers, TLS, compression and timeouts are read from the
// environment by the exporters themselves.
//
// Metrics are always collected for MetricsHandler's Prometheus endpoint,
// alongside Go runtime and process metrics, and are additionally pushed
// over OTLP by a periodic reader on the same terms as traces, using the
// OTEL_METRICS_EXPORTER and OTEL_EXPORTER_OTLP_METRICS_* variables. The
// runtime and process metrics are only served on the Prometheus endpoint.
//
// ctx bounds resource detection and exporter construction only; the
// exporters outlive it until Shutdown.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	if strings.TrimSpace(cfg.ServiceName) == "" {
		return nil, errors.New("telemetry config: service name is required")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}

	// Read the whole configuration before creating anything, so a typo in
	// the environment fails startup without leaving exporters running.
	tracesProtocol, err := tracesSignal.otlp()
	if err != nil {
		return nil, fmt.Errorf("configure trace export: %w", err)
	}
	metricsProtocol, err := metricsSignal.otlp()
	if err != nil {
		return nil, fmt.Errorf("configure metric export: %w", err)
	}

	// Route the SDK's errors and diagnostics to the service's logger before
	// anything can produce them.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("opentelemetry error", "err", err)
	}))
	otel.SetLogger(logr.FromSlogHandler(logger.Handler()))

	res, err := newResource(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}

	t := &Telemetry{tracesProtocol: tracesProtocol, metricsProtocol: metricsProtocol}

	t.tracerProvider, err = newTracerProvider(ctx, res, tracesProtocol)
	if err != nil {
		return nil, err
	}
	t.meterProvider, t.metricsHandler, err = newMeterProvider(ctx, res, metricsProtocol, logger)
	if err != nil {
		// Nothing has been exported yet, so there is nothing to flush;
		// this only stops the batch processor's goroutine and connection.
		_ = t.tracerProvider.Shutdown(ctx)
		return nil, err
	}

	otel.SetTracerProvider(t.tracerProvider)
	otel.SetMeterProvider(t.meterProvider)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{},
		propagation.Baggage{},
	))
	return t, nil
}

// newResource describes the process. Later options win, so the environment
// (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) overrides cfg.
//
// Only cheap, non-sensitive detectors are used: the command line and the
// process owner are left out because flags may carry database URLs and
// neither helps to tell instances apart.
func newResource(ctx context.Context, cfg Config, logger *slog.Logger) (*resource.Resource, error) {
	attrs := []resource.Option{
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(semconv.ServiceName(cfg.ServiceName)),
	}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceVersion(cfg.ServiceVersion)))
	}
	attrs = append(attrs,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithOSType(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithFromEnv(),
	)
	res, err := resource.New(ctx, attrs...)
	if errors.Is(err, resource.ErrPartialResource) {
		// A malformed OTEL_RESOURCE_ATTRIBUTES entry or an unavailable
		// host detail loses one attribute, which is no reason to refuse
		// to serve; the rest of the resource is still usable.
		logger.Warn("opentelemetry resource is incomplete", "err", err)
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("build telemetry resource: %w", err)
	}
	return res, nil
}

// newTracerProvider returns a provider that exports over proto. When proto
// is empty nothing is exported, so a root span is not sampled (recording it
// would cost every call a few microseconds for nothing); a span whose
// remote parent is sampled still is, so the caller's trace keeps its
// sampled flag downstream. OTEL_TRACES_SAMPLER, when set, decides instead.
func newTracerProvider(ctx context.Context, res *resource.Resource, proto protocol) (*sdktrace.TracerProvider, error) {
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if proto == "" {
		if _, set := os.LookupEnv("OTEL_TRACES_SAMPLER"); !set {
			opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
		}
	}
	if proto != "" {
		var exp sdktrace.SpanExporter
		var err error
		switch proto {
		case protocolHTTPProtobuf:
			exp, err = otlptracehttp.New(ctx)
		default:
			exp, err = otlptracegrpc.New(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("create otlp %s trace exporter: %w", proto, err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

// newMeterProvider returns a provider read by a Prometheus exporter on a
// registry of its own, plus a periodic OTLP reader when proto is set, and
// the handler that serves the registry. A private registry keeps the
// metrics endpoint to what this process registers, whatever other packages
// put in prometheus.DefaultRegisterer.
func newMeterProvider(ctx context.Context, res *resource.Resource, proto protocol, logger *slog.Logger) (*sdkmetric.MeterProvider, http.Handler, error) {
	registry := prometheus.NewRegistry()
	if err := registry.Register(collectors.NewGoCollector()); err != nil {
		return nil, nil, fmt.Errorf("register go runtime collector: %w", err)
	}
	if err := registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, nil, fmt.Errorf("register process collector: %w", err)
	}
	promExporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return nil, nil, fmt.Errorf("create prometheus exporter: %w", err)
	}

	opts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExporter)}
	if proto != "" {
		var exp sdkmetric.Exporter
		switch proto {
		case protocolHTTPProtobuf:
			exp, err = otlpmetrichttp.New(ctx)
		default:
			exp, err = otlpmetricgrpc.New(ctx)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("create otlp %s metric exporter: %w", proto, err)
		}
		// The interval and timeout come from OTEL_METRIC_EXPORT_INTERVAL
		// and OTEL_METRIC_EXPORT_TIMEOUT, read by the reader itself.
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
	}

	handler := promhttp.HandlerFor(registry, promhttp.HandlerOpts{
		ErrorLog: promErrorLog{logger: logger},
		// One failing collector should not blank the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
	})
	return sdkmetric.NewMeterProvider(opts...), handler, nil
}

// TracerProvider returns the provider that Setup also installed as the otel
// global, for instrumentation that takes a provider explicitly, such as
// otelgrpc.WithTracerProvider.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tracerProvider }

// MeterProvider returns the provider that Setup also installed as the otel
// global, for instrumentation that takes a provider explicitly, such as
// otelgrpc.WithMeterProvider.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.meterProvider }

// MetricsHandler serves the process's metrics in the Prometheus text
// exposition format, for a /metrics scrape endpoint. After Shutdown it
// serves only the Go runtime and process metrics.
func (t *Telemetry) MetricsHandler() http.Handler { return t.metricsHandler }

// Shutdown flushes buffered spans and metrics to the OTLP exporters and
// stops them, giving up when ctx is done. Call it after the servers have
// stopped, so the spans of the last requests are flushed too. Later calls
// do nothing and return the first call's result, so a deferred Shutdown
// next to an explicit one is harmless.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		var errs []error
		if err := t.tracerProvider.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down tracer provider: %w", err))
		}
		if err := t.meterProvider.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down meter provider: %w", err))
		}
		t.shutdownErr = errors.Join(errs...)
	})
	return t.shutdownErr
}

// promErrorLog adapts the logger to promhttp, which reports collection and
// encoding failures through a Println method.
type promErrorLog struct {
	logger *slog.Logger
}

// Println logs at error level because promhttp calls it only for failures.
func (l promErrorLog) Println(v ...any) {
	l.logger.Error("serve prometheus metrics", "err", fmt.Sprint(v...))
}
