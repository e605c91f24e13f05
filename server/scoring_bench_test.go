package server

import (
	"context"
	"testing"
	"time"

	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// BenchmarkScoreItemsRows scores chunks of 500 rows (no events) with the
// fixture's logistic model through the batch path StreamScore uses, without
// the transport: ns/op is per lead.
func BenchmarkScoreItemsRows(b *testing.B) {
	fx := testFixtures(b)
	sm := fuzzModelFrom(b, fx)
	at := time.Date(2024, time.October, 15, 0, 0, 0, 0, time.UTC)
	var leads []*leadscorev1.InlineLead
	for i := 0; len(leads) < 500; i++ {
		l := InlineLead(fx.history.Lead(i), nil, at)
		l.CreateTime = nil
		leads = append(leads, l)
	}
	cols, rows := rowsOf(&testing.T{}, leads)
	items := make([]*leadscorev1.ScoreItem, len(rows))
	for i, r := range rows {
		items[i] = &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_Row{Row: r}}
	}
	opts, err := parseScoreOptions("options", &leadscorev1.ScoreOptions{Columns: cols, ScoreTime: timestamppb.New(at)}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	plan, err := bindColumns("options", opts.columns, sm)
	if err != nil {
		b.Fatal(err)
	}
	s := &scoringService{}
	c := &scoreCall{sel: selection{sm: sm, alias: "champion"}, opts: &opts, plan: plan, at: timestamppb.New(at)}
	ctx := context.Background()
	n := 0
	for b.Loop() {
		if n%len(items) == 0 {
			if _, err := s.scoreItems(ctx, items, c); err != nil {
				b.Fatal(err)
			}
		}
		n++
	}
}
