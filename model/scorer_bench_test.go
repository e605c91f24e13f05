package model

import "testing"

// benchScorer is a scorer of 200 full numeric trees of depth 6 over 30
// features (benchEnsemble's shape) with the tree-path grid basis, and rows
// to score with it. Each benchmark op scores one row, cycling through
// them, so ns/op is ns/row whatever a row costs.
func benchScorer(b *testing.B) (*Scorer, []float64) {
	b.Helper()
	m, rows := scorerModel(b, scorerCase{name: "bench", family: FamilyGBDT, basis: GridBasisTreePath}, 200, 6, 4096)
	s, err := NewScorer(m)
	if err != nil {
		b.Fatal(err)
	}
	return s, rows
}

// BenchmarkScorerRawGBDT is the prediction alone (GBDT.Predict), the
// reference Score is measured against.
func BenchmarkScorerRawGBDT(b *testing.B) {
	s, rows := benchScorer(b)
	w := s.m.Spec.Width()
	n := len(rows) / w
	i := 0
	for b.Loop() {
		sink += s.Raw(rows[i*w : (i+1)*w])
		i = (i + 1) % n
	}
}

// BenchmarkScorerScoreGBDT is a score with its probability, tier, cell and
// action: the prediction walk reading the tree-path sums, then the grid.
func BenchmarkScorerScoreGBDT(b *testing.B) {
	benchmarkScorer(b, (*Scorer).Score)
}

// BenchmarkScorerExplainGBDT is Score with TreeSHAP contributions.
func BenchmarkScorerExplainGBDT(b *testing.B) {
	benchmarkScorer(b, (*Scorer).Explain)
}

func benchmarkScorer(b *testing.B, score func(*Scorer, []float64, *Scored) error) {
	s, rows := benchScorer(b)
	w := s.m.Spec.Width()
	n := len(rows) / w
	var out Scored
	i := 0
	for b.Loop() {
		if err := score(s, rows[i*w:(i+1)*w], &out); err != nil {
			b.Fatal(err)
		}
		i = (i + 1) % n
	}
}

// BenchmarkScorerScoreBatchGBDT is Score over blocks of rows (ns/op per
// row): the same results, the trees walked a block of rows at a time.
func BenchmarkScorerScoreBatchGBDT(b *testing.B) {
	s, rows := benchScorer(b)
	w := s.m.Spec.Width()
	const batch = 256
	n := len(rows) / w / batch * batch
	out, errs := make([]Scored, batch), make([]error, batch)
	i := 0
	for b.Loop() {
		if i%batch == 0 {
			lo := i % n
			if err := s.ScoreBatch(rows[lo*w:(lo+batch)*w], out, errs); err != nil {
				b.Fatal(err)
			}
		}
		i++
	}
}
