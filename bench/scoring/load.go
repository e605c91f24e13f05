package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// workersPerConn is how many concurrent callers share one client
// connection. grpc-go multiplexes calls over one HTTP/2 connection, but
// past a few dozen concurrent calls one connection's single reader and
// writer goroutines and its flow-control window become the limit, so
// high-concurrency clients spread calls over a few connections.
const workersPerConn = 16

// target is a server under test, with its client connections.
type target struct {
	name  string
	pid   int
	conns []*grpc.ClientConn
}

func newTarget(name, addr string, pid, maxWorkers int) (*target, error) {
	t := &target{name: name, pid: pid}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range (maxWorkers + workersPerConn - 1) / workersPerConn {
		conn, err := dial(addr)
		if err != nil {
			return nil, err
		}
		t.conns = append(t.conns, conn)
		// Connect each one now, so no measured call pays for a handshake.
		if err := waitServing(ctx, conn, ""); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return t, nil
}

func (t *target) close() {
	for _, c := range t.conns {
		c.Close()
	}
}

// result is one scenario measured on one target.
type result struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	// Workers is the number of concurrent callers (streams for a stream
	// scenario) and Conns the client connections they share.
	Workers int `json:"workers"`
	Conns   int `json:"conns"`
	// Calls were started in the measured window and completed; Items are
	// the leads scored (one per Score call). Errors counts failed calls.
	Calls   int64   `json:"calls"`
	Items   int64   `json:"items"`
	Errors  int64   `json:"errors"`
	Seconds float64 `json:"seconds"`
	// PerSecond is calls/s for unary scenarios and leads/s for streams.
	PerSecond float64 `json:"per_second"`
	// Latencies of the measured calls, in microseconds (unary only).
	P50 float64 `json:"p50_us,omitempty"`
	P90 float64 `json:"p90_us,omitempty"`
	P99 float64 `json:"p99_us,omitempty"`
	// ServerCPU and ClientCPU are CPU microseconds (user + system) per
	// call, or per lead for streams, over the measured window: the server
	// process's from /proc, the load generator's own from getrusage.
	ServerCPU float64 `json:"server_cpu_us"`
	ClientCPU float64 `json:"client_cpu_us"`
	FirstErr  string  `json:"first_error,omitempty"`
	// Rounds is how many measured windows were pooled into the figures;
	// RoundRates are each window's calls/s (leads/s for streams).
	Rounds     int       `json:"rounds"`
	RoundRates []float64 `json:"round_rates"`

	// What the figures are computed from.
	lat                  []int64 // sorted latencies, ns
	serverCPU, clientCPU time.Duration
}

// window is the measured part of a run: calls started in [from, to).
type window struct{ from, to time.Time }

func (w window) in(t time.Time) bool { return !t.Before(w.from) && t.Before(w.to) }

// cpuMeter reads the server's and this process's CPU time at the start
// and end of the window.
type cpuMeter struct {
	pid                  int
	server0, client0     time.Duration
	serverCPU, clientCPU time.Duration
	done                 chan struct{}
}

func meterCPU(pid int, w window) *cpuMeter {
	m := &cpuMeter{pid: pid, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		time.Sleep(time.Until(w.from))
		m.server0, m.client0 = procCPU(pid), selfCPU()
		time.Sleep(time.Until(w.to))
		m.serverCPU, m.clientCPU = procCPU(pid)-m.server0, selfCPU()-m.client0
	}()
	return m
}

// procCPU is a process's user + system time from /proc/PID/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// unaryCall makes one call on conn.
type unaryCall func(ctx context.Context, conn *grpc.ClientConn) error

// runUnary runs workers callers for warmup + dur and measures the calls
// started after the warm-up.
func runUnary(t *target, scenario string, workers int, warmup, dur time.Duration, call unaryCall) result {
	conns := t.conns[:min(len(t.conns), (workers+workersPerConn-1)/workersPerConn)]
	start := time.Now()
	w := window{start.Add(warmup), start.Add(warmup + dur)}
	cpu := meterCPU(t.pid, w)
	ctx := context.Background()
	lats := make([][]int64, workers)
	var errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := conns[i%len(conns)]
			lat := make([]int64, 0, 1<<14)
			for {
				t0 := time.Now()
				if !t0.Before(w.to) {
					break
				}
				err := call(ctx, conn)
				t1 := time.Now()
				if !w.in(t0) {
					continue
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lat = append(lat, int64(t1.Sub(t0)))
			}
			lats[i] = lat
		}()
	}
	wg.Wait()
	<-cpu.done
	r := result{
		Scenario: scenario, Target: t.name, Workers: workers, Conns: len(conns),
		Errors: errs.Load(), Seconds: dur.Seconds(), lat: slices.Concat(lats...),
		serverCPU: cpu.serverCPU, clientCPU: cpu.clientCPU,
	}
	r.Calls, r.Items = int64(len(r.lat)), int64(len(r.lat))
	if s, ok := firstErr.Load().(string); ok {
		r.FirstErr = s
	}
	return pool([]result{r})
}

// pool combines the measured windows of one scenario on one target into
// one result: calls, items, time and CPU add up, latencies are pooled.
func pool(rs []result) result {
	out := rs[0]
	out.lat, out.RoundRates = nil, nil
	out.Calls, out.Items, out.Errors, out.Seconds, out.serverCPU, out.clientCPU = 0, 0, 0, 0, 0, 0
	for _, r := range rs {
		out.Calls += r.Calls
		out.Items += r.Items
		out.Errors += r.Errors
		out.Seconds += r.Seconds
		out.serverCPU += r.serverCPU
		out.clientCPU += r.clientCPU
		out.lat = append(out.lat, r.lat...)
		out.RoundRates = append(out.RoundRates, float64(r.Items)/r.Seconds)
		if out.FirstErr == "" {
			out.FirstErr = r.FirstErr
		}
	}
	out.Rounds = len(rs)
	out.PerSecond = float64(out.Items) / out.Seconds
	slices.Sort(out.lat)
	out.P50, out.P90, out.P99 = 0, 0, 0
	if n := len(out.lat); n > 0 && out.Scenario != "stream" {
		q := func(p float64) float64 { return float64(out.lat[int(p*float64(n-1))]) / 1e3 }
		out.P50, out.P90, out.P99 = q(0.50), q(0.90), q(0.99)
	}
	out.ServerCPU, out.ClientCPU = 0, 0
	if out.Items > 0 {
		out.ServerCPU = float64(out.serverCPU.Nanoseconds()) / 1e3 / float64(out.Items)
		out.ClientCPU = float64(out.clientCPU.Nanoseconds()) / 1e3 / float64(out.Items)
	}
	return out
}

// runStream runs streams StreamScore calls, each sending chunks of the
// same items with at most inflight chunks unanswered, and counts the leads
// answered in the measured window.
func runStream(t *target, streams, chunk, inflight int, warmup, dur time.Duration) result {
	conns := t.conns[:min(len(t.conns), (streams+workersPerConn-1)/workersPerConn)]
	first, rest := streamChunks(chunk)
	start := time.Now()
	w := window{start.Add(warmup), start.Add(warmup + dur)}
	cpu := meterCPU(t.pid, w)
	ctx, cancel := context.WithDeadline(context.Background(), w.to)
	defer cancel()
	var items, calls, errs atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		if ctx.Err() == nil {
			errs.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		}
	}
	var wg sync.WaitGroup
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := leadscorev1.NewScoringServiceClient(conns[i%len(conns)])
			stream, err := client.StreamScore(ctx)
			if err != nil {
				fail(err)
				return
			}
			credit := make(chan struct{}, inflight)
			go func() {
				msg := first
				for {
					select {
					case credit <- struct{}{}:
					case <-ctx.Done():
						return
					}
					if err := stream.Send(msg); err != nil {
						if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
							fail(err)
						}
						return
					}
					msg = rest
				}
			}()
			for {
				resp, err := stream.Recv()
				if err != nil {
					fail(err)
					return
				}
				if w.in(time.Now()) {
					items.Add(int64(len(resp.GetResults())))
					calls.Add(1)
				}
				<-credit
			}
		}()
	}
	wg.Wait()
	<-cpu.done
	r := result{
		Scenario: "stream", Target: t.name, Workers: streams, Conns: len(conns),
		Calls: calls.Load(), Items: items.Load(), Errors: errs.Load(), Seconds: dur.Seconds(),
		serverCPU: cpu.serverCPU, clientCPU: cpu.clientCPU,
	}
	if s, ok := firstErr.Load().(string); ok {
		r.FirstErr = s
	}
	return pool([]result{r})
}

// scoreCall and healthCall are the unary calls measured.
func scoreCall(explain bool) unaryCall {
	req := scoreRequest(explain)
	return func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := leadscorev1.NewScoringServiceClient(conn).Score(ctx, req)
		return err
	}
}

func healthCall() unaryCall {
	req := &healthpb.HealthCheckRequest{}
	return func(ctx context.Context, conn *grpc.ClientConn) error {
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, req)
		if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			err = fmt.Errorf("health is %v", resp.GetStatus())
		}
		return err
	}
}
