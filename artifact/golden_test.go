package artifact_test

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/model"
)

var update = flag.Bool("update", false, "rewrite the golden artifacts in testdata")

// TestGolden pins the file format. Each testdata/tiny_<family>.lsm is the
// hand-built tiny model of that family (tinyModel in helpers_test.go) as
// Marshal encodes it, tiny_logistic_hinges.lsm the tiny logistic model
// with hinges (tinyHingedModel) and tiny_logistic_pairs.lsm the one with
// hinges and pairs (tinyPairedModel), and tiny_gbdt_tree_path.lsm the tiny
// GBDT whose grid has the tree-path basis (tinyTreePathModel); the files
// were produced by
//
//	go test ./artifact -run TestGolden -update
//
// A failure means the bytes of the format changed: files written by older
// builds may no longer load the same. Change the format on purpose (and
// FormatVersion with it when old files cannot be read), then update.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *model.Model
	}{
		{"logistic", tinyModel(model.FamilyLogistic)},
		{"gbdt", tinyModel(model.FamilyGBDT)},
		{"points", tinyModel(model.FamilyPoints)},
		// Added with hinges; the three above did not change with them.
		{"logistic_hinges", tinyHingedModel()},
		// Added with pairs; the four above did not change with them.
		{"logistic_pairs", tinyPairedModel()},
		// Added with grid bases; the five above, of the contributions
		// basis (the enum's zero value, not written), did not change.
		{"gbdt_tree_path", tinyTreePathModel()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			path := filepath.Join("testdata", "tiny_"+tc.name+".lsm")
			data := mustMarshal(t, m)
			if *update {
				if err := artifact.WriteFile(path, m); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(data, golden) {
				t.Errorf("Marshal(tiny %s model) differs from %s: the format changed (sha256 %s, golden %s)",
					tc.name, path, artifact.SHA256(data), artifact.SHA256(golden))
			}
			// The golden file loads and scores like the model it encodes.
			got, err := artifact.ReadFile(path)
			if err != nil {
				t.Fatalf("ReadFile: %v", err)
			}
			assertSameScores(t, m, got, randomRows(rand.New(rand.NewPCG(9, 10)), m.Spec, 300))
		})
	}
}
