// Command score is the Go side of the batch-scoring benchmark that run.sh
// drives:
//
//	score gen -out FILE -rows N [-seed 1]
//	score alone -model FILE -rows N [-seed 1] [-threads 2] [-batch 0] [-cpuprofile FILE]
//
// gen writes a flat table of N leads: an id (lead_id), the 30 numeric
// columns of bench/gbdt's synthetic table (f00 to f29, missing values
// empty, six significant digits) and a label (converted, 1 or 0).
//
// alone measures featurizing and scoring without reading a file: it builds
// the same rows in memory as attribute values and runs the shared
// featurizer and Scorer.Score (or, with -batch, Scorer.ScoreBatch on blocks
// of that many rows) on them from THREADS goroutines, printing rows per
// second of wall time and of CPU time as JSON. It is the reference for the "scoring alone" figure that
// leadscore score measures inside its pipeline.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/bench/gbdt/synth"
	"github.com/leadscore/leadscore/model"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: score gen|alone [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "alone":
		err = alone(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want gen or alone", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "score:", err)
		os.Exit(1)
	}
}

func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	out := fs.String("out", "", "the CSV file to write")
	rows := fs.Int("rows", 1_000_000, "rows in the table")
	seed := fs.Uint64("seed", 1, "generator seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *rows < 1 {
		return errors.New("gen needs -out and at least one row")
	}
	x, y := synth.Table(*rows, *seed)
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("lead_id")
	for j := range synth.Width {
		fmt.Fprintf(w, ",f%02d", j)
	}
	w.WriteString(",converted\n")
	var b []byte
	for i := range *rows {
		b = append(b[:0], 'L')
		b = strconv.AppendInt(b, int64(i+1), 10)
		for _, v := range x[i*synth.Width : (i+1)*synth.Width] {
			b = append(b, ',')
			if !math.IsNaN(v) {
				b = strconv.AppendFloat(b, v, 'g', 6, 64)
			}
		}
		if y[i] {
			b = append(b, ",1\n"...)
		} else {
			b = append(b, ",0\n"...)
		}
		w.Write(b)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func alone(args []string) error {
	fs := flag.NewFlagSet("alone", flag.ExitOnError)
	path := fs.String("model", "", "the artifact file")
	rows := fs.Int("rows", 1_000_000, "rows to score")
	seed := fs.Uint64("seed", 1, "generator seed")
	threads := fs.Int("threads", 2, "goroutines scoring")
	batch := fs.Int("batch", 0, "score featurized blocks of this many rows with Scorer.ScoreBatch, as leadscore score does (0: a row at a time with Scorer.Score)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the scoring to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := artifact.ReadFile(*path)
	if err != nil {
		return err
	}
	// The attribute values in the spec's order, as leadscore score's
	// parser hands them to the featurizer: six significant digits, as
	// gen writes them, so both score the same numbers.
	x, _ := synth.Table(*rows, *seed)
	k := len(m.Spec.Fit)
	vals := make([]leadscore.Value, *rows*k)
	for j, f := range m.Spec.Fit {
		col, err := strconv.Atoi(f.Attribute[1:])
		if f.Attribute[0] != 'f' || err != nil || col >= synth.Width || f.Kind != model.KindNumeric {
			return fmt.Errorf("the model reads %s %q; want the numeric columns f00 to f29 of bench/score's table", f.Kind, f.Attribute)
		}
		for i := range *rows {
			if v := x[i*synth.Width+col]; !math.IsNaN(v) {
				v, _ = strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64)
				vals[i*k+j] = leadscore.Number(v)
			}
		}
	}
	x = nil
	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			pf.Close()
		}()
	}
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, *threads)
	per := (*rows + *threads - 1) / *threads
	for t := range *threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := model.NewFeaturizer(m.Spec)
			if err != nil {
				errs[t] = err
				return
			}
			s, err := model.NewScorer(m)
			if err != nil {
				errs[t] = err
				return
			}
			width := m.Spec.Width()
			lo, hi := t*per, min(*rows, (t+1)*per)
			if *batch > 0 {
				errs[t] = scoreBlocks(f, s, vals[lo*k:hi*k], k, width, *batch)
				return
			}
			row := make([]float64, width)
			var out model.Scored
			for i := lo; i < hi; i++ {
				if err := f.Compute(vals[i*k:(i+1)*k], 0, model.Activity{}, 0, row); err != nil {
					errs[t] = err
					return
				}
				if err := s.Score(row, &out); err != nil {
					errs[t] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"rows": *rows, "threads": *threads, "seconds": elapsed.Seconds(),
		"rows_per_second": float64(*rows) / elapsed.Seconds(),
		"cpu_seconds":     cpu.Seconds(), "rows_per_cpu_second": float64(*rows) / cpu.Seconds(),
	})
}

// scoreBlocks featurizes vals (k values a row) block rows at a time into a
// matrix and scores each block with Scorer.ScoreBatch.
func scoreBlocks(f *model.Featurizer, s *model.Scorer, vals []leadscore.Value, k, width, block int) error {
	n := len(vals) / k
	mat := make([]float64, block*width)
	out := make([]model.Scored, block)
	errs := make([]error, block)
	for lo := 0; lo < n; lo += block {
		m := min(block, n-lo)
		for i := range m {
			r := lo + i
			if err := f.Compute(vals[r*k:(r+1)*k], 0, model.Activity{}, 0, mat[i*width:(i+1)*width]); err != nil {
				return err
			}
		}
		if err := s.ScoreBatch(mat[:m*width], out[:m], errs[:m]); err != nil {
			return err
		}
		if err := errors.Join(errs[:m]...); err != nil {
			return err
		}
	}
	return nil
}

// cpuTime returns the CPU time the process has used, user and system: on
// a machine shared with other work, rows per CPU second say what the code
// costs where wall time says how busy the machine was.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
