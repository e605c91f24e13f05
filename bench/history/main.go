// Command history is the measuring side of the history benchmark that
// run.sh drives. It loads a generated history, prepares the held-out rows
// exactly as `leadscore train --history DIR` does (trainer.FromHistory with
// the manifest's end of observation and default options), loads each
// artifact `train` wrote, checks that its feature spec is the one the rows
// were computed with, scores the held-out rows with model.Scorer.Raw and
// prints per artifact, as JSON lines: the held-out ROC AUC (which must match
// the AUC train reported), the top-decile lift, and Scorer.Raw's ns/row on
// one thread (best of 3 passes over the held-out rows).
//
//	history -dir DIR NAME=ARTIFACT...
//
// NAME is the artifact's family, optionally followed by "-" and a variant
// ("gbdt-tuned"); the artifact must hold a model of that family.
//
// Top-decile lift is the won rate among the 10% highest-scored held-out rows
// over the won rate of all of them. Rows tied on the score at the decile's
// edge count in proportion (their mean won rate fills the rest of the
// decile), so a model with few distinct scores, like points, is neither
// helped nor hurt by the order of ties.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/evaluator"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/trainer"
)

type result struct {
	Name           string  `json:"name"`
	Family         string  `json:"family"`
	ValidRows      int     `json:"valid_rows"`
	ValidPositives int     `json:"valid_positives"`
	AUC            float64 `json:"roc_auc"`
	ReportedAUC    float64 `json:"reported_roc_auc"`
	Lift10         float64 `json:"top_decile_lift"`
	TopDecileRate  float64 `json:"top_decile_won_rate"`
	BaseRate       float64 `json:"base_won_rate"`
	DistinctScores int     `json:"distinct_scores"`
	RawNsPerRow    float64 `json:"raw_ns_per_row"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "history:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", "", "the generated history directory")
	flag.Parse()
	if *dir == "" || flag.NArg() == 0 {
		return fmt.Errorf("usage: history -dir DIR NAME=ARTIFACT...")
	}
	ctx := context.Background()
	h, _, err := dataset.LoadHistory(ctx, dataset.HistoryFiles{
		Leads:    filepath.Join(*dir, "leads.csv"),
		Events:   filepath.Join(*dir, "events.csv"),
		Outcomes: filepath.Join(*dir, "outcomes.csv"),
	}, dataset.ReadOptions{})
	if err != nil {
		return err
	}
	end, err := observedUntil(*dir)
	if err != nil {
		return err
	}
	d, err := trainer.FromHistory(ctx, h, trainer.HistoryOptions{ObservedUntil: end})
	if err != nil {
		return err
	}
	spec, err := json.Marshal(d.Spec)
	if err != nil {
		return err
	}
	w := d.Spec.Width()
	n := len(d.ValidLabels)
	for _, arg := range flag.Args() {
		name, path, ok := strings.Cut(arg, "=")
		if !ok {
			return fmt.Errorf("argument %q: want NAME=ARTIFACT", arg)
		}
		family, _, _ := strings.Cut(name, "-")
		m, err := artifact.ReadFile(path)
		if err != nil {
			return err
		}
		if string(m.Family) != family {
			return fmt.Errorf("%s holds a %s model, not %s", path, m.Family, family)
		}
		got, err := json.Marshal(m.Spec)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, spec) {
			return fmt.Errorf("%s: its feature spec differs from the one the held-out rows were computed with", path)
		}
		s, err := model.NewScorer(m)
		if err != nil {
			return err
		}
		raw := make([]float64, n)
		best := math.Inf(1)
		for range 3 {
			t0 := time.Now()
			for i := range raw {
				raw[i] = s.Raw(d.ValidRows[i*w : (i+1)*w])
			}
			best = min(best, time.Since(t0).Seconds())
		}
		auc, err := evaluator.ROCAUC(raw, d.ValidLabels)
		if err != nil {
			return err
		}
		r := result{
			Name: name, Family: family, ValidRows: n, AUC: auc,
			ReportedAUC: m.Metadata.ValidationMetrics["roc_auc"],
			RawNsPerRow: best / float64(n) * 1e9,
		}
		if math.Abs(r.AUC-r.ReportedAUC) > 1e-9 {
			return fmt.Errorf("%s: held-out AUC %.6f here, %.6f reported by train: not the same held-out rows", name, r.AUC, r.ReportedAUC)
		}
		r.Lift10, r.TopDecileRate, r.BaseRate, r.DistinctScores = topLift(raw, d.ValidLabels, 0.1)
		for _, l := range d.ValidLabels {
			if l {
				r.ValidPositives++
			}
		}
		if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
			return err
		}
	}
	return nil
}

// topLift returns the lift of the top fraction q of rows by score, with
// rows tied at the edge counted in proportion, the won rates it compares,
// and the number of distinct scores.
func topLift(scores []float64, labels []bool, q float64) (lift, topRate, baseRate float64, distinct int) {
	n := len(scores)
	idx := make([]int, n)
	pos := 0
	for i := range idx {
		idx[i] = i
		if labels[i] {
			pos++
		}
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	k := q * float64(n)
	var taken, won float64
	for i := 0; i < n; {
		j := i
		groupWon := 0
		for j < n && scores[idx[j]] == scores[idx[i]] {
			if labels[idx[j]] {
				groupWon++
			}
			j++
		}
		distinct++
		size := float64(j - i)
		if taken < k {
			share := math.Min(size, k-taken)
			won += share / size * float64(groupWon)
			taken += share
		}
		i = j
	}
	topRate = won / k
	baseRate = float64(pos) / float64(n)
	return topRate / baseRate, topRate, baseRate, distinct
}

// observedUntil reads the end of a generated history from its manifest, as
// `leadscore train --history` does.
func observedUntil(dir string) (time.Time, error) {
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return time.Time{}, err
	}
	var m struct {
		End time.Time `json:"history_end"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return time.Time{}, fmt.Errorf("read manifest.json: %w", err)
	}
	return m.End, nil
}
