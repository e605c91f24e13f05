package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// errDraining is the cancellation cause of watch streams when the server
// starts to shut down.
var errDraining = errors.New("server is shutting down")

// The interceptors are chained in this order, outermost first: logging sees
// the final status of every call, recovery turns a panic anywhere below it
// into Internal, authentication refuses calls without the credentials and
// scope their rpc needs (with their own status codes), and error mapping
// converts handler errors exactly once.
// (The OpenTelemetry stats handler sits outside all of them, at the
// transport.)

func (s *Server) unaryInterceptors() []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{s.logUnary, s.recoverUnary, s.authUnary, s.mapErrorsUnary}
}

func (s *Server) streamInterceptors() []grpc.StreamServerInterceptor {
	return []grpc.StreamServerInterceptor{s.logStream, s.recoverStream, s.authStream, s.drainStream, s.mapErrorsStream}
}

func (s *Server) logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	s.logCall(ctx, info.FullMethod, start, err)
	return resp, err
}

func (s *Server) logStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	s.logCall(ss.Context(), info.FullMethod, start, err)
	return err
}

// logCall writes a structured access-log line for the calls people need to
// read about: server-side failures at ERROR; calls refused for the
// caller's input, and successful calls slower than the slow-call
// threshold, at INFO; every other call at DEBUG only, since rates belong in
// metrics (a load test must not write a line per call). Health checks
// are never logged above DEBUG: load balancers call them constantly. It
// also records the call's duration metric (observeCall).
func (s *Server) logCall(ctx context.Context, method string, start time.Time, err error) {
	elapsed := time.Since(start)
	code := status.Code(err)
	s.observeCall(ctx, method, code, elapsed)
	level := slog.LevelDebug
	switch {
	case method == healthpb.Health_Check_FullMethodName || method == healthpb.Health_Watch_FullMethodName:
	case code == codes.Internal || code == codes.Unknown || code == codes.DataLoss:
		level = slog.LevelError
	case code != codes.OK || elapsed >= s.slowCall:
		level = slog.LevelInfo
	}
	if !s.logger.Enabled(ctx, level) {
		return
	}
	s.logger.Log(ctx, level, "rpc",
		slog.String("method", method),
		slog.String("code", code.String()),
		slog.Duration("duration", elapsed),
	)
}

func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = s.panicked(ctx, info.FullMethod, r)
		}
	}()
	return handler(ctx, req)
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = s.panicked(ss.Context(), info.FullMethod, r)
		}
	}()
	return handler(srv, ss)
}

// panicked logs a recovered panic with its stack and returns the status the
// caller sees, which never includes the panic's text.
func (s *Server) panicked(ctx context.Context, method string, r any) error {
	s.logger.ErrorContext(ctx, "panic in rpc handler",
		slog.String("method", method),
		slog.String("panic", fmt.Sprint(r)),
		slog.String("stack", string(debug.Stack())),
	)
	return status.Error(codes.Internal, "internal error")
}

func (s *Server) mapErrorsUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, toStatus(ctx, s.logger, info.FullMethod, err).Err()
	}
	return resp, nil
}

func (s *Server) mapErrorsStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := handler(srv, ss); err != nil {
		return toStatus(ss.Context(), s.logger, info.FullMethod, err).Err()
	}
	return nil
}

// drainStream ends watch streams (server-streaming rpcs such as
// WatchScoreChanges, which never end on their own) as soon as the server
// starts shutting down, so that a graceful stop does not have to wait for
// its deadline. Their callers get Unavailable and reconnect to another
// instance, resuming from their cursor. Streams the client also sends on,
// such as StreamScore, carry work: they are left to finish it until the
// drain deadline (their handlers block in Recv, which a context cannot
// interrupt without cutting the transport anyway).
func (s *Server) drainStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	// Health Watch drains itself, after telling the watcher NOT_SERVING.
	if !info.IsServerStream || info.IsClientStream || info.FullMethod == healthpb.Health_Watch_FullMethodName {
		return handler(srv, ss)
	}
	ctx, cancel := context.WithCancelCause(ss.Context())
	defer cancel(nil)
	stop := context.AfterFunc(s.draining, func() { cancel(errDraining) })
	defer stop()
	err := handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	if errors.Is(context.Cause(ctx), errDraining) {
		return status.Error(codes.Unavailable, "server is shutting down; reconnect to resume")
	}
	return err
}

// contextStream is a server stream with a replaced context.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the replaced context.
func (s *contextStream) Context() context.Context { return s.ctx }
