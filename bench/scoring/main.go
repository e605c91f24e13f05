// Command scorebench is the Go side of the scoring benchmark that run.sh
// drives: leadscore's ScoringService, served by the real `leadscore serve`
// binary, against a floor of bare grpc-go serving the same messages, on the
// same machine in one run.
//
//	scorebench ports   N
//	scorebench gen     -out FILE [-rows 50000] [-seed 1]
//	scorebench wait    -addr ADDR [-service NAME] [-timeout 1m]
//	scorebench capture -addr ADDR -dir DIR
//	scorebench floor   -addr ADDR -dir DIR [-pprof-addr ADDR]
//	scorebench serve   -store DB -addr ADDR [-pprof-addr ADDR]
//	scorebench load    -leadscore ADDR -floor ADDR [-duration 4s] [-warmup 1s] [-rounds 2] [-c 64] ...
//	scorebench profile -addr ADDR -pprof-addr ADDR -out FILE [-duration 10s] [-c 64] [-explain]
//
// ports prints N free loopback ports. gen writes the GBDT benchmark's
// synthetic table (bench/gbdt/synth) as a CSV flat table for `leadscore
// train`. wait waits for a server's health to report a service SERVING.
// capture waits for leadscore's ScoringService to report SERVING and saves
// one real Score response (with and without explanations) and one real
// StreamScore result, which the floor then returns: the floor's responses
// are byte for byte the size of leadscore's. floor is that bare server: no
// interceptors, no stats handler, no logging, the standard health server.
// serve runs leadscore's server in this process, wired as cmd/leadscore's
// serve wires it, with net/http/pprof on the side, since the product's
// admin port has no pprof. load measures both servers scenario by
// scenario, alternating which goes first, and prints the table and a JSON
// line. profile takes a CPU profile from a server's pprof endpoint while
// loading it with Score calls, and writes the server's CPU µs per call
// beside it (FILE.cpu_us).
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: scorebench ports|gen|wait|capture|floor|serve|load|profile [flags]")
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"ports": ports, "gen": gen, "wait": wait, "capture": capture, "floor": floor, "serve": serve, "load": load, "profile": profile,
	}
	run, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "scorebench: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "scorebench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// ports prints free loopback ports, one a line. They are free when
// printed; nothing else on the machine is expected to race for them.
func ports(args []string) error {
	n := 1
	if len(args) > 0 {
		var err error
		if n, err = strconv.Atoi(args[0]); err != nil || n < 1 {
			return fmt.Errorf("want a number of ports, got %q", args[0])
		}
	}
	var liss []net.Listener
	defer func() {
		for _, l := range liss {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		liss = append(liss, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}
