package artifact_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/model"
	artifactv1 "github.com/leadscore/leadscore/proto/leadscore/artifact/v1"
)

func TestRoundTripScoresBitForBit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		family      model.Family
		calibration string
		knots       int
	}{
		{"logistic", model.FamilyLogistic, model.CalibrationPlatt, 0},
		{"logistic isotonic", model.FamilyLogistic, model.CalibrationIsotonic, 0},
		{"logistic hinges", model.FamilyLogistic, model.CalibrationPlatt, 8},
		{"gbdt", model.FamilyGBDT, model.CalibrationPlatt, 0},
		{"gbdt isotonic", model.FamilyGBDT, model.CalibrationIsotonic, 0},
		{"gbdt tree path", model.FamilyGBDT, model.CalibrationPlatt, 0},
		{"points", model.FamilyPoints, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			basis := model.GridBasisContributions
			if strings.HasSuffix(tc.name, "tree path") {
				basis = model.GridBasisTreePath
			}
			m := trainModelBasis(t, tc.family, tc.calibration, tc.knots, basis)
			if tc.knots > 0 && m.Logistic.Encoding.HingeCount() == 0 {
				t.Fatal("the model has no hinges to round-trip")
			}
			data := mustMarshal(t, m)
			got, err := artifact.Unmarshal(data)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			assertSameScores(t, m, got, randomRows(rng, m.Spec, 2000))
			// Everything else survives too: the loaded model encodes to
			// the same bytes.
			if again := mustMarshal(t, got); !bytes.Equal(again, data) {
				t.Fatal("the loaded model marshals to different bytes")
			}
			if got.Grid.Basis != basis {
				t.Errorf("the loaded grid's basis is %q, want %q", got.Grid.Basis, basis)
			}
			assertSameMetadata(t, got.Metadata, m.Metadata)
		})
	}
}

func TestRoundTripHandBuilt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		m    *model.Model
	}{
		{"logistic", tinyModel(model.FamilyLogistic)},
		{"logistic hinges", tinyHingedModel()},
		{"logistic pairs", tinyPairedModel()},
		{"gbdt", tinyModel(model.FamilyGBDT)},
		{"gbdt tree path", tinyTreePathModel()},
		{"points", tinyModel(model.FamilyPoints)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := tc.m
			got, err := artifact.Unmarshal(mustMarshal(t, m))
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if got.Grid.Basis != m.Grid.Basis {
				t.Errorf("the loaded grid's basis is %q, want %q", got.Grid.Basis, m.Grid.Basis)
			}
			rng := rand.New(rand.NewPCG(5, 6))
			assertSameScores(t, m, got, randomRows(rng, m.Spec, 500))
			assertSameMetadata(t, got.Metadata, m.Metadata)
		})
	}
}

func assertSameMetadata(t *testing.T, got, want model.Metadata) {
	t.Helper()
	if got.TrainerVersion != want.TrainerVersion || got.Seed != want.Seed || got.DataSHA256 != want.DataSHA256 ||
		!got.DataStart.Equal(want.DataStart) || !got.DataEnd.Equal(want.DataEnd) || got.Horizon != want.Horizon {
		t.Errorf("metadata = %+v, want %+v", got, want)
	}
	if len(got.Parameters) != len(want.Parameters) || len(got.ValidationMetrics) != len(want.ValidationMetrics) ||
		len(got.Reliability) != len(want.Reliability) {
		t.Fatalf("metadata maps and bins = %v %v %v, want %v %v %v",
			got.Parameters, got.ValidationMetrics, got.Reliability, want.Parameters, want.ValidationMetrics, want.Reliability)
	}
	for k, v := range want.Parameters {
		if got.Parameters[k] != v {
			t.Errorf("parameter %s = %q, want %q", k, got.Parameters[k], v)
		}
	}
	for k, v := range want.ValidationMetrics {
		if math.Float64bits(got.ValidationMetrics[k]) != math.Float64bits(v) {
			t.Errorf("validation metric %s = %v, want %v", k, got.ValidationMetrics[k], v)
		}
	}
	for i, b := range want.Reliability {
		if got.Reliability[i] != b {
			t.Errorf("reliability[%d] = %+v, want %+v", i, got.Reliability[i], b)
		}
	}
}

func TestMarshalIsDeterministic(t *testing.T) {
	t.Parallel()
	for _, fam := range []model.Family{model.FamilyLogistic, model.FamilyGBDT, model.FamilyPoints} {
		t.Run(string(fam), func(t *testing.T) {
			t.Parallel()
			m := trainModel(t, fam, model.CalibrationPlatt)
			first := mustMarshal(t, m)
			// Map iteration order differs between calls; the bytes must not.
			for range 5 {
				if again := mustMarshal(t, m); !bytes.Equal(again, first) {
					t.Fatal("marshalling the same model twice gave different bytes")
				}
			}
			// The same seed and data train the same artifact.
			if other := mustMarshal(t, trainModel(t, fam, model.CalibrationPlatt)); !bytes.Equal(other, first) {
				t.Fatal("training again with the same seed and data gave a different artifact")
			}
		})
	}
}

func TestFileLayout(t *testing.T) {
	t.Parallel()
	data := mustMarshal(t, tinyModel(model.FamilyGBDT))
	if !bytes.HasPrefix(data, []byte(artifact.Magic)) {
		t.Fatalf("file starts %q, want the magic %q", data[:len(artifact.Magic)], artifact.Magic)
	}
	if got := encodeFile(data[artifact.HeaderSize:]); !bytes.Equal(got, data) {
		t.Fatalf("header = %q, want the documented %q", data[:artifact.HeaderSize], got[:artifact.HeaderSize])
	}
	if lines := strings.SplitN(string(data), "\n", 4); len(lines[1]) != 16 || len(lines[2]) != 64 {
		t.Fatalf("header lines %q, want 16 and 64 hex digits", lines[:3])
	}
}

func TestSHA256(t *testing.T) {
	t.Parallel()
	data := mustMarshal(t, tinyModel(model.FamilyLogistic))
	sum := sha256.Sum256(data)
	if got, want := artifact.SHA256(data), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("SHA256 = %s, want %s", got, want)
	}
}

// corrupt inputs

func TestUnmarshalRefusesDamagedFiles(t *testing.T) {
	t.Parallel()
	valid := mustMarshal(t, tinyModel(model.FamilyGBDT))
	flip := func(i int) []byte {
		d := bytes.Clone(valid)
		d[i] ^= 0x01
		return d
	}
	set := func(i int, c byte) []byte {
		d := bytes.Clone(valid)
		d[i] = c
		return d
	}
	// A different hex digit in the checksum line keeps it well-formed.
	wrongSum := bytes.Clone(valid)
	if wrongSum[30] == '0' {
		wrongSum[30] = '1'
	} else {
		wrongSum[30] = '0'
	}
	for _, tc := range []struct {
		name      string
		data      []byte
		field     string
		wantInMsg string
	}{
		{"flipped payload byte", flip(artifact.HeaderSize + 10), "artifact.sha256", "checksum does not match"},
		{"flipped last byte", flip(len(valid) - 1), "artifact.sha256", "checksum does not match"},
		{"wrong checksum in header", wrongSum, "artifact.sha256", "checksum does not match"},
		{"checksum not hex", set(artifact.HeaderSize-2, 'G'), "artifact.sha256", "hex digits"},
		{"length not hex", set(len(artifact.Magic), 'x'), "artifact.length", "hex digits"},
		{"truncated payload", valid[:len(valid)-1], "artifact.length", "truncated"},
		{"truncated to the header", valid[:artifact.HeaderSize], "artifact.length", "truncated"},
		{"truncated header", valid[:artifact.HeaderSize-1], "artifact", "truncated"},
		{"truncated magic", valid[:4], "artifact", "truncated"},
		{"empty", nil, "artifact", "truncated"},
		{"trailing bytes", append(bytes.Clone(valid), 0), "artifact.length", "after the payload"},
		{"wrong magic", append([]byte("PK\x03\x04"), valid[4:]...), "artifact.magic", "not a leadscore model artifact"},
		{"future framing", append([]byte("LSCOREv2\n"), valid[len(artifact.Magic):]...), "artifact.magic", "cannot read"},
		{"payload not protobuf", encodeFile([]byte{0xff, 0xff, 0xff}), "", "decode payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := artifact.Unmarshal(tc.data)
			assertInvalid(t, m, err, tc.field, tc.wantInMsg)
		})
	}
}

// TestUnmarshalRefusesInconsistentContent changes one thing in a valid
// message, frames it with a correct checksum, and expects an EINVALID
// error naming the field.
func TestUnmarshalRefusesInconsistentContent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		family model.Family
		edit   func(pb *artifactv1.Artifact)
		field  string
		msg    string
	}{
		{"unknown format version", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.FormatVersion = 2 }, "format_version", "not supported"},
		{"no format version", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.FormatVersion = 0 }, "format_version", "not supported"},
		{"unknown family", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Family = 9 }, "family", "must be"},
		{"family without its parameters", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Family = artifactv1.Family_FAMILY_LOGISTIC }, "family", "does not match"},
		{"no parameters", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Parameters = nil }, "parameters", "required"},
		{"no spec", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.FeatureSpec = nil }, "feature_spec", "required"},
		{"spec version", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.FeatureSpec.Version = 7 }, "feature_spec.version", "must be 1"},
		{"unknown feature kind", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.FeatureSpec.Fit[0].Kind = 0 }, "feature_spec.fit[0].kind", "must be"},
		{"descending windows", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.FeatureSpec.WindowDays = []int64{30, 7} }, "feature_spec.window_days[1]", "ascending"},
		{"NaN half-life", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.FeatureSpec.HalfLifeDays = math.NaN() }, "feature_spec.half_life_days", "positive"},
		{"huge spec", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.FeatureSpec.WindowDays = make([]int64, 1<<17) }, "feature_spec", "more than"},

		{"weight count", model.FamilyLogistic, func(pb *artifactv1.Artifact) {
			l := pb.GetLogistic()
			l.Weights = l.Weights[:len(l.Weights)-1]
		}, "logistic.weights", "design columns"},
		{"NaN weight", model.FamilyLogistic, func(pb *artifactv1.Artifact) { pb.GetLogistic().Weights[3] = math.NaN() }, "logistic.weights[3]", "finite"},
		{"infinite intercept", model.FamilyLogistic, func(pb *artifactv1.Artifact) { pb.GetLogistic().Intercept = math.Inf(1) }, "logistic.intercept", "finite"},
		{"no encoding", model.FamilyLogistic, func(pb *artifactv1.Artifact) { pb.GetLogistic().Encoding = nil }, "logistic.encoding", "required"},
		{"encoding for another width", model.FamilyLogistic, func(pb *artifactv1.Artifact) {
			e := pb.GetLogistic().Encoding
			e.Kinds = e.Kinds[1:]
		}, "logistic.encoding", "must describe 10 features"},
		{"zero scale", model.FamilyLogistic, func(pb *artifactv1.Artifact) { pb.GetLogistic().Encoding.Scale[2] = 0 }, "logistic.encoding[2]", "inconsistent"},
		{"encoding kind differs from spec", model.FamilyLogistic, func(pb *artifactv1.Artifact) {
			pb.GetLogistic().Encoding.Kinds[1] = artifactv1.FeatureKind_FEATURE_KIND_BOOLEAN
		}, "logistic.encoding.kinds[1]", "must be numeric"},
		{"encoding categories differ from spec", model.FamilyLogistic, func(pb *artifactv1.Artifact) {
			pb.FeatureSpec.Fit[0].Categories = append(pb.FeatureSpec.Fit[0].Categories, "enterprise")
		}, "logistic.encoding.categories[0]", "must be 3"},

		{"feature count", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.GetGbdt().NumFeatures = 11 }, "gbdt.num_features", "10 features"},
		{"node column length", model.FamilyGBDT, func(pb *artifactv1.Artifact) {
			n := pb.GetGbdt().Nodes
			n.Value = n.Value[:3]
		}, "gbdt.nodes.value", "one element per node"},
		{"child before parent", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.GetGbdt().Nodes.Left[2] = 1 }, "gbdt.nodes[2].left", "after their parent"},
		{"child in another tree", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.GetGbdt().Nodes.Right[0] = 6 }, "gbdt.nodes[0].right", "within its tree"},
		{"feature out of range", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.GetGbdt().Nodes.Feature[5] = 10 }, "gbdt.nodes[5].feature", "width 10"},
		{"NaN threshold", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.GetGbdt().Nodes.Threshold[0] = math.NaN() }, "gbdt.nodes[0].threshold", "finite"},
		{"NaN leaf", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.GetGbdt().Nodes.Value[1] = math.NaN() }, "gbdt.nodes[1].value", "finite"},
		{"missing category set", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.GetGbdt().CategorySets = nil }, "gbdt.nodes[2].set", "category sets"},
		{"categorical split on a numeric feature", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.GetGbdt().Nodes.Feature[2] = 1 }, "gbdt.nodes.category_set[2]", "categorical feature"},
		{"empty category set", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.GetGbdt().CategorySets[0].Words = nil }, "gbdt.category_sets[0]", "words"},
		{"tree root out of order", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.GetGbdt().TreeRoots = []int32{0, 9} }, "gbdt.trees[1]", "must index"},

		{"no calibration", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Calibration = nil }, "calibration", "required"},
		{"no calibration method", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Calibration.Method = nil }, "calibration.method", "required"},
		{"negative Platt slope", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Calibration.GetPlatt().A = -1 }, "calibration.platt.a", "positive"},
		{"isotonic knots", model.FamilyGBDT, func(pb *artifactv1.Artifact) {
			pb.Calibration.Method = &artifactv1.Calibration_Isotonic{Isotonic: &artifactv1.IsotonicCalibration{X: []float64{0, 1}, Y: []float64{0.5}}}
		}, "calibration.isotonic", "as many x as y"},

		{"no grid", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Grid = nil }, "grid", "required"},
		{"two fit cuts", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Grid.FitCuts = pb.Grid.FitCuts[:2] }, "grid.fit_cuts", "3 cut points"},
		{"100 percentiles", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Grid.Percentiles = pb.Grid.Percentiles[:100] }, "grid.percentiles", "101"},
		{"15 actions", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Grid.Actions = pb.Grid.Actions[:15] }, "grid.actions", "16 cells"},
		{"unknown grid basis", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Grid.Basis = 7 }, "grid.basis", "GRID_BASIS_TREE_PATH"},
		{"tree-path basis of a logistic regression", model.FamilyLogistic, func(pb *artifactv1.Artifact) {
			pb.Grid.Basis = artifactv1.GridBasis_GRID_BASIS_TREE_PATH
		}, "grid.basis", "family gbdt only"},
		{"tree-path basis of a points model", model.FamilyPoints, func(pb *artifactv1.Artifact) {
			pb.Grid.Basis = artifactv1.GridBasis_GRID_BASIS_TREE_PATH
		}, "grid.basis", "family gbdt only"},

		{"NaN metric", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Metadata.ValidationMetrics["roc_auc"] = math.NaN() }, `metadata.validation_metrics["roc_auc"]`, "finite"},
		{"data hash", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Metadata.DataSha256 = "abc" }, "metadata.data_sha256", "hex"},
		{"negative horizon", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Metadata.Horizon.Seconds = -5 }, "metadata.horizon", "negative"},
		{"horizon beyond time.Duration", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Metadata.Horizon.Seconds = 1 << 40 }, "metadata.horizon", "292 years"},
		{"invalid timestamp", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Metadata.DataEnd.Nanos = -1 }, "metadata.data_end", "years 1 to 9999"},
		{"window ends before it starts", model.FamilyGBDT, func(pb *artifactv1.Artifact) {
			pb.Metadata.DataStart, pb.Metadata.DataEnd = pb.Metadata.DataEnd, pb.Metadata.DataStart
		}, "metadata.data_end", "before"},
		{"reliability bin", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Metadata.Reliability[1].ObservedRate = 1.5 }, "metadata.reliability[1].observed_rate", "probability"},
		{"negative bin count", model.FamilyGBDT, func(pb *artifactv1.Artifact) { pb.Metadata.Reliability[0].Leads = -1 }, "metadata.reliability[0].leads", "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pb := decodePayload(t, mustMarshal(t, tinyModel(tc.family)))
			tc.edit(pb)
			m, err := artifact.Unmarshal(encodeMessage(t, pb))
			assertInvalid(t, m, err, tc.field, tc.msg)
		})
	}
}

// TestUnmarshalRefusesBadHinges edits the hinge fields of the tiny
// logistic model with hinges, whose numeric features 1, 3 and 5 have 2, 1
// and 3 hinges (features 0 to 9: the categorical plan, then numbers, and
// the last three booleans).
func TestUnmarshalRefusesBadHinges(t *testing.T) {
	t.Parallel()
	m := tinyHingedModel()
	var counts []int
	for _, hs := range m.Logistic.Encoding.Hinges {
		counts = append(counts, len(hs))
	}
	if got, want := fmt.Sprint(counts), "[0 2 0 1 0 3 0 0 0 0]"; got != want {
		t.Fatalf("the tiny model's hinge counts are %s, want %s", got, want)
	}
	for _, tc := range []struct {
		name  string
		edit  func(e *artifactv1.LinearEncoding)
		field string
		msg   string
	}{
		{"a count too few", func(e *artifactv1.LinearEncoding) { e.HingeCounts = e.HingeCounts[:9] }, "logistic.encoding.hinge_counts", "one count per feature"},
		{"knots without counts", func(e *artifactv1.LinearEncoding) { e.HingeCounts = nil }, "logistic.encoding.hinge_counts", "number of hinges"},
		{"negative count", func(e *artifactv1.LinearEncoding) { e.HingeCounts[1] = -1 }, "logistic.encoding.hinge_counts[1]", "from 0 to 15"},
		{"16 hinges", func(e *artifactv1.LinearEncoding) { e.HingeCounts[3] = 16 }, "logistic.encoding.hinge_counts[3]", "from 0 to 15"},
		{"huge count", func(e *artifactv1.LinearEncoding) { e.HingeCounts[3] = 1 << 62 }, "logistic.encoding.hinge_counts[3]", "from 0 to 15"},
		{"a knot too few", func(e *artifactv1.LinearEncoding) { e.HingeKnots = e.HingeKnots[1:] }, "logistic.encoding.hinge_knots", "one element per hinge, 6"},
		{"a mean too many", func(e *artifactv1.LinearEncoding) { e.HingeMeans = append(e.HingeMeans, 0) }, "logistic.encoding.hinge_means", "one element per hinge"},
		{"no scales", func(e *artifactv1.LinearEncoding) { e.HingeScales = nil }, "logistic.encoding.hinge_scales", "one element per hinge"},
		{"knots out of order", func(e *artifactv1.LinearEncoding) {
			e.HingeKnots[0], e.HingeKnots[1] = e.HingeKnots[1], e.HingeKnots[0]
		}, "logistic.encoding.hinges[1][1].knot", "ascend"},
		{"repeated knot", func(e *artifactv1.LinearEncoding) { e.HingeKnots[4] = e.HingeKnots[3] }, "logistic.encoding.hinges[5][1].knot", "ascend"},
		{"NaN knot", func(e *artifactv1.LinearEncoding) { e.HingeKnots[2] = math.NaN() }, "logistic.encoding.hinges[3][0].knot", "finite"},
		{"infinite knot", func(e *artifactv1.LinearEncoding) { e.HingeKnots[5] = math.Inf(1) }, "logistic.encoding.hinges[5][2].knot", "finite"},
		{"NaN mean", func(e *artifactv1.LinearEncoding) { e.HingeMeans[5] = math.NaN() }, "logistic.encoding.hinges[5][2].mean", "finite"},
		{"zero scale", func(e *artifactv1.LinearEncoding) { e.HingeScales[1] = 0 }, "logistic.encoding.hinges[1][1].scale", "positive"},
		{"hinges on a boolean", func(e *artifactv1.LinearEncoding) { e.HingeCounts[5], e.HingeCounts[7] = 0, 3 }, "logistic.encoding.hinges[7]", "only numeric features"},
		{"hinges on the categorical plan", func(e *artifactv1.LinearEncoding) {
			e.HingeCounts[0], e.HingeCounts[1] = e.HingeCounts[1], e.HingeCounts[0]
		}, "logistic.encoding.hinges[0]", "only numeric features"},
		{"a hinge without its weight", func(e *artifactv1.LinearEncoding) {
			e.HingeCounts[6] = 1
			e.HingeKnots, e.HingeMeans, e.HingeScales = append(e.HingeKnots, 1), append(e.HingeMeans, 0), append(e.HingeScales, 1)
		}, "logistic.encoding[7]", "inconsistent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pb := decodePayload(t, mustMarshal(t, tinyHingedModel()))
			tc.edit(pb.GetLogistic().Encoding)
			m, err := artifact.Unmarshal(encodeMessage(t, pb))
			assertInvalid(t, m, err, tc.field, tc.msg)
		})
	}
}

// TestUnmarshalRefusesBadPairs edits the pairs of the tiny logistic model
// with pairs (plan×2, 1×7, 3×5; the plan has 2 categories and "other",
// features 1 to 6 are numeric and 7 to 9 boolean).
func TestUnmarshalRefusesBadPairs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		edit  func(e *artifactv1.LinearEncoding)
		field string
		msg   string
	}{
		{"no first side", func(e *artifactv1.LinearEncoding) { e.Pairs[0].A = nil }, "logistic.encoding.pairs[0].a", "required"},
		{"no second side", func(e *artifactv1.LinearEncoding) { e.Pairs[2].B = nil }, "logistic.encoding.pairs[2].b", "required"},
		{"a feature beyond the spec", func(e *artifactv1.LinearEncoding) { e.Pairs[2].B.Feature = 10 }, "logistic.encoding.pairs[2].b.feature", "from 0 to 9"},
		{"a huge feature", func(e *artifactv1.LinearEncoding) { e.Pairs[2].B.Feature = 1 << 62 }, "logistic.encoding.pairs[2].b.feature", "from 0 to 9"},
		{"the features the wrong way round", func(e *artifactv1.LinearEncoding) {
			e.Pairs[2].A, e.Pairs[2].B = e.Pairs[2].B, e.Pairs[2].A
		}, "logistic.encoding.pairs[2].b.feature", "above the first"},
		{"pairs out of order", func(e *artifactv1.LinearEncoding) { e.Pairs[0], e.Pairs[1] = e.Pairs[1], e.Pairs[0] }, "logistic.encoding.pairs[1]", "ordered"},
		{"no cells", func(e *artifactv1.LinearEncoding) { e.Pairs[1].Cells = nil }, "logistic.encoding.pairs[1].cells", "at least one"},
		{"a cell beyond the grid", func(e *artifactv1.LinearEncoding) { e.Pairs[1].Cells[3] = 9 }, "logistic.encoding.pairs[1].cells[3]", "from 0 to 8"},
		{"a repeated cell", func(e *artifactv1.LinearEncoding) { e.Pairs[0].Cells[2] = e.Pairs[0].Cells[1] }, "logistic.encoding.pairs[0].cells[2]", "ascend"},
		{"a level beyond the bins", func(e *artifactv1.LinearEncoding) { e.Pairs[0].A.Levels[2] = 2 }, "logistic.encoding.pairs[0].a.levels[2]", "from 0 to 1"},
		{"a level too few", func(e *artifactv1.LinearEncoding) { e.Pairs[0].A.Levels = e.Pairs[0].A.Levels[:2] }, "logistic.encoding.pairs[0].a.levels", "\"other\""},
		{"descending cuts", func(e *artifactv1.LinearEncoding) { e.Pairs[0].B.Cuts = []float64{4, 1} }, "logistic.encoding.pairs[0].b.cuts[1]", "ascend"},
		{"an infinite cut", func(e *artifactv1.LinearEncoding) { e.Pairs[2].A.Cuts[0] = math.Inf(1) }, "logistic.encoding.pairs[2].a.cuts[0]", "finite"},
		{"bins that miscount the cuts", func(e *artifactv1.LinearEncoding) { e.Pairs[2].A.Bins = 3 }, "logistic.encoding.pairs[2].a.bins", "one more than the cuts"},
		{"a three-valued boolean", func(e *artifactv1.LinearEncoding) { e.Pairs[1].B.Bins = 3 }, "logistic.encoding.pairs[1].b.bins", "2 for a boolean"},
		{"a pair the weights lack", func(e *artifactv1.LinearEncoding) {
			e.Pairs = append(e.Pairs, &artifactv1.LinearPair{
				A:     &artifactv1.LinearPairSide{Feature: 4, Cuts: []float64{1}, Bins: 2},
				B:     &artifactv1.LinearPairSide{Feature: 8, Bins: 2},
				Cells: []int64{0},
			})
		}, "logistic.weights", "design columns"},
		{"65 pairs", func(e *artifactv1.LinearEncoding) {
			for len(e.Pairs) <= model.MaxPairs {
				e.Pairs = append(e.Pairs, e.Pairs[0])
			}
		}, "logistic.encoding.pairs", "at most 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pb := decodePayload(t, mustMarshal(t, tinyPairedModel()))
			tc.edit(pb.GetLogistic().Encoding)
			m, err := artifact.Unmarshal(encodeMessage(t, pb))
			assertInvalid(t, m, err, tc.field, tc.msg)
		})
	}
}

// TestHingesAreOptional: an encoding without hinges writes none of their
// fields, and one whose counts are all zero loads as one without hinges.
func TestHingesAreOptional(t *testing.T) {
	t.Parallel()
	pb := decodePayload(t, mustMarshal(t, tinyModel(model.FamilyLogistic)))
	e := pb.GetLogistic().Encoding
	if e.HingeCounts != nil || e.HingeKnots != nil || e.HingeMeans != nil || e.HingeScales != nil {
		t.Fatalf("a plain encoding wrote hinge fields: %v", e)
	}
	e.HingeCounts = make([]int64, len(e.Kinds))
	m, err := artifact.Unmarshal(encodeMessage(t, pb))
	if err != nil {
		t.Fatalf("zero hinge counts: %v", err)
	}
	if m.Logistic.Encoding.Hinges != nil {
		t.Errorf("zero hinge counts loaded as hinges %v", m.Logistic.Encoding.Hinges)
	}
	if got, want := mustMarshal(t, m), mustMarshal(t, tinyModel(model.FamilyLogistic)); !bytes.Equal(got, want) {
		t.Error("zero hinge counts do not save as the plain encoding")
	}
}

// assertInvalid checks that loading failed with an EINVALID error whose
// field violation names field (when field is set) and whose message says
// msg.
func assertInvalid(t *testing.T, m *model.Model, err error, field, msg string) {
	t.Helper()
	if err == nil {
		t.Fatal("loaded a damaged artifact without an error")
	}
	if m != nil {
		t.Errorf("returned a model with the error %v", err)
	}
	if code := leadscore.ErrorCode(err); code != leadscore.EINVALID {
		t.Errorf("error code = %s, want %s (%v)", code, leadscore.EINVALID, err)
	}
	var e *leadscore.Error
	if field != "" && (!errors.As(err, &e) || len(e.Fields) == 0 || e.Fields[0].Field != field) {
		t.Errorf("error %q does not name the field %s", err, field)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not say %q", err, msg)
	}
}

func TestMarshalRefusesInvalidModels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		edit  func(m *model.Model)
		field string
	}{
		{"NaN weight", func(m *model.Model) { m.Logistic.Weights[0] = math.NaN() }, "logistic.weights[0]"},
		{"two families", func(m *model.Model) { m.GBDT = tinyGBDT(10) }, "family"},
		{"unknown family", func(m *model.Model) { m.Family = "forest" }, "family"},
		{"unknown kind", func(m *model.Model) { m.Spec.Fit[0].Kind = "text" }, "feature_spec.fit[0].kind"},
		{"unknown calibration", func(m *model.Model) { m.Calibration.Method = "beta" }, "calibration.method"},
		{"no grid", func(m *model.Model) { m.Grid = nil }, "grid"},
		{"unknown grid basis", func(m *model.Model) { m.Grid.Basis = "shap" }, "grid.basis"},
		{"tree-path basis of a logistic regression", func(m *model.Model) { m.Grid.Basis = model.GridBasisTreePath }, "grid.basis"},
		{"time beyond the year 9999", func(m *model.Model) { m.Metadata.DataEnd = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "metadata.data_end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := tinyModel(model.FamilyLogistic)
			tc.edit(m)
			data, err := artifact.Marshal(m)
			if data != nil {
				t.Error("returned bytes with the error")
			}
			assertInvalid(t, nil, err, tc.field, "")
		})
	}
	if _, err := artifact.Marshal(nil); leadscore.ErrorCode(err) != leadscore.EINVALID {
		t.Errorf("Marshal(nil) = %v, want an EINVALID error", err)
	}
}

// TestMarshalWhileScoring marshals a model that other goroutines are
// scoring: Marshal must only read it (run with -race).
func TestMarshalWhileScoring(t *testing.T) {
	t.Parallel()
	m := tinyModel(model.FamilyGBDT)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	want := mustMarshal(t, m)
	rows := randomRows(rand.New(rand.NewPCG(1, 2)), m.Spec, 200)
	// NewScorer validates the model, which (for a GBDT) rebuilds its
	// prediction layout, so the scorers are made before scoring starts.
	var scorers []*model.Scorer
	for range 4 {
		s, err := model.NewScorer(m)
		if err != nil {
			t.Fatal(err)
		}
		scorers = append(scorers, s)
	}
	var wg sync.WaitGroup
	for _, s := range scorers {
		wg.Go(func() {
			var out model.Scored
			w := m.Spec.Width()
			for i := 0; i < len(rows)/w; i++ {
				if err := s.Score(rows[i*w:(i+1)*w], &out); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 20 {
		if got := mustMarshal(t, m); !bytes.Equal(got, want) {
			t.Error("marshalled bytes changed while scoring")
		}
	}
	wg.Wait()
}

// files

func TestWriteFileReadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "model.lsm")
	m := tinyModel(model.FamilyLogistic)
	if err := artifact.WriteFile(path, m); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	// Overwriting replaces the file whole.
	m2 := tinyModel(model.FamilyGBDT)
	if err := artifact.WriteFile(path, m2); err != nil {
		t.Fatalf("WriteFile over an existing file: %v", err)
	}
	got, err := artifact.ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	assertSameScores(t, m2, got, randomRows(rand.New(rand.NewPCG(7, 8)), m2.Spec, 200))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustMarshal(t, m2); !bytes.Equal(data, want) {
		t.Error("the file holds other bytes than Marshal returns")
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o644 {
		t.Errorf("file mode = %v, want 0644", perm)
	}

	// A model that does not validate writes nothing and keeps the old file.
	bad := tinyModel(model.FamilyLogistic)
	bad.Logistic.Intercept = math.NaN()
	if err := artifact.WriteFile(path, bad); leadscore.ErrorCode(err) != leadscore.EINVALID || !strings.Contains(err.Error(), path) {
		t.Errorf("WriteFile(invalid model) = %v, want an EINVALID error naming the path", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Error("a failed write changed the existing file")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the artifact (no temporary files left)", len(entries))
	}
}

func TestReadFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := artifact.ReadFile(filepath.Join(dir, "missing.lsm")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v, want fs.ErrNotExist", err)
	}
	path := filepath.Join(dir, "corrupt.lsm")
	data := mustMarshal(t, tinyModel(model.FamilyGBDT))
	data[len(data)-3] ^= 0x80
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := artifact.ReadFile(path)
	assertInvalid(t, m, err, "artifact.sha256", "checksum does not match")
	if err != nil && !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	if err := artifact.WriteFile(filepath.Join(dir, "no", "such", "dir.lsm"), tinyModel(model.FamilyGBDT)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteFile into a missing directory = %v, want fs.ErrNotExist", err)
	}
}

func TestTimesAreKeptAsInstants(t *testing.T) {
	t.Parallel()
	m := tinyModel(model.FamilyGBDT)
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	m.Metadata.DataStart = time.Date(2025, 3, 4, 5, 6, 7, 8, zone)
	m.Metadata.DataEnd = time.Time{}
	m.Metadata.Horizon = 0
	got, err := artifact.Unmarshal(mustMarshal(t, m))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Metadata.DataStart.Equal(m.Metadata.DataStart) || !got.Metadata.DataEnd.IsZero() || got.Metadata.Horizon != 0 {
		t.Errorf("times = %v, %v, %v; want %v, zero, 0", got.Metadata.DataStart, got.Metadata.DataEnd, got.Metadata.Horizon, m.Metadata.DataStart)
	}
}

// TestHostilePointsArtifactIsRefusedInBoundedMemory: a small points
// artifact whose spec has tens of thousands of event kinds of one type,
// and rules that each give a term per kind of that type, while the file
// holds a few terms only, is refused before the rules are compiled into
// millions of terms. Its work is bounded by the terms the file holds; the
// allocations are counted, not timed.
func TestHostilePointsArtifactIsRefusedInBoundedMemory(t *testing.T) {
	// A valid model first: the tiny points rules under a spec that also
	// counts 20,000 kinds of "visit" events.
	m := tinyModel(model.FamilyPoints)
	const kinds, rules = 20000, 50
	m.Spec.WindowDays = []int{7}
	for i := range kinds {
		m.Spec.Kinds = append(m.Spec.Kinds, model.EventKind{Name: fmt.Sprintf("v%d", i), Type: "visit", Property: "page", Value: fmt.Sprintf("p%d", i)})
	}
	p, err := model.CompilePoints(m.Points.Rules, m.Spec)
	if err != nil {
		t.Fatalf("CompilePoints(): %v", err)
	}
	m.Points = p
	pb := decodePayload(t, mustMarshal(t, m))
	// Then rules that each give a term per visit kind, without their terms.
	pts := pb.GetPoints()
	for i := range rules {
		pts.Rules = append(pts.Rules, &artifactv1.PointsRule{Name: fmt.Sprintf("every-visit-%d", i), Event: "visit", WindowDays: 7, Points: 1})
	}
	file := encodeMessage(t, pb)
	if len(file) > 1<<20 {
		t.Fatalf("the hostile artifact is %d bytes, want it under 1 MiB", len(file))
	}
	// Decoding alone, of a file that differs only by the hostile rules.
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	if _, err := artifact.Unmarshal(mustMarshal(t, m)); err != nil {
		t.Fatalf("Unmarshal(the valid model): %v", err)
	}
	var valid runtime.MemStats
	runtime.ReadMemStats(&valid)
	decode := valid.TotalAlloc - base.TotalAlloc
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = artifact.Unmarshal(file)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "points.terms") {
		t.Fatalf("Unmarshal(hostile points artifact) = %v, want points.terms refused", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2*decode {
		t.Errorf("refusing a %d-byte artifact allocated %d MiB, want at most twice the %d MiB of loading the valid model it extends", len(file), alloc>>20, decode>>20)
	}
}
