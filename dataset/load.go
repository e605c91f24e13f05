package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/leadscore/leadscore"
)

// HistoryFiles names the three files of a lead history. Leads is required;
// a history without events or outcomes may leave those empty.
type HistoryFiles struct {
	Leads    string
	Events   string
	Outcomes string
}

// LoadStats reports what loading a history read and skipped.
type LoadStats struct {
	Leads, Events, Outcomes ReadStats
}

// LoadHistory reads three history files into a columnar History, streaming
// each file once (twice for leads, whose attribute kinds are inferred over
// the whole file first). In lenient mode, records the builder refuses (an
// event of an unknown lead, say) are skipped and counted like bad records.
func LoadHistory(ctx context.Context, files HistoryFiles, opts ReadOptions) (*History, LoadStats, error) {
	var stats LoadStats
	if files.Leads == "" {
		return nil, stats, leadscore.InvalidField("leads file", "", "is required")
	}
	b := NewHistoryBuilder()
	var err error
	stats.Leads, err = ReadLeads(ctx, files.Leads, opts, func(l leadscore.Lead) error {
		return b.AddLead(l)
	})
	if err != nil {
		return nil, stats, fmt.Errorf("load history: %w", err)
	}
	if files.Events != "" {
		var refused refusals
		stats.Events, err = ReadEvents(ctx, files.Events, opts, func(e leadscore.Event) error {
			return refused.keep(opts, b.AddEvent(e))
		})
		if err != nil {
			return nil, stats, fmt.Errorf("load history: %w", err)
		}
		refused.count(opts, &stats.Events)
	}
	if files.Outcomes != "" {
		var refused refusals
		stats.Outcomes, err = ReadOutcomes(ctx, files.Outcomes, opts, func(o leadscore.Outcome) error {
			return refused.keep(opts, b.AddOutcome(o))
		})
		if err != nil {
			return nil, stats, fmt.Errorf("load history: %w", err)
		}
		refused.count(opts, &stats.Outcomes)
	}
	h, err := b.Build()
	if err != nil {
		return nil, stats, fmt.Errorf("load history: %w", err)
	}
	return h, stats, nil
}

// refusals collects the records a lenient load skips because the history
// builder refused them (the reader had found them well formed).
type refusals []error

// keep swallows a builder error in lenient mode, remembering it.
func (r *refusals) keep(opts ReadOptions, err error) error {
	if err == nil || !opts.Lenient || leadscore.ErrorCode(err) != leadscore.EINVALID {
		return err
	}
	*r = append(*r, err)
	return nil
}

// count moves the refused records from the read's records to its skipped
// ones.
func (r refusals) count(opts ReadOptions, stats *ReadStats) {
	stats.Records -= len(r)
	stats.Skipped += len(r)
	max := opts.MaxErrors
	if max == 0 {
		max = DefaultMaxErrors
	}
	for _, err := range r {
		if len(stats.Errors) >= max {
			break
		}
		stats.Errors = append(stats.Errors, err)
	}
}

// LoadHistoryFromStore reads the history kept in the service's store into
// a columnar History, streaming its tables from one consistent snapshot.
func LoadHistoryFromStore(ctx context.Context, store leadscore.HistoryStore) (*History, error) {
	b := NewHistoryBuilder()
	err := store.ScanHistory(ctx, leadscore.HistoryScan{
		Leads:    b.AddLead,
		Events:   b.AddEvent,
		Outcomes: b.AddOutcome,
	})
	if err != nil {
		return nil, fmt.Errorf("load history from the store: %w", err)
	}
	h, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("load history from the store: %w", err)
	}
	return h, nil
}

// ObservedUntil reads when a history directory's observation ended from
// the manifest.json beside its files (`leadscore generate` writes one), so
// that the last snapshots are not dropped when the last days were quiet.
// It returns the zero time, meaning "the latest time in the data", when
// there is no readable manifest or it does not say.
func ObservedUntil(dir string) time.Time {
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return time.Time{}
	}
	var m struct {
		End time.Time `json:"history_end"`
	}
	if json.Unmarshal(data, &m) != nil {
		return time.Time{}
	}
	return m.End.UTC()
}
