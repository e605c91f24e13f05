package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"syscall"
	"time"
)

// Exit codes. CI pipelines rely on them: 1 means "the command ran and the
// answer is no" (a failed gate, later), 2 means it could not run.
const (
	exitOK    = 0
	exitFail  = 1
	exitError = 2
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) int
}

var commands = map[string]command{
	"quickstart":   {"build a scored demo from nothing on the embedded store (history, three models, gated promotion), then serve it", runQuickstart},
	"serve":        {"run the gRPC server (health, reflection, metrics, traces)", runServe},
	"apikey":       {"create, list or revoke the API keys that authenticate callers of serve", runAPIKey},
	"migrate":      {"apply pending store migrations, or list them with 'migrate status'", runMigrate},
	"version":      {"print the build version", runVersion},
	"import":       {"load leads, events and outcomes files into the store", runImport},
	"import-model": {"import a model trained elsewhere (XGBoost's JSON format) into an artifact file, fitting its grid on a reference table", runImportModel},
	"generate":     {"write a realistic synthetic lead history (leads, events, outcomes, truth)", runGenerate},
	"train":        {"train a model (points, logistic or gbdt) from a history or a flat table into an artifact file", runTrain},
	"score":        {"score every lead of a flat table or a history with one model version into a CSV or JSON lines file", runScore},
	"backtest":     {"backtest a model on history or a flat table against the champion and the points baseline; exit 1 when the gate fails", runBacktest},
	"register":     {"register an artifact file as the next version of a model", runRegister},
	"promote":      {"move an alias (champion by default) to a version; champion needs a passing backtest", runPromote},
	"rollback":     {"move an alias back to an earlier target from its history", runRollback},
	"rules":        {"print a points model's rules (or another model's points baseline) as the YAML file train --rules reads", runRules},
	"models":       {"list models, a model's versions and aliases, or an alias's history (NAME@ALIAS)", runModels},
}

// signalEcho is how long after the first signal another one is taken as
// the same Ctrl-C: under `go run` the terminal's SIGINT reaches the server
// both from the process group and relayed by go run.
const signalEcho = time.Second

func main() {
	// The first SIGINT or SIGTERM cancels ctx and starts a graceful
	// shutdown; a second signal, once the first's echo has passed, kills
	// the process at once.
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		cancel()
		first := time.Now()
		for sig := range signals {
			if time.Since(first) >= signalEcho {
				fmt.Fprintf(os.Stderr, "leadscore: second %s; exiting at once\n", sig)
				os.Exit(exitError)
			}
		}
	}()
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}

// run dispatches to a subcommand and returns the process exit code.
func run(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		usage(stdout)
		if len(args) == 0 {
			return exitError
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "leadscore: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitError
	}
	return cmd.run(ctx, args[1:], env, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "leadscore scores leads by how much they look like the customers you won.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: leadscore <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-12s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every flag can also be set with a LEADSCORE_* environment variable:")
	fmt.Fprintln(w, "--store is LEADSCORE_STORE, --grpc-addr is LEADSCORE_GRPC_ADDR. A flag on the")
	fmt.Fprintln(w, "command line wins over the environment. 'leadscore <command> -h' lists the flags.")
}

func runVersion(_ context.Context, args []string, _ envFunc, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	fmt.Fprintln(stdout, "leadscore", version())
	return exitOK
}

// version is the module version the binary was built from, or the VCS
// revision for a development build.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}

// flagExit turns a flag parsing error into an exit code: asking for help is
// not a failure.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitError
}
