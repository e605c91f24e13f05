package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/postgres"
	"github.com/leadscore/leadscore/sqlite"
)

// envFunc looks up an environment variable; os.LookupEnv in production, a
// map in tests so that they can run in parallel.
type envFunc func(key string) (string, bool)

// envPrefix is the prefix of the environment variables that set flags.
const envPrefix = "LEADSCORE_"

// defaultStore is where the embedded store lives when --store is not given:
// a file under the working directory, so a newcomer's first run needs no
// setup and leaves everything in one visible folder.
const defaultStore = "leadscore-data/leadscore.db"

// envName is the environment variable that sets a flag: --grpc-addr is
// LEADSCORE_GRPC_ADDR.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args and then fills every flag not given on the command
// line from its LEADSCORE_* environment variable. A bad value names the
// variable and the value, just as a bad flag does.
func parseFlags(fs *flag.FlagSet, args []string, env envFunc) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		name := envName(f.Name)
		value, ok := env(name)
		if !ok {
			return
		}
		if serr := fs.Set(f.Name, value); serr != nil {
			err = fmt.Errorf("invalid value %q for environment variable %s: %w", value, name, serr)
		}
	})
	if err != nil {
		fmt.Fprintln(fs.Output(), err)
		return err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q", fs.Arg(0))
		fmt.Fprintln(fs.Output(), err)
		return err
	}
	return nil
}

// newFlagSet returns a flag set whose usage lists each flag with its
// environment variable.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: leadscore %s\n\nFlags (each also settable by its environment variable):\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(stderr, "  --%s (%s)\n    \t%s", f.Name, envName(f.Name), f.Usage)
			if f.DefValue != "" {
				fmt.Fprintf(stderr, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(stderr)
		})
	}
	return fs
}

// storeFlag registers --store.
func storeFlag(fs *flag.FlagSet) *string {
	return fs.String("store", defaultStore,
		"the store: a postgres:// or postgresql:// URL, or the path of the embedded SQLite file")
}

// logLevelFlag registers --log-level.
func logLevelFlag(fs *flag.FlagSet) *slog.Level {
	level := new(slog.Level)
	fs.TextVar(level, "log-level", slog.LevelInfo, "the least severe log level written: debug, info, warn or error")
	return level
}

// newLogger writes JSON log lines, one per event, to w.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: durationsForPeople}))
}

// durationsForPeople prints durations as "1.5s" rather than the JSON
// handler's nanoseconds.
func durationsForPeople(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// isPostgresURL reports whether a --store value names a PostgreSQL server
// rather than an embedded file.
func isPostgresURL(store string) bool {
	return strings.HasPrefix(store, "postgres://") || strings.HasPrefix(store, "postgresql://")
}

// openStore opens the backend that a --store value names.
func openStore(ctx context.Context, store string) (leadscore.Store, error) {
	if strings.TrimSpace(store) == "" {
		return nil, leadscore.InvalidField("--store", store, "must be a postgres:// URL or a file path")
	}
	// Each backend is returned through its own variable so that a failed
	// open yields a nil interface, not an interface holding a nil pointer.
	if isPostgresURL(store) {
		db, err := postgres.Open(ctx, store)
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	if strings.Contains(store, "://") {
		return nil, leadscore.InvalidField("--store", redact(store), "unknown URL scheme; use postgres:// or a file path")
	}
	db, err := sqlite.Open(ctx, store)
	if err != nil {
		return nil, err
	}
	return db, nil
}

// describeStore names a store for logs without leaking a password in its
// URL.
func describeStore(store string) string {
	return redact(store)
}

// redact removes the password from a URL-like string.
func redact(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@")
	if at < 0 {
		return s
	}
	user := rest[:at]
	if name, _, hasPass := strings.Cut(user, ":"); hasPass {
		return scheme + "://" + name + ":xxxxx" + rest[at:]
	}
	return s
}
