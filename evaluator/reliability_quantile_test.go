package evaluator

import (
	"math"
	"testing"
)

func TestQuantileReliabilityHoldsEqualLeads(t *testing.T) {
	t.Parallel()
	// 100 leads, 96 of them below 0.1: equal-width bins put them in one
	// point, quantile bins in ten of ten leads each.
	probs := make([]float64, 100)
	labels := make([]bool, 100)
	for i := range probs {
		probs[i] = float64(i) / 1000
		if i >= 96 {
			probs[i] = 0.5 + float64(i-96)/10
		}
		labels[i] = i%10 == 0
	}
	bins, err := QuantileReliability(probs, labels, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(bins) != 10 {
		t.Fatalf("got %d bins, want 10", len(bins))
	}
	for b, bin := range bins {
		if bin.Leads != 10 {
			t.Errorf("bin %d holds %d leads, want 10", b, bin.Leads)
		}
		if bin.ObservedRate != 0.1 {
			t.Errorf("bin %d observed %v, want 0.1", b, bin.ObservedRate)
		}
		if bin.Lower > bin.MeanProbability || bin.MeanProbability > bin.Upper {
			t.Errorf("bin %d: mean %v outside [%v, %v]", b, bin.MeanProbability, bin.Lower, bin.Upper)
		}
	}
	if got, want := bins[0].MeanProbability, 0.0045; math.Abs(got-want) > 1e-12 {
		t.Errorf("first bin mean %v, want %v", got, want)
	}
	equal, _, err := Reliability(probs, labels, 10)
	if err != nil {
		t.Fatal(err)
	}
	if equal[0].Leads != 96 {
		t.Errorf("the equal-width first bin holds %d leads, want 96", equal[0].Leads)
	}
}

func TestQuantileReliabilityKeepsTiesTogether(t *testing.T) {
	t.Parallel()
	probs := []float64{0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.3, 0.4, 0.5}
	labels := []bool{true, false, false, false, false, false, false, true, false, true}
	bins, err := QuantileReliability(probs, labels, 5)
	if err != nil {
		t.Fatal(err)
	}
	// The tie takes the first bins' share; the rest follow one lead each.
	wantLeads := []int{7, 1, 1, 1}
	if len(bins) != len(wantLeads) {
		t.Fatalf("got %d bins %+v, want %d", len(bins), bins, len(wantLeads))
	}
	total := 0
	for b, bin := range bins {
		total += bin.Leads
		if bin.Leads != wantLeads[b] {
			t.Errorf("bin %d holds %d leads, want %d", b, bin.Leads, wantLeads[b])
		}
	}
	if bins[0].Lower != 0.2 || bins[0].Upper != 0.2 || bins[0].MeanProbability != 0.2 || total != len(probs) {
		t.Errorf("bins %+v", bins)
	}
}

func TestQuantileReliabilityRefusesBadInput(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		probs  []float64
		labels []bool
		bins   int
	}{
		"no rows":          {nil, nil, 10},
		"a NaN":            {[]float64{math.NaN()}, []bool{true}, 10},
		"no bins":          {[]float64{0.5}, []bool{true}, 0},
		"mismatched sizes": {[]float64{0.5, 0.2}, []bool{true}, 10},
	} {
		if _, err := QuantileReliability(tt.probs, tt.labels, tt.bins); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
