package model

import (
	"fmt"
	"math"
	"time"

	"github.com/leadscore/leadscore"
)

// Family names a kind of model.
type Family string

// The model families.
const (
	// FamilyPoints is the rule-based points model most marketing teams run
	// today: the baseline every backtest compares against.
	FamilyPoints Family = "points"
	// FamilyLogistic is L2-regularised logistic regression.
	FamilyLogistic Family = "logistic"
	// FamilyGBDT is histogram gradient-boosted trees.
	FamilyGBDT Family = "gbdt"
)

// Metadata says how a model was made, so that it can be reproduced and
// judged.
type Metadata struct {
	// TrainerVersion is the version of the code that trained the model.
	TrainerVersion string `json:"trainer_version"`
	// Seed is the random seed of training.
	Seed uint64 `json:"seed"`
	// DataSHA256 is the hex SHA-256 of the training data.
	DataSHA256 string `json:"data_sha256"`
	// DataStart and DataEnd bound the history the model learned from;
	// a promotion needs a backtest on data after DataEnd.
	DataStart time.Time `json:"data_start"`
	DataEnd   time.Time `json:"data_end"`
	// Horizon is the conversion horizon of the labels.
	Horizon time.Duration `json:"horizon"`
	// Parameters are the family's training parameters by name.
	Parameters map[string]string `json:"parameters"`
	// ValidationMetrics are measured on held-out data at training time,
	// such as "roc_auc", "brier" and "ece".
	ValidationMetrics map[string]float64 `json:"validation_metrics"`
	// Reliability is the calibration measured on held-out data.
	Reliability []ReliabilityBin `json:"reliability"`
	// Reading says how the training data's text was read (the values
	// taken as missing), so that backtests and scoring read alike.
	Reading Reading `json:"reading"`
	// Profile describes each column of a flat table's training data, or
	// each lead attribute of a history's.
	Profile []ColumnProfile `json:"profile,omitempty"`
	// There is deliberately no creation time: the same seed and data must
	// give a byte-identical artifact. The registry records when a version
	// was registered.
}

// ReliabilityBin is one bin of the held-out reliability diagram stored
// with a model.
type ReliabilityBin struct {
	Lower           float64 `json:"lower"`
	Upper           float64 `json:"upper"`
	Leads           int     `json:"leads"`
	MeanProbability float64 `json:"mean_probability"`
	ObservedRate    float64 `json:"observed_rate"`
}

// Model is everything needed to score a lead with one model version: the
// feature spec, the family's parameters, the calibration and the grid. It
// is immutable once built; Scorer gives each goroutine its scratch space.
type Model struct {
	Family      Family       `json:"family"`
	Spec        *FeatureSpec `json:"spec"`
	Logistic    *Linear      `json:"logistic,omitempty"`
	GBDT        *GBDT        `json:"gbdt,omitempty"`
	Points      *Points      `json:"points,omitempty"`
	Calibration *Calibration `json:"calibration"`
	Grid        *Grid        `json:"grid"`
	Metadata    Metadata     `json:"metadata"`
	// PointsBaseline, when set, is the points model learned from the same
	// training rows, which backtests judge the model against: the simple
	// baseline on equal information. It is a points model with no
	// baseline of its own; scoring never reads it.
	PointsBaseline *Model `json:"points_baseline,omitempty"`
}

// Validate checks a model completely: a loader calls it so that a corrupt
// or mismatched artifact is refused with an error naming what is wrong,
// never scored into a silent zero.
func (m *Model) Validate() error {
	if m.Spec == nil {
		return leadscore.InvalidField("spec", "", "is required")
	}
	if err := m.Spec.Validate(); err != nil {
		return err
	}
	width := m.Spec.Width()
	families := 0
	for _, set := range []bool{m.Logistic != nil, m.GBDT != nil, m.Points != nil} {
		if set {
			families++
		}
	}
	if families != 1 {
		return leadscore.InvalidField("family", m.Family, "a model holds exactly one family's parameters")
	}
	switch m.Family {
	case FamilyLogistic:
		if m.Logistic == nil {
			return leadscore.InvalidField("logistic", "", "is required for family logistic")
		}
		if err := m.Logistic.Validate(width); err != nil {
			return err
		}
	case FamilyGBDT:
		if m.GBDT == nil {
			return leadscore.InvalidField("gbdt", "", "is required for family gbdt")
		}
		if err := m.GBDT.Validate(); err != nil {
			return err
		}
		if m.GBDT.Width != width {
			return leadscore.InvalidField("gbdt.width", m.GBDT.Width, fmt.Sprintf("must equal the spec's %d features", width))
		}
	case FamilyPoints:
		if m.Points == nil {
			return leadscore.InvalidField("points", "", "is required for family points")
		}
		if err := m.Points.Validate(m.Spec); err != nil {
			return err
		}
	default:
		return leadscore.InvalidField("family", m.Family, "must be points, logistic or gbdt")
	}
	if m.Calibration == nil {
		return leadscore.InvalidField("calibration", "", "is required")
	}
	if err := m.Calibration.Validate(); err != nil {
		return err
	}
	if m.Grid == nil {
		return leadscore.InvalidField("grid", "", "is required")
	}
	if err := m.Grid.Validate(); err != nil {
		return err
	}
	if m.Grid.Basis == GridBasisTreePath && m.Family != FamilyGBDT {
		return leadscore.InvalidField("grid.basis", m.Grid.Basis, fmt.Sprintf("is defined for family gbdt only, not %s", m.Family))
	}
	if b := m.PointsBaseline; b != nil {
		switch {
		case b.Family != FamilyPoints:
			return leadscore.InvalidField("points_baseline.family", b.Family, "must be points")
		case b.PointsBaseline != nil:
			return leadscore.InvalidField("points_baseline.points_baseline", "set", "must be unset: a baseline has no baseline of its own")
		}
		if err := b.Validate(); err != nil {
			return fmt.Errorf("points baseline: %w", err)
		}
	}
	return nil
}

// Scored is the score of one feature row.
type Scored struct {
	// Raw is the model's raw output (log-odds, or points).
	Raw float64
	// Base is the raw output of an average training lead; Base plus the
	// contributions is Raw, and so is Base plus FitSum plus EngagementSum.
	Base float64
	// Probability is the calibrated probability of converting within the
	// horizon.
	Probability float64
	// Score is the probability as a whole number from 1 to 99.
	Score int
	// Percentile is the share of the training population scored at or
	// below this lead, 0 to 100.
	Percentile float64
	Tier       leadscore.Tier
	Cell       leadscore.Cell
	Action     string
	// FitSum and EngagementSum are the shares of Raw − Base that go to the
	// fit and the engagement features by the grid's basis: the summed
	// contributions of each group, or for a GBDT with the tree-path basis
	// its path attribution. The Cell is read from them.
	FitSum, EngagementSum float64
	// Contributions are the features' exact contributions, in row order:
	// set by Explain, empty after Score.
	Contributions []float64
}

// Scorer scores rows with one model. It holds scratch space, so each
// goroutine needs its own.
type Scorer struct {
	m      *Model
	linear *CompiledLinear
	fit    []bool // whether each feature is in the fit group
	design []float64
	// contrs is where Score puts the contributions the grid needs but the
	// caller did not ask for.
	contrs []float64
	// path is the tree-path attribution to the fit features of a GBDT
	// whose grid has that basis; nil otherwise.
	path *gbdtPath
	// raws and shares are ScoreBatch's scratch.
	raws, shares []float64
}

// NewScorer validates m and returns a scorer for it. For a GBDT whose grid
// has the tree-path basis it precomputes each leaf's share of the fit
// group, a pass over the nodes like the one validation makes.
func NewScorer(m *Model) (*Scorer, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	s := &Scorer{m: m, contrs: make([]float64, m.Spec.Width())}
	for _, f := range m.Spec.Features() {
		s.fit = append(s.fit, f.Group == GroupFit)
	}
	if m.Logistic != nil {
		s.design = make([]float64, m.Logistic.Encoding.Width)
		s.linear = m.Logistic.Compile()
	}
	if m.Family == FamilyGBDT && m.Grid.Basis == GridBasisTreePath {
		// The group of each feature is the spec's, which the ensemble
		// does not know; the scorer joins them. It keeps the layout the
		// array was built for (see gbdtPath).
		s.path = m.GBDT.newPath(m.GBDT.prepared(), s.fit)
	}
	return s, nil
}

// Model returns the scorer's model.
func (s *Scorer) Model() *Model { return s.m }

// Raw returns the raw output of a row, without explanations.
func (s *Scorer) Raw(row []float64) float64 {
	switch s.m.Family {
	case FamilyLogistic:
		return s.linear.Raw(row)
	case FamilyGBDT:
		return s.m.GBDT.Predict(row)
	default:
		return s.m.Points.Raw(row)
	}
}

// Score scores one feature row into out: everything but the
// contributions, which it leaves empty (out.Contributions[:0], so that
// their memory serves a later Explain). The grid's fit and engagement sums
// are those of Explain, to the bit, so a lead gets the same cell whether
// it is explained or not. For a GBDT with the tree-path basis it costs
// about a prediction; for other models it computes the contributions the
// grid is read from in scratch space. It allocates nothing.
func (s *Scorer) Score(row []float64, out *Scored) error {
	if err := s.checkRow(row); err != nil {
		return err
	}
	if s.path != nil {
		raw, base, fit, eng := s.pathSums(row)
		return s.finish(raw, base, fit, eng, out.Contributions[:0], out)
	}
	base := s.contributions(row, s.contrs)
	fit, eng := s.groupSums(s.contrs)
	return s.finish(s.Raw(row), base, fit, eng, out.Contributions[:0], out)
}

// ScoreBatch scores len(out) rows (row-major, the spec's width) into out
// exactly as Score scores each, to the bit, and puts each row's error (nil
// when it was scored) in errs; it returns an error only when the shapes do
// not match. For a GBDT with the tree-path basis it walks the trees over
// blocks of rows (as GBDT.PredictBatch does), several times faster than a
// row at a time; other models are scored row by row. It allocates nothing
// once its scratch has grown to the batch.
func (s *Scorer) ScoreBatch(rows []float64, out []Scored, errs []error) error {
	w := len(s.contrs)
	if len(rows) != len(out)*w {
		return leadscore.InvalidField("rows", len(rows), fmt.Sprintf("must hold %d rows of %d features", len(out), w))
	}
	if len(errs) != len(out) {
		return leadscore.InvalidField("errs", len(errs), fmt.Sprintf("must have room for %d errors", len(out)))
	}
	if s.path == nil {
		for i := range out {
			errs[i] = s.Score(rows[i*w:(i+1)*w], &out[i])
		}
		return nil
	}
	n := len(out)
	if cap(s.raws) < n {
		s.raws, s.shares = make([]float64, n), make([]float64, n)
	}
	raws, shares := s.raws[:n], s.shares[:n]
	s.m.GBDT.predictRange(s.path.flat, rows, raws, s.path.leaf, shares)
	base := s.path.flat.expected
	for i := range out {
		raw, fit := raws[i], shares[i]
		errs[i] = s.finish(raw, base, fit, (raw-base)-fit, out[i].Contributions[:0], &out[i])
	}
	return nil
}

// Explain is Score with the features' exact contributions (TreeSHAP for
// a GBDT), which add up to Raw − Base, in out.Contributions; their memory
// is reused when it has room, and then Explain allocates nothing. For a
// GBDT of 200 trees of depth 6 it costs hundreds of predictions (about a
// millisecond a row).
func (s *Scorer) Explain(row []float64, out *Scored) error {
	if err := s.checkRow(row); err != nil {
		return err
	}
	contrs := out.Contributions
	if cap(contrs) < len(row) {
		contrs = make([]float64, len(row))
	}
	contrs = contrs[:len(row)]
	base := s.contributions(row, contrs)
	if s.path != nil {
		// The grid reads the path attribution, as in Score. TreeSHAP's
		// base value is the same expected value.
		raw, base, fit, eng := s.pathSums(row)
		return s.finish(raw, base, fit, eng, contrs, out)
	}
	fit, eng := s.groupSums(contrs)
	return s.finish(s.Raw(row), base, fit, eng, contrs, out)
}

// pathSums returns the raw output, the base value and the tree-path sums
// of a GBDT with that basis, from one walk of the trees. The engagement
// sum is the rest of raw − base, so the two sums add up to it as the
// contributions do.
func (s *Scorer) pathSums(row []float64) (raw, base, fit, eng float64) {
	raw, fit = s.path.sums(row)
	base = s.path.flat.expected
	return raw, base, fit, (raw - base) - fit
}

func (s *Scorer) checkRow(row []float64) error {
	if len(row) != len(s.contrs) {
		return leadscore.InvalidField("features", len(row), fmt.Sprintf("must have %d features", len(s.contrs)))
	}
	return nil
}

// contributions writes each feature's exact contribution into out and
// returns the base value.
func (s *Scorer) contributions(row, out []float64) float64 {
	m := s.m
	switch m.Family {
	case FamilyLogistic:
		return m.Logistic.contributions(row, s.design, out)
	case FamilyGBDT:
		m.GBDT.Contributions(row, out)
		return m.GBDT.ExpectedValue()
	default:
		return m.Points.Contributions(row, out)
	}
}

// groupSums adds up the contributions of each group, in row order.
func (s *Scorer) groupSums(contrs []float64) (fit, eng float64) {
	for j, c := range contrs {
		if s.fit[j] {
			fit += c
		} else {
			eng += c
		}
	}
	return fit, eng
}

// finish fills out from a row's raw output, base value, group sums and
// contributions.
func (s *Scorer) finish(raw, base, fit, eng float64, contrs []float64, out *Scored) error {
	// The probability comes from the family's own raw output; the
	// contributions and the group sums explain it and add up to it (the
	// tests hold them to 1e-9), but are not trusted to compute it.
	if math.IsNaN(raw) || math.IsInf(raw, 0) {
		// Extreme inputs can overflow a family's arithmetic; a lead is
		// never scored from a number that is not one.
		return leadscore.InvalidField("features", raw, "give a raw output that is not a finite number; check for extreme values")
	}
	g := s.m.Grid
	p := s.m.Calibration.Probability(raw)
	cell := g.Cell(fit, eng)
	*out = Scored{
		Raw:           raw,
		Base:          base,
		Probability:   p,
		Score:         leadscore.ScoreOf(p),
		Percentile:    g.Percentile(raw),
		Tier:          g.Tier(p),
		Cell:          cell,
		Action:        g.Action(cell),
		FitSum:        fit,
		EngagementSum: eng,
		Contributions: contrs,
	}
	return nil
}
