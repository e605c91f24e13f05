package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/registry"
)

// The registry commands work on the store directly, like import and train:
// a data team's laptop needs no running server to register, promote or roll
// back, and the rules are the same because both paths go through package
// registry.

// parseFlagsAndArgs is parseFlags for commands that take positional
// arguments among their flags ("promote default@3 --force"): it returns
// between min and max positional arguments.
func parseFlagsAndArgs(fs *flag.FlagSet, args []string, env envFunc, min, max int) ([]string, error) {
	var pos, rest []string
	rest = args
	for {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	// Re-run the environment defaults and the argument count check on an
	// empty remainder.
	if err := parseFlags(fs, nil, env); err != nil {
		return nil, err
	}
	if len(pos) < min || len(pos) > max {
		err := fmt.Errorf("expected %d to %d arguments, got %d", min, max, len(pos))
		if min == max {
			err = fmt.Errorf("expected %d argument(s), got %d", min, len(pos))
		}
		fmt.Fprintln(fs.Output(), err)
		fs.Usage()
		return nil, err
	}
	return pos, nil
}

// actorFlag registers --actor: who the registry records as making a change.
func actorFlag(fs *flag.FlagSet) *string {
	return fs.String("actor", defaultActor(), "who makes the change, as recorded in the registry's history")
}

func defaultActor() string {
	user := os.Getenv("USER")
	if user == "" {
		user = "unknown"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return user
	}
	return user + "@" + host
}

// openRegistry opens the store and a registry over it, migrating the schema
// when asked.
func openRegistry(ctx context.Context, store string, migrate bool, stderr io.Writer) (*registry.Registry, leadscore.Store, error) {
	st, err := openStore(ctx, store)
	if err != nil {
		return nil, nil, fmt.Errorf("open store %s: %w", describeStore(store), err)
	}
	rs, ok := st.(leadscore.RegistryStore)
	if !ok {
		st.Close()
		return nil, nil, fmt.Errorf("the %s store has no model registry", st.Backend())
	}
	if migrate {
		applied, err := st.Migrate(ctx)
		if err != nil {
			st.Close()
			return nil, nil, fmt.Errorf("migrate store: %w", err)
		}
		for _, m := range applied {
			fmt.Fprintf(stderr, "applied migration %04d_%s\n", m.Version, m.Name)
		}
	}
	return registry.New(rs), st, nil
}

// refusalExit prints an error and returns the exit code: 1 when the registry
// answered "no" (a failed precondition: the gate, a stale etag), 2 when the
// command could not run.
func refusalExit(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "leadscore %s: %s\n", cmd, describeError(err))
	var le *leadscore.Error
	if errors.As(err, &le) {
		for _, v := range le.Preconditions {
			fmt.Fprintf(stderr, "  - %s: %s\n", v.Subject, v.Description)
		}
		for _, f := range le.Fields {
			fmt.Fprintf(stderr, "  - %s: %s\n", f.Field, f.Description)
		}
	}
	switch leadscore.ErrorCode(err) {
	case leadscore.EPRECONDITION, leadscore.EABORTED:
		return exitFail
	}
	return exitError
}

// describeError is the message of an application error, or the error
// itself for anything unclassified (a command line shows its operator
// everything).
func describeError(err error) string {
	var le *leadscore.Error
	if errors.As(err, &le) && le.Code != leadscore.EINTERNAL {
		return leadscore.ErrorMessage(err)
	}
	return err.Error()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runRegister(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) int {
	fs := newFlagSet("register", "register --model NAME ARTIFACT [flags]", stderr)
	store := storeFlag(fs)
	actor := actorFlag(fs)
	modelName := fs.String("model", "default", "the model to add the version to; created when it does not exist")
	description := fs.String("description", "", "a description of the version")
	var tags listFlag
	fs.Var(&tags, "tag", "a key=value label of the version; repeatable")
	requestID := fs.String("request-id", "", "an id that makes a retried registration return the first version instead of a second")
	migrate := fs.Bool("migrate", true, "apply pending store migrations first")
	asJSON := fs.Bool("json", false, "print the registered version as JSON")
	pos, err := parseFlagsAndArgs(fs, args, env, 1, 1)
	if err != nil {
		return flagExit(err)
	}
	tagMap := map[string]string{}
	for _, kv := range tags {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			fmt.Fprintf(stderr, "leadscore register: --tag %q: must be key=value\n", kv)
			return exitError
		}
		tagMap[k] = v
	}
	data, err := os.ReadFile(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "leadscore register: %v\n", err)
		return exitError
	}
	reg, st, err := openRegistry(ctx, *store, *migrate, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "leadscore register: %v\n", err)
		return exitError
	}
	defer st.Close()
	v, _, err := reg.RegisterVersion(ctx, registry.NewVersion{
		Model: *modelName, Artifact: data, Description: *description, Tags: tagMap,
		Actor: *actor, RequestID: *requestID, CreateModel: true,
	})
	if err != nil {
		return refusalExit(stderr, "register", fmt.Errorf("%s: %w", pos[0], err))
	}
	if *asJSON {
		if err := writeJSON(stdout, versionJSON(v)); err != nil {
			return exitError
		}
		return exitOK
	}
	fmt.Fprintf(stdout, "registered %s (%s, sha256 %s)\n", v.Ref().Name(), v.Family, v.ArtifactSHA256[:12])
	return exitOK
}

func runPromote(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) int {
	fs := newFlagSet("promote", "promote NAME@N|NAME/versions/N [--alias ALIAS] [--force --reason TEXT] [flags]", stderr)
	store := storeFlag(fs)
	actor := actorFlag(fs)
	alias := fs.String("alias", leadscore.AliasChampion, "the alias to move; champion needs a passing evaluation against the current champion")
	evaluation := fs.String("evaluation", "", "the evaluation that justifies the move, by its name (evaluations/ID, as backtest --json prints it) or its id; empty means the newest that counts")
	reason := fs.String("reason", "", "why the alias moves; required with --force")
	force := fs.Bool("force", false, "bypass the gate in an emergency; the history marks the move as forced")
	etag := etagFlag(fs)
	requestID := fs.String("request-id", "", "an id that makes a retried promotion return the first result and never promote twice")
	asJSON := fs.Bool("json", false, "print the alias and the history entry as JSON")
	pos, err := parseFlagsAndArgs(fs, args, env, 1, 1)
	if err != nil {
		return flagExit(err)
	}
	ref, err := registry.ParseReference("version", pos[0])
	if err != nil || ref.Version.Model == "" {
		if err == nil {
			err = leadscore.InvalidField("version", pos[0], "must name a version: name@N, name/versions/N or models/name/versions/N")
		}
		return refusalExit(stderr, "promote", err)
	}
	revision, err := etag.revision()
	if err != nil {
		return refusalExit(stderr, "promote", err)
	}
	evaluationID, _ := strings.CutPrefix(*evaluation, "evaluations/")
	reg, st, err := openRegistry(ctx, *store, false, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "leadscore promote: %v\n", err)
		return exitError
	}
	defer st.Close()
	a, change, err := reg.Promote(ctx, registry.Promotion{
		Version: ref.Version, Alias: *alias, ExpectRevision: revision, Evaluation: evaluationID,
		Reason: *reason, Force: *force, Actor: *actor, RequestID: *requestID,
	})
	if err != nil {
		return refusalExit(stderr, "promote", err)
	}
	return printMove(stdout, *asJSON, a, change)
}

func runRollback(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) int {
	fs := newFlagSet("rollback", "rollback NAME@ALIAS --reason TEXT [--to SEQ] [flags]", stderr)
	store := storeFlag(fs)
	actor := actorFlag(fs)
	to := fs.Int64("to", 0, "the history entry whose target to restore; 0 means the target before the current one")
	reason := fs.String("reason", "", "why the alias is rolled back (required)")
	etag := etagFlag(fs)
	requestID := fs.String("request-id", "", "an id that makes a retried rollback return the first result")
	asJSON := fs.Bool("json", false, "print the alias and the history entry as JSON")
	pos, err := parseFlagsAndArgs(fs, args, env, 1, 1)
	if err != nil {
		return flagExit(err)
	}
	ref, err := registry.ParseReference("alias", pos[0])
	if err != nil || ref.Alias.Model == "" {
		if err == nil {
			err = leadscore.InvalidField("alias", pos[0], "must name an alias: name@alias or models/name/aliases/alias")
		}
		return refusalExit(stderr, "rollback", err)
	}
	revision, err := etag.revision()
	if err != nil {
		return refusalExit(stderr, "rollback", err)
	}
	reg, st, err := openRegistry(ctx, *store, false, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "leadscore rollback: %v\n", err)
		return exitError
	}
	defer st.Close()
	a, change, err := reg.RollbackAlias(ctx, registry.Rollback{
		Alias: ref.Alias, ToSeq: *to, ExpectRevision: revision, Reason: *reason, Actor: *actor, RequestID: *requestID,
	})
	if err != nil {
		return refusalExit(stderr, "rollback", err)
	}
	return printMove(stdout, *asJSON, a, change)
}

func printMove(stdout io.Writer, asJSON bool, a leadscore.Alias, c leadscore.AliasChange) int {
	if asJSON {
		if err := writeJSON(stdout, map[string]any{"alias": aliasJSON(a), "history_entry": changeJSON(c)}); err != nil {
			return exitError
		}
		return exitOK
	}
	from := "nothing"
	if c.FromVersion != 0 {
		from = fmt.Sprintf("version %d", c.FromVersion)
	}
	fmt.Fprintf(stdout, "%s@%s: %s → version %d (%s, history entry %d, etag %s)\n", c.Model, c.Alias, from, c.ToVersion, c.Kind, c.Seq, leadscore.RevisionETag(a.Revision))
	if c.Evaluation != "" {
		fmt.Fprintf(stdout, "justified by evaluations/%s\n", c.Evaluation)
	}
	return exitOK
}

func runModels(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) int {
	fs := newFlagSet("models", "models [NAME | NAME@ALIAS] [flags]", stderr)
	store := storeFlag(fs)
	archived := fs.Bool("archived", false, "list archived versions too")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlagsAndArgs(fs, args, env, 0, 1)
	if err != nil {
		return flagExit(err)
	}
	reg, st, err := openRegistry(ctx, *store, false, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "leadscore models: %v\n", err)
		return exitError
	}
	defer st.Close()
	rs := reg.Store()
	switch {
	case len(pos) == 0:
		return listModels(ctx, rs, *asJSON, stdout, stderr)
	case strings.Contains(pos[0], "@"):
		ref, err := registry.ParseReference("alias", pos[0])
		if err != nil || ref.Alias.Model == "" {
			return refusalExit(stderr, "models", leadscore.InvalidField("alias", pos[0], "must be name@alias"))
		}
		return listHistory(ctx, rs, ref.Alias, *asJSON, stdout, stderr)
	default:
		return showModel(ctx, rs, pos[0], *archived, *asJSON, stdout, stderr)
	}
}

func listModels(ctx context.Context, rs leadscore.RegistryStore, asJSON bool, stdout, stderr io.Writer) int {
	var all []map[string]any
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(tw, "MODEL\tLATEST\tALIASES\tDESCRIPTION")
	}
	after := ""
	for {
		ms, err := rs.ListModels(ctx, after, 500)
		if err != nil {
			return refusalExit(stderr, "models", err)
		}
		for _, m := range ms {
			aliases, err := rs.ListAliases(ctx, m.ID)
			if err != nil {
				return refusalExit(stderr, "models", err)
			}
			var names []string
			for _, a := range aliases {
				names = append(names, fmt.Sprintf("%s→%d", a.Name, a.Version))
			}
			if asJSON {
				var as []any
				for _, a := range aliases {
					as = append(as, aliasJSON(a))
				}
				all = append(all, map[string]any{"name": leadscore.ModelName(m.ID), "description": m.Description, "latest_version": m.LatestVersion, "aliases": as, "etag": leadscore.RevisionETag(m.Revision)})
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", m.ID, m.LatestVersion, strings.Join(names, " "), m.Description)
		}
		if len(ms) < 500 {
			break
		}
		after = ms[len(ms)-1].ID
	}
	if asJSON {
		return jsonExit(writeJSON(stdout, map[string]any{"models": all}))
	}
	tw.Flush()
	return exitOK
}

func showModel(ctx context.Context, rs leadscore.RegistryStore, name string, archived, asJSON bool, stdout, stderr io.Writer) int {
	if err := leadscore.ValidateSlug("model", name); err != nil {
		return refusalExit(stderr, "models", err)
	}
	aliases, err := rs.ListAliases(ctx, name)
	if err != nil {
		return refusalExit(stderr, "models", err)
	}
	var versions []leadscore.ModelVersion
	var before int64
	for {
		vs, err := rs.ListModelVersions(ctx, name, before, 500, archived)
		if err != nil {
			return refusalExit(stderr, "models", err)
		}
		versions = append(versions, vs...)
		if len(vs) < 500 {
			break
		}
		before = vs[len(vs)-1].Version
	}
	if asJSON {
		var as, vs []any
		for _, a := range aliases {
			as = append(as, aliasJSON(a))
		}
		for _, v := range versions {
			vs = append(vs, versionJSON(v))
		}
		return jsonExit(writeJSON(stdout, map[string]any{"aliases": as, "versions": vs}))
	}
	byVersion := map[int64][]string{}
	for _, a := range aliases {
		byVersion[a.Version] = append(byVersion[a.Version], a.Name)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tFAMILY\tSTATE\tTRAINED ON\tALIASES\tCREATED\tBY\tDESCRIPTION")
	for _, v := range versions {
		window := "no times"
		if v.Lineage.HasWindow() {
			window = v.Lineage.DataStart.Format("2006-01-02") + ".." + v.Lineage.DataEnd.Format("2006-01-02")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Version, v.Family, v.State, window,
			strings.Join(byVersion[v.Version], ","), v.CreatedAt.Format(time.RFC3339), v.CreatedBy, v.Description)
	}
	tw.Flush()
	if len(aliases) > 0 {
		fmt.Fprintln(stdout)
		tw = tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ALIAS\tVERSION\tETAG\tUPDATED")
		for _, a := range aliases {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", a.Name, a.Version, leadscore.RevisionETag(a.Revision), a.UpdatedAt.Format(time.RFC3339))
		}
		tw.Flush()
	}
	return exitOK
}

func listHistory(ctx context.Context, rs leadscore.RegistryStore, ref leadscore.AliasRef, asJSON bool, stdout, stderr io.Writer) int {
	var all []leadscore.AliasChange
	var before int64
	for {
		cs, err := rs.ListAliasHistory(ctx, ref, before, 500)
		if err != nil {
			return refusalExit(stderr, "models", err)
		}
		all = append(all, cs...)
		if len(cs) < 500 {
			break
		}
		before = cs[len(cs)-1].Seq
	}
	// The alias's etag, which promote and rollback --etag take.
	aliases, err := rs.ListAliases(ctx, ref.Model)
	if err != nil {
		return refusalExit(stderr, "models", err)
	}
	etag := ""
	for _, a := range aliases {
		if a.Name == ref.Alias {
			etag = leadscore.RevisionETag(a.Revision)
		}
	}
	if asJSON {
		var out []any
		for _, c := range all {
			out = append(out, changeJSON(c))
		}
		doc := map[string]any{"alias": ref.Name(), "history": out}
		if etag != "" {
			doc["etag"] = etag
		}
		return jsonExit(writeJSON(stdout, doc))
	}
	if etag != "" {
		fmt.Fprintf(stdout, "%s: etag %s\n", ref.Name(), etag)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tKIND\tFROM\tTO\tWHEN\tWHO\tEVALUATION\tREASON")
	for _, c := range all {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Seq, c.Kind, versionOrDash(c.FromVersion), versionOrDash(c.ToVersion),
			c.CreatedAt.Format(time.RFC3339), c.Actor, c.Evaluation, c.Reason)
	}
	tw.Flush()
	return exitOK
}

func versionOrDash(v int64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprint(v)
}

func jsonExit(err error) int {
	if err != nil {
		return exitError
	}
	return exitOK
}

func versionJSON(v leadscore.ModelVersion) map[string]any {
	out := map[string]any{
		"name":            v.Ref().Name(),
		"version":         v.Version,
		"family":          v.Family,
		"artifact_sha256": v.ArtifactSHA256,
		"state":           v.State,
		"description":     v.Description,
		"tags":            v.Tags,
		"creator":         v.CreatedBy,
		"create_time":     v.CreatedAt,
		"lineage":         v.Lineage,
		"etag":            v.ETag(),
	}
	return out
}

func aliasJSON(a leadscore.Alias) map[string]any {
	return map[string]any{
		"name":             a.Ref().Name(),
		"model_version":    leadscore.VersionRef{Model: a.Model, Version: a.Version}.Name(),
		"history_sequence": a.Seq,
		"etag":             leadscore.RevisionETag(a.Revision),
		"update_time":      a.UpdatedAt,
	}
}

func changeJSON(c leadscore.AliasChange) map[string]any {
	out := map[string]any{
		"sequence":    c.Seq,
		"kind":        c.Kind,
		"actor":       c.Actor,
		"reason":      c.Reason,
		"request_id":  c.RequestID,
		"create_time": c.CreatedAt,
	}
	if c.FromVersion != 0 {
		out["from_model_version"] = leadscore.VersionRef{Model: c.Model, Version: c.FromVersion}.Name()
	}
	if c.ToVersion != 0 {
		out["to_model_version"] = leadscore.VersionRef{Model: c.Model, Version: c.ToVersion}.Name()
	}
	if c.Evaluation != "" {
		out["evaluation"] = "evaluations/" + c.Evaluation
	}
	return out
}
