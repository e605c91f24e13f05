package evaluator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// Scores are one model's scores of a backtest's rows, in row order, with
// what the metrics group them by. ScoreRows fills them from feature rows;
// scores made elsewhere may fill the fields directly.
type Scores struct {
	// Model names the model; Family is its family.
	Model  string
	Family string
	// Probability is each row's calibrated probability; Label whether it
	// converted.
	Probability []float64
	Label       []bool
	// Tier and Cell are each row's tier and grid cell; nil when the scores
	// have none, which leaves the tier, grade and cell groups and the
	// acceptance figures empty.
	Tier []leadscore.Tier
	Cell []leadscore.Cell
	// Campaign and Source are each row's campaign and source, "" for a row
	// without one; nil when the data has no such attribute.
	Campaign []string
	Source   []string
	// Features describe the model's feature columns and AbsContribution
	// holds, per feature, the sum over rows of its absolute contribution.
	// Both nil when there are no explanations: Importance is then empty.
	Features        []model.Feature
	AbsContribution []float64
}

// Len is the number of rows.
func (s *Scores) Len() int { return len(s.Probability) }

// Validate checks that every column has one value per row and every value
// is usable, naming the first bad field.
func (s *Scores) Validate() error {
	n := len(s.Probability)
	if n == 0 {
		return leadscore.InvalidField("probabilities", 0, "need at least one scored row")
	}
	if len(s.Label) != n {
		return leadscore.InvalidField("labels", len(s.Label), fmt.Sprintf("must have one label per probability (%d)", n))
	}
	for i, p := range s.Probability {
		if !(p >= 0 && p <= 1) {
			return leadscore.InvalidField(fmt.Sprintf("probabilities[%d]", i), p, "must be a number between 0 and 1")
		}
	}
	for _, col := range []struct {
		name string
		len  int
	}{{"tiers", len(s.Tier)}, {"cells", len(s.Cell)}, {"campaigns", len(s.Campaign)}, {"sources", len(s.Source)}} {
		if col.len != 0 && col.len != n {
			return leadscore.InvalidField(col.name, col.len, fmt.Sprintf("must have one value per row (%d) or none", n))
		}
	}
	for i, t := range s.Tier {
		if t < leadscore.TierVeryGood || t > leadscore.TierLow {
			return leadscore.InvalidField(fmt.Sprintf("tiers[%d]", i), t, "must be a tier")
		}
	}
	for i, c := range s.Cell {
		if !c.Valid() {
			return leadscore.InvalidField(fmt.Sprintf("cells[%d]", i), c, "must be a grid cell from A1 to D4")
		}
	}
	if len(s.AbsContribution) != len(s.Features) {
		return leadscore.InvalidField("abs_contributions", len(s.AbsContribution), fmt.Sprintf("must have one sum per feature (%d)", len(s.Features)))
	}
	for j, v := range s.AbsContribution {
		if !(v >= 0) || math.IsInf(v, 0) {
			return leadscore.InvalidField(fmt.Sprintf("abs_contributions[%d]", j), v, "must be a finite number, zero or more")
		}
	}
	return nil
}

// scoreChunk is the number of rows a scoring worker takes at a time. The
// absolute contributions are summed per chunk and the chunks' sums added
// in chunk order, so the importance does not depend on how many workers
// ran or which took which chunk.
const scoreChunk = 256

// ScoreRows scores feature rows (row-major, m.Spec.Width() wide, one per
// label) with m and explains every row: the tiers and cells are serving's
// (Explain places a lead exactly as Score does) and the importance is the
// contributions' absolute sum. For a GBDT the explanations cost about a
// millisecond a row (TreeSHAP), far more than the scores. It uses every
// core, each worker with its own scorer, writes results in row order, and
// checks ctx between chunks.
func ScoreRows(ctx context.Context, m *model.Model, name string, rows []float64, labels []bool) (*Scores, error) {
	if m == nil {
		return nil, leadscore.InvalidField("model", "nil", "is required")
	}
	first, err := model.NewScorer(m)
	if err != nil {
		return nil, fmt.Errorf("score with %s: %w", name, err)
	}
	w := m.Spec.Width()
	n := len(labels)
	if n == 0 {
		return nil, leadscore.InvalidField("rows", 0, "need at least one row to score")
	}
	if len(rows) != n*w {
		return nil, leadscore.InvalidField("rows", len(rows), fmt.Sprintf("must be %d rows of %d features", n, w))
	}
	s := &Scores{
		Model:       name,
		Family:      string(m.Family),
		Probability: make([]float64, n),
		Label:       slices.Clone(labels),
		Tier:        make([]leadscore.Tier, n),
		Cell:        make([]leadscore.Cell, n),
		Features:    m.Spec.Features(),
	}
	chunks := (n + scoreChunk - 1) / scoreChunk
	partial := make([]float64, chunks*w)
	workers := max(1, min(runtime.GOMAXPROCS(0), chunks))
	errs := make([]error, workers)
	var next atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := first
			if g > 0 {
				var err error
				if sc, err = model.NewScorer(m); err != nil {
					errs[g] = err
					stop.Store(true)
					return
				}
			}
			var out model.Scored
			for !stop.Load() {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[g] = err
					stop.Store(true)
					return
				}
				sums := partial[c*w : (c+1)*w]
				for i := c * scoreChunk; i < min(n, (c+1)*scoreChunk); i++ {
					if err := sc.Explain(rows[i*w:(i+1)*w], &out); err != nil {
						errs[g] = fmt.Errorf("score row %d with %s: %w", i, name, err)
						stop.Store(true)
						return
					}
					s.Probability[i], s.Tier[i], s.Cell[i] = out.Probability, out.Tier, out.Cell
					for j, v := range out.Contributions {
						sums[j] += math.Abs(v)
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
				return nil, ctxErr
			}
			return nil, err
		}
	}
	s.AbsContribution = make([]float64, w)
	for c := range chunks {
		for j, v := range partial[c*w : (c+1)*w] {
			s.AbsContribution[j] += v
		}
	}
	return s, nil
}
