package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// profile loads a server with Score calls at concurrency c and takes a
// CPU profile of it from its pprof endpoint once the warm-up is over.
func profile(args []string) error {
	fs := flag.NewFlagSet("profile", flag.ExitOnError)
	addr := fs.String("addr", "", "the server's gRPC address")
	name := fs.String("name", "leadscore", "the server's name, for the output")
	pid := fs.Int("pid", 0, "the server process, for its CPU time")
	pprofAddr := fs.String("pprof-addr", "", "the server's net/http/pprof address")
	out := fs.String("out", "", "the file to write the CPU profile to")
	warmup := fs.Duration("warmup", 2*time.Second, "load before the profile starts")
	dur := fs.Duration("duration", 10*time.Second, "the profile's length")
	c := fs.Int("c", 64, "concurrent Score callers")
	explain := fs.Bool("explain", false, "ask for explanations")
	stream := fs.Bool("stream", false, "load the server with StreamScore (4 streams of 500-item chunks, 2 in flight, as report runs it) instead of Score calls")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t, err := newTarget(*name, *addr, *pid, *c)
	if err != nil {
		return err
	}
	defer t.close()
	errc := make(chan error, 1)
	go func() {
		time.Sleep(*warmup)
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", *pprofAddr, int(dur.Seconds())))
		if err != nil {
			errc <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			errc <- fmt.Errorf("pprof: %s", resp.Status)
			return
		}
		b, err := io.ReadAll(resp.Body)
		if err == nil {
			err = os.WriteFile(*out, b, 0o644)
		}
		errc <- err
	}()
	if *stream {
		r := runStream(t, 4, 500, 2, *warmup, *dur)
		if err := <-errc; err != nil {
			return err
		}
		fmt.Printf("%s under profile: StreamScore %.0f leads/s, server CPU %.2f µs per lead, errors %d %s\n",
			*name, r.PerSecond, r.ServerCPU, r.Errors, r.FirstErr)
		return os.WriteFile(*out+".cpu_us", []byte(fmt.Sprintf("%.2f\n", r.ServerCPU)), 0o644)
	}
	r := runUnary(t, fmt.Sprintf("score_c%d", *c), *c, *warmup, *dur, scoreCall(*explain))
	if err := <-errc; err != nil {
		return err
	}
	fmt.Printf("%s under profile: Score (explain %v) c%d %.0f calls/s, p50 %.1f µs, server CPU %.1f µs per call, errors %d %s\n",
		*name, *explain, *c, r.PerSecond, r.P50, r.ServerCPU, r.Errors, r.FirstErr)
	return os.WriteFile(*out+".cpu_us", []byte(fmt.Sprintf("%.2f\n", r.ServerCPU)), 0o644)
}
