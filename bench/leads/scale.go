package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
)

// scale grows the seeded store to about a million leads and times what
// the figures name at that size, against the server at -addr:
//
//   - the daily decay round: every lead is made due at once (as a day's
//     passing makes each due), and the server's scheduler rescores them
//     all in leased batches; the time until every lead holds a score made
//     after that moment;
//   - ListLeads: the first page of 50, with no filter and with each kind
//     of filter, -calls times each from one caller, as latency percentiles
//     at the client (loopback; the server's own time is a little less).
//
// It copies the leads the seed wrote -copies times by SQL (ids suffixed
// "@copyK", same account, owner and attributes) with their events, so the
// population scores as the generated one does.
func scale(args []string) error {
	fs := flag.NewFlagSet("scale", flag.ExitOnError)
	url := fs.String("pg", "", "the PostgreSQL URL")
	addr := fs.String("addr", "", "the server's gRPC address")
	copies := fs.Int("copies", 49, "how many copies of each seeded lead to add")
	calls := fs.Int("calls", 200, "ListLeads calls per filter")
	timeout := fs.Duration("timeout", 30*time.Minute, "how long to wait for the decay round")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, *url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	out := map[string]any{}

	start := time.Now()
	if _, err := conn.Exec(ctx, `INSERT INTO leads (id, account_id, owner, attributes, created_at, updated_at)
SELECT l.id || '@copy' || g, l.account_id, l.owner, l.attributes, l.created_at, l.updated_at
FROM leads l CROSS JOIN generate_series(1, $1) g WHERE l.id NOT LIKE '%@copy%'`, *copies); err != nil {
		return fmt.Errorf("copy leads: %w", err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO events (id, lead_id, type, occurred_at, properties, recorded_at)
SELECT e.id || '@copy' || g, e.lead_id || '@copy' || g, e.type, e.occurred_at, e.properties, e.recorded_at
FROM events e CROSS JOIN generate_series(1, $1) g WHERE e.lead_id NOT LIKE '%@copy%'`, *copies); err != nil {
		return fmt.Errorf("copy events: %w", err)
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	var leads, events int64
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM events)`).Scan(&leads, &events); err != nil {
		return err
	}
	out["leads"], out["events"], out["copy_seconds"] = leads, events, time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "%d leads with %d events in the store; marking every lead due...\n", leads, events)

	var mark time.Time
	if err := conn.QueryRow(ctx, `SELECT now()`).Scan(&mark); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `UPDATE leads SET due_at = $1, leased_until = NULL`, mark); err != nil {
		return fmt.Errorf("mark due: %w", err)
	}
	start = time.Now()
	for {
		var n int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM lead_scores WHERE scored_at >= $1`, mark).Scan(&n); err != nil {
			return err
		}
		if n >= leads {
			break
		}
		if time.Since(start) > *timeout {
			return fmt.Errorf("%d of %d leads rescored after %v", n, leads, *timeout)
		}
		time.Sleep(time.Second)
	}
	decay := time.Since(start)
	out["decay_seconds"], out["decay_leads_per_second"] = decay.Seconds(), float64(leads)/decay.Seconds()
	fmt.Fprintf(os.Stderr, "decay round of %d leads: %.1f s; timing ListLeads...\n", leads, decay.Seconds())

	// The most common owner and account: the filters' worst case.
	var owner, account string
	if err := conn.QueryRow(ctx, `SELECT COALESCE((SELECT owner FROM leads WHERE owner IS NOT NULL GROUP BY owner ORDER BY count(*) DESC LIMIT 1), ''),
    COALESCE((SELECT account_id FROM leads WHERE account_id IS NOT NULL GROUP BY account_id ORDER BY count(*) DESC LIMIT 1), '')`).Scan(&owner, &account); err != nil {
		return err
	}
	c, err := dial(*addr)
	if err != nil {
		return err
	}
	defer c.Close()
	client := leadscorev1.NewLeadServiceClient(c)
	reqs := map[string]*leadscorev1.ListLeadsRequest{
		"all":             {PageSize: 50},
		"tier very good":  {PageSize: 50, Tiers: []leadscorev1.Tier{leadscorev1.Tier_TIER_VERY_GOOD}},
		"cells A1 B1":     {PageSize: 50, Cells: []string{"A1", "B1"}},
		"owner":           {PageSize: 50, Owner: owner},
		"account":         {PageSize: 50, Account: "accounts/" + account},
		"by update":       {PageSize: 50, Order: leadscorev1.ListLeadsOrder_LIST_LEADS_ORDER_UPDATE_TIME_DESC},
		"second page all": {PageSize: 50},
	}
	if owner == "" {
		delete(reqs, "owner")
	}
	if account == "" {
		delete(reqs, "account")
	}
	list := map[string]any{}
	for name, req := range reqs {
		if name == "second page all" {
			first, err := client.ListLeads(ctx, &leadscorev1.ListLeadsRequest{PageSize: 50})
			if err != nil {
				return err
			}
			req.PageToken = first.GetNextPageToken()
		}
		var lat []time.Duration
		got := 0
		for range *calls {
			t0 := time.Now()
			res, err := client.ListLeads(ctx, req)
			if err != nil {
				return fmt.Errorf("ListLeads %s: %w", name, err)
			}
			lat = append(lat, time.Since(t0))
			got = len(res.GetLeads())
		}
		slices.Sort(lat)
		ms := func(p float64) float64 {
			return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
		}
		list[name] = map[string]any{"leads": got, "p50_ms": ms(0.5), "p99_ms": ms(0.99)}
	}
	out["list_first_page"] = list
	return json.NewEncoder(os.Stdout).Encode(out)
}
