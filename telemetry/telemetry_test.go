package telemetry_test

// These tests change process environment with t.Setenv and the otel
// globals through Setup, so none of them runs in parallel.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadscore/leadscore/internal/otlptest"
	"github.com/leadscore/leadscore/telemetry"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// waitTimeout only bounds how long a broken test hangs; passing tests never
// wait for it because Shutdown flushes synchronously.
const waitTimeout = 10 * time.Second

const (
	healthCheckSpan  = "grpc.health.v1.Health/Check"
	serverDuration   = "rpc.server.call.duration"
	testServiceName  = "leadscore-test"
	testVersion      = "1.2.3-test"
	testEnvAttribute = "deployment.environment.name"
)

// clearOTelEnv unsets every OTEL_* variable for the duration of the test, so
// a developer's or CI's telemetry settings cannot leak into what is tested.
func clearOTelEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "OTEL_") {
			continue
		}
		t.Setenv(name, "") // Registers the restore of the original value.
		if err := os.Unsetenv(name); err != nil {
			t.Fatalf("unset %s: %v", name, err)
		}
	}
}

// logBuffer collects log output written from the SDK's background
// goroutines as well as the test's.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// setup runs telemetry.Setup with a logger whose output the test can check,
// and shuts telemetry down at the end of the test in case the test did not.
func setup(t *testing.T) (*telemetry.Telemetry, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	tel, err := telemetry.Setup(t.Context(), telemetry.Config{
		ServiceName:    testServiceName,
		ServiceVersion: testVersion,
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_ = tel.Shutdown(ctx)
	})
	return tel, logs
}

// shutdown flushes telemetry and fails the test if that fails.
func shutdown(t *testing.T, tel *telemetry.Telemetry) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// checkHealthOverGRPC serves grpc.health.v1 on a loopback port behind the
// otelgrpc stats handler, makes one Check call through a real client
// connection, and stops the server gracefully. Stopping matters: otelgrpc
// ends the server span and records the duration after the response has
// gone out, and GracefulStop returns only once every handler, stats
// callbacks included, has finished.
func checkHealthOverGRPC(t *testing.T, tel *telemetry.Telemetry) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(tel.TracerProvider()),
		otelgrpc.WithMeterProvider(tel.MeterProvider()),
	)))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		srv.GracefulStop()
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("grpc Serve: %v", err)
		}
	}
	t.Cleanup(stop)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient(%q): %v", lis.Addr(), err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Health.Check: %v", err)
	}
	if got, want := resp.GetStatus(), healthpb.HealthCheckResponse_SERVING; got != want {
		t.Errorf("Health.Check status = %v, want %v", got, want)
	}
	if err := conn.Close(); err != nil {
		t.Errorf("close client connection: %v", err)
	}
	stop()
}

func TestSetupExportsGRPCServerTelemetryOverOTLP(t *testing.T) {
	tests := []struct {
		name string
		// env returns the variables to set for a receiver.
		env func(rcv *otlptest.Receiver) map[string]string
	}{
		{
			name: "default protocol is grpc",
			env: func(rcv *otlptest.Receiver) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + rcv.Endpoint()}
			},
		},
		{
			name: "explicit grpc with insecure flag",
			env: func(rcv *otlptest.Receiver) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + rcv.Endpoint(),
					"OTEL_EXPORTER_OTLP_INSECURE": "true",
					"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
				}
			},
		},
		{
			name: "http/protobuf with gzip",
			env: func(rcv *otlptest.Receiver) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_ENDPOINT":    "http://" + rcv.HTTPEndpoint(),
					"OTEL_EXPORTER_OTLP_INSECURE":    "true",
					"OTEL_EXPORTER_OTLP_PROTOCOL":    "http/protobuf",
					"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
				}
			},
		},
		{
			name: "per-signal endpoints and protocols",
			env: func(rcv *otlptest.Receiver) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_PROTOCOL":         "grpc",
					"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL":  "http/protobuf",
					"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":  "http://" + rcv.HTTPEndpoint() + "/v1/traces",
					"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://" + rcv.Endpoint(),
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTelEnv(t)
			rcv := otlptest.Start(t)
			for k, v := range tt.env(rcv) {
				t.Setenv(k, v)
			}
			t.Setenv("OTEL_RESOURCE_ATTRIBUTES", testEnvAttribute+"=test")

			tel, logs := setup(t)
			checkHealthOverGRPC(t, tel)
			shutdown(t, tel)

			span := rcv.WaitForSpan(t, healthCheckSpan, waitTimeout)
			if got, want := span.Span.GetKind(), tracepb.Span_SPAN_KIND_SERVER; got != want {
				t.Errorf("span kind = %v, want %v", got, want)
			}
			for key, want := range map[string]string{
				"service.name":    testServiceName,
				"service.version": testVersion,
				testEnvAttribute:  "test",
			} {
				if got, ok := span.ResourceAttribute(key); !ok || got != want {
					t.Errorf("span resource %s = %q (present %v), want %q", key, got, ok, want)
				}
			}

			metric := rcv.WaitForMetric(t, serverDuration, waitTimeout)
			if got, ok := metric.ResourceAttribute("service.name"); !ok || got != testServiceName {
				t.Errorf("metric resource service.name = %q (present %v), want %q", got, ok, testServiceName)
			}
			if got := logs.String(); got != "" {
				t.Errorf("telemetry logged %q, want nothing", got)
			}
		})
	}
}

func TestSetupEnvironmentOverridesServiceName(t *testing.T) {
	clearOTelEnv(t)
	rcv := otlptest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+rcv.Endpoint())
	t.Setenv("OTEL_SERVICE_NAME", "leadscore-canary")

	tel, _ := setup(t)
	_, span := tel.TracerProvider().Tracer("test").Start(t.Context(), "unit-of-work")
	span.End()
	shutdown(t, tel)

	got := rcv.WaitForSpan(t, "unit-of-work", waitTimeout)
	if name, _ := got.ResourceAttribute("service.name"); name != "leadscore-canary" {
		t.Errorf("service.name = %q, want %q from OTEL_SERVICE_NAME", name, "leadscore-canary")
	}
}

func TestSetupWithoutEndpointExportsNothing(t *testing.T) {
	clearOTelEnv(t)
	tel, logs := setup(t)

	if traces, metrics := telemetry.ExportProtocols(tel); traces != "" || metrics != "" {
		t.Fatalf("ExportProtocols = %q, %q; want no OTLP exporter", traces, metrics)
	}

	// With nothing to export, a root span is not sampled: recording it
	// would cost every call for nothing.
	_, root := tel.TracerProvider().Tracer("test").Start(t.Context(), "root")
	if root.IsRecording() || root.SpanContext().IsSampled() {
		t.Errorf("root span recording=%v sampled=%v, want neither", root.IsRecording(), root.SpanContext().IsSampled())
	}
	root.End()
	// A caller's sampled trace stays sampled through this service, and its
	// context reaches downstream services.
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ctx, span := tel.TracerProvider().Tracer("test").Start(trace.ContextWithRemoteSpanContext(t.Context(), parent), "unit-of-work")
	if !span.IsRecording() || !span.SpanContext().IsSampled() {
		t.Errorf("child of a sampled caller: recording=%v sampled=%v, want both true", span.IsRecording(), span.SpanContext().IsSampled())
	}
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if got, want := carrier.Get("traceparent"), parent.TraceID().String(); !strings.Contains(got, want) {
		t.Errorf("injected traceparent = %q, want it to carry trace ID %s", got, want)
	}
	span.End()

	checkHealthOverGRPC(t, tel)
	shutdown(t, tel)
	// An exporter aimed at the default localhost collector would have
	// failed its flush here and logged it.
	if got := logs.String(); got != "" {
		t.Errorf("telemetry logged %q, want nothing", got)
	}
}

func TestSetupChoosesExportersFromEnvironment(t *testing.T) {
	tests := []struct {
		name        string
		env         func(rcv *otlptest.Receiver) map[string]string
		wantTraces  string
		wantMetrics string
	}{
		{
			name: "shared endpoint pushes both over grpc",
			env: func(rcv *otlptest.Receiver) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + rcv.Endpoint()}
			},
			wantTraces:  "grpc",
			wantMetrics: "grpc",
		},
		{
			name: "traces exporter none silences traces only",
			env: func(rcv *otlptest.Receiver) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + rcv.Endpoint(),
					"OTEL_TRACES_EXPORTER":        "none",
				}
			},
			wantMetrics: "grpc",
		},
		{
			name: "metrics exporter prometheus keeps metrics pull only",
			env: func(rcv *otlptest.Receiver) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + rcv.Endpoint(),
					"OTEL_METRICS_EXPORTER":       "prometheus",
				}
			},
			wantTraces: "grpc",
		},
		{
			name: "metrics endpoint alone pushes metrics only",
			env: func(rcv *otlptest.Receiver) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://" + rcv.Endpoint()}
			},
			wantMetrics: "grpc",
		},
		{
			name: "signal protocol overrides shared protocol",
			env: func(rcv *otlptest.Receiver) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_ENDPOINT":         "http://" + rcv.HTTPEndpoint(),
					"OTEL_EXPORTER_OTLP_PROTOCOL":         "http/protobuf",
					"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
					"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://" + rcv.Endpoint(),
				}
			},
			wantTraces:  "http/protobuf",
			wantMetrics: "grpc",
		},
		{
			// Nothing is exported before Shutdown, and an idle gRPC
			// client does not dial, so this makes no network attempt.
			name: "explicit otlp without endpoint uses the default collector",
			env: func(*otlptest.Receiver) map[string]string {
				return map[string]string{
					"OTEL_TRACES_EXPORTER":  "otlp",
					"OTEL_METRICS_EXPORTER": "none",
				}
			},
			wantTraces: "grpc",
		},
		{
			name: "blank endpoint counts as unset",
			env: func(*otlptest.Receiver) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTelEnv(t)
			rcv := otlptest.Start(t)
			for k, v := range tt.env(rcv) {
				t.Setenv(k, v)
			}
			tel, logs := setup(t)
			traces, metrics := telemetry.ExportProtocols(tel)
			if traces != tt.wantTraces || metrics != tt.wantMetrics {
				t.Errorf("ExportProtocols = %q, %q; want %q, %q", traces, metrics, tt.wantTraces, tt.wantMetrics)
			}
			shutdown(t, tel)
			if got := logs.String(); got != "" {
				t.Errorf("telemetry logged %q, want nothing", got)
			}
		})
	}
}

func TestSetupRejectsBadConfiguration(t *testing.T) {
	tests := []struct {
		name    string
		service string
		env     map[string]string
		wantErr string
	}{
		{
			name:    "missing service name",
			service: " ",
			wantErr: "service name is required",
		},
		{
			name:    "json protocol",
			service: testServiceName,
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
				"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
			},
			wantErr: `OTEL_EXPORTER_OTLP_PROTOCOL="http/json" is not supported`,
		},
		{
			name:    "unknown metrics protocol",
			service: testServiceName,
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":         "http://127.0.0.1:4317",
				"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "udp",
			},
			wantErr: "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
		},
		{
			name:    "unknown traces exporter",
			service: testServiceName,
			env:     map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"},
			wantErr: `exporter "zipkin" is not supported`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTelEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			tel, err := telemetry.Setup(t.Context(), telemetry.Config{ServiceName: tt.service, Logger: slog.New(slog.DiscardHandler)})
			if err == nil {
				shutdown(t, tel)
				t.Fatalf("Setup succeeded, want error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Setup error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestShutdownTwiceIsSafe(t *testing.T) {
	tests := []struct {
		name     string
		exporter bool
	}{
		{name: "with otlp exporters", exporter: true},
		{name: "without exporters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTelEnv(t)
			if tt.exporter {
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+otlptest.Start(t).Endpoint())
			}
			tel, _ := setup(t)
			shutdown(t, tel)
			shutdown(t, tel)
			// Instrumentation that outlives Shutdown must not break.
			_, span := tel.TracerProvider().Tracer("test").Start(t.Context(), "after-shutdown")
			span.End()
		})
	}
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	return do(t, http.MethodGet, url)
}

func do(t *testing.T, method, url string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", method, url, err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func TestAdminHandlerServesMetricsAfterRPC(t *testing.T) {
	clearOTelEnv(t)
	tel, _ := setup(t)
	checkHealthOverGRPC(t, tel)

	admin := httptest.NewServer(telemetry.AdminHandler(tel, nil))
	t.Cleanup(admin.Close)

	status, body, header := get(t, admin.URL+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics status = %d, want %d; body %q", status, http.StatusOK, body)
	}
	if got := header.Get("Content-Type"); !strings.HasPrefix(got, "text/plain") {
		t.Errorf("GET /metrics Content-Type = %q, want text/plain", got)
	}
	for _, want := range []string{
		"# TYPE rpc_server_call_duration_seconds histogram",
		`rpc_server_call_duration_seconds_count{`,
		`rpc_method="grpc.health.v1.Health/Check"`,
		`service_name="` + testServiceName + `"`,
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics body lacks %q; body:\n%s", want, body)
		}
	}
}

func TestAdminHandlerProbes(t *testing.T) {
	clearOTelEnv(t)
	tel, _ := setup(t)
	var ready atomic.Bool
	admin := httptest.NewServer(telemetry.AdminHandler(tel, ready.Load))
	t.Cleanup(admin.Close)

	tests := []struct {
		name       string
		method     string
		path       string
		ready      bool
		wantStatus int
		wantBody   string
	}{
		{name: "livez is ok while starting", method: http.MethodGet, path: "/livez", wantStatus: http.StatusOK, wantBody: "ok"},
		{name: "livez is ok when ready", method: http.MethodGet, path: "/livez", ready: true, wantStatus: http.StatusOK, wantBody: "ok"},
		{name: "readyz is unavailable while not ready", method: http.MethodGet, path: "/readyz", wantStatus: http.StatusServiceUnavailable, wantBody: "not ready"},
		{name: "readyz is ok when ready", method: http.MethodGet, path: "/readyz", ready: true, wantStatus: http.StatusOK, wantBody: "ok"},
		{name: "readyz follows ready going false", method: http.MethodGet, path: "/readyz", wantStatus: http.StatusServiceUnavailable, wantBody: "not ready"},
		{name: "head readyz is ok when ready", method: http.MethodHead, path: "/readyz", ready: true, wantStatus: http.StatusOK},
		{name: "post livez is not allowed", method: http.MethodPost, path: "/livez", wantStatus: http.StatusMethodNotAllowed},
		{name: "unknown path is not found", method: http.MethodGet, path: "/debug/vars", wantStatus: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready.Store(tt.ready)
			status, body, header := do(t, tt.method, admin.URL+tt.path)
			if status != tt.wantStatus {
				t.Errorf("%s %s status = %d, want %d", tt.method, tt.path, status, tt.wantStatus)
			}
			if tt.wantBody != "" && body != tt.wantBody {
				t.Errorf("%s %s body = %q, want %q", tt.method, tt.path, body, tt.wantBody)
			}
			if tt.wantBody != "" {
				if got, want := header.Get("Cache-Control"), "no-store"; got != want {
					t.Errorf("%s %s Cache-Control = %q, want %q", tt.method, tt.path, got, want)
				}
			}
		})
	}
}

func TestAdminHandlerNilReadyIsAlwaysReady(t *testing.T) {
	clearOTelEnv(t)
	tel, _ := setup(t)
	admin := httptest.NewServer(telemetry.AdminHandler(tel, nil))
	t.Cleanup(admin.Close)

	if status, body, _ := get(t, admin.URL+"/readyz"); status != http.StatusOK || body != "ok" {
		t.Errorf("GET /readyz = %d %q, want %d %q", status, body, http.StatusOK, "ok")
	}
}
