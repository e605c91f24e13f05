package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"

	"github.com/leadscore/leadscore/bench/gbdt/synth"
)

// gen writes the synthetic table as CSV: columns f0..f29 (an empty cell
// for a missing value) and the 0/1 label "won".
func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	out := fs.String("out", "", "the CSV file to write")
	rows := fs.Int("rows", 50_000, "rows in the table")
	seed := fs.Uint64("seed", 1, "generator seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *rows < 100 {
		return fmt.Errorf("gen needs -out and at least 100 rows")
	}
	x, y := synth.Table(*rows, *seed)
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for j := range synth.Width {
		fmt.Fprintf(w, "%s,", attrKey(j))
	}
	w.WriteString("won\n")
	var buf []byte
	for i, label := range y {
		for _, v := range x[i*synth.Width : (i+1)*synth.Width] {
			if !math.IsNaN(v) {
				buf = strconv.AppendFloat(buf[:0], v, 'g', -1, 64)
				w.Write(buf)
			}
			w.WriteByte(',')
		}
		if label {
			w.WriteString("1\n")
		} else {
			w.WriteString("0\n")
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// attrKey is the name of column j, and so the attribute key a lead sends.
func attrKey(j int) string { return "f" + strconv.Itoa(j) }

// benchLead is the one lead every request scores: the synthetic table's
// first row with all 30 values present (row seeds differ from the training
// table's, which does not matter to a tree walk).
func benchLead() map[string]float64 {
	x, _ := synth.Table(64, 7)
	for i := 0; i < 64; i++ {
		row := x[i*synth.Width : (i+1)*synth.Width]
		complete := true
		for _, v := range row {
			complete = complete && !math.IsNaN(v)
		}
		if complete {
			out := make(map[string]float64, synth.Width)
			for j, v := range row {
				out[attrKey(j)] = v
			}
			return out
		}
	}
	panic("no complete row in 64")
}
