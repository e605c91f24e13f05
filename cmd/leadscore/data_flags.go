package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/model"
)

// train, backtest and score name their data alike: --data PATH, a history
// directory (leads, events and outcomes files) or a flat table file, which
// --label makes a training or backtest table. train's older --history DIR
// and --table FILE still work, as deprecated spellings of --data.

// trainData is what train's data flags name.
type trainData struct {
	path    string
	history bool
}

// resolveTrainData reads train's --data, or its deprecated --history or
// --table, noting the deprecation on stderr.
func resolveTrainData(data, history, table, label string, stderr io.Writer) (trainData, error) {
	given := 0
	for _, s := range []string{data, history, table} {
		if s != "" {
			given++
		}
	}
	switch {
	case given == 0:
		return trainData{}, leadscore.InvalidField("--data", "", "is required: a history directory, or a flat table file with --label (--history and --table are its older spellings)")
	case given > 1:
		return trainData{}, leadscore.InvalidField("--data", data, "name the data once: exactly one of --data, --history and --table")
	case history != "":
		fmt.Fprintln(stderr, "leadscore train: --history is deprecated; use --data DIR")
		return trainData{path: history, history: true}, checkLabel(history, true, label)
	case table != "":
		fmt.Fprintln(stderr, "leadscore train: --table is deprecated; use --data FILE --label COLUMN")
		return trainData{path: table}, checkLabel(table, false, label)
	}
	st, err := os.Stat(data)
	if err != nil {
		return trainData{}, leadscore.InvalidField("--data", data, "cannot be read: "+err.Error())
	}
	return trainData{path: data, history: st.IsDir()}, checkLabel(data, st.IsDir(), label)
}

// checkLabel says a flat table needs --label and a history takes none.
func checkLabel(path string, history bool, label string) error {
	switch {
	case history && label != "":
		return leadscore.InvalidField("--label", label, "is for a flat table; --data "+path+" is a history directory, labelled by its outcomes")
	case !history && label == "":
		return leadscore.InvalidField("--data", path, "is a flat table file: it needs --label, its label column")
	}
	return nil
}

// missingValuesFlag is --missing-values: the values read as missing in
// every column. Left unset it is dataset.DefaultMissingValues; set, even to
// nothing, it replaces them.
type missingValuesFlag struct {
	values []string
	set    bool
}

func (f *missingValuesFlag) String() string {
	if f == nil || !f.set {
		return strings.Join(dataset.DefaultMissingValues()[1:], ",")
	}
	return strings.Join(f.values, ",")
}

func (f *missingValuesFlag) Set(v string) error {
	f.set = true
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			f.values = append(f.values, part)
		}
	}
	return nil
}

// options returns the flag as reading options: the values and whether
// they replace the defaults.
func (f *missingValuesFlag) options() (tokens []string, noDefaults bool) {
	return f.values, f.set
}

// missingValuesUsage documents --missing-values.
var missingValuesUsage = "values read as missing in every column, comma-separated or repeated, each matched exactly and case-sensitively: " +
	"they replace the defaults, " + strings.Join(dataset.DefaultMissingValues()[1:], " ") +
	` (the empty value is always missing); --missing-values= turns the defaults off. ` +
	"The values are recorded in the artifact, so that backtest and score read their data as training did"

// missingValuesVar registers --missing-values.
func missingValuesVar(fs *flag.FlagSet) *missingValuesFlag {
	f := &missingValuesFlag{}
	fs.Var(f, "missing-values", missingValuesUsage)
	return f
}

// columnMissing reads --missing COLUMN=VALUE pairs.
func columnMissing(pairs []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, leadscore.InvalidField("--missing", kv, "must be COLUMN=VALUE")
		}
		out[k] = append(out[k], v)
	}
	return out, nil
}

// printReadingNotes tells the person training what reading the data
// decided on its own (a column dropped) and which values look like
// placeholders that are read as values.
func printReadingNotes(w io.Writer, notes []string, profile []model.ColumnProfile, rows int) {
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, c := range profile {
		for _, p := range c.Placeholders {
			share := ""
			if rows > 0 {
				share = fmt.Sprintf(" (%.1f%%)", 100*float64(p.Rows)/float64(rows))
			}
			fmt.Fprintf(w, "note: column %q: %q in %d rows%s looks like a placeholder for no answer; if it is one, read it as missing with --missing %s=%s, or list it in --missing-values beside the defaults\n",
				c.Name, p.Value, p.Rows, share, c.Name, p.Value)
		}
	}
}
