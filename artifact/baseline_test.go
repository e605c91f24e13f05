package artifact_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/model"
	artifactv1 "github.com/leadscore/leadscore/proto/leadscore/artifact/v1"
	"github.com/leadscore/leadscore/trainer"
)

// TestPointsBaselineRoundTrips trains a model as `leadscore train` does,
// which stores the points learned from the same rows beside it, and
// checks that the baseline survives the file: it scores bit for bit as
// before and marshals to the same bytes.
func TestPointsBaselineRoundTrips(t *testing.T) {
	t.Parallel()
	m, _, err := trainer.Train(context.Background(), trainingData(7, 2000, 800), trainer.Config{Family: model.FamilyLogistic, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m.PointsBaseline == nil || m.PointsBaseline.Family != model.FamilyPoints {
		t.Fatalf("the trained model carries no points baseline: %v", m.Metadata.Parameters)
	}
	data := mustMarshal(t, m)
	got, err := artifact.Unmarshal(data)
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if got.PointsBaseline == nil {
		t.Fatal("the loaded model lost its points baseline")
	}
	rows := randomRows(rand.New(rand.NewPCG(5, 6)), m.Spec, 500)
	assertSameScores(t, m.PointsBaseline, got.PointsBaseline, rows)
	assertSameScores(t, m, got, rows)
	if again := mustMarshal(t, got); !bytes.Equal(again, data) {
		t.Fatal("the loaded model marshals to different bytes")
	}

	t.Run("a baseline of a baseline is refused", func(t *testing.T) {
		nested := *m.PointsBaseline
		nested.PointsBaseline = m.PointsBaseline
		bad := *m
		bad.PointsBaseline = &nested
		_, err := artifact.Marshal(&bad)
		assertInvalid(t, nil, err, "points_baseline.points_baseline", "no baseline of its own")
		// A file crafted to nest them is refused before it is read
		// further.
		pb := decodePayload(t, data)
		pb.PointsBaseline.PointsBaseline = &artifactv1.Artifact{}
		loaded, err := artifact.Unmarshal(encodeMessage(t, pb))
		assertInvalid(t, loaded, err, "points_baseline.points_baseline", "no baseline of its own")
	})
	t.Run("a baseline of another family is refused", func(t *testing.T) {
		pb := decodePayload(t, data)
		pb.PointsBaseline = decodePayload(t, mustMarshal(t, tinyModel(model.FamilyGBDT)))
		loaded, err := artifact.Unmarshal(encodeMessage(t, pb))
		assertInvalid(t, loaded, err, "points_baseline.family", "must be points")
	})
	t.Run("a corrupt baseline is refused", func(t *testing.T) {
		pb := decodePayload(t, data)
		pb.PointsBaseline.Calibration = nil
		loaded, err := artifact.Unmarshal(encodeMessage(t, pb))
		assertInvalid(t, loaded, err, "calibration", "required")
	})
}
