// Command xgbimport is leadscore's side of the import benchmark that
// run.sh drives:
//
//	go run ./bench/xgbimport DIR
//
// It imports DIR/model.json with DIR/test.csv as the reference table (as
// `leadscore import-model` does), times reading and converting the model
// alone, featurizes the test rows, and times scoring them on one thread,
// best of 5: the whole scoring path (Scorer.ScoreBatch: margin,
// probability, percentile and grid cell) and the margin alone
// (GBDT.PredictBatch). It checks every margin against XGBoost's
// (DIR/margins.f32) and prints JSON.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/model/xgbimport"
	"github.com/leadscore/leadscore/trainer"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "xgbimport: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: xgbimport DIR")
	}
	runtime.GOMAXPROCS(1)
	dir := args[0]
	ctx := context.Background()
	file, err := os.ReadFile(filepath.Join(dir, "model.json"))
	if err != nil {
		return err
	}
	table, err := dataset.ReadFlatTable(ctx, filepath.Join(dir, "test.csv"), dataset.FlatOptions{Label: "y"})
	if err != nil {
		return err
	}
	attrs, err := trainer.FlatAttributes(table)
	if err != nil {
		return err
	}
	// Reading, checking and converting the model, best of 5.
	convert := math.Inf(1)
	for range 5 {
		start := time.Now()
		b, err := xgbimport.Read(bytes.NewReader(file), 0)
		if err != nil {
			return err
		}
		mp, err := xgbimport.Map(b, attrs, nil, false)
		if err != nil {
			return err
		}
		if _, _, err := xgbimport.Convert(b, mp, attrs); err != nil {
			return err
		}
		convert = min(convert, time.Since(start).Seconds())
	}
	start := time.Now()
	m, err := trainer.ImportXGBoost(ctx, bytes.NewReader(file), trainer.XGBoostImport{Reference: table})
	if err != nil {
		return err
	}
	importSeconds := time.Since(start).Seconds()
	rows, err := trainer.FlatRows(ctx, table, m.Spec)
	if err != nil {
		return err
	}
	n := table.Len()
	s, err := model.NewScorer(m)
	if err != nil {
		return err
	}
	scored, errs := make([]model.Scored, n), make([]error, n)
	margins := make([]float64, n)
	best := func(fn func() error) (float64, error) {
		t := math.Inf(1)
		for range 5 {
			start := time.Now()
			if err := fn(); err != nil {
				return 0, err
			}
			t = min(t, time.Since(start).Seconds())
		}
		return t, nil
	}
	scoreTime, err := best(func() error { return s.ScoreBatch(rows, scored, errs) })
	if err != nil {
		return err
	}
	predictTime, err := best(func() error { return m.GBDT.PredictBatch(rows, margins) })
	if err != nil {
		return err
	}
	want, err := readFloat32s(filepath.Join(dir, "margins.f32"), n)
	if err != nil {
		return err
	}
	worst := 0.0
	for i := range n {
		if errs[i] != nil {
			return fmt.Errorf("row %d: %w", i+1, errs[i])
		}
		worst = max(worst, math.Abs(margins[i]-want[i]), math.Abs(scored[i].Raw-want[i]))
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"rows":                      n,
		"model_bytes":               len(file),
		"read_convert_seconds":      convert,
		"import_with_grid_seconds":  importSeconds,
		"score_rows_per_second_1t":  float64(n) / scoreTime,
		"margin_rows_per_second_1t": float64(n) / predictTime,
		"max_margin_difference":     worst,
	})
}

// readFloat32s reads n little-endian float32 values.
func readFloat32s(path string, n int) ([]float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) != 4*n {
		return nil, fmt.Errorf("%s: %d bytes, want %d float32 values", path, len(b), n)
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return out, nil
}
