package trainer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/model"
)

func TestCalibrationFoldsFollowTheSplit(t *testing.T) {
	t.Parallel()
	const n = 120
	labels := make([]bool, n)
	for i := range labels {
		labels[i] = i%4 == 0
	}
	day := int64(24 * 3600)
	// Twelve monthly snapshots of ten rows, stored out of time order.
	times := make([]int64, n)
	for i := range times {
		times[i] = int64((i*7)%12) * 30 * day
	}
	for _, tc := range []struct {
		name   string
		data   *Data
		method string
	}{
		{"random after a random split", &Data{TrainLabels: labels, TrainTimes: times, Shuffled: true}, "random"},
		{"time order with a horizon", &Data{TrainLabels: labels, TrainTimes: times, Horizon: 60 * 24 * time.Hour}, "time"},
		{"time order without a horizon", &Data{TrainLabels: labels, TrainTimes: times}, "time"},
		{"row order without times", &Data{TrainLabels: labels}, "row_order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := newCalibrationFolds(tc.data, 5, 3)
			if err != nil {
				t.Fatal(err)
			}
			if f.method != tc.method {
				t.Fatalf("method %q, want %q", f.method, tc.method)
			}
			seen := 0
			for g, rows := range f.members {
				seen += len(rows)
				in := map[int]bool{}
				for _, i := range rows {
					in[i] = true
				}
				for _, i := range f.fit[g] {
					if in[i] {
						t.Fatalf("fold %d's model is fitted on its own row %d", g, i)
					}
				}
				if tc.method == "time" && g > 0 {
					prevLast := int64(math.MinInt64)
					for _, i := range f.members[g-1] {
						prevLast = max(prevLast, times[i])
					}
					for _, i := range rows {
						if times[i] <= prevLast {
							t.Fatalf("fold %d holds time %d, not after fold %d's last %d: folds must be contiguous whole snapshots", g, times[i], g-1, prevLast)
						}
					}
				}
				if tc.data.Horizon > 0 {
					first, last := times[rows[0]], times[rows[0]]
					for _, i := range rows {
						first, last = min(first, times[i]), max(last, times[i])
					}
					h := int64(tc.data.Horizon / time.Second)
					for _, i := range f.fit[g] {
						if times[i]+h > first && times[i] < last+h {
							t.Fatalf("fold %d (times %d to %d) is fitted on row %d at %d, within the %s horizon", g, first, last, i, times[i], tc.data.Horizon)
						}
					}
				} else if got, want := len(f.fit[g]), n-len(rows); got != want {
					t.Fatalf("fold %d's model is fitted on %d rows, want every other row (%d)", g, got, want)
				}
			}
			if seen != n {
				t.Fatalf("the folds hold %d rows, want each of the %d once", seen, n)
			}
			if tc.method == "row_order" {
				for i := 1; i < n; i++ {
					if f.of[i] < f.of[i-1] {
						t.Fatalf("row %d is in fold %d after row %d in fold %d", i, f.of[i], i-1, f.of[i-1])
					}
				}
			}
			again, err := newCalibrationFolds(tc.data, 5, 3)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(again.of) != fmt.Sprint(f.of) {
				t.Fatal("the same seed gave other folds")
			}
		})
	}
}

func TestCalibrationFoldsRefuseTooFewRows(t *testing.T) {
	t.Parallel()
	_, err := newCalibrationFolds(&Data{TrainLabels: []bool{true, false, true}}, 5, 1)
	if err == nil || !strings.Contains(err.Error(), "at least 10 training rows") {
		t.Errorf("got %v, want an error naming the rows needed", err)
	}
}

// TestCalibrationFallsBackWhenNoIncreasingMap: outputs that fall as
// conversions rise give neither Platt nor isotonic regression an
// increasing map; the map falls back to σ(raw) and says why, and bad input
// is still an error.
func TestCalibrationFallsBackWhenNoIncreasingMap(t *testing.T) {
	t.Parallel()
	raw, labels := miscalibrated(5000, -1.5, -1, 9)
	for _, method := range []string{"", model.CalibrationPlatt, model.CalibrationIsotonic} {
		c, why, err := fitCalibrationMap(method, raw, labels)
		switch {
		case err != nil:
			t.Errorf("%q: %v", method, err)
		case why == "":
			t.Errorf("%q: fitted %+v on outputs that fall as conversions rise, want the fallback", method, c)
		case c.Method != model.CalibrationPlatt || c.A != 1 || c.B != 0:
			t.Errorf("%q: fallback %+v, want the identity σ(raw)", method, c)
		}
	}
	raw, labels = miscalibrated(5000, 1.5, -1, 9)
	if c, why, err := fitCalibrationMap(model.CalibrationIsotonic, raw, labels); err != nil || why != "" || c.Method != model.CalibrationIsotonic {
		t.Errorf("increasing outputs: got %+v, %q, %v; want an isotonic map", c, why, err)
	}
	if _, _, err := fitCalibrationMap("beta", raw, labels); err == nil || !strings.Contains(err.Error(), "calibration") {
		t.Errorf("unknown method: got %v, want an error naming calibration", err)
	}
	if _, _, err := fitCalibrationMap("", []float64{math.NaN(), 1}, []bool{true, false}); err == nil {
		t.Error("a NaN output was accepted")
	}
}

// TestHeldOutFromTakesAFifth: snapshots that grow as open leads pile up
// still hold out about a fifth of the held-out and training examples.
func TestHeldOutFromTakesAFifth(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var times []time.Time
	var at []int64
	for k := range 24 {
		ts := start.AddDate(0, k, 0)
		times = append(times, ts)
		for range 1000 + 400*k {
			at = append(at, ts.Unix())
		}
	}
	horizon := 90 * 24 * time.Hour
	cut := heldOutFrom(at, times, horizon, 0.2)
	train, held := 0, 0
	for _, a := range at {
		switch {
		case a+int64(horizon/time.Second) <= cut.Unix():
			train++
		case a >= cut.Unix():
			held++
		}
	}
	share := float64(held) / float64(train+held)
	// One snapshot is about 1/24 of the examples: the share can miss a
	// fifth by half of that at most.
	if math.Abs(share-0.2) > 0.03 {
		t.Errorf("held out %d of %d examples (%.3f), want about a fifth", held, train+held, share)
	}
	if old := times[len(times)*3/4]; !cut.After(old) {
		t.Errorf("cut %s, want later than three quarters of the times (%s), which held out too many", cut, old)
	}
}

// driftingTable writes a flat table in date order whose rows convert by x
// as σ(2x − 3) up to flip and as σ(−2x + late) from flip on, where late
// sets the later rows' rate.
func driftingTable(t *testing.T, n int, flip float64, late float64) *Data {
	t.Helper()
	rng := rand.New(rand.NewPCG(12, 0))
	var b strings.Builder
	b.WriteString("day,x,noise,won\n")
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		x, noise := rng.NormFloat64(), rng.NormFloat64()
		z := 2*x - 3
		if float64(i) >= flip*float64(n) {
			z = -2*x + late
		}
		fmt.Fprintf(&b, "%s,%.4f,%.4f,%v\n", start.Add(time.Duration(i)*time.Hour).Format(time.RFC3339), x, noise, rng.Float64() < sigmoid(z))
	}
	path := filepath.Join(t.TempDir(), "drift.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	table, err := dataset.ReadFlatTable(t.Context(), path, dataset.FlatOptions{Label: "won", TimeColumn: "day"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := FromFlatTable(t.Context(), table, FlatSplit{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestTrainNamesADriftingHeldOutPeriod is issue 12's drifting export: the
// held-out period (the last fifth, in date order) converts at several
// times the earlier rate and by the opposite relation. Calibrating on it
// used to stop training ("no increasing map"); now training completes,
// the held-out figures show the model failing there, and the report and
// the artifact name the drift.
func TestTrainNamesADriftingHeldOutPeriod(t *testing.T) {
	t.Parallel()
	d := driftingTable(t, 5000, 0.8, 0)
	for _, family := range []model.Family{model.FamilyLogistic, model.FamilyGBDT} {
		t.Run(string(family), func(t *testing.T) {
			t.Parallel()
			m, rep, err := Train(t.Context(), d, Config{Family: family, Seed: 1, Refit: true, GBDT: GBDTOptions{NumTrees: 20, MaxDepth: 3}})
			if err != nil {
				t.Fatalf("training on a drifting table: %v", err)
			}
			dr := rep.Drift
			if dr == nil || !dr.Detected || !strings.Contains(dr.Summary, "drift") {
				t.Fatalf("drift report %+v, want the held-out period's drift named", dr)
			}
			if dr.Later.Rate < 2*dr.Earlier.Rate {
				t.Errorf("held-out rate %.3f, training rate %.3f: the fixture should have jumped", dr.Later.Rate, dr.Earlier.Rate)
			}
			if !strings.Contains(m.Metadata.Parameters["drift"], "held-out rows") {
				t.Errorf("the artifact's drift parameter %q does not name the held-out rows", m.Metadata.Parameters["drift"])
			}
			if auc := rep.Validation["roc_auc"]; auc >= 0.5 {
				t.Errorf("held-out AUC %.4f on a period that reversed the relation, want below 0.5", auc)
			}
			t.Logf("%s: %s; calibration %+v", family, dr.Summary, *rep.Calibration)
		})
	}
}

// TestTrainFallsBackWhenTheTrainingPeriodTurnsOver: when who converts
// turns over inside the training rows, the out-of-fold outputs give no
// increasing map; training falls back to σ(raw) and names the latest
// fold's drift.
func TestTrainFallsBackWhenTheTrainingPeriodTurnsOver(t *testing.T) {
	t.Parallel()
	d := driftingTable(t, 5000, 0.45, -3)
	m, rep, err := Train(t.Context(), d, Config{Family: model.FamilyLogistic, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Calibration
	if c == nil || !strings.Contains(c.Fallback, "no increasing map") || !strings.Contains(c.Fallback, "latest fold") {
		t.Fatalf("calibration report %+v, want the fallback and the latest fold's drift named", c)
	}
	if m.Calibration.Method != model.CalibrationPlatt || m.Calibration.A != 1 || m.Calibration.B != 0 {
		t.Errorf("calibration %+v, want the identity σ(raw)", m.Calibration)
	}
	if m.Metadata.Parameters["calibration_fallback"] == "" {
		t.Error("the artifact does not record the fallback")
	}
}

// TestHeldOutRowsFitNothing: without a refit, the held-out rows' labels
// change the validation figures and nothing else.
func TestHeldOutRowsFitNothing(t *testing.T) {
	t.Parallel()
	d := driftingTable(t, 3000, 1, 0)
	flipped := *d
	flipped.ValidLabels = make([]bool, len(d.ValidLabels))
	for i, l := range d.ValidLabels {
		flipped.ValidLabels[i] = !l
	}
	for _, family := range families() {
		t.Run(string(family), func(t *testing.T) {
			t.Parallel()
			cfg := Config{Family: family, Seed: 1, GBDT: GBDTOptions{NumTrees: 20, MaxDepth: 3}}
			a, ra, err := Train(t.Context(), d, cfg)
			if err != nil {
				t.Fatal(err)
			}
			b, rb, err := Train(t.Context(), &flipped, cfg)
			if err != nil {
				t.Fatal(err)
			}
			// The metadata hold the held-out figures, the points
			// baseline's too; the rest must not depend on held-out labels.
			for _, m := range []*model.Model{a, b} {
				m.Metadata = model.Metadata{}
				if m.PointsBaseline != nil {
					m.PointsBaseline.Metadata = model.Metadata{}
				}
			}
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if !bytes.Equal(ja, jb) {
				t.Error("the held-out labels changed the model or its calibration")
			}
			if ra.Validation["roc_auc"] == rb.Validation["roc_auc"] {
				t.Error("the held-out labels did not change the held-out AUC")
			}
		})
	}
}

func families() []model.Family { return []model.Family{model.FamilyLogistic, model.FamilyGBDT} }

// TestAnchorToRateKeepsTheShape: a re-anchored map gives the rows the
// asked mean probability, keeps Platt's slope, and shifts isotonic knots
// without reshaping them.
func TestAnchorToRateKeepsTheShape(t *testing.T) {
	t.Parallel()
	raw, labels := miscalibrated(4000, 0.8, -0.5, 4)
	for _, method := range []string{model.CalibrationPlatt, model.CalibrationIsotonic} {
		c, why, err := fitCalibrationMap(method, raw, labels)
		if err != nil || why != "" {
			t.Fatalf("%s: %v %q", method, err, why)
		}
		a := anchorToRate(c, raw, 0.4)
		var mean float64
		for _, r := range raw {
			mean += a.Probability(r)
		}
		mean /= float64(len(raw))
		if math.Abs(mean-0.4) > 1e-3 {
			t.Errorf("%s: mean probability %.5f after anchoring, want 0.4", method, mean)
		}
		if err := a.Validate(); err != nil {
			t.Errorf("%s: %v", method, err)
		}
		switch method {
		case model.CalibrationPlatt:
			if a.A != c.A {
				t.Errorf("platt slope %v, want the original %v", a.A, c.A)
			}
		case model.CalibrationIsotonic:
			d := c.X[0] - a.X[0]
			for i := range c.X {
				if math.Abs(c.X[i]-a.X[i]-d) > 1e-9 || a.Y[i] != c.Y[i] {
					t.Fatalf("isotonic knot %d moved from (%v, %v) to (%v, %v), not by one shift", i, c.X[i], c.Y[i], a.X[i], a.Y[i])
				}
			}
		}
	}
}
