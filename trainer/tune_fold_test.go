package trainer

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// foldData is n training rows of one feature, every third won, at times
// spread over months (row i at month i*months/n) when months > 0.
func foldData(n, months int) *Data {
	d := &Data{TrainRows: make([]float64, n), TrainLabels: make([]bool, n), Horizon: 90 * 24 * time.Hour}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if months > 0 {
		d.TrainTimes = make([]int64, n)
	}
	for i := range n {
		d.TrainRows[i] = float64(i)
		d.TrainLabels[i] = i%3 == 0
		if months > 0 {
			d.TrainTimes[i] = start.AddDate(0, i*months/n, 0).Unix()
		}
	}
	return d
}

func TestInnerFold(t *testing.T) {
	t.Run("time fold is the latest snapshots with a horizon's gap before it", func(t *testing.T) {
		d := foldData(1200, 12)
		// Shuffle the rows' order so that only the times can say which
		// rows are the latest.
		for i := range d.TrainTimes {
			j := (i * 7) % len(d.TrainTimes)
			d.TrainTimes[i], d.TrainTimes[j] = d.TrainTimes[j], d.TrainTimes[i]
		}
		f, err := newInnerFold(d, 1)
		if err != nil {
			t.Fatal(err)
		}
		if f.method != "time" {
			t.Fatalf("method %q, want time", f.method)
		}
		cut := slices.Min(pick(d.TrainTimes, f.valid))
		for i, at := range d.TrainTimes {
			inValid := slices.Contains(f.valid, i)
			if inValid != (at >= cut) {
				t.Fatalf("row %d at %v: in the fold %v, but the fold starts at %v", i, at, inValid, cut)
			}
		}
		// 12 monthly snapshots of 100 rows: the last fifth starts inside
		// the tenth, so the fold is the last three whole snapshots.
		if got, want := len(f.valid), 300; got != want {
			t.Errorf("fold of %d rows, want %d", got, want)
		}
		for _, i := range f.fit {
			if end := time.Unix(d.TrainTimes[i], 0).Add(d.Horizon); end.After(time.Unix(cut, 0)) {
				t.Fatalf("fitted row %d's label window ends %v, after the fold starts at %v", i, end, time.Unix(cut, 0).UTC())
			}
		}
		// The fold starts on October 1: July's rows end their 90 days on
		// September 29, August's and September's after it, so those two
		// months are left out.
		if got, want := len(f.fit), 700; got != want {
			t.Errorf("fitted on %d rows, want %d", got, want)
		}
	})
	t.Run("rows without times are taken in order", func(t *testing.T) {
		d := foldData(1000, 0)
		f, err := newInnerFold(d, 1)
		if err != nil {
			t.Fatal(err)
		}
		if f.method != "row_order" || len(f.fit) != 800 || f.fit[799] != 799 || len(f.valid) != 200 || f.valid[0] != 800 {
			t.Errorf("method %q, fitted on %d rows, fold %v…; want row_order, the first 800 and the last 200", f.method, len(f.fit), f.valid[:3])
		}
	})
	t.Run("rows all at one time are taken in order", func(t *testing.T) {
		d := foldData(1000, 0)
		d.TrainTimes = make([]int64, 1000)
		f, err := newInnerFold(d, 1)
		if err != nil {
			t.Fatal(err)
		}
		if f.method != "row_order" {
			t.Errorf("method %q, want row_order", f.method)
		}
	})
	t.Run("a random outer split gives a seeded random fold", func(t *testing.T) {
		d := foldData(5000, 12)
		d.Shuffled = true
		a, err := newInnerFold(d, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := newInnerFold(d, 1)
		c, _ := newInnerFold(d, 2)
		if a.method != "random" || len(a.valid) < 900 || len(a.valid) > 1100 || len(a.fit)+len(a.valid) != 5000 {
			t.Errorf("method %q, fold of %d rows, fitted on %d; want random, about 1000 and the rest", a.method, len(a.valid), len(a.fit))
		}
		if !slices.Equal(a.valid, b.valid) || slices.Equal(a.valid, c.valid) {
			t.Errorf("the same seed must give the same fold and another seed another")
		}
		if a.valid[len(a.valid)-1] < 4000 || a.valid[0] > 1000 {
			t.Errorf("the random fold spans rows %d to %d, want rows from the whole range", a.valid[0], a.valid[len(a.valid)-1])
		}
	})
	t.Run("a fold without won rows is refused", func(t *testing.T) {
		d := foldData(1000, 0)
		for i := 800; i < 1000; i++ {
			d.TrainLabels[i] = false
		}
		_, err := newInnerFold(d, 1)
		if err == nil || !strings.Contains(err.Error(), "both outcomes") {
			t.Errorf("got %v, want an error saying the fold needs both outcomes", err)
		}
	})
}

func pick(v []int64, idx []int) []int64 {
	out := make([]int64, len(idx))
	for k, i := range idx {
		out[k] = v[i]
	}
	return out
}

func TestTuneOptionsRefuseBadKnots(t *testing.T) {
	t.Parallel()
	for _, knots := range []int{-1, 16} {
		err := TuneOptions{Knots: []int{0, knots}}.check()
		if err == nil || !strings.Contains(err.Error(), "tune.knots") {
			t.Errorf("knots %d: got %v, want an error naming tune.knots", knots, err)
		}
	}
	if err := (TuneOptions{Knots: []int{0, 8, 15}}).check(); err != nil {
		t.Errorf("knots 0, 8, 15: %v", err)
	}
}
