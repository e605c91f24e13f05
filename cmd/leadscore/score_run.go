package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/registry"
	"github.com/leadscore/leadscore/trainer"
)

// scoreRun is one run of leadscore score: the model, the input (a flat
// stream or a loaded history), the output format and the counts.
type scoreRun struct {
	model   *registry.ResolvedModel
	explain int
	lenient bool
	workers int
	format  *rowFormat
	// idName names the output's first column.
	idName string
	// at is the scoring time: a history's features are computed as of it.
	at time.Time

	// A flat table.
	flat    *dataset.FlatStream
	nfields int
	hasIDs  bool

	// A history.
	hist  *dataset.History
	bind  *dataset.Binding
	leads []int32 // the leads created by at, in file order
	ats   []int64 // at, once per row of a chunk
	next  int     // the next of leads to hand out

	features []model.Feature
	// done counts the rows written, for the progress line.
	done    atomic.Int64
	total   int // rows to score, when known (a history); 0 otherwise
	summary scoreSummary
}

// scoreSummary is what a run did, printed as JSON with --json. The
// seconds of each stage let a benchmark tell parsing from scoring.
type scoreSummary struct {
	Model     string `json:"model"`
	Alias     string `json:"alias,omitempty"`
	Data      string `json:"data"`
	Out       string `json:"out"`
	Format    string `json:"format"`
	ScoreTime string `json:"score_time"`
	// Rows counts the rows scored and written; Skipped the rows a lenient
	// run left out, whose first errors Errors gives.
	Rows    int      `json:"rows_scored"`
	Skipped int      `json:"rows_skipped"`
	Errors  []string `json:"errors,omitempty"`
	// Warnings are what a person should know about the scores.
	Warnings []string `json:"warnings,omitempty"`
	// NotCreated counts a history's leads created after the scoring
	// time, which are not scored.
	NotCreated int `json:"leads_created_after_score_time,omitempty"`
	Workers    int `json:"workers"`
	// Seconds is the whole run, from loading the model to the last byte
	// written; RowsPerSecond is Rows over it.
	Seconds       float64 `json:"seconds"`
	RowsPerSecond float64 `json:"rows_per_second"`
	// ReadSeconds is the time spent splitting a flat table into records
	// (one goroutine, beside the workers) or loading a history.
	ReadSeconds float64 `json:"read_seconds"`
	// ParseSeconds, ScoreSeconds and FormatSeconds are the workers' time
	// typing values, featurizing and scoring, and formatting output rows,
	// summed over the workers.
	ParseSeconds  float64 `json:"parse_seconds"`
	ScoreSeconds  float64 `json:"score_seconds"`
	FormatSeconds float64 `json:"format_seconds"`
	// WriteSeconds is the time spent writing (and compressing) output.
	WriteSeconds float64 `json:"write_seconds"`
	// ScoringRowsPerSecond is the rate of featurizing and scoring alone,
	// parsing and output excluded: Rows over ScoreSeconds per worker.
	ScoringRowsPerSecond float64 `json:"scoring_rows_per_second"`
}

// openFlat opens a flat table and types the columns the model reads, as
// trainer.FlatRows does: each attribute of the model's spec is the column
// whose trainer.AttributeKey it is, and every row is featurized with no
// events.
func (r *scoreRun) openFlat(path, idColumn string, colMissing map[string][]string) error {
	spec := r.model.Model.Spec
	if len(spec.Kinds) > 0 {
		return leadscore.InvalidField("--data", path, "is a flat table, but the model counts events, which a flat table does not have; score it on a history directory")
	}
	// The table is read as the model's training data was: its missing
	// values, and its per-column ones beside --missing.
	opts := dataset.FlatStreamOptions{IDColumn: idColumn, ColumnMissing: colMissing}.WithReading(r.model.Model.Metadata.Reading)
	s, err := dataset.OpenFlatStream(path, opts)
	if err != nil {
		return err
	}
	r.flat = s
	r.summary.Warnings = append(r.summary.Warnings, s.Notes()...)
	fields, err := flatFields(spec, s.Header(), idColumn, path)
	if err != nil {
		return err
	}
	if err := s.SetFields(fields); err != nil {
		return err
	}
	r.nfields = len(fields)
	r.hasIDs = idColumn != ""
	r.idName = "row"
	if r.hasIDs {
		r.idName = idColumn
	}
	r.features = spec.Features()
	return nil
}

// flatFields maps a spec's attributes to a header's columns.
func flatFields(spec *model.FeatureSpec, header []string, idColumn, file string) ([]dataset.FlatField, error) {
	byKey := map[string][]string{}
	for _, name := range header {
		if name != idColumn {
			key := trainer.AttributeKey(name)
			byKey[key] = append(byKey[key], name)
		}
	}
	fields := make([]dataset.FlatField, len(spec.Fit))
	for i, f := range spec.Fit {
		field := fmt.Sprintf("spec.fit[%d].attribute", i)
		cols := byKey[f.Attribute]
		switch len(cols) {
		case 0:
			return nil, leadscore.InvalidField(field, f.Attribute, fmt.Sprintf("the model reads an attribute that %s has no column for; the columns are %s", file, quoteNames(header)))
		case 1:
		default:
			return nil, leadscore.InvalidField(field, f.Attribute, fmt.Sprintf("columns %s of %s all name this attribute", quoteNames(cols), file))
		}
		fields[i].Column = cols[0]
		switch f.Kind {
		case model.KindNumeric:
			fields[i].Type = dataset.ColumnNumeric
		case model.KindBoolean:
			fields[i].Type = dataset.ColumnBoolean
		default:
			fields[i].Type = dataset.ColumnCategorical
		}
	}
	return fields, nil
}

func quoteNames(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// openHistory loads a history directory (its leads and events: outcomes
// play no part in features) and binds the model's spec to it.
func (r *scoreRun) openHistory(ctx context.Context, dir string, at time.Time) error {
	files, err := historyDir(dir)
	if err != nil {
		return err
	}
	files.Outcomes = ""
	start := time.Now()
	// The files are read as the model's training data was.
	h, stats, err := dataset.LoadHistory(ctx, files, dataset.ReadOptions{Lenient: r.lenient}.WithReading(r.model.Model.Metadata.Reading))
	if err != nil {
		return err
	}
	r.summary.Warnings = append(append(r.summary.Warnings, stats.Leads.Notes...), stats.Events.Notes...)
	r.summary.ReadSeconds = time.Since(start).Seconds()
	// A lead a lenient read skipped is a row not scored; a skipped event
	// changes the features of its lead, which a person should hear of.
	r.summary.Skipped += stats.Leads.Skipped
	if n := stats.Events.Skipped; n > 0 {
		warn := fmt.Sprintf("%d bad event records of %s were skipped: their leads are scored without them", n, files.Events)
		if n == 1 {
			warn = fmt.Sprintf("a bad event record of %s was skipped: its lead is scored without it", files.Events)
		}
		r.summary.Warnings = append(r.summary.Warnings, warn)
	}
	for _, st := range []dataset.ReadStats{stats.Leads, stats.Events} {
		for _, e := range st.Errors {
			r.keepError(e)
		}
	}
	if at.IsZero() {
		at = dataset.ObservedUntil(dir)
	}
	if at.IsZero() {
		_, last := h.Span()
		at = last.Add(time.Second)
	}
	r.at = at.UTC()
	bind, err := h.Bind(r.model.Model.Spec)
	if err != nil {
		return err
	}
	r.hist, r.bind = h, bind
	// Binding scores an attribute no lead has as missing everywhere, as a
	// backtest does; a person should hear of it (a flat-table model on a
	// history, a renamed column).
	for _, f := range r.model.Model.Spec.Fit {
		seen := false
		for i := 0; i < h.Len() && !seen; i++ {
			seen = !h.Attribute(i, f.Attribute).Missing()
		}
		if !seen {
			r.summary.Warnings = append(r.summary.Warnings, fmt.Sprintf("the model reads attribute %q, which no lead of %s has: every lead is scored without it", f.Attribute, dir))
		}
	}
	for i := range h.Len() {
		if h.Created(i).After(r.at) {
			r.summary.NotCreated++
			continue
		}
		r.leads = append(r.leads, int32(i))
	}
	r.total = len(r.leads)
	r.ats = slices.Repeat([]int64{r.at.Unix()}, dataset.FlatChunkRows)
	r.idName = "lead_id"
	r.features = bind.Features()
	return nil
}

func (r *scoreRun) close() {
	if r.flat != nil {
		r.flat.Close()
	}
}

// keepError keeps one of the first errors of skipped rows.
func (r *scoreRun) keepError(err error) {
	if len(r.summary.Errors) < scoreErrorsShown {
		r.summary.Errors = append(r.summary.Errors, err.Error())
	}
}

// scoreChunk is one chunk of rows on its way through the pipeline.
type scoreChunk struct {
	flat  *dataset.FlatChunk // a flat table's records
	leads []int32            // a history's leads
	// Set by the worker: the output rows, the rows scored and skipped,
	// the first errors of skipped rows, and the first error of a strict
	// run, which stops it.
	out     []byte
	scored  int
	skipped int
	errs    []error
	err     error
	// The stage times of the chunk.
	read, parse, score, format time.Duration
}

// scoreWorker is one worker's scratch space, reused from chunk to chunk.
type scoreWorker struct {
	scorer  *model.Scorer
	feat    *model.Featurizer // flat tables
	vals    []leadscore.Value
	row     []float64
	matrix  []float64
	errs    []error
	results []scoreResult
	sc      model.Scored
	// batch and batchErrs are ScoreBatch's results for a chunk.
	batch     []model.Scored
	batchErrs []error
}

// run scores every row into o.
func (r *scoreRun) run(ctx context.Context, o *scoreOutput) error {
	m := r.model.Model
	ws := make([]*scoreWorker, r.workers)
	for i := range ws {
		s, err := model.NewScorer(m)
		if err != nil {
			return err
		}
		w := &scoreWorker{scorer: s, row: make([]float64, m.Spec.Width())}
		if r.flat != nil {
			if w.feat, err = model.NewFeaturizer(m.Spec); err != nil {
				return err
			}
		}
		ws[i] = w
	}
	pool := make([]*scoreChunk, 2*r.workers+2)
	for i := range pool {
		pool[i] = &scoreChunk{}
		if r.flat != nil {
			pool[i].flat = dataset.NewFlatChunk(dataset.FlatChunkRows)
		}
	}
	if _, err := o.w.Write(r.format.header(nil)); err != nil {
		return fmt.Errorf("write %s: %w", o.name(), err)
	}
	p := pipeline[*scoreChunk]{
		pool:    pool,
		workers: r.workers,
		read:    r.read,
		work: func(ctx context.Context, w int, c *scoreChunk) error {
			if r.flat != nil {
				r.workFlat(ws[w], c)
			} else {
				r.workHistory(ctx, ws[w], c)
			}
			return nil
		},
		write: func(c *scoreChunk) error {
			if c.err != nil {
				return c.err
			}
			start := time.Now()
			if _, err := o.w.Write(c.out); err != nil {
				return fmt.Errorf("write %s: %w", o.name(), err)
			}
			s := &r.summary
			s.WriteSeconds += time.Since(start).Seconds()
			s.Rows += c.scored
			s.Skipped += c.skipped
			for _, e := range c.errs {
				r.keepError(e)
			}
			s.ReadSeconds += c.read.Seconds()
			s.ParseSeconds += c.parse.Seconds()
			s.ScoreSeconds += c.score.Seconds()
			s.FormatSeconds += c.format.Seconds()
			r.done.Add(int64(c.scored + c.skipped))
			return nil
		},
	}
	return p.run(ctx)
}

// read fills the next chunk: a flat table's next records, or a history's
// next leads.
func (r *scoreRun) read(ctx context.Context, c *scoreChunk) error {
	start := time.Now()
	defer func() { c.read = time.Since(start) }()
	if r.flat != nil {
		return r.flat.Read(ctx, c.flat)
	}
	if r.next >= len(r.leads) {
		return io.EOF
	}
	end := min(r.next+dataset.FlatChunkRows, len(r.leads))
	c.leads = r.leads[r.next:end]
	r.next = end
	return nil
}

// workFlat parses, featurizes, scores and formats a flat chunk.
func (r *scoreRun) workFlat(w *scoreWorker, c *scoreChunk) {
	fc := c.flat
	n, k := fc.Len(), r.nfields
	w.prepare(n, n*k)
	t0 := time.Now()
	for i := range n {
		w.errs[i] = fc.Parse(i, w.vals[i*k:(i+1)*k])
	}
	t1 := time.Now()
	width := len(w.row)
	if cap(w.matrix) < n*width {
		w.matrix = make([]float64, n*width)
	}
	mat := w.matrix[:n*width]
	for i := range n {
		row := mat[i*width : (i+1)*width]
		if w.errs[i] == nil {
			w.errs[i] = w.feat.Compute(w.vals[i*k:(i+1)*k], 0, model.Activity{}, 0, row)
		}
		if w.errs[i] != nil {
			// A row that is not scored still takes its place in the batch.
			for j := range row {
				row[j] = math.NaN()
			}
		}
	}
	r.scoreMatrix(w, mat, n, func(i int, err error) error { return err })
	t2 := time.Now()
	for i, err := range w.errs {
		if err != nil {
			w.errs[i] = fmt.Errorf("row %d: %w", fc.Row(i), err)
		}
	}
	r.emit(w, c, n, func(i int) (string, int) {
		if r.hasIDs {
			return fc.ID(i), fc.Row(i)
		}
		return "", fc.Row(i)
	})
	c.parse, c.score, c.format = t1.Sub(t0), t2.Sub(t1), time.Since(t2)
}

// workHistory featurizes (dataset.Binding.Matrix, as backtests do),
// scores and formats a chunk of a history's leads.
func (r *scoreRun) workHistory(ctx context.Context, w *scoreWorker, c *scoreChunk) {
	n := len(c.leads)
	width := r.bind.Width()
	w.prepare(n, 0)
	t0 := time.Now()
	mat, err := r.bind.Matrix(ctx, &dataset.Examples{Lead: c.leads, At: r.ats[:n]})
	if err != nil {
		if ctx.Err() != nil {
			c.err = ctx.Err()
			return
		}
		// Some lead cannot be featurized: find which, one by one, so
		// that the first in file order is the one reported.
		if cap(w.matrix) < n*width {
			w.matrix = make([]float64, n*width)
		}
		mat = w.matrix[:n*width]
		for i, lead := range c.leads {
			w.errs[i] = r.bind.Row(int(lead), r.at, mat[i*width:(i+1)*width])
		}
	}
	r.scoreMatrix(w, mat, n, func(i int, err error) error {
		return fmt.Errorf("lead %s: %w", r.hist.LeadID(int(c.leads[i])), err)
	})
	t1 := time.Now()
	r.emit(w, c, n, func(i int) (string, int) {
		return r.hist.LeadID(int(c.leads[i])), 0
	})
	c.score, c.format = t1.Sub(t0), time.Since(t1)
}

// prepare sizes the worker's scratch space for n rows of values values.
func (w *scoreWorker) prepare(n, values int) {
	if cap(w.vals) < values {
		w.vals = make([]leadscore.Value, values)
	}
	w.vals = w.vals[:values]
	if cap(w.errs) < n {
		w.errs = make([]error, n)
		w.results = make([]scoreResult, n)
	}
	w.errs = w.errs[:n]
	clear(w.errs)
	w.results = w.results[:n]
}

// scoreMatrix scores the rows of mat whose errs are nil into results,
// wrapping a row's scoring error with wrap. Without explanations the rows
// are scored as one batch (Scorer.ScoreBatch: the same results as a row at
// a time, several times faster for trees); with them, row by row.
func (r *scoreRun) scoreMatrix(w *scoreWorker, mat []float64, n int, wrap func(i int, err error) error) {
	width := len(w.row)
	if r.explain > 0 {
		for i := range n {
			if w.errs[i] != nil {
				continue
			}
			if err := r.scoreRow(w, mat[i*width:(i+1)*width], &w.results[i]); err != nil {
				w.errs[i] = wrap(i, err)
			}
		}
		return
	}
	if cap(w.batch) < n {
		w.batch, w.batchErrs = make([]model.Scored, n), make([]error, n)
	}
	batch, errs := w.batch[:n], w.batchErrs[:n]
	if err := w.scorer.ScoreBatch(mat, batch, errs); err != nil {
		for i := range n {
			if w.errs[i] == nil {
				w.errs[i] = wrap(i, err)
			}
		}
		return
	}
	for i := range n {
		switch {
		case w.errs[i] != nil:
		case errs[i] != nil:
			w.errs[i] = wrap(i, errs[i])
		default:
			w.results[i] = scoreResult{scored: batch[i]}
			w.results[i].scored.Contributions = nil
		}
	}
}

// scoreRow scores one feature row into res.
func (r *scoreRun) scoreRow(w *scoreWorker, row []float64, res *scoreResult) error {
	var err error
	if r.explain > 0 {
		err = w.scorer.Explain(row, &w.sc)
	} else {
		err = w.scorer.Score(row, &w.sc)
	}
	if err != nil {
		return err
	}
	res.scored = w.sc
	res.scored.Contributions = nil
	res.factors = nil
	if r.explain > 0 {
		res.factors = model.TopFactors(r.features, row, w.sc.Contributions, r.explain)
	}
	return nil
}

// emit formats a chunk's scored rows and handles the others (whose
// errors name them): a strict run stops at the first, a lenient one counts
// them. who returns row i's id, or "" and its number.
func (r *scoreRun) emit(w *scoreWorker, c *scoreChunk, n int, who func(i int) (id string, row int)) {
	c.out, c.scored, c.skipped, c.errs, c.err = c.out[:0], 0, 0, c.errs[:0], nil
	for i := range n {
		if err := w.errs[i]; err != nil {
			if !r.lenient {
				c.err = err
				return
			}
			c.skipped++
			if len(c.errs) < scoreErrorsShown {
				c.errs = append(c.errs, err)
			}
			continue
		}
		id, row := who(i)
		c.out = r.format.appendRow(c.out, id, row, &w.results[i])
		c.scored++
	}
}

// finish completes the summary of a run that took elapsed.
func (r *scoreRun) finish(elapsed time.Duration) {
	s := &r.summary
	s.Seconds = elapsed.Seconds()
	if s.Seconds > 0 {
		s.RowsPerSecond = float64(s.Rows) / s.Seconds
	}
	if s.ScoreSeconds > 0 {
		s.ScoringRowsPerSecond = float64(s.Rows) / (s.ScoreSeconds / float64(s.Workers))
	}
}

// printSummary writes the one-line summary, and the first skipped rows'
// errors, to w.
func (r *scoreRun) printSummary(w io.Writer) {
	s := &r.summary
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	fmt.Fprintf(w, "leadscore score: %d rows scored, %d skipped, in %s (%.0f rows/s); featurizing and scoring alone %.0f rows/s on %d workers; reading %s\n",
		s.Rows, s.Skipped, roundDuration(s.Seconds), s.RowsPerSecond, s.ScoringRowsPerSecond, s.Workers, roundDuration(s.ReadSeconds))
	if s.NotCreated > 0 {
		fmt.Fprintf(w, "  %d leads created after %s were not scored\n", s.NotCreated, s.ScoreTime)
	}
	for _, e := range s.Errors {
		fmt.Fprintf(w, "  skipped %s\n", e)
	}
	if s.Skipped > len(s.Errors) && len(s.Errors) > 0 {
		fmt.Fprintf(w, "  and %d more\n", s.Skipped-len(s.Errors))
	}
}

func roundDuration(seconds float64) time.Duration {
	d := time.Duration(seconds * float64(time.Second))
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// startScoreProgress rewrites one status line on a terminal a few times a
// second; the returned func stops it and clears the line.
func startScoreProgress(w io.Writer, r *scoreRun) func() {
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-tick.C:
			}
			done := r.done.Load()
			rate := float64(done) / time.Since(start).Seconds()
			if r.total > 0 {
				fmt.Fprintf(w, "\r\033[Kscoring: %d/%d leads (%d%%), %.0f rows/s", done, r.total, done*100/int64(r.total), rate)
			} else {
				fmt.Fprintf(w, "\r\033[Kscoring: %d rows, %.0f rows/s", done, rate)
			}
		}
	}()
	return func() {
		close(stop)
		wg.Wait()
	}
}
