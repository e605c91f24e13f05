// Command leadsbench is the Go side of the live-leads ingest benchmark
// that run.sh drives:
//
//	leadsbench seed -addr HOST:PORT -history DIR
//	leadsbench load -addr HOST:PORT -history DIR [-c 8] [-batch 100] [-duration 10s]
//	leadsbench raw  -pg URL -history DIR [-c 8] [-batch 100] [-duration 10s]
//	leadsbench rescored -pg URL -version N -leads N [-timeout 10m]
//	leadsbench scale -pg URL -addr HOST:PORT [-copies 49] [-calls 200]
//
// seed writes the leads of a generated history (leads.csv) through
// UpsertLeads. load sends RecordEvents calls of -batch events of leads
// drawn at random, with the event types of the history's own events, from
// -c concurrent callers, for -duration; each event gets a fresh id and the
// time of its sending, so every call records and rescores. raw is the
// reference: the same callers and batches written by raw pgx into scratch
// tables of the same shape (the events inserted with ON CONFLICT DO
// NOTHING, the touched leads' events read back in time order, one score
// row upserted per lead), one transaction a batch. Each prints one JSON
// line: events/s, calls/s and call latency percentiles. rescored waits
// until -leads leads have a current score by version -version of model
// default (counted in the database every 250ms) and prints how long that
// took from its start, and leads/s: run right after a promotion, it times
// the background rescoring of every live lead, the work a daily decay
// round does. scale (scale.go) grows the store to about a million leads and
// times a decay round of them all and ListLeads' first page.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: leadsbench seed|load|raw|rescored|scale [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "seed":
		err = seed(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	case "raw":
		err = raw(os.Args[2:])
	case "rescored":
		err = rescoredBy(os.Args[2:])
	case "scale":
		err = scale(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want seed, load, raw, rescored or scale", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "leadsbench:", err)
		os.Exit(1)
	}
}

// history is what the benchmark takes from a generated history: the leads
// and the event types in the proportions the history has them.
type history struct {
	h     *dataset.History
	types []string
}

func loadHistory(ctx context.Context, dir string) (*history, error) {
	h, _, err := dataset.LoadHistory(ctx, dataset.HistoryFiles{
		Leads: filepath.Join(dir, "leads.csv"), Events: filepath.Join(dir, "events.csv"), Outcomes: filepath.Join(dir, "outcomes.csv"),
	}, dataset.ReadOptions{})
	if err != nil {
		return nil, err
	}
	out := &history{h: h}
	for i := 0; i < h.Len() && len(out.types) < 100_000; i++ {
		for _, e := range h.Events(i) {
			out.types = append(out.types, e.Type)
		}
	}
	if len(out.types) == 0 {
		return nil, errors.New("the history has no events")
	}
	return out, nil
}

func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

func seed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	addr := fs.String("addr", "", "the server's gRPC address")
	dir := fs.String("history", "", "the generated history's directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	h, err := loadHistory(ctx, *dir)
	if err != nil {
		return err
	}
	conn, err := dial(*addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := leadscorev1.NewLeadServiceClient(conn)
	start := time.Now()
	var batch []*leadscorev1.Lead
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := client.UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{Leads: batch})
		batch = batch[:0]
		return err
	}
	for i := range h.h.Len() {
		l := h.h.Lead(i)
		pl := &leadscorev1.Lead{Name: leadscore.LeadName(l.ID), CreateTime: timestamppb.New(l.CreatedAt), Attributes: map[string]*leadscorev1.AttributeValue{}}
		for k, v := range l.Attributes {
			switch v.Kind {
			case leadscore.KindString:
				pl.Attributes[k] = &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_StringValue{StringValue: v.Str}}
			case leadscore.KindNumber:
				pl.Attributes[k] = &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_NumberValue{NumberValue: v.Num}}
			case leadscore.KindBool:
				pl.Attributes[k] = &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_BoolValue{BoolValue: v.Bool}}
			}
		}
		batch = append(batch, pl)
		if len(batch) == leadscore.MaxIngestBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"seeded_leads": h.h.Len(), "seconds": time.Since(start).Seconds()})
}

// loadFlags are the flags load and raw share.
type loadFlags struct {
	dir      *string
	c, batch *int
	duration *time.Duration
}

func newLoadFlags(fs *flag.FlagSet) loadFlags {
	return loadFlags{
		dir:      fs.String("history", "", "the generated history's directory"),
		c:        fs.Int("c", 8, "concurrent callers"),
		batch:    fs.Int("batch", 100, "events per call"),
		duration: fs.Duration("duration", 10*time.Second, "how long to send"),
	}
}

// run calls send from c callers for d with batches of events and reports
// the rates and latency percentiles.
func run(name string, h *history, f loadFlags, send func(ctx context.Context, evs []leadscore.Event) error) error {
	ctx := context.Background()
	var seq atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var errs atomic.Int64
	deadline := time.Now().Add(*f.duration)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range *f.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			evs := make([]leadscore.Event, *f.batch)
			var mine []time.Duration
			for time.Now().Before(deadline) {
				now := time.Now().UTC()
				for i := range evs {
					lead := rng.IntN(h.h.Len())
					evs[i] = leadscore.Event{
						ID: fmt.Sprintf("b%d", seq.Add(1)), LeadID: h.h.LeadID(lead),
						Type: h.types[rng.IntN(len(h.types))], OccurredAt: now.Add(-time.Duration(rng.IntN(3600)) * time.Second),
					}
				}
				t0 := time.Now()
				if err := send(ctx, evs); err != nil {
					errs.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	out := map[string]any{
		"target": name, "callers": *f.c, "batch": *f.batch, "seconds": elapsed.Seconds(),
		"calls": len(lat), "errors": errs.Load(),
		"events_per_second": float64(len(lat)**f.batch) / elapsed.Seconds(),
		"calls_per_second":  float64(len(lat)) / elapsed.Seconds(),
		"p50_ms":            pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "max_ms": pct(1),
	}
	if firstErr != nil {
		out["first_error"] = firstErr.Error()
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	addr := fs.String("addr", "", "the server's gRPC address")
	f := newLoadFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	h, err := loadHistory(context.Background(), *f.dir)
	if err != nil {
		return err
	}
	conn, err := dial(*addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := leadscorev1.NewLeadServiceClient(conn)
	return run("leadscore", h, f, func(ctx context.Context, evs []leadscore.Event) error {
		req := &leadscorev1.RecordEventsRequest{Events: make([]*leadscorev1.Event, len(evs))}
		for i, e := range evs {
			req.Events[i] = &leadscorev1.Event{EventId: e.ID, Lead: leadscore.LeadName(e.LeadID), Type: e.Type, OccurTime: timestamppb.New(e.OccurredAt)}
		}
		resp, err := client.RecordEvents(ctx, req)
		if err == nil && resp.GetNotRescoredCount() > 0 {
			err = fmt.Errorf("%d leads not rescored", resp.GetNotRescoredCount())
		}
		return err
	})
}

// rawSchema is the scratch schema of the reference: events and scores
// tables shaped like leadscore's.
const rawSchema = `
DROP SCHEMA IF EXISTS leadsbench_raw CASCADE;
CREATE SCHEMA leadsbench_raw;
CREATE TABLE leadsbench_raw.events (
    id TEXT COLLATE "C" PRIMARY KEY, lead_id TEXT COLLATE "C" NOT NULL, type TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL, properties JSONB NOT NULL DEFAULT '{}', recorded_at TIMESTAMPTZ NOT NULL);
CREATE INDEX ON leadsbench_raw.events (lead_id, occurred_at);
CREATE TABLE leadsbench_raw.scores (
    lead_id TEXT COLLATE "C" PRIMARY KEY, probability DOUBLE PRECISION NOT NULL, scored_at TIMESTAMPTZ NOT NULL);`

func raw(args []string) error {
	fs := flag.NewFlagSet("raw", flag.ExitOnError)
	url := fs.String("pg", "", "the PostgreSQL URL")
	f := newLoadFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	h, err := loadHistory(ctx, *f.dir)
	if err != nil {
		return err
	}
	cfg, err := pgxpool.ParseConfig(*url)
	if err != nil {
		return err
	}
	cfg.MaxConns = int32(*f.c)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, rawSchema); err != nil {
		return err
	}
	defer pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS leadsbench_raw CASCADE`)
	return run("raw pgx", h, f, func(ctx context.Context, evs []leadscore.Event) error {
		n := len(evs)
		ids, leads, types := make([]string, n), make([]string, n), make([]string, n)
		times := make([]time.Time, n)
		for i, e := range evs {
			ids[i], leads[i], types[i], times[i] = e.ID, e.LeadID, e.Type, e.OccurredAt
		}
		now := time.Now()
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO leadsbench_raw.events (id, lead_id, type, occurred_at, recorded_at)
SELECT * , $5::timestamptz FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) ON CONFLICT (id) DO NOTHING`,
				ids, leads, types, times, now); err != nil {
				return err
			}
			touched := slices.Compact(slices.Sorted(slices.Values(leads)))
			rows, err := tx.Query(ctx, `SELECT lead_id, type, occurred_at FROM leadsbench_raw.events
WHERE lead_id = ANY($1) ORDER BY lead_id, occurred_at, id`, touched)
			if err != nil {
				return err
			}
			counts := map[string]int{}
			for rows.Next() {
				var lead, typ string
				var at time.Time
				if err := rows.Scan(&lead, &typ, &at); err != nil {
					return err
				}
				counts[lead]++
			}
			if err := rows.Err(); err != nil {
				return err
			}
			probs := make([]float64, len(touched))
			for i, l := range touched {
				probs[i] = 1 / float64(2+counts[l])
			}
			_, err = tx.Exec(ctx, `INSERT INTO leadsbench_raw.scores (lead_id, probability, scored_at)
SELECT * , $3::timestamptz FROM unnest($1::text[], $2::float8[])
ON CONFLICT (lead_id) DO UPDATE SET probability = excluded.probability, scored_at = excluded.scored_at`, touched, probs, now)
			return err
		})
	})
}

func rescoredBy(args []string) error {
	fs := flag.NewFlagSet("rescored", flag.ExitOnError)
	url := fs.String("pg", "", "the PostgreSQL URL")
	version := fs.Int64("version", 2, "the version of model default")
	leads := fs.Int64("leads", 0, "how many leads must be scored by it")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, *url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	start := time.Now()
	for {
		var n int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM lead_scores s JOIN model_versions v ON v.id = s.model_version_id
JOIN models m ON m.id = v.model_id WHERE m.name = 'default' AND v.version = $1`, *version).Scan(&n); err != nil {
			return err
		}
		if n >= *leads {
			elapsed := time.Since(start)
			return json.NewEncoder(os.Stdout).Encode(map[string]any{
				"rescored_leads": n, "seconds": elapsed.Seconds(), "leads_per_second": float64(n) / elapsed.Seconds(),
			})
		}
		if time.Since(start) > *timeout {
			return fmt.Errorf("%d of %d leads rescored by version %d after %v", n, *leads, *version, *timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
