package trainer_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/trainer"
)

// TestFlatTableTimesBoundTheTrainingWindow checks that a flat table's time
// column (read as Unix nanoseconds) becomes the training window in seconds,
// the window promotion compares evaluations with.
func TestFlatTableTimesBoundTheTrainingWindow(t *testing.T) {
	var b strings.Builder
	b.WriteString("signed_up,size,won\n")
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 200 {
		fmt.Fprintf(&b, "%s,%d,%v\n", start.AddDate(0, 0, i).Format(time.RFC3339), i%17, i%5 == 0)
	}
	path := filepath.Join(t.TempDir(), "leads.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	table, err := dataset.ReadFlatTable(t.Context(), path, dataset.FlatOptions{Label: "won", TimeColumn: "signed_up"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := trainer.FromFlatTable(t.Context(), table, trainer.FlatSplit{})
	if err != nil {
		t.Fatal(err)
	}
	if want := start; !d.Start.Equal(want) {
		t.Errorf("Start = %s, want %s", d.Start, want)
	}
	if want := start.AddDate(0, 0, 199); !d.End.Equal(want) {
		t.Errorf("End = %s, want %s", d.End, want)
	}
	for i, s := range d.TrainTimes {
		if at := time.Unix(s, 0).UTC(); at.Before(start) || at.After(start.AddDate(0, 0, 199)) {
			t.Fatalf("TrainTimes[%d] = %d (%s), outside the table's dates", i, s, at)
		}
	}
}
