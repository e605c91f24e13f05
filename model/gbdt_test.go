package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/leadscore/leadscore"
)

// walk is the reference prediction: the canonical nodes walked with
// GoesLeft, summed in tree order like Predict.
func walk(m *GBDT, row []float64) float64 {
	sum := m.BaseScore
	for _, root := range m.Trees {
		k := root
		for !m.Nodes[k].IsLeaf() {
			n := &m.Nodes[k]
			if m.GoesLeft(n, row[n.Feature]) {
				k = n.Left
			} else {
				k = n.Right
			}
		}
		sum += m.Nodes[k].Value
	}
	return sum
}

// randomRows draws rows of normal values with missing values, and for
// feature 0 category indexes, some of them beyond every set.
func randomRows(rng *rand.Rand, n, width int) []float64 {
	x := make([]float64, n*width)
	for i := range x {
		x[i] = rng.NormFloat64()
		if i%width == 0 {
			x[i] = float64(rng.IntN(140))
		}
		if rng.IntN(8) == 0 {
			x[i] = nan
		}
	}
	return x
}

func TestGBDTPredictBatchMatchesPredictBitForBit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		depth       int
		categorical bool
		single      bool
		rows        int
	}{
		{"numeric trees, partial last block", 5, false, false, 1000},
		{"trees of depths 0 to 7", -7, false, false, 300},
		{"categorical trees", 5, true, false, 777},
		{"one-category splits", 5, true, true, 778},
		{"one-category splits, trees of depths 0 to 7", -7, true, true, 301},
		{"one row", 5, true, false, 1},
		{"one row, one-category splits", 5, true, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(7, uint64(tc.rows)))
			const width = 9
			m := randomEnsembleSets(rng, width, 42, tc.depth, tc.categorical, tc.single)
			if tc.single {
				// The walk must take the equality step: every categorical
				// split becomes one.
				equality := 0
				if err := m.Validate(); err != nil {
					t.Fatal(err)
				}
				for _, ft := range m.prepared().trees {
					if ft.categorical {
						t.Fatal("a tree of one-category splits walks the general categorical step")
					}
					if ft.equality {
						equality++
					}
				}
				if equality == 0 {
					t.Fatal("no tree takes the equality step")
				}
			}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			x := randomRows(rng, tc.rows, width)
			// Values a model must not be confused by: infinities and
			// categories that are not whole numbers.
			x[0], x[1], x[2] = math.Inf(1), math.Inf(-1), 2.5
			if tc.rows > 1 {
				x[width] = 2.5
			}
			for i := 2; i < tc.rows; i += 11 {
				x[i*width] = []float64{math.Inf(-1), math.Inf(1), math.Copysign(0, -1), 1e300, -3}[i%5]
			}
			batch := make([]float64, tc.rows)
			if err := m.PredictBatch(x, batch); err != nil {
				t.Fatal(err)
			}
			par := make([]float64, tc.rows)
			if err := m.PredictBatchParallel(x, par, 3); err != nil {
				t.Fatal(err)
			}
			for i := range tc.rows {
				row := x[i*width : (i+1)*width]
				got, want := m.Predict(row), walk(m, row)
				if math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("row %d: Predict %v, reference walk %v", i, got, want)
				}
				if math.Float64bits(batch[i]) != math.Float64bits(got) {
					t.Fatalf("row %d: PredictBatch %v, Predict %v", i, batch[i], got)
				}
				if math.Float64bits(par[i]) != math.Float64bits(got) {
					t.Fatalf("row %d: PredictBatchParallel %v, Predict %v", i, par[i], got)
				}
			}
		})
	}
}

func TestGBDTPredictBatchAllocatesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := randomEnsemble(rng, 12, 50, 6, true)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	x := randomRows(rng, 500, 12)
	out := make([]float64, 500)
	allocs := testing.AllocsPerRun(50, func() {
		if err := m.PredictBatch(x, out); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("PredictBatch allocates %v times per call, want 0", allocs)
	}
	allocs = testing.AllocsPerRun(50, func() { sink += m.Predict(x[:12]) })
	if allocs != 0 {
		t.Errorf("Predict allocates %v times per call, want 0", allocs)
	}
	phi := make([]float64, 12)
	allocs = testing.AllocsPerRun(50, func() { m.Contributions(x[:12], phi) })
	if allocs != 0 {
		t.Errorf("Contributions allocates %v times per call, want 0", allocs)
	}
}

func TestGBDTPredictBatchRefusesWrongShape(t *testing.T) {
	t.Parallel()
	m := randomEnsemble(rand.New(rand.NewPCG(1, 1)), 4, 3, 3, false)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func() error{
		func() error { return m.PredictBatch(make([]float64, 7), make([]float64, 2)) },
		func() error { return m.PredictBatchParallel(make([]float64, 9), make([]float64, 2), 2) },
		func() error { return m.PredictBatchParallel(make([]float64, 8), make([]float64, 2), -1) },
	} {
		if err := f(); leadscore.ErrorCode(err) != leadscore.EINVALID {
			t.Errorf("got %v, want an EINVALID error", err)
		}
	}
}

// tinyTree is a valid two-tree ensemble over three features that the
// corruption cases below start from.
func tinyTree() *GBDT {
	return &GBDT{
		Width:     3,
		BaseScore: -1,
		Trees:     []int32{0, 5},
		Nodes: []GBDTNode{
			{Feature: 0, Left: 1, Right: 2, Threshold: 0.5, Set: -1, Cover: 10},
			{Feature: 1, Left: 3, Right: 4, Set: 0, DefaultLeft: true, Cover: 6},
			{Left: -1, Right: -1, Set: -1, Value: 0.3, Cover: 4},
			{Left: -1, Right: -1, Set: -1, Value: -0.2, Cover: 2},
			{Left: -1, Right: -1, Set: -1, Value: 0.1, Cover: 4},
			{Feature: 2, Left: 6, Right: 7, Threshold: -1, Set: -1, Cover: 10},
			{Left: -1, Right: -1, Set: -1, Value: 0.05, Cover: 5},
			{Left: -1, Right: -1, Set: -1, Value: -0.05, Cover: 5},
		},
		CategorySets: [][]uint64{{0b1011}},
	}
}

func TestGBDTValidateRefusesCorruptEnsembles(t *testing.T) {
	t.Parallel()
	if err := tinyTree().Validate(); err != nil {
		t.Fatalf("the valid ensemble is refused: %v", err)
	}
	for _, tc := range []struct {
		name    string
		corrupt func(m *GBDT)
		field   string
	}{
		{"no width", func(m *GBDT) { m.Width = 0 }, "gbdt.width"},
		{"width beyond the limit", func(m *GBDT) { m.Width = GBDTMaxWidth + 1 }, "gbdt.width"},
		{"infinite base score", func(m *GBDT) { m.BaseScore = math.Inf(1) }, "gbdt.base_score"},
		{"first tree not at node 0", func(m *GBDT) { m.Trees[0] = 1 }, "gbdt.trees[0]"},
		{"tree beyond the nodes", func(m *GBDT) { m.Trees = []int32{0, 9} }, "gbdt.trees[1]"},
		{"trees out of order", func(m *GBDT) { m.Trees = []int32{0, 5, 5} }, "gbdt.trees[2]"},
		{"nodes without trees", func(m *GBDT) { m.Trees = nil }, "gbdt.trees"},
		{"child before parent (a cycle)", func(m *GBDT) { m.Nodes[1].Left = 0 }, "gbdt.nodes[1].left"},
		{"child out of range", func(m *GBDT) { m.Nodes[0].Right = 99 }, "gbdt.nodes[0].right"},
		{"child in the next tree", func(m *GBDT) { m.Nodes[1].Right = 6 }, "gbdt.nodes[1].right"},
		{"node with two parents", func(m *GBDT) { m.Nodes[1].Left = 2 }, "gbdt.nodes[1].left"},
		{"same child twice", func(m *GBDT) { m.Nodes[0].Right = 1 }, "gbdt.nodes[0].right"},
		{"half a leaf", func(m *GBDT) { m.Nodes[2].Right = 3 }, "gbdt.nodes[2].left"},
		{"unreachable node", func(m *GBDT) { m.Nodes[1] = GBDTNode{Left: -1, Right: -1, Set: -1} }, "gbdt.nodes[3]"},
		{"feature beyond the width", func(m *GBDT) { m.Nodes[0].Feature = 3 }, "gbdt.nodes[0].feature"},
		{"negative feature", func(m *GBDT) { m.Nodes[5].Feature = -2 }, "gbdt.nodes[5].feature"},
		{"NaN threshold", func(m *GBDT) { m.Nodes[0].Threshold = nan }, "gbdt.nodes[0].threshold"},
		{"infinite threshold", func(m *GBDT) { m.Nodes[5].Threshold = math.Inf(-1) }, "gbdt.nodes[5].threshold"},
		{"NaN leaf value", func(m *GBDT) { m.Nodes[4].Value = nan }, "gbdt.nodes[4].value"},
		{"negative cover", func(m *GBDT) { m.Nodes[3].Cover = -1 }, "gbdt.nodes[3].cover"},
		{"zero covers below a split", func(m *GBDT) { m.Nodes[6].Cover, m.Nodes[7].Cover = 0, 0 }, "gbdt.nodes[5].cover"},
		{"infinite gain", func(m *GBDT) { m.Nodes[0].Gain = math.Inf(1) }, "gbdt.nodes[0].gain"},
		{"missing category set", func(m *GBDT) { m.Nodes[1].Set = 1 }, "gbdt.nodes[1].set"},
		{"bad set sentinel", func(m *GBDT) { m.Nodes[0].Set = -5 }, "gbdt.nodes[0].set"},
		{"empty category set", func(m *GBDT) { m.CategorySets[0] = nil }, "gbdt.category_sets[0]"},
		{"oversized category set", func(m *GBDT) { m.CategorySets[0] = make([]uint64, 5) }, "gbdt.category_sets[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := tinyTree()
			tc.corrupt(m)
			err := m.Validate()
			var e *leadscore.Error
			if err == nil || leadscore.ErrorCode(err) != leadscore.EINVALID {
				t.Fatalf("got %v, want an EINVALID error", err)
			}
			if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != tc.field {
				t.Errorf("got %v, want it to name %s", err, tc.field)
			}
			if m.flat.Load() != nil {
				t.Error("a refused ensemble is still prepared for prediction")
			}
		})
	}
}

func TestGBDTValidateRefusesTooDeepTrees(t *testing.T) {
	t.Parallel()
	// A chain: each split's left child is a leaf, its right child the
	// next split.
	m := &GBDT{Width: 1, Trees: []int32{0}}
	for d := 0; d <= GBDTMaxDepth; d++ {
		i := int32(len(m.Nodes))
		m.Nodes = append(m.Nodes,
			GBDTNode{Left: i + 1, Right: i + 2, Set: -1, Cover: 2},
			GBDTNode{Left: -1, Right: -1, Set: -1, Cover: 1})
	}
	m.Nodes = append(m.Nodes, GBDTNode{Left: -1, Right: -1, Set: -1, Cover: 1})
	if err := m.Validate(); leadscore.ErrorCode(err) != leadscore.EINVALID || !strings.Contains(err.Error(), "deep") {
		t.Errorf("got %v, want an EINVALID error about depth", err)
	}
}

func TestGBDTUsedBeforeValidatePanicsClearly(t *testing.T) {
	t.Parallel()
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "Validate") {
			t.Errorf("got panic %v, want one that says Validate is missing", r)
		}
	}()
	tinyTree().Predict(make([]float64, 3))
}

// encodeNodes serialises the node array and its references, the way a test
// compares two ensembles byte for byte.
func encodeNodes(m *GBDT) []byte {
	var buf bytes.Buffer
	w := func(v any) {
		if err := binary.Write(&buf, binary.LittleEndian, v); err != nil {
			panic(err)
		}
	}
	w(int64(m.Width))
	w(m.BaseScore)
	w(int64(len(m.Trees)))
	w(m.Trees)
	w(int64(len(m.Nodes)))
	w(m.Nodes)
	w(int64(len(m.CategorySets)))
	for _, s := range m.CategorySets {
		w(int64(len(s)))
		w(s)
	}
	return buf.Bytes()
}

// FuzzGBDTValidate mutates the fields of a valid ensemble's node array,
// tree list and category sets with the fuzzer's bytes. Validate must never
// panic; whatever it accepts must predict and explain without panicking,
// with Predict and PredictBatch agreeing and the contributions summing to
// the output.
func FuzzGBDTValidate(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 2, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 1, 1, 0, 0, 0, 0, 0, 3, 2, 255, 255, 255, 255, 255, 255})
	f.Add([]byte{5, 3, 9, 1, 2, 3, 4, 5, 7, 6, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		m := tinyTree()
		for len(data) >= 8 {
			op, node, v := data[0], int(data[1])%len(m.Nodes), int32(binary.LittleEndian.Uint32(data[2:6]))
			fv := math.Float64frombits(binary.LittleEndian.Uint64(append(data[2:8:8], 0, 0)))
			n := &m.Nodes[node]
			switch op % 13 {
			case 0:
				n.Left = v
			case 1:
				n.Right = v
			case 2:
				n.Feature = v
			case 3:
				n.Set = v
			case 4:
				n.Threshold = fv
			case 5:
				n.Value = fv
			case 6:
				n.Cover = fv
			case 7:
				n.DefaultLeft = !n.DefaultLeft
			case 8:
				m.Trees = append(m.Trees, v)
			case 9:
				m.Trees = m.Trees[:len(m.Trees)/2]
			case 10:
				m.Nodes = append(m.Nodes, GBDTNode{Left: -1, Right: -1, Set: v, Value: fv})
			case 11:
				m.CategorySets = append(m.CategorySets, make([]uint64, int(data[2])%6))
			case 12:
				m.Width = int(data[2]) % 6
			}
			data = data[8:]
		}
		if err := m.Validate(); err != nil {
			if leadscore.ErrorCode(err) != leadscore.EINVALID {
				t.Fatalf("got %v, want EINVALID", err)
			}
			return
		}
		rng := rand.New(rand.NewPCG(1, 2))
		x := randomRows(rng, 40, m.Width)
		out := make([]float64, 40)
		if err := m.PredictBatch(x, out); err != nil {
			t.Fatal(err)
		}
		phi := make([]float64, m.Width)
		for i := range out {
			row := x[i*m.Width : (i+1)*m.Width]
			if p := m.Predict(row); math.Float64bits(p) != math.Float64bits(out[i]) {
				t.Fatalf("row %d: Predict %v, PredictBatch %v", i, p, out[i])
			}
			m.Contributions(row, phi)
			var sum float64
			for _, v := range phi {
				sum += v
			}
			if want := out[i] - m.ExpectedValue(); math.Abs(sum-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Fatalf("row %d: contributions sum to %v, want %v", i, sum, want)
			}
		}
	})
}
