package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

var _ leadscore.HistoryStore = (*DB)(nil)

// copyBatch is how many converted records travel together from the
// goroutine reading the source to COPY: large enough that the hand-over
// costs nothing per record, small enough that the records in flight take a
// few megabytes whatever the size of the import.
const copyBatch = 2048

// rollbackTimeout bounds the rollback of a failed import. It runs even when
// the caller's context is cancelled, so the connection goes back to the pool
// clean instead of being closed.
const rollbackTimeout = 30 * time.Second

// ImportHistory implements leadscore.HistoryStore. Each table is streamed
// from the source with COPY into a temporary staging table (dropped at
// commit), checked there with set-based queries (repeated ids, events of
// unknown leads), then merged into the real table with one
// INSERT ... SELECT ... ON CONFLICT, which is what makes the import both
// fast and idempotent. All of it is one transaction: a failure anywhere
// rolls everything back. Records are validated as they stream, so a bad
// one stops the source at once; the checks that need the whole table
// report the first offending record in source order once it is staged.
//
// An import of at least 100,000 events into an events table no larger
// than the import (an initial load, above all) is loaded in bulk: the
// table's keys, indexes and foreign key are dropped, the events inserted,
// and all of them rebuilt, each in one sorted pass, inside the same
// transaction. That holds an exclusive lock on events, so readers of
// events wait until the import commits; if the lock cannot be had within
// 5 seconds, the import merges row by row instead.
//
// Imports into one schema take a transaction-scoped advisory lock, so they
// run one at a time: two imports touching the same leads would otherwise
// lock rows in different orders and deadlock, and the inserted/updated split
// of the statistics could be skewed.
func (db *DB) ImportHistory(ctx context.Context, src leadscore.HistorySource, opts leadscore.ImportOptions) (leadscore.ImportStats, error) {
	var stats leadscore.ImportStats
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return stats, errorf(err, "import history: begin")
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = tx.Rollback(rctx) // A no-op after Commit.
	}()
	schema, err := currentSchema(ctx, tx)
	if err != nil {
		return stats, fmt.Errorf("import history: %w", err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", importLockKey(schema)); err != nil {
		return stats, errorf(err, "import history: wait for other imports into schema %q", schema)
	}
	im := importer{
		tx:       tx,
		now:      time.Now().UTC().Truncate(time.Microsecond),
		progress: storeutil.NewProgress(opts),
		stats:    &stats,
	}
	for _, step := range []func(context.Context, leadscore.HistorySource) error{im.leads, im.events, im.outcomes} {
		if err := step(ctx, src); err != nil {
			return leadscore.ImportStats{}, importError(ctx, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return leadscore.ImportStats{}, importError(ctx, errorf(err, "commit"))
	}
	return stats, nil
}

// importError wraps the error that ended an import. When the caller's
// context was cancelled, that is the cause whatever form the failure took
// (a broken COPY, an interrupted statement), and it is what is reported.
func importError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("import history: %w", cerr)
	}
	return fmt.Errorf("import history: %w", err)
}

// importLockKey derives the advisory lock that serialises imports into one
// schema, distinct from the migration lock.
func importLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("leadscore/import-history\x00" + schema))
	return int64(h.Sum64())
}

// importer holds the state of one import transaction.
type importer struct {
	tx       pgx.Tx
	now      time.Time
	progress *storeutil.Progress
	stats    *leadscore.ImportStats
}

// The staging tables live in pg_temp, so they can never clash with a table
// of the store, and vanish at commit or rollback. pos is the record's
// position in the source, counting from 1, for error messages and for
// keeping the first of two events with one id.
const (
	createLeadStage = `CREATE TEMPORARY TABLE leadscore_import_leads (
    pos BIGINT NOT NULL, id TEXT NOT NULL, account_id TEXT, owner TEXT,
    attributes JSONB NOT NULL, created_at TIMESTAMPTZ NOT NULL
) ON COMMIT DROP`
	createEventStage = `CREATE TEMPORARY TABLE leadscore_import_events (
    pos BIGINT NOT NULL, id TEXT NOT NULL, lead_id TEXT NOT NULL, type TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL, properties JSONB NOT NULL
) ON COMMIT DROP`
	createOutcomeStage = `CREATE TEMPORARY TABLE leadscore_import_outcomes (
    pos BIGINT NOT NULL, lead_id TEXT NOT NULL, status TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL, amount NUMERIC, currency TEXT
) ON COMMIT DROP`
)

var (
	leadStage    = pgx.Identifier{"pg_temp", "leadscore_import_leads"}
	eventStage   = pgx.Identifier{"pg_temp", "leadscore_import_events"}
	outcomeStage = pgx.Identifier{"pg_temp", "leadscore_import_outcomes"}
)

// leadRow is a validated lead in the form COPY sends it.
type leadRow struct {
	pos       int64
	id        string
	accountID pgtype.Text
	owner     pgtype.Text
	attrs     []byte
	createdAt time.Time
}

func (im *importer) leads(ctx context.Context, src leadscore.HistorySource) error {
	if _, err := im.tx.Exec(ctx, createLeadStage); err != nil {
		return errorf(err, "stage leads")
	}
	staged, err := copyStream(ctx, im.tx, leadscore.TableLeads, leadStage,
		[]string{"pos", "id", "account_id", "owner", "attributes", "created_at"},
		src.Leads, im.progress.Reporter(leadscore.TableLeads),
		func(n int64, l leadscore.Lead, r *leadRow) error {
			if err := l.Validate(); err != nil {
				return err
			}
			attrs, err := leadscore.AppendAttributesJSON(r.attrs[:0], l.Attributes)
			if err != nil {
				return err
			}
			*r = leadRow{pos: n, id: l.ID, accountID: nullable(l.AccountID), owner: nullable(l.Owner),
				attrs: attrs, createdAt: l.CreatedAt.UTC().Truncate(time.Microsecond)}
			return nil
		},
		func(r *leadRow, row []any) {
			row[0], row[1], row[2], row[3], row[4], row[5] = r.pos, r.id, r.accountID, r.owner, r.attrs, r.createdAt
		})
	if err != nil {
		return readError("leads", err)
	}

	tag, err := im.tx.Exec(ctx, `
INSERT INTO accounts (id, created_at, updated_at)
SELECT DISTINCT account_id, $1::timestamptz, $1::timestamptz FROM pg_temp.leadscore_import_leads WHERE account_id IS NOT NULL
ON CONFLICT (id) DO NOTHING`, im.now)
	if err != nil {
		return errorf(err, "create accounts of imported leads")
	}
	im.stats.AccountsInserted = tag.RowsAffected()

	var existing int64
	if err := im.tx.QueryRow(ctx,
		`SELECT count(*) FROM pg_temp.leadscore_import_leads s JOIN leads l ON l.id = s.id`,
	).Scan(&existing); err != nil {
		return errorf(err, "count stored leads")
	}
	affected, err := im.merge(ctx, "leads", `
INSERT INTO leads AS l (id, account_id, owner, attributes, created_at, updated_at, due_at)
SELECT id, account_id, owner, attributes, created_at, $1, $1 FROM pg_temp.leadscore_import_leads
ON CONFLICT (id) DO UPDATE SET
    account_id = excluded.account_id, owner = excluded.owner, attributes = excluded.attributes,
    created_at = excluded.created_at, updated_at = excluded.updated_at, due_at = excluded.due_at
WHERE (l.account_id, l.owner, l.attributes, l.created_at)
    IS DISTINCT FROM (excluded.account_id, excluded.owner, excluded.attributes, excluded.created_at)`,
		func(ctx context.Context, code string) error {
			if code == "21000" { // cardinality_violation: one id twice in the statement
				return im.repeatedRecord(ctx, leadscore.TableLeads, "leadscore_import_leads", "id")
			}
			return nil
		})
	if err != nil {
		return err
	}
	im.stats.LeadsInserted = staged - existing
	im.stats.LeadsUpdated = affected - im.stats.LeadsInserted
	im.stats.LeadsUnchanged = existing - im.stats.LeadsUpdated
	im.progress.Done(leadscore.TableLeads, staged)
	return nil
}

// eventRow is a validated event in the form COPY sends it.
type eventRow struct {
	pos        int64
	id         string
	leadID     string
	typ        string
	occurredAt time.Time
	props      []byte
}

func (im *importer) events(ctx context.Context, src leadscore.HistorySource) error {
	if _, err := im.tx.Exec(ctx, createEventStage); err != nil {
		return errorf(err, "stage events")
	}
	staged, err := copyStream(ctx, im.tx, leadscore.TableEvents, eventStage,
		[]string{"pos", "id", "lead_id", "type", "occurred_at", "properties"},
		src.Events, im.progress.Reporter(leadscore.TableEvents),
		func(n int64, e leadscore.Event, r *eventRow) error {
			if err := e.Validate(); err != nil {
				return err
			}
			*r = eventRow{pos: n, id: e.ID, leadID: e.LeadID, typ: e.Type,
				occurredAt: e.OccurredAt.UTC().Truncate(time.Microsecond),
				props:      leadscore.AppendPropertiesJSON(r.props[:0], e.Properties)}
			return nil
		},
		func(r *eventRow, row []any) {
			row[0], row[1], row[2], row[3], row[4], row[5] = r.pos, r.id, r.leadID, r.typ, r.occurredAt, r.props
		})
	if err != nil {
		return readError("events", err)
	}
	inserted, err := im.mergeEvents(ctx, staged)
	if err != nil {
		return err
	}
	im.stats.EventsInserted = inserted
	im.stats.EventsDuplicate = staged - inserted
	im.progress.Done(leadscore.TableEvents, staged)
	return nil
}

// Bulk loading. Maintaining the events table's indexes and checking its
// foreign key row by row costs several times what inserting the rows does.
// When an import is at least as large as the table it lands in (an initial
// load, above all), it is cheaper to drop them, insert, and build them again
// in one sorted pass each, as PostgreSQL's own advice on populating a
// database says. It happens inside the import's transaction, so a failure
// rolls the dropped indexes back with everything else.
const (
	// bulkMinEvents is the smallest import loaded in bulk: below it, the
	// row-by-row merge is fast anyway and takes no exclusive lock.
	bulkMinEvents = 100_000
	// bulkLockTimeout bounds the wait for the exclusive lock a bulk load
	// needs. A long reader of events would otherwise stall the import, and
	// every reader queued behind it; instead the import merges row by row.
	bulkLockTimeout = "5s"
	// bulkMaintenanceWorkMem lets the index builds of a bulk load sort in
	// memory, for this transaction only.
	bulkMaintenanceWorkMem = "256MB"
)

// mergeEvents moves the staged events into the events table and returns how
// many it inserted: in bulk when the import is large relative to the table
// and the table can be locked, row by row with ON CONFLICT otherwise.
//
// Every event must name a known lead, also one skipped as a duplicate, so
// the leads of the staged events are checked with one anti-join rather than
// left to the foreign key, which sees only the events inserted. A bulk load
// validates the foreign key over every event it inserts anyway, so it needs
// the check only when it skipped some.
func (im *importer) mergeEvents(ctx context.Context, staged int64) (int64, error) {
	checkLeads := func() error { return im.checkLeads(ctx, leadscore.TableEvents, "leadscore_import_events") }
	if staged >= bulkMinEvents {
		// Counting stops after staged+1 rows, so a huge table costs no more
		// than the import to look at.
		var stored int64
		err := im.tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM events LIMIT $1) e`, staged+1).Scan(&stored)
		if err != nil {
			return 0, errorf(err, "count stored events")
		}
		if stored <= staged {
			inserted, done, err := im.bulkMergeEvents(ctx)
			if err == nil && done && inserted < staged {
				err = checkLeads()
			}
			if err != nil || done {
				return inserted, err
			}
		}
	}
	if err := checkLeads(); err != nil {
		return 0, err
	}
	// ON CONFLICT would skip a second record of an id within the import
	// too, but keep whichever the scan met first; the anti-join makes it
	// the first in source order.
	return im.merge(ctx, "events", `
INSERT INTO events (id, lead_id, type, occurred_at, properties, recorded_at)
SELECT s.id, s.lead_id, s.type, s.occurred_at, s.properties, $1 FROM pg_temp.leadscore_import_events s
WHERE NOT EXISTS (SELECT 1 FROM pg_temp.leadscore_import_events d WHERE d.id = s.id AND d.pos < s.pos)
ON CONFLICT (id) DO NOTHING`,
		func(ctx context.Context, code string) error {
			if code == "23503" { // foreign_key_violation
				return im.missingLead(ctx, leadscore.TableEvents, "leadscore_import_events")
			}
			return nil
		})
}

// tableDDL is how to rebuild what a bulk load drops from a table.
type tableDDL struct {
	keys    []namedDef // primary key and unique constraints
	indexes []namedDef // indexes no constraint owns, with their CREATE INDEX
	fks     []namedDef // foreign keys
}

// namedDef is a constraint's or an index's name and its definition, as
// pg_get_constraintdef and pg_get_indexdef write them.
type namedDef struct{ name, def string }

// bulkMergeEvents loads the staged events in bulk. It reports false, having
// changed nothing, when the table cannot be locked in time or another
// table's foreign key refers to it (its primary key cannot be dropped); the
// caller then merges row by row.
func (im *importer) bulkMergeEvents(ctx context.Context) (int64, bool, error) {
	if _, err := im.tx.Exec(ctx, "SAVEPOINT leadscore_import_bulk"); err != nil {
		return 0, false, errorf(err, "import events")
	}
	undo := func() error {
		_, err := im.tx.Exec(ctx, "ROLLBACK TO SAVEPOINT leadscore_import_bulk")
		return errorf(err, "import events")
	}
	locked, err := im.lockForBulk(ctx)
	if err != nil {
		return 0, false, err
	}
	if !locked {
		return 0, false, undo()
	}
	ddl, referenced, err := im.eventsDDL(ctx)
	if err != nil {
		return 0, false, err
	}
	if referenced {
		return 0, false, undo()
	}
	if err := im.dropForBulk(ctx, ddl); err != nil {
		return 0, false, err
	}

	// Ids already stored are skipped by the anti-join. Most imports repeat
	// no id within themselves, so the first attempt does not pay to look
	// for repeats; rebuilding the primary key finds any, and the second
	// attempt keeps the first record of each id.
	insert := `
INSERT INTO events (id, lead_id, type, occurred_at, properties, recorded_at)
SELECT s.id, s.lead_id, s.type, s.occurred_at, s.properties, $1 FROM pg_temp.leadscore_import_events s
WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = s.id)`
	dedupe := `
  AND NOT EXISTS (SELECT 1 FROM pg_temp.leadscore_import_events d WHERE d.id = s.id AND d.pos < s.pos)`
	if _, err := im.tx.Exec(ctx, "SAVEPOINT leadscore_import_bulk_insert"); err != nil {
		return 0, false, errorf(err, "import events")
	}
	inserted, err := im.insertAndKey(ctx, insert, ddl)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation: an id repeats within the import
		if _, err := im.tx.Exec(ctx, "ROLLBACK TO SAVEPOINT leadscore_import_bulk_insert"); err != nil {
			return 0, false, errorf(err, "import events")
		}
		inserted, err = im.insertAndKey(ctx, insert+dedupe, ddl)
	}
	if err != nil {
		return 0, false, errorf(err, "import events")
	}
	for _, ix := range ddl.indexes {
		if _, err := im.tx.Exec(ctx, ix.def); err != nil {
			return 0, false, errorf(err, "import events: rebuild index %s", ix.name)
		}
	}
	for _, fk := range ddl.fks {
		_, err := im.tx.Exec(ctx, "ALTER TABLE events ADD CONSTRAINT "+pgx.Identifier{fk.name}.Sanitize()+" "+fk.def)
		if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
			if err := undo(); err != nil {
				return 0, false, err
			}
			if clear := im.missingLead(ctx, leadscore.TableEvents, "leadscore_import_events"); clear != nil {
				return 0, false, clear
			}
		}
		if err != nil {
			return 0, false, errorf(err, "import events: restore foreign key %s", fk.name)
		}
	}
	if _, err := im.tx.Exec(ctx, "RELEASE SAVEPOINT leadscore_import_bulk"); err != nil {
		return 0, false, errorf(err, "import events")
	}
	return inserted, true, nil
}

// lockForBulk takes the locks a bulk load needs, waiting at most
// bulkLockTimeout, and reports whether it got them. It also raises the
// memory the index builds may use, for this transaction.
func (im *importer) lockForBulk(ctx context.Context) (bool, error) {
	var previous string
	err := im.tx.QueryRow(ctx, `SELECT current_setting('lock_timeout'), set_config('lock_timeout', $1, true)`,
		bulkLockTimeout).Scan(&previous, new(string))
	if err != nil {
		return false, errorf(err, "import events: set lock timeout")
	}
	// Dropping an index needs the table to itself; dropping and adding the
	// foreign key needs leads kept still.
	_, err = im.tx.Exec(ctx, `LOCK TABLE events IN ACCESS EXCLUSIVE MODE; LOCK TABLE leads IN SHARE ROW EXCLUSIVE MODE`)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
		return false, nil
	}
	if err != nil {
		return false, errorf(err, "import events: lock events")
	}
	_, err = im.tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true), set_config('maintenance_work_mem', $2, true)`,
		previous, bulkMaintenanceWorkMem)
	if err != nil {
		return false, errorf(err, "import events: restore lock timeout")
	}
	return true, nil
}

// eventsDDL reads how to rebuild the events table's keys, indexes and
// foreign keys from the catalog, so a bulk load restores exactly what the
// migrations made, whatever later migrations change. It reports whether
// another table's foreign key refers to events.
func (im *importer) eventsDDL(ctx context.Context) (tableDDL, bool, error) {
	var ddl tableDDL
	var referenced bool
	err := im.tx.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = 'events'::regclass AND contype = 'f')`,
	).Scan(&referenced)
	if err != nil || referenced {
		return ddl, referenced, errorf(err, "import events: read the events table's definition")
	}
	rows, err := im.tx.Query(ctx, `
SELECT conname, contype::text, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'events'::regclass AND contype IN ('p', 'u', 'f')
ORDER BY conname`)
	if err != nil {
		return ddl, false, errorf(err, "import events: read the events table's constraints")
	}
	for rows.Next() {
		var c namedDef
		var kind string
		if err := rows.Scan(&c.name, &kind, &c.def); err != nil {
			rows.Close()
			return ddl, false, errorf(err, "import events: read the events table's constraints")
		}
		if kind == "f" {
			ddl.fks = append(ddl.fks, c)
		} else {
			ddl.keys = append(ddl.keys, c)
		}
	}
	if err := rows.Err(); err != nil {
		return ddl, false, errorf(err, "import events: read the events table's constraints")
	}
	// An index's regclass text is its name, quoted and qualified as
	// needed to drop it.
	rows, err = im.tx.Query(ctx, `
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
WHERE i.indrelid = 'events'::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = i.indrelid AND c.conindid = i.indexrelid)
ORDER BY i.indexrelid`)
	if err != nil {
		return ddl, false, errorf(err, "import events: read the events table's indexes")
	}
	ddl.indexes, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (namedDef, error) {
		var d namedDef
		err := row.Scan(&d.name, &d.def)
		return d, err
	})
	if err != nil {
		return ddl, false, errorf(err, "import events: read the events table's indexes")
	}
	return ddl, false, nil
}

// dropForBulk drops the foreign keys, then the keys, then the other
// indexes of events.
func (im *importer) dropForBulk(ctx context.Context, ddl tableDDL) error {
	var b strings.Builder
	for _, c := range append(slices.Clone(ddl.fks), ddl.keys...) {
		fmt.Fprintf(&b, "ALTER TABLE events DROP CONSTRAINT %s;\n", pgx.Identifier{c.name}.Sanitize())
	}
	for _, ix := range ddl.indexes {
		fmt.Fprintf(&b, "DROP INDEX %s;\n", ix.name)
	}
	if b.Len() == 0 {
		return nil
	}
	if _, err := im.tx.Exec(ctx, b.String()); err != nil {
		return errorf(err, "import events: drop indexes for a bulk load")
	}
	return nil
}

// insertAndKey runs one attempt of the bulk insert and rebuilds the keys,
// which is where an id repeated within the import shows.
func (im *importer) insertAndKey(ctx context.Context, insert string, ddl tableDDL) (int64, error) {
	tag, err := im.tx.Exec(ctx, insert, im.now)
	if err != nil {
		return 0, err
	}
	for _, k := range ddl.keys {
		if _, err := im.tx.Exec(ctx, "ALTER TABLE events ADD CONSTRAINT "+pgx.Identifier{k.name}.Sanitize()+" "+k.def); err != nil {
			return 0, err
		}
	}
	return tag.RowsAffected(), nil
}

// outcomeRow is a validated outcome in the form COPY sends it.
type outcomeRow struct {
	pos        int64
	leadID     string
	status     string
	occurredAt time.Time
	amount     pgtype.Float8
	currency   pgtype.Text
}

func (im *importer) outcomes(ctx context.Context, src leadscore.HistorySource) error {
	if _, err := im.tx.Exec(ctx, createOutcomeStage); err != nil {
		return errorf(err, "stage outcomes")
	}
	staged, err := copyStream(ctx, im.tx, leadscore.TableOutcomes, outcomeStage,
		[]string{"pos", "lead_id", "status", "occurred_at", "amount", "currency"},
		src.Outcomes, im.progress.Reporter(leadscore.TableOutcomes),
		func(n int64, o leadscore.Outcome, r *outcomeRow) error {
			if err := o.Validate(); err != nil {
				return err
			}
			*r = outcomeRow{pos: n, leadID: o.LeadID, status: o.Status.String(),
				occurredAt: o.OccurredAt.UTC().Truncate(time.Microsecond)}
			// "No amount" is stored as NULL rather than 0, so that the
			// schema's rule "an amount has a currency" holds.
			if o.Amount != 0 || o.Currency != "" {
				r.amount = pgtype.Float8{Float64: o.Amount, Valid: true}
				r.currency = pgtype.Text{String: o.Currency, Valid: true}
			}
			return nil
		},
		func(r *outcomeRow, row []any) {
			row[0], row[1], row[2], row[3], row[4], row[5] = r.pos, r.leadID, r.status, r.occurredAt, r.amount, r.currency
		})
	if err != nil {
		return readError("outcomes", err)
	}
	var existing int64
	if err := im.tx.QueryRow(ctx,
		`SELECT count(*) FROM pg_temp.leadscore_import_outcomes s JOIN outcomes o ON o.lead_id = s.lead_id`,
	).Scan(&existing); err != nil {
		return errorf(err, "count stored outcomes")
	}
	affected, err := im.merge(ctx, "outcomes", `
INSERT INTO outcomes AS o (lead_id, status, occurred_at, amount, currency, recorded_at)
SELECT lead_id, status, occurred_at, amount, currency, $1 FROM pg_temp.leadscore_import_outcomes
ON CONFLICT (lead_id) DO UPDATE SET
    status = excluded.status, occurred_at = excluded.occurred_at, amount = excluded.amount,
    currency = excluded.currency, recorded_at = excluded.recorded_at
WHERE (o.status, o.occurred_at, o.amount, o.currency)
    IS DISTINCT FROM (excluded.status, excluded.occurred_at, excluded.amount, excluded.currency)`,
		func(ctx context.Context, code string) error {
			switch code {
			case "21000":
				return im.repeatedRecord(ctx, leadscore.TableOutcomes, "leadscore_import_outcomes", "lead_id")
			case "23503":
				return im.missingLead(ctx, leadscore.TableOutcomes, "leadscore_import_outcomes")
			}
			return nil
		})
	if err != nil {
		return err
	}
	im.stats.OutcomesInserted = staged - existing
	im.stats.OutcomesUpdated = affected - im.stats.OutcomesInserted
	im.stats.OutcomesUnchanged = existing - im.stats.OutcomesUpdated
	im.progress.Done(leadscore.TableOutcomes, staged)
	return nil
}

// merge runs the statement that moves a staging table into table, with the
// import's time as $1, and returns the rows it inserted or changed. When
// PostgreSQL refuses the statement, explain may return a clearer error
// naming the offending record: it runs after a rollback to a savepoint
// taken before the statement, so it can still query the staging tables. An
// explain that returns nil leaves the database error as it is.
func (im *importer) merge(ctx context.Context, table, sql string, explain func(ctx context.Context, sqlState string) error) (int64, error) {
	if _, err := im.tx.Exec(ctx, "SAVEPOINT leadscore_import_merge"); err != nil {
		return 0, errorf(err, "import %s", table)
	}
	tag, err := im.tx.Exec(ctx, sql, im.now)
	if err == nil {
		if _, err := im.tx.Exec(ctx, "RELEASE SAVEPOINT leadscore_import_merge"); err != nil {
			return 0, errorf(err, "import %s", table)
		}
		return tag.RowsAffected(), nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if _, rerr := im.tx.Exec(ctx, "ROLLBACK TO SAVEPOINT leadscore_import_merge"); rerr == nil {
			if clear := explain(ctx, pgErr.Code); clear != nil {
				return 0, clear
			}
		}
	}
	return 0, errorf(err, "import %s", table)
}

// repeatedRecord finds the first record of a staging table whose key
// column repeats an earlier record's, and describes it.
func (im *importer) repeatedRecord(ctx context.Context, table, stage, column string) error {
	var pos, first int64
	var key string
	err := im.tx.QueryRow(ctx, fmt.Sprintf(`
SELECT pos, %[1]s, first FROM (
    SELECT pos, %[1]s, min(pos) OVER (PARTITION BY %[1]s) AS first FROM pg_temp.%[2]s
) s WHERE pos <> first ORDER BY pos LIMIT 1`, column, stage)).Scan(&pos, &key, &first)
	if err != nil {
		return nil
	}
	return leadscore.RepeatedRecordError(table, pos, first, column, key)
}

// missingLead finds the first record of a staging table whose lead_id
// names no lead, and describes it; it returns nil when there is none or
// the query fails, leaving the caller's error to stand.
func (im *importer) missingLead(ctx context.Context, table, stage string) error {
	pos, leadID, err := im.firstUnknownLead(ctx, stage)
	if err != nil || pos == 0 {
		return nil
	}
	return leadscore.UnknownLeadError(table, pos, leadID)
}

// checkLeads fails with a record error if any record of a staging table
// names a lead the store does not hold.
func (im *importer) checkLeads(ctx context.Context, table, stage string) error {
	pos, leadID, err := im.firstUnknownLead(ctx, stage)
	if err != nil {
		return errorf(err, "check the leads of imported %s", table)
	}
	if pos != 0 {
		return leadscore.UnknownLeadError(table, pos, leadID)
	}
	return nil
}

// firstUnknownLead returns the position and lead id of the first staged
// record whose lead does not exist, or 0 when every lead does.
func (im *importer) firstUnknownLead(ctx context.Context, stage string) (int64, string, error) {
	var pos int64
	var leadID string
	err := im.tx.QueryRow(ctx, fmt.Sprintf(`
SELECT s.pos, s.lead_id FROM pg_temp.%s s
WHERE NOT EXISTS (SELECT 1 FROM leads l WHERE l.id = s.lead_id)
ORDER BY s.pos LIMIT 1`, stage)).Scan(&pos, &leadID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", nil
	}
	return pos, leadID, err
}

// copyStream copies the records read streams into the staging table
// through COPY and returns how many it copied. A goroutine reads the
// source, validating and converting each record with convert, and hands
// them over in batches, so reading and parsing overlap with sending and
// nothing holds more than a few batches. fill points a COPY row at a
// converted record's fields (as values: pgx encodes pointers through a
// slower, allocating path); pgx encodes each row before it asks for the
// next, so rows and batches are reused.
//
// The first error of the source, of convert or of COPY stops both sides;
// a record error carries the record's position. Cancelling ctx stops the
// source at the next batch.
func copyStream[T, R any](ctx context.Context, tx pgx.Tx, table string, stage pgx.Identifier, columns []string,
	read func(context.Context, func(T) error) error, report func(int64),
	convert func(n int64, rec T, r *R) error, fill func(r *R, row []any),
) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	const batches = 3
	full := make(chan []R, batches)
	free := make(chan []R, batches)
	for range batches {
		free <- make([]R, 0, copyBatch)
	}
	var readErr error // Written before full is closed, read after.
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(full)
		var n int64
		cur := <-free
		var fnErr error
		err := read(ctx, func(rec T) error {
			if fnErr != nil {
				// The source ignored the error returned for an earlier
				// record; it cannot be imported past it.
				return fnErr
			}
			n++
			cur = cur[:len(cur)+1]
			if err := convert(n, rec, &cur[len(cur)-1]); err != nil {
				fnErr = leadscore.RecordError(table, n, err)
				return fnErr
			}
			report(n)
			if len(cur) < cap(cur) {
				return nil
			}
			if err := ctx.Err(); err != nil {
				fnErr = err
				return err
			}
			full <- cur // Never blocks: full has room for every batch.
			select {
			case cur = <-free:
				cur = cur[:0]
			case <-ctx.Done():
				fnErr = ctx.Err()
				return fnErr
			}
			return nil
		})
		if err == nil {
			err = fnErr
		}
		if err == nil && len(cur) > 0 {
			full <- cur
		}
		readErr = err
	}()

	var cur []R
	var i int
	var aborted error
	row := make([]any, len(columns))
	next := func() ([]any, error) {
		if i == len(cur) {
			if cur != nil {
				free <- cur
			}
			batch, ok := <-full
			if !ok {
				cur = nil
				if readErr != nil {
					aborted = readErr
					return nil, readErr
				}
				return nil, nil
			}
			cur, i = batch, 0
		}
		fill(&cur[i], row)
		i++
		return row, nil
	}
	copied, err := tx.CopyFrom(ctx, stage, columns, pgx.CopyFromFunc(next))
	cancel()
	<-readDone
	switch {
	case aborted != nil:
		// The source or a record failed, and COPY reports only that it was
		// aborted; the cause is what the caller needs.
		return 0, aborted
	case err != nil:
		return 0, errorf(err, "copy into %s", stage.Sanitize())
	}
	return copied, nil
}

// readError adds which table was being read to a source's error, unless
// the error already says where: a record error (from the importer or from a
// reader naming a file line) needs no more words.
func readError(table string, err error) error {
	if leadscore.ErrorCode(err) == leadscore.EINVALID {
		return err
	}
	return fmt.Errorf("read %s: %w", table, err)
}

// nullable maps "" to NULL, as the schema stores an absent account or
// owner.
func nullable(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

// scanCheckEvery is how many rows a scan streams between checks of its
// context, for the rows pgx has already buffered.
const scanCheckEvery = 4096

// ScanHistory implements leadscore.HistoryStore. It reads in one read-only
// REPEATABLE READ transaction, so the three tables come from one snapshot,
// and streams each table's rows from the server as the callbacks take them.
func (db *DB) ScanHistory(ctx context.Context, scan leadscore.HistoryScan) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return errorf(err, "scan history: begin")
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	collate, err := byteOrder(ctx, tx)
	if err != nil {
		return err
	}
	if scan.Leads != nil {
		if err := scanLeads(ctx, tx, collate, scan.Leads); err != nil {
			return err
		}
	}
	if scan.Events != nil {
		if err := scanEvents(ctx, tx, collate, scan.Events); err != nil {
			return err
		}
	}
	if scan.Outcomes != nil {
		if err := scanOutcomes(ctx, tx, collate, scan.Outcomes); err != nil {
			return err
		}
	}
	return nil
}

// byteOrder returns what ORDER BY needs to compare ids byte by byte, as
// the SQLite backend and Go do: nothing when the id columns' collation
// already does (C or POSIX, or the database default when that is one of
// them), so that the primary keys and the events index deliver rows in
// order without a sort; COLLATE "C" otherwise, at the price of a sort.
func byteOrder(ctx context.Context, tx pgx.Tx) (string, error) {
	var bytewise bool
	// datlocprovider exists from PostgreSQL 15 on; reading it through
	// to_jsonb works on earlier versions too, where it is NULL (libc).
	err := tx.QueryRow(ctx, `
SELECT bool_and(CASE WHEN c.collname = 'default'
    THEN coalesce(to_jsonb(d) ->> 'datlocprovider', 'c') = 'c'
         AND (d.datcollate IN ('C', 'POSIX') OR d.datcollate LIKE 'C.%')
    ELSE c.collprovider = 'c' AND (c.collcollate IN ('C', 'POSIX') OR c.collcollate LIKE 'C.%')
END)
FROM pg_attribute a
JOIN pg_collation c ON c.oid = a.attcollation
JOIN pg_database d ON d.datname = current_database()
WHERE (a.attrelid, a.attname) IN (('leads'::regclass, 'id'), ('events'::regclass, 'lead_id'),
                                  ('events'::regclass, 'id'), ('outcomes'::regclass, 'lead_id'))`,
	).Scan(&bytewise)
	if err != nil {
		return "", errorf(err, "scan history: read the collation of ids")
	}
	if bytewise {
		return "", nil
	}
	return ` COLLATE "C"`, nil
}

func scanLeads(ctx context.Context, tx pgx.Tx, collate string, fn func(leadscore.Lead) error) error {
	rows, err := tx.Query(ctx, `SELECT id, account_id, owner, attributes, created_at FROM leads ORDER BY id`+collate)
	if err != nil {
		return errorf(err, "scan leads")
	}
	defer rows.Close()
	var (
		id             string
		account, owner pgtype.Text
		attrs          []byte
		createdAt      time.Time
	)
	for n := 1; rows.Next(); n++ {
		if n%scanCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("scan leads: %w", err)
			}
		}
		if err := rows.Scan(&id, &account, &owner, &attrs, &createdAt); err != nil {
			return errorf(err, "scan leads")
		}
		attributes, err := leadscore.ParseAttributesJSON(attrs)
		if err != nil {
			return leadscore.Errorf(leadscore.EINTERNAL, "scan leads: lead %q: %w", id, err)
		}
		lead := leadscore.Lead{ID: id, AccountID: account.String, Owner: owner.String,
			CreatedAt: createdAt.UTC(), Attributes: attributes}
		if err := fn(lead); err != nil {
			return fmt.Errorf("scan leads: %w", err)
		}
	}
	return errorf(rows.Err(), "scan leads")
}

func scanEvents(ctx context.Context, tx pgx.Tx, collate string, fn func(leadscore.Event) error) error {
	rows, err := tx.Query(ctx, `SELECT id, lead_id, type, occurred_at, properties FROM events
ORDER BY lead_id`+collate+`, occurred_at, id`+collate)
	if err != nil {
		return errorf(err, "scan events")
	}
	defer rows.Close()
	var (
		id, leadID, typ string
		occurredAt      time.Time
		props           []byte
	)
	for n := 1; rows.Next(); n++ {
		if n%scanCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("scan events: %w", err)
			}
		}
		if err := rows.Scan(&id, &leadID, &typ, &occurredAt, &props); err != nil {
			return errorf(err, "scan events")
		}
		properties, err := leadscore.ParsePropertiesJSON(props)
		if err != nil {
			return leadscore.Errorf(leadscore.EINTERNAL, "scan events: event %q: %w", id, err)
		}
		event := leadscore.Event{ID: id, LeadID: leadID, Type: typ, OccurredAt: occurredAt.UTC(), Properties: properties}
		if err := fn(event); err != nil {
			return fmt.Errorf("scan events: %w", err)
		}
	}
	return errorf(rows.Err(), "scan events")
}

func scanOutcomes(ctx context.Context, tx pgx.Tx, collate string, fn func(leadscore.Outcome) error) error {
	rows, err := tx.Query(ctx, `SELECT lead_id, status, occurred_at, amount, currency FROM outcomes ORDER BY lead_id`+collate)
	if err != nil {
		return errorf(err, "scan outcomes")
	}
	defer rows.Close()
	var (
		leadID, status string
		occurredAt     time.Time
		amount         pgtype.Float8
		currency       pgtype.Text
	)
	for n := 1; rows.Next(); n++ {
		if n%scanCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("scan outcomes: %w", err)
			}
		}
		if err := rows.Scan(&leadID, &status, &occurredAt, &amount, &currency); err != nil {
			return errorf(err, "scan outcomes")
		}
		st, err := leadscore.ParseOutcomeStatus("status", status)
		if err != nil {
			return leadscore.Errorf(leadscore.EINTERNAL, "scan outcomes: lead %q: %w", leadID, err)
		}
		outcome := leadscore.Outcome{LeadID: leadID, Status: st, OccurredAt: occurredAt.UTC(),
			Amount: amount.Float64, Currency: currency.String}
		if err := fn(outcome); err != nil {
			return fmt.Errorf("scan outcomes: %w", err)
		}
	}
	return errorf(rows.Err(), "scan outcomes")
}

// CountHistory implements leadscore.HistoryStore, counting the four tables
// in one snapshot.
func (db *DB) CountHistory(ctx context.Context) (leadscore.HistoryCounts, error) {
	var c leadscore.HistoryCounts
	err := db.pool.QueryRow(ctx, `
SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM events),
       (SELECT count(*) FROM outcomes), (SELECT count(*) FROM accounts)`,
	).Scan(&c.Leads, &c.Events, &c.Outcomes, &c.Accounts)
	if err != nil {
		return leadscore.HistoryCounts{}, errorf(err, "count history")
	}
	return c, nil
}
