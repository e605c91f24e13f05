package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// runRules prints a points model's rules as the YAML rules file that
// `train --rules` reads: the rules a team can read, edit, paste into its
// marketing-automation tool, and train again from. For a model of another
// family it prints the points baseline the model carries.
func runRules(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) int {
	fs := newFlagSet("rules", "rules REF [--out FILE]", stderr)
	store := storeFlag(fs)
	out := fs.String("out", "", "write the rules file here instead of printing it")
	pos, err := parseFlagsAndArgs(fs, args, env, 1, 1)
	if err != nil {
		return flagExit(err)
	}
	fail := func(err error) int {
		return refusalExitCode(stderr, "rules", err)
	}
	rm, closeStore, err := loadScoreModel(ctx, pos[0], *store, stderr)
	if err != nil {
		return fail(err)
	}
	closeStore()
	// A model of another family prints the points baseline it carries:
	// the points learned from its own training rows.
	m, name := rm.Model, rm.Name
	if m.Family != model.FamilyPoints && m.PointsBaseline != nil {
		m, name = m.PointsBaseline, "the points baseline of "+rm.Name+" (learned from the same training rows)"
	}
	if m.Family != model.FamilyPoints || m.Points == nil {
		return fail(leadscore.InvalidField("model", rm.Name, fmt.Sprintf(
			"is a %s model without a points baseline (an artifact written before models carried one): only points are a rules file", m.Family)))
	}
	rules := &model.PointsRules{Calibration: m.Calibration.Method, Rules: m.Points.Rules}
	doc := model.FormatPointsRules(rules, rulesComment(name, m))
	if *out == "" {
		if _, err := stdout.Write(doc); err != nil {
			return exitError
		}
		return exitOK
	}
	if err := os.WriteFile(*out, doc, 0o644); err != nil {
		return fail(fmt.Errorf("write %s: %w", *out, err))
	}
	fmt.Fprintf(stdout, "wrote %d rules of %s to %s\n", len(rules.Rules), name, *out)
	return exitOK
}

// rulesComment heads an exported rules file: where the rules come from and
// how to read them, so that the file explains itself once pasted elsewhere.
func rulesComment(name string, m *model.Model) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Points rules of %s", name)
	if md := m.Metadata; !md.DataEnd.IsZero() {
		fmt.Fprintf(&b, ", trained on data from %s to %s", md.DataStart.UTC().Format(time.DateOnly), md.DataEnd.UTC().Format(time.DateOnly))
	}
	b.WriteString(".\n")
	if how := m.Metadata.Parameters["points_rules"]; how != "" {
		fmt.Fprintf(&b, "Rules %s.\n", how)
	}
	if v := m.Metadata.ValidationMetrics; len(v) > 0 {
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %.4f", k, v[k])
		}
		fmt.Fprintf(&b, "Held-out figures: %s.\n", strings.Join(parts, ", "))
	}
	b.WriteString("A lead's score is the sum of the points of the rules it matches; a missing value earns none.\n")
	b.WriteString("Attribute rules give points once, for a value (equals) or a numeric range [min, max); event rules\n")
	b.WriteString("give points per event in the last window_days days, up to max_points; signal rules read the\n")
	b.WriteString("hand-raise, unsubscribe and bounce flags. The calibration maps points to a probability when\n")
	b.WriteString("`leadscore train --family points --rules FILE` reads this file back.")
	return b.String()
}
