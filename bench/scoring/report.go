package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The targets the issue sets.
const (
	wantThroughputRatio = 0.85    // Score c64 calls/s, leadscore/floor, at least
	wantP50Ratio        = 1.10    // Score c1 p50, leadscore/floor, at most
	wantStreamLeads     = 300_000 // StreamScore leads/s, at least
	wantIdleRSSMiB      = 60      // serve's RSS with the model loaded, before load, at most
)

// scenario is one row group of the table.
type scenario struct {
	name    string
	workers int
	run     func(t *target) result
}

// load measures every scenario on leadscore and the floor, alternating
// which goes first, and prints the table and a JSON line.
func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	lsAddr := fs.String("leadscore", "", "leadscore's gRPC address")
	floorAddr := fs.String("floor", "", "the floor's gRPC address")
	lsPID := fs.Int("leadscore-pid", 0, "the leadscore serve process, for its CPU time and RSS")
	floorPID := fs.Int("floor-pid", 0, "the floor process, for its CPU time and RSS")
	rssStart := fs.Int64("rss-start-kib", 0, "leadscore's VmRSS right after it reported SERVING, as read by run.sh")
	warmup := fs.Duration("warmup", time.Second, "warm-up before each measured window")
	dur := fs.Duration("duration", 4*time.Second, "each measured window")
	rounds := fs.Int("rounds", 2, "measured windows per scenario and server, alternating between the servers; their figures are pooled")
	conc := fs.Int("c", 64, "the concurrency of the throughput scenarios")
	streams := fs.Int("streams", 4, "concurrent StreamScore calls")
	chunk := fs.Int("chunk", 500, "items per StreamScore chunk")
	inflight := fs.Int("inflight", 2, "unanswered chunks a stream may have")
	jsonOut := fs.String("json", "", "also write the JSON line to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rss := map[string]int64{"leadscore_after_start_kib": *rssStart}
	rss["leadscore_before_load_kib"] = procStatus(*lsPID, "VmRSS")
	rss["floor_before_load_kib"] = procStatus(*floorPID, "VmRSS")

	ls, err := newTarget("leadscore", *lsAddr, *lsPID, *conc)
	if err != nil {
		return err
	}
	defer ls.close()
	fl, err := newTarget("floor", *floorAddr, *floorPID, *conc)
	if err != nil {
		return err
	}
	defer fl.close()

	unary := func(name string, c int, call unaryCall) scenario {
		return scenario{name, c, func(t *target) result { return runUnary(t, name, c, *warmup, *dur, call) }}
	}
	c := *conc
	scenarios := []scenario{
		unary("score_c1", 1, scoreCall(false)),
		unary(fmt.Sprintf("score_c%d", c), c, scoreCall(false)),
		unary("score_explain_c1", 1, scoreCall(true)),
		unary(fmt.Sprintf("score_explain_c%d", c), c, scoreCall(true)),
		{"stream", *streams, func(t *target) result { return runStream(t, *streams, *chunk, *inflight, *warmup, *dur) }},
		unary("health_c1", 1, healthCall()),
		unary(fmt.Sprintf("health_c%d", c), c, healthCall()),
	}
	fmt.Fprintf(os.Stderr, "load average before: %s on %d cores\n", loadavg(), cpus())
	results := map[string]map[string]result{}
	for _, sc := range scenarios {
		runs := map[string][]result{}
		for round := range *rounds {
			// Each server goes first in every other round, so that neither
			// always runs on a machine the other has just warmed (or
			// that other work has just left).
			order := []*target{ls, fl}
			if round%2 == 1 {
				order = []*target{fl, ls}
			}
			for _, t := range order {
				r := sc.run(t)
				fmt.Fprintf(os.Stderr, "%-18s %-9s round %d  %10.0f/s  p50 %8.1f µs  server %7.1f µs cpu/item  errors %d %s\n",
					sc.name, t.name, round+1, r.PerSecond, r.P50, r.ServerCPU, r.Errors, r.FirstErr)
				runs[t.name] = append(runs[t.name], r)
			}
		}
		results[sc.name] = map[string]result{"leadscore": pool(runs["leadscore"]), "floor": pool(runs["floor"])}
	}
	fmt.Fprintf(os.Stderr, "load average after: %s\n", loadavg())
	rss["leadscore_after_load_kib"] = procStatus(*lsPID, "VmRSS")
	rss["leadscore_peak_kib"] = procStatus(*lsPID, "VmHWM")
	rss["floor_after_load_kib"] = procStatus(*floorPID, "VmRSS")

	rep := report{
		Bench: "scoring", Cores: cpus(), Warmup: warmup.String(), Duration: dur.String(), Rounds: *rounds,
		Concurrency: c, Streams: *streams, Chunk: *chunk, WorkersPerConn: workersPerConn, RSS: rss,
	}
	for _, sc := range scenarios {
		rep.Results = append(rep.Results, results[sc.name]["leadscore"], results[sc.name]["floor"])
	}
	rep.check(results, c)
	rep.print(os.Stdout, scenarios, results)
	line, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	fmt.Printf("%s\n", line)
	if *jsonOut != "" {
		return os.WriteFile(*jsonOut, append(line, '\n'), 0o644)
	}
	return nil
}

// report is the JSON line.
type report struct {
	Bench          string           `json:"bench"`
	Cores          int              `json:"cores"`
	Warmup         string           `json:"warmup"`
	Duration       string           `json:"duration"`
	Rounds         int              `json:"rounds"`
	Concurrency    int              `json:"concurrency"`
	Streams        int              `json:"streams"`
	Chunk          int              `json:"chunk"`
	WorkersPerConn int              `json:"workers_per_conn"`
	RSS            map[string]int64 `json:"rss"`
	Results        []result         `json:"results"`
	Targets        []check          `json:"targets"`
}

// check is one target of the issue, met or not.
type check struct {
	Name string  `json:"name"`
	Got  float64 `json:"got"`
	Want string  `json:"want"`
	Met  bool    `json:"met"`
}

func (rep *report) check(results map[string]map[string]result, c int) {
	hi := results[fmt.Sprintf("score_c%d", c)]
	lo := results["score_c1"]
	thr := hi["leadscore"].PerSecond / hi["floor"].PerSecond
	p50 := lo["leadscore"].P50 / lo["floor"].P50
	stream := results["stream"]["leadscore"].PerSecond
	idle := float64(rep.RSS["leadscore_before_load_kib"]) / 1024
	rep.Targets = []check{
		{fmt.Sprintf("Score c%d throughput, leadscore/floor", c), thr, fmt.Sprintf(">= %.2f", wantThroughputRatio), thr >= wantThroughputRatio},
		{"Score c1 p50, leadscore/floor", p50, fmt.Sprintf("<= %.2f", wantP50Ratio), p50 <= wantP50Ratio},
		{"StreamScore leads/s", stream, fmt.Sprintf(">= %d", wantStreamLeads), stream >= wantStreamLeads},
		{"idle RSS with the model loaded (MiB)", idle, fmt.Sprintf("<= %d", wantIdleRSSMiB), idle <= wantIdleRSSMiB},
	}
}

func (rep *report) print(w io.Writer, scenarios []scenario, results map[string]map[string]result) {
	fmt.Fprintf(w, "\nScoringService, leadscore serve vs a bare grpc-go floor returning leadscore's captured responses;\n"+
		"%d cores shared by client and servers; each figure pools %d windows of %s (after %s warm-up each) per server,\n"+
		"the servers alternating; %d callers per connection; CPU µs per call from /proc (server) and getrusage (client)\n\n",
		rep.Cores, rep.Rounds, rep.Duration, rep.Warmup, rep.WorkersPerConn)
	fmt.Fprintf(w, "%-34s%14s%14s%12s\n", "", "leadscore", "floor", "ls/floor")
	row := func(label string, a, b float64, format string) {
		ratio := ""
		if b != 0 {
			ratio = fmt.Sprintf("%.2f", a/b)
		}
		fmt.Fprintf(w, "%-34s%14s%14s%12s\n", label, fmt.Sprintf(format, a), fmt.Sprintf(format, b), ratio)
	}
	for _, sc := range scenarios {
		ls, fl := results[sc.name]["leadscore"], results[sc.name]["floor"]
		title := sc.name
		switch {
		case sc.name == "stream":
			title = fmt.Sprintf("StreamScore, %d streams × %d-item chunks", ls.Workers, rep.Chunk)
		case strings.HasPrefix(sc.name, "score_explain"):
			title = fmt.Sprintf("Score, explain on, c%d", sc.workers)
		case strings.HasPrefix(sc.name, "score"):
			title = fmt.Sprintf("Score, explain off, c%d", sc.workers)
		case strings.HasPrefix(sc.name, "health"):
			title = fmt.Sprintf("Health/Check, c%d", sc.workers)
		}
		fmt.Fprintf(w, "%s (%d conn)\n", title, ls.Conns)
		if sc.name == "stream" {
			row("  leads/s", ls.PerSecond, fl.PerSecond, "%.0f")
			row("  server CPU µs per lead", ls.ServerCPU, fl.ServerCPU, "%.2f")
			row("  client CPU µs per lead", ls.ClientCPU, fl.ClientCPU, "%.2f")
		} else {
			row("  calls/s", ls.PerSecond, fl.PerSecond, "%.0f")
			row("  p50 µs", ls.P50, fl.P50, "%.1f")
			row("  p90 µs", ls.P90, fl.P90, "%.1f")
			row("  p99 µs", ls.P99, fl.P99, "%.1f")
			row("  server CPU µs per call", ls.ServerCPU, fl.ServerCPU, "%.1f")
			row("  client CPU µs per call", ls.ClientCPU, fl.ClientCPU, "%.1f")
		}
		if ls.Errors+fl.Errors > 0 {
			fmt.Fprintf(w, "  ERRORS: leadscore %d (%s), floor %d (%s)\n", ls.Errors, ls.FirstErr, fl.Errors, fl.FirstErr)
		}
	}
	c := rep.Concurrency
	off1, on1 := results["score_c1"]["leadscore"], results["score_explain_c1"]["leadscore"]
	offN, onN := results[fmt.Sprintf("score_c%d", c)]["leadscore"], results[fmt.Sprintf("score_explain_c%d", c)]["leadscore"]
	fmt.Fprintf(w, "\nexplanations, leadscore on/off: c1 p50 %.2f×, c%d calls/s %.2f×, server CPU per call %.2f× (+%.1f µs)\n",
		on1.P50/off1.P50, c, onN.PerSecond/offN.PerSecond, onN.ServerCPU/offN.ServerCPU, onN.ServerCPU-offN.ServerCPU)
	ratios := func(name string) string {
		a, b := results[name]["leadscore"].RoundRates, results[name]["floor"].RoundRates
		var parts []string
		for i := range min(len(a), len(b)) {
			parts = append(parts, fmt.Sprintf("%.2f", a[i]/b[i]))
		}
		return strings.Join(parts, ", ")
	}
	fmt.Fprintf(w, "per-round rate ratios leadscore/floor: Score c%d %s; StreamScore %s\n", c, ratios(fmt.Sprintf("score_c%d", c)), ratios("stream"))
	kib := func(k string) string { return fmt.Sprintf("%.1f MiB", float64(rep.RSS[k])/1024) }
	fmt.Fprintf(w, "leadscore RSS: %s after start, %s before load, %s after load, peak %s; floor %s before, %s after\n",
		kib("leadscore_after_start_kib"), kib("leadscore_before_load_kib"), kib("leadscore_after_load_kib"),
		kib("leadscore_peak_kib"), kib("floor_before_load_kib"), kib("floor_after_load_kib"))
	fmt.Fprintln(w, "\ntargets:")
	for _, t := range rep.Targets {
		mark := "MISSED"
		if t.Met {
			mark = "met"
		}
		fmt.Fprintf(w, "  %-42s %12.2f  want %-10s %s\n", t.Name, t.Got, t.Want, mark)
	}
	fmt.Fprintln(w)
}

// procStatus is a field of /proc/PID/status in KiB, or 0.
func procStatus(pid int, field string) int64 {
	if pid == 0 {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpus() int {
	b, _ := os.ReadFile("/sys/fs/cgroup/cpu.max")
	if f := strings.Fields(string(b)); len(f) == 2 && f[0] != "max" {
		q, _ := strconv.Atoi(f[0])
		p, _ := strconv.Atoi(f[1])
		if p > 0 {
			return max(1, q/p)
		}
	}
	return runtime.NumCPU()
}
