package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/trainer"
)

// TrainRequest is one training run: what to read and how to fit. The
// command line's train and the server's training jobs both train through
// Train, so the same data, options and seed give the same artifact bytes
// whichever of them ran it.
type TrainRequest struct {
	// Data names what to learn from: a history (files or the store) or a
	// flat table, as a backtest names what it scores.
	Data BacktestData
	// HistoryStore is the store Data.Store reads.
	HistoryStore leadscore.HistoryStore
	// Reading says how a history's files are read (missing values); a
	// flat table's reading is in Data.Flat.Options.
	Reading dataset.ReadOptions
	// TestTable, for a flat table, is a held-out table with the same
	// columns, read with the training table's column types; empty splits
	// the table itself.
	TestTable string
	// RandomSplit splits a flat table at random (seeded by Config.Seed)
	// rather than in order; with TestTable it says the two tables were
	// split at random.
	RandomSplit bool
	// Until, for a history, learns only from what was known before it.
	// Zero means the whole history.
	Until time.Time
	// Snapshots, for a history, are the snapshot times; nil means the
	// trainer's monthly default. Horizon is the labels' horizon; zero
	// means 90 days.
	Snapshots []time.Time
	Horizon   time.Duration
	// Exclude names columns or attributes never used as features.
	Exclude []string
	// Config is how to fit. Its Progress is replaced by Train's own, which
	// reports to Progress below.
	Config trainer.Config
	// Progress, when set, is told the stage ("reading", "profiling",
	// "choosing family", "tuning", "fitting", "calibrating"), a fraction
	// done that never goes back, and the trainer's own words.
	Progress func(stage string, fraction float64, message string)
	// Read, when set, is told what reading the data found (notes, the
	// profile, the rows read) before fitting begins.
	Read func(notes []string, profile []model.ColumnProfile, rows int)
}

// DataFile is a file training read and the hex SHA-256 of its bytes, so
// that a version's lineage says exactly which data made it.
type DataFile struct {
	Path   string
	SHA256 string
}

// TrainResult is a trained model with what reading the data found.
type TrainResult struct {
	Model  *model.Model
	Report *trainer.Report
	// Artifact is the model's artifact bytes, as a file or the registry
	// keeps them.
	Artifact []byte
	// Notes say what reading decided on its own (a column dropped).
	Notes []string
	// Reading and Profile are recorded in the artifact too.
	Reading model.Reading
	Profile []model.ColumnProfile
	// Rows is how many leads (history) or rows (table) were read.
	Rows int
	// Files are the files read, in the order named (leads, events,
	// outcomes; or table, test table); none for the store's history.
	Files []DataFile
}

// TrainProgressEnd is the fraction Train's progress reaches when the model
// is fitted; a caller that goes on (registering, evaluating) reports the
// rest.
const TrainProgressEnd = 0.85

// Train reads the data, fits a model with trainer.Train, records how the
// data was read in the artifact, and encodes it. It registers nothing:
// the caller registers the artifact (RegisterVersion) with its lineage.
func Train(ctx context.Context, req TrainRequest) (*TrainResult, error) {
	started := time.Now()
	p := &trainProgress{report: req.Progress}
	files := trainFiles(req)
	res := &TrainResult{}
	p.stage("reading", "reading the data")
	var data *trainer.Data
	spec := model.SpecOptions{Exclude: req.Exclude}
	if req.Data.Flat == nil {
		if req.TestTable != "" {
			return nil, leadscore.InvalidField("test_table", req.TestTable, "applies only to a flat table")
		}
		h, _, _, notes, err := loadData(ctx, req.Data, req.HistoryStore, req.Reading)
		if err != nil {
			return nil, err
		}
		res.Notes, res.Reading, res.Profile, res.Rows = notes, req.Reading.Reading(), h.Profile(), h.Len()
		p.stage("profiling", "computing point-in-time features")
		var observed time.Time
		if req.Data.History != nil {
			observed = dataset.ObservedUntil(filepath.Dir(req.Data.History.Leads))
		}
		if !req.Until.IsZero() {
			t := req.Until
			if first, last := h.Span(); !t.After(first) || (!observed.IsZero() && t.After(observed)) || (observed.IsZero() && t.After(last)) {
				return nil, leadscore.InvalidField("until", t.Format(time.RFC3339), fmt.Sprintf("must fall inside the history (%s to %s)", first.Format(time.RFC3339), last.Format(time.RFC3339)))
			}
			observed = t
		}
		if data, err = trainer.FromHistory(ctx, h, trainer.HistoryOptions{ObservedUntil: observed, Snapshots: req.Snapshots, Horizon: req.Horizon, Spec: spec}); err != nil {
			return nil, err
		}
	} else {
		if !req.Until.IsZero() {
			return nil, leadscore.InvalidField("until", req.Until.Format(time.RFC3339), "applies only to a history; a flat table is split by its rows")
		}
		if len(req.Snapshots) > 0 || req.Horizon != 0 {
			return nil, leadscore.InvalidField("snapshots", len(req.Snapshots), "apply only to a history; a flat table's rows are its examples")
		}
		flat := *req.Data.Flat
		flat.Options.Exclude = req.Exclude
		_, t, _, notes, err := loadData(ctx, BacktestData{Flat: &flat}, nil, dataset.ReadOptions{})
		if err != nil {
			return nil, err
		}
		res.Notes, res.Reading, res.Profile, res.Rows = notes, t.Reading(), t.Profile(), t.Len()
		p.stage("profiling", "preparing the feature rows")
		if req.TestTable != "" {
			// The held-out table is read with the training table's column
			// types, so a column cannot change type between the two.
			opts := flat.Options
			for _, c := range t.Columns() {
				if c.Role != dataset.RoleFeature {
					continue
				}
				if opts.Types == nil {
					opts.Types = map[string]dataset.ColumnType{}
				}
				opts.Types[c.Name] = c.Type
			}
			held, err := dataset.ReadFlatTable(ctx, req.TestTable, opts)
			if err != nil {
				return nil, err
			}
			res.Notes = append(res.Notes, held.Stats().Notes...)
			if data, err = trainer.FromFlatTables(ctx, t, held, spec); err != nil {
				return nil, err
			}
			data.Shuffled = req.RandomSplit
		} else if data, err = trainer.FromFlatTable(ctx, t, trainer.FlatSplit{Random: req.RandomSplit, Seed: req.Config.Seed, Spec: spec}); err != nil {
			return nil, err
		}
	}
	// The files are hashed once read, as they stand when the model is
	// made from them; the lineage names these bytes.
	for _, f := range files {
		sum, err := fileSHA256(ctx, f)
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, DataFile{Path: f, SHA256: sum})
	}
	if req.Read != nil {
		req.Read(res.Notes, res.Profile, res.Rows)
	}
	readTime := time.Since(started)
	cfg := req.Config
	cfg.Progress = p.trainer
	m, rep, err := trainer.Train(ctx, data, cfg)
	if err != nil {
		return nil, err
	}
	m.Metadata.Reading, m.Metadata.Profile = res.Reading, res.Profile
	rep.Seconds["read"] = readTime.Seconds()
	if res.Artifact, err = artifact.Marshal(m); err != nil {
		return nil, err
	}
	res.Model, res.Report = m, rep
	return res, nil
}

// trainFiles lists the files a request reads, in order.
func trainFiles(req TrainRequest) []string {
	var out []string
	switch d := req.Data; {
	case d.History != nil:
		out = append(out, d.History.Leads)
		if d.History.Events != "" {
			out = append(out, d.History.Events)
		}
		out = append(out, d.History.Outcomes)
	case d.Flat != nil:
		out = append(out, d.Flat.Path)
		if req.TestTable != "" {
			out = append(out, req.TestTable)
		}
	}
	return out
}

// fileSHA256 is the hex SHA-256 of a file's bytes. It stops when ctx
// ends: a file of gigabytes takes seconds to hash.
func fileSHA256(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader fails its reads once ctx has ended.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// trainProgress turns the trainer's stage lines into stages and a
// fraction that only grows: auto and tuning revisit stages, and a bar
// that runs backwards tells a watcher nothing.
type trainProgress struct {
	report   func(stage string, fraction float64, message string)
	fraction float64
}

// trainStages map the start of the trainer's lines to a stage and the
// fraction done when it begins.
var trainStages = []struct {
	prefix, stage string
	fraction      float64
}{
	{"choosing the family", "choosing family", 0.15},
	{"tuning", "tuning", 0.2},
	{"fitting", "fitting", 0.5},
	{"refitting", "fitting", 0.7},
	{"calibrating", "calibrating", 0.6},
	{"placing the grid", "calibrating", 0.75},
	{"learning the points baseline", "fitting", 0.8},
}

func (p *trainProgress) stage(stage, message string) {
	f := map[string]float64{"reading": 0.02, "profiling": 0.1}[stage]
	p.send(stage, f, message)
}

func (p *trainProgress) trainer(line string) {
	for _, s := range trainStages {
		if strings.HasPrefix(line, s.prefix) {
			p.send(s.stage, s.fraction, line)
			return
		}
	}
	p.send("fitting", 0, line)
}

func (p *trainProgress) send(stage string, fraction float64, message string) {
	p.fraction = max(p.fraction, min(fraction, TrainProgressEnd))
	if p.report != nil {
		p.report(stage, p.fraction, message)
	}
}

// SourceKind names the kind of data the request reads, as a lineage
// records it.
func (req TrainRequest) SourceKind() string {
	switch {
	case req.Data.Store:
		return "store_history"
	case req.Data.History != nil:
		return "history_files"
	case req.Data.Flat != nil:
		return "flat_table"
	}
	return ""
}

// Options returns the request's options as a lineage records them: the
// family asked for, the seed, the window and exclusions, the missing
// values and the parameters given by name.
func (req TrainRequest) Options(params map[string]string) map[string]string {
	out := map[string]string{
		"family": string(req.Config.Family),
		"seed":   strconv.FormatUint(req.Config.Seed, 10),
	}
	for k, v := range params {
		out[k] = v
	}
	if !req.Until.IsZero() {
		out["until_time"] = req.Until.UTC().Format(time.RFC3339)
	}
	if len(req.Exclude) > 0 {
		out["exclude_features"] = strings.Join(req.Exclude, ",")
	}
	if len(req.Reading.MissingTokens) > 0 || req.Reading.NoDefaultMissing {
		out["missing_values"] = strings.Join(req.Reading.MissingTokens, ",")
	}
	if len(req.Snapshots) > 0 {
		out["snapshots"] = strconv.Itoa(len(req.Snapshots))
		out["first_snapshot"] = req.Snapshots[0].UTC().Format(time.RFC3339)
	}
	if req.Horizon > 0 {
		out["horizon"] = req.Horizon.String()
	}
	if len(req.Config.PointsRules) > 0 {
		out["points_rules_sha256"] = artifact.SHA256(req.Config.PointsRules)
	}
	if req.TestTable != "" {
		out["test_table"] = req.TestTable
	}
	return out
}
