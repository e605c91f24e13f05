package dataset

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/leadscore/leadscore"
)

// BenchmarkFlatStream measures a flat stream on the shape of batch
// scoring's benchmark (bench/score): an id and 30 numeric columns, some
// missing. "read" is splitting the input into records, which one
// goroutine does; "parse" is typing the values of those records, which
// scoring spreads over its workers.
func BenchmarkFlatStream(b *testing.B) {
	const rows, cols = 50_000, 30
	r := rand.New(rand.NewPCG(1, 1))
	var buf bytes.Buffer
	buf.WriteString("lead_id")
	fields := make([]FlatField, cols)
	for j := range cols {
		fields[j] = FlatField{Column: fmt.Sprintf("f%02d", j), Type: ColumnNumeric}
		buf.WriteString("," + fields[j].Column)
	}
	buf.WriteString("\n")
	for i := range rows {
		buf.WriteString("L" + strconv.Itoa(i))
		for range cols {
			buf.WriteByte(',')
			if r.IntN(20) > 0 {
				buf.WriteString(strconv.FormatFloat(r.NormFloat64(), 'g', 6, 64))
			}
		}
		buf.WriteByte('\n')
	}
	data := buf.Bytes()
	ctx := context.Background()
	run := func(b *testing.B, parse bool) {
		c := NewFlatChunk(0)
		vals := make([]leadscore.Value, cols)
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			s, err := OpenFlatStreamFrom(ctx, bytes.NewReader(data), "t.csv", FlatStreamOptions{IDColumn: "lead_id"})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.SetFields(fields); err != nil {
				b.Fatal(err)
			}
			n := 0
			for {
				err := s.Read(ctx, c)
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				for i := range c.Len() {
					if parse {
						if err := c.Parse(i, vals); err != nil {
							b.Fatal(err)
						}
					}
					n++
				}
			}
			s.Close()
			if n != rows {
				b.Fatalf("read %d rows, want %d", n, rows)
			}
		}
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	}
	b.Run("read", func(b *testing.B) { run(b, false) })
	b.Run("read+parse", func(b *testing.B) { run(b, true) })
}
