package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/registry"
	"github.com/leadscore/leadscore/sqlite"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// leadscoreServices are the v1 services, from the generated descriptors, so
// a service added to the API is covered without editing the tests.
func leadscoreServices() []protoreflect.ServiceDescriptor {
	var out []protoreflect.ServiceDescriptor
	for _, fd := range []protoreflect.FileDescriptor{
		leadscorev1.File_leadscore_v1_scoring_proto,
		leadscorev1.File_leadscore_v1_lead_proto,
		leadscorev1.File_leadscore_v1_model_registry_proto,
		leadscorev1.File_leadscore_v1_training_proto,
		leadscorev1.File_leadscore_v1_evaluation_proto,
	} {
		for i := 0; i < fd.Services().Len(); i++ {
			out = append(out, fd.Services().Get(i))
		}
	}
	return out
}

func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	return slog.New(slog.NewJSONHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testWriter sends log lines to the test's log, so they show only when a
// test fails.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func openStore(t *testing.T) leadscore.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "leadscore.db"))
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate sqlite store: %v", err)
	}
	return st
}

// start serves s on a loopback port and returns a client connection to it.
// The server is shut down when the test ends.
func start(t *testing.T, s *Server) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", lis.Addr(), err)
	}
	t.Cleanup(func() {
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return conn
}

func newServer(t *testing.T, st leadscore.Store) *Server {
	t.Helper()
	return newServerWith(t, st, nil)
}

// newServerWith returns a server over st, with a registry over the same
// store, after edit has adjusted its options.
func newServerWith(t *testing.T, st leadscore.Store, edit func(*Options)) *Server {
	t.Helper()
	rs, ok := st.(leadscore.RegistryStore)
	if !ok {
		t.Fatalf("the %s store does not implement leadscore.RegistryStore", st.Backend())
	}
	opts := Options{Logger: testLogger(t), Store: st, Registry: registry.New(rs), StoreCheckInterval: 20 * time.Millisecond}
	if edit != nil {
		edit(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	return s
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// implemented are the services whose handlers are built; the others still
// answer Unimplemented.
// A service's name stands for all its rpcs; a partly built service lists
// its built rpcs by full name.
var implemented = map[string]bool{
	leadscorev1.ScoringService_ServiceDesc.ServiceName:       true,
	leadscorev1.ModelRegistryService_ServiceDesc.ServiceName: true,
	leadscorev1.EvaluationService_ServiceDesc.ServiceName:    true,
	leadscorev1.LeadService_ServiceDesc.ServiceName:          true,
	leadscorev1.TrainingService_ServiceDesc.ServiceName:      true,
}

func TestEveryRPCIsReachable(t *testing.T) {
	t.Parallel()
	conn := start(t, newServer(t, openStore(t)))
	ctx := testContext(t)
	methods := 0
	for _, sd := range leadscoreServices() {
		for i := 0; i < sd.Methods().Len(); i++ {
			md := sd.Methods().Get(i)
			methods++
			fullMethod := "/" + string(sd.FullName()) + "/" + string(md.Name())
			if implemented[string(sd.FullName())] || implemented[fullMethod] {
				t.Run(string(md.FullName())+" answers an empty request without failing", func(t *testing.T) {
					ctx := ctx
					if md.IsStreamingServer() && !md.IsStreamingClient() {
						// A watch of an empty request follows changes until
						// its deadline: still open then is an answer too.
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
						defer cancel()
					}
					err := call(ctx, conn, fullMethod, md)
					switch got := status.Code(err); got {
					case codes.Unimplemented, codes.Internal, codes.Unknown:
						t.Fatalf("%s: got code %v (%v), want an answer (OK or a caller error)", fullMethod, got, err)
					}
				})
				continue
			}
			t.Run(string(md.FullName())+" names itself when unimplemented", func(t *testing.T) {
				err := call(ctx, conn, fullMethod, md)
				if got := status.Code(err); got != codes.Unimplemented {
					t.Fatalf("%s: got code %v (%v), want Unimplemented", fullMethod, got, err)
				}
				if msg := status.Convert(err).Message(); !strings.Contains(msg, string(md.Name())) {
					t.Errorf("%s: message %q does not name the rpc", fullMethod, msg)
				}
			})
		}
	}
	// The v1 API has 48 rpcs; a different count means one was added or
	// lost without this test (and its reviewer) noticing.
	if got, want := methods, 48; got != want {
		t.Errorf("got %d rpcs across the v1 services, want %d", got, want)
	}
}

// call invokes one rpc with an empty request through the generated
// descriptors, whatever its streaming kind, and returns its error.
func call(ctx context.Context, conn *grpc.ClientConn, fullMethod string, md protoreflect.MethodDescriptor) error {
	req := dynamicpb.NewMessage(md.Input())
	resp := dynamicpb.NewMessage(md.Output())
	if !md.IsStreamingClient() && !md.IsStreamingServer() {
		return conn.Invoke(ctx, fullMethod, req, resp)
	}
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{
		StreamName:    string(md.Name()),
		ServerStreams: md.IsStreamingServer(),
		ClientStreams: md.IsStreamingClient(),
	}, fullMethod)
	if err != nil {
		return err
	}
	if err := stream.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	return stream.RecvMsg(resp)
}

// TestHealthIsHonestPerService checks a server that serves no model: the
// whole server and the built services that need only the store report
// SERVING, scoring (nothing loaded) and the services not built yet do not.
func TestHealthIsHonestPerService(t *testing.T) {
	t.Parallel()
	conn := start(t, newServer(t, openStore(t)))
	ctx := testContext(t)
	client := healthpb.NewHealthClient(conn)

	want := map[string]healthpb.HealthCheckResponse_ServingStatus{"": healthpb.HealthCheckResponse_SERVING}
	for _, sd := range leadscoreServices() {
		name := string(sd.FullName())
		want[name] = healthpb.HealthCheckResponse_NOT_SERVING
		if slices.Contains(storeServiceNames, name) {
			want[name] = healthpb.HealthCheckResponse_SERVING
		}
	}
	for name, w := range want {
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: name})
		if err != nil {
			t.Fatalf("health check %q: %v", name, err)
		}
		if got := resp.GetStatus(); got != w {
			t.Errorf("health of %q: got %v, want %v", name, got, w)
		}
	}
}

func TestReflectionListsEveryService(t *testing.T) {
	t.Parallel()
	conn := start(t, newServer(t, openStore(t)))
	ctx := testContext(t)

	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatalf("open reflection stream: %v", err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatalf("send list services: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("receive list services: %v", err)
	}
	listed := map[string]bool{}
	for _, s := range resp.GetListServicesResponse().GetService() {
		listed[s.GetName()] = true
	}
	want := []string{"grpc.health.v1.Health"}
	for _, sd := range leadscoreServices() {
		want = append(want, string(sd.FullName()))
	}
	for _, name := range want {
		if !listed[name] {
			t.Errorf("reflection does not list %s; it lists %v", name, listed)
		}
	}
}

func TestShutdownTellsWatchersAndEndsTheirStreams(t *testing.T) {
	t.Parallel()
	s := newServer(t, openStore(t))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	ctx := testContext(t)

	watch, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("watch health: %v", err)
	}
	first, err := watch.Recv()
	if err != nil {
		t.Fatalf("first health update: %v", err)
	}
	if got, want := first.GetStatus(), healthpb.HealthCheckResponse_SERVING; got != want {
		t.Fatalf("first health update: got %v, want %v", got, want)
	}

	// A generous deadline: the stream must end because the server ends it,
	// not because the deadline forces it, so Shutdown must return nil.
	shutdown := make(chan error, 1)
	go func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		defer cancel()
		shutdown <- s.Shutdown(stopCtx)
	}()

	update, err := watch.Recv()
	if err != nil {
		t.Fatalf("health update after shutdown began: %v", err)
	}
	if got, want := update.GetStatus(), healthpb.HealthCheckResponse_NOT_SERVING; got != want {
		t.Errorf("health update after shutdown began: got %v, want %v", got, want)
	}
	for {
		_, err = watch.Recv()
		if err != nil {
			break
		}
	}
	if got, want := status.Code(err), codes.Unavailable; got != want {
		t.Errorf("watch stream ended with %v (%v), want %v", got, err, want)
	}
	if err := <-shutdown; err != nil {
		t.Errorf("shutdown: got %v, want a graceful stop", err)
	}
	if err := <-served; err != nil {
		t.Errorf("serve after shutdown: %v", err)
	}
}

func TestUnreachableStoreReportsNotServing(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	s := newServer(t, st)
	conn := start(t, s)
	ctx := testContext(t)
	watch, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{
		Service: leadscorev1.ModelRegistryService_ServiceDesc.ServiceName,
	})
	if err != nil {
		t.Fatalf("watch health: %v", err)
	}
	if first, err := watch.Recv(); err != nil || first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first health update: got %v, %v; want SERVING", first.GetStatus(), err)
	}

	if err := st.Close(); err != nil {
		t.Fatalf("close store: %v", err)
	}
	update, err := watch.Recv()
	if err != nil {
		t.Fatalf("health update after the store went away: %v", err)
	}
	if got, want := update.GetStatus(), healthpb.HealthCheckResponse_NOT_SERVING; got != want {
		t.Errorf("health after the store went away: got %v, want %v", got, want)
	}
	if s.Serving() {
		t.Error("Serving() is true with an unreachable store")
	}
}

// panickingHealth is a health service whose Check panics, to drive the
// recovery interceptor through the real transport.
type panickingHealth struct {
	healthpb.UnimplementedHealthServer
}

func (panickingHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	panic("secret internal detail")
}

func TestPanicInHandlerBecomesInternalWithoutItsText(t *testing.T) {
	t.Parallel()
	s := newServer(t, openStore(t))
	gs := grpc.NewServer(
		grpc.ChainUnaryInterceptor(s.unaryInterceptors()...),
		grpc.ChainStreamInterceptor(s.streamInterceptors()...),
	)
	healthpb.RegisterHealthServer(gs, panickingHealth{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()

	_, err = healthpb.NewHealthClient(conn).Check(testContext(t), &healthpb.HealthCheckRequest{})
	if got, want := status.Code(err), codes.Internal; got != want {
		t.Fatalf("got %v (%v), want %v", got, err, want)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("the panic's text reached the caller: %v", err)
	}
	// The server keeps serving after a panic.
	_, err = healthpb.NewHealthClient(conn).Check(testContext(t), &healthpb.HealthCheckRequest{})
	if got, want := status.Code(err), codes.Internal; got != want {
		t.Errorf("second call: got %v, want %v", got, want)
	}
}

func TestNewRequiresLoggerStoreAndRegistry(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	reg := registry.New(st.(leadscore.RegistryStore))
	if _, err := New(Options{Store: st, Registry: reg}); err == nil {
		t.Error("New without a logger succeeded")
	}
	if _, err := New(Options{Logger: testLogger(t), Registry: reg}); err == nil {
		t.Error("New without a store succeeded")
	}
	if _, err := New(Options{Logger: testLogger(t), Store: st}); err == nil {
		t.Error("New without a registry succeeded")
	}
	if _, err := New(Options{Logger: testLogger(t), Store: st, Registry: reg, DataDir: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("New with a data directory that does not exist succeeded")
	}
}
