package model

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/leadscore/leadscore"
)

// withSources gives each split of m a source of its own among perFeature
// sources per feature, as an import maps several one-hot columns to one
// attribute.
func withSources(rng *rand.Rand, m *GBDT, perFeature int) {
	for j := range m.Width {
		for k := range perFeature {
			m.Sources = append(m.Sources, GBDTSource{Name: "f" + strconv.Itoa(j) + "_" + strconv.Itoa(k), Feature: int32(j)})
		}
	}
	for i := range m.Nodes {
		if n := &m.Nodes[i]; !n.IsLeaf() {
			n.Source = n.Feature*int32(perFeature) + int32(rng.IntN(perFeature))
		}
	}
}

func TestSourceContributionsAddUpPerFeature(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	m := randomEnsemble(rng, 5, 30, 5, false)
	withSources(rng, m, 3)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	row, out, src := make([]float64, m.Width), make([]float64, m.Width), make([]float64, len(m.Sources))
	for range 50 {
		for j := range row {
			row[j] = rng.NormFloat64()
			if rng.IntN(6) == 0 {
				row[j] = nan
			}
		}
		m.SourceContributions(row, src)
		m.Contributions(row, out)
		sum := m.ExpectedValue()
		byFeature := make([]float64, m.Width)
		for k, c := range src {
			sum += c
			byFeature[m.Sources[k].Feature] += c
		}
		if got, want := sum, m.Predict(row); math.Abs(got-want) > 1e-9 {
			t.Errorf("expected value plus source contributions: got %v, want the raw output %v", got, want)
		}
		for j := range out {
			if math.Abs(out[j]-byFeature[j]) > 1e-12 {
				t.Errorf("feature %d: contribution %v, want its sources' sum %v", j, out[j], byFeature[j])
			}
		}
	}
}

func TestValidateRefusesBadSources(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		edit  func(m *GBDT)
		field string
	}{
		{"source_index_out_of_range", func(m *GBDT) { m.Nodes[0].Source = 99 }, "gbdt.nodes[0].source"},
		{"source_of_another_feature", func(m *GBDT) {
			m.Nodes[0].Source = (m.Nodes[0].Source + 3) % int32(len(m.Sources))
		}, "gbdt.nodes[0].source"},
		{"source_feature_out_of_range", func(m *GBDT) { m.Sources[1].Feature = 17 }, "gbdt.sources[1].feature"},
		{"source_in_an_ensemble_without_sources", func(m *GBDT) { m.Sources = nil }, "gbdt.nodes[0].source"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, 1))
			m := randomEnsemble(rng, 4, 2, 3, false)
			withSources(rng, m, 3)
			// Node 0 needs a source other than 0 for the last case.
			m.Nodes[0].Source = m.Nodes[0].Feature*3 + 1
			c.edit(m)
			var e *leadscore.Error
			if err := m.Validate(); !errors.As(err, &e) || len(e.Fields) != 1 || !strings.HasPrefix(e.Fields[0].Field, c.field) {
				t.Errorf("got %v, want an error naming %s", err, c.field)
			}
		})
	}
}
