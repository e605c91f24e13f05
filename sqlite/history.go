package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

var _ leadscore.HistoryStore = (*DB)(nil)

// eventBatch is how many events one INSERT statement carries. Batching
// saves a statement execution per event; 6 parameters an event keep a
// batch far below SQLite's limit of 32766 parameters.
const eventBatch = 256

// checkEvery is how many records an import writes, or a scan reads,
// between checks of its context.
const checkEvery = 1024

// ImportHistory implements leadscore.HistoryStore in one write transaction.
// Events are inserted in batches by one prepared multi-row
// INSERT ... ON CONFLICT DO NOTHING, after a look-up of each event's lead
// (remembered for the next events of the same lead); leads and outcomes by
// prepared single-row statements, because each record needs its own answer
// (inserted, updated, unchanged, or a repetition within the import).
// Repetitions are found through temporary tables of the keys seen so far,
// which cost no memory in the process however large the import. Every
// check runs as its record is read, so a file reader can name the line of
// a record the store refuses.
//
// The transaction begins IMMEDIATE and holds SQLite's one write lock for
// the whole import, so imports are serialised, and other writers wait up to
// the busy timeout and then fail with EUNAVAILABLE. Readers are not
// blocked, and see the history as it was until the import commits.
func (db *DB) ImportHistory(ctx context.Context, src leadscore.HistorySource, opts leadscore.ImportOptions) (leadscore.ImportStats, error) {
	var stats leadscore.ImportStats
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return stats, importError(ctx, errorf(err, "begin"))
	}
	// After Commit this is a no-op; otherwise it undoes everything,
	// temporary tables included.
	defer func() { _ = tx.Rollback() }()
	im := importer{
		tx:       tx,
		now:      time.Now().UTC().Truncate(time.Microsecond).UnixMicro(),
		progress: storeutil.NewProgress(opts),
		stats:    &stats,
	}
	for _, step := range []func(context.Context, leadscore.HistorySource) error{im.leads, im.events, im.outcomes} {
		if err := step(ctx, src); err != nil {
			return leadscore.ImportStats{}, importError(ctx, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE temp.leadscore_import_leads; DROP TABLE temp.leadscore_import_outcomes`); err != nil {
		return leadscore.ImportStats{}, importError(ctx, errorf(err, "drop the import's temporary tables"))
	}
	if err := tx.Commit(); err != nil {
		return leadscore.ImportStats{}, importError(ctx, errorf(err, "commit"))
	}
	return stats, nil
}

// importError wraps the error that ended an import. When the caller's
// context was cancelled, that is the cause whatever form the failure took,
// and it is what is reported.
func importError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("import history: %w", cerr)
	}
	return fmt.Errorf("import history: %w", err)
}

// importer holds the state of one import transaction.
type importer struct {
	tx       *sql.Tx
	now      int64 // microseconds since the Unix epoch, as the schema keeps time
	progress *storeutil.Progress
	stats    *leadscore.ImportStats
}

// stream passes each record read yields to write with its position, and
// reports progress. The first error stops the source; a record's own error
// is returned with its position. If the source swallows an error write
// returned, the import still fails with it.
func stream[T any](ctx context.Context, table string, read func(context.Context, func(T) error) error,
	report func(int64), write func(n int64, rec T) error,
) (int64, error) {
	var n int64
	var fnErr error
	err := read(ctx, func(rec T) error {
		if fnErr != nil {
			return fnErr
		}
		n++
		if n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				fnErr = err
				return err
			}
		}
		if err := write(n, rec); err != nil {
			fnErr = err
			return err
		}
		report(n)
		return nil
	})
	if err == nil {
		err = fnErr
	}
	if err != nil {
		return n, readError(table, err)
	}
	return n, nil
}

// readError adds which table was being read to an error, unless the error
// already says where: a record error (from the importer or from a reader
// naming a file line) needs no more words.
func readError(table string, err error) error {
	if leadscore.ErrorCode(err) == leadscore.EINVALID {
		return err
	}
	return fmt.Errorf("read %s: %w", table, err)
}

func (im *importer) leads(ctx context.Context, src leadscore.HistorySource) error {
	// seen maps each lead id of this import to its record's position.
	if _, err := im.tx.ExecContext(ctx,
		`CREATE TEMP TABLE leadscore_import_leads (id TEXT NOT NULL PRIMARY KEY, pos INTEGER NOT NULL) WITHOUT ROWID`); err != nil {
		return errorf(err, "stage leads")
	}
	seen, err := im.prepare(ctx, `INSERT INTO temp.leadscore_import_leads (id, pos) VALUES (?, ?)
ON CONFLICT (id) DO UPDATE SET id = excluded.id RETURNING pos`)
	if err != nil {
		return err
	}
	defer seen.Close()
	account, err := im.prepare(ctx, `INSERT INTO accounts (id, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return err
	}
	defer account.Close()
	exists, err := im.prepare(ctx, `SELECT EXISTS (SELECT 1 FROM leads WHERE id = ?)`)
	if err != nil {
		return err
	}
	defer exists.Close()
	upsert, err := im.prepare(ctx, `INSERT INTO leads AS l (id, account_id, owner, attributes, created_at, updated_at, due_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    account_id = excluded.account_id, owner = excluded.owner, attributes = excluded.attributes,
    created_at = excluded.created_at, updated_at = excluded.updated_at, due_at = excluded.due_at
WHERE l.account_id IS NOT excluded.account_id OR l.owner IS NOT excluded.owner
    OR l.attributes IS NOT excluded.attributes OR l.created_at IS NOT excluded.created_at`)
	if err != nil {
		return err
	}
	defer upsert.Close()

	var attrs []byte
	n, err := stream(ctx, leadscore.TableLeads, src.Leads, im.progress.Reporter(leadscore.TableLeads),
		func(n int64, l leadscore.Lead) error {
			if err := l.Validate(); err != nil {
				return leadscore.RecordError(leadscore.TableLeads, n, err)
			}
			var first int64
			if err := seen.QueryRowContext(ctx, l.ID, n).Scan(&first); err != nil {
				return errorf(err, "import leads record %d", n)
			}
			if first != n {
				return leadscore.RepeatedRecordError(leadscore.TableLeads, n, first, "id", l.ID)
			}
			if l.AccountID != "" {
				res, err := account.ExecContext(ctx, l.AccountID, im.now, im.now)
				if err != nil {
					return errorf(err, "import leads record %d: create account %q", n, l.AccountID)
				}
				im.stats.AccountsInserted += rowsAffected(res)
			}
			var existed bool
			if err := exists.QueryRowContext(ctx, l.ID).Scan(&existed); err != nil {
				return errorf(err, "import leads record %d", n)
			}
			var err error
			if attrs, err = leadscore.AppendAttributesJSON(attrs[:0], l.Attributes); err != nil {
				return leadscore.RecordError(leadscore.TableLeads, n, err)
			}
			// attrs is passed as a string: the driver would store a []byte
			// as a BLOB, which the STRICT TEXT column refuses.
			res, err := upsert.ExecContext(ctx, l.ID, nullable(l.AccountID), nullable(l.Owner), string(attrs),
				micros(l.CreatedAt), im.now, im.now)
			if err != nil {
				return errorf(err, "import leads record %d", n)
			}
			switch changed := rowsAffected(res) == 1; {
			case !existed:
				im.stats.LeadsInserted++
			case changed:
				im.stats.LeadsUpdated++
			default:
				im.stats.LeadsUnchanged++
			}
			return nil
		})
	if err != nil {
		return err
	}
	im.progress.Done(leadscore.TableLeads, n)
	return nil
}

func (im *importer) events(ctx context.Context, src leadscore.HistorySource) error {
	w := eventWriter{im: im, args: make([]any, 0, eventBatch*eventColumns)}
	defer w.close()
	n, err := stream(ctx, leadscore.TableEvents, src.Events, im.progress.Reporter(leadscore.TableEvents),
		func(n int64, e leadscore.Event) error {
			if err := e.Validate(); err != nil {
				return leadscore.RecordError(leadscore.TableEvents, n, err)
			}
			if err := w.checkLead(ctx, n, e.LeadID); err != nil {
				return err
			}
			w.add(n, e)
			if w.len() < eventBatch {
				return nil
			}
			return w.flush(ctx)
		})
	if err != nil {
		return err
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	im.progress.Done(leadscore.TableEvents, n)
	return nil
}

const eventColumns = 6

// eventWriter collects events into batches and inserts each with one
// statement.
type eventWriter struct {
	im     *importer
	args   []any
	rows   int   // events in the batch
	first  int64 // position of the batch's first event
	stmts  map[int]*sql.Stmt
	exists *sql.Stmt           // looks up a lead
	known  map[string]struct{} // leads looked up and found
}

// knownLeads bounds the leads an import of events remembers having found.
const knownLeads = 1 << 16

func (w *eventWriter) len() int { return w.rows }

func (w *eventWriter) add(n int64, e leadscore.Event) {
	if w.len() == 0 {
		w.first = n
	}
	w.rows++
	w.args = append(w.args, e.ID, e.LeadID, e.Type, micros(e.OccurredAt),
		string(leadscore.AppendPropertiesJSON(nil, e.Properties)), w.im.now)
}

// flush inserts the batch, counting the events it skipped as duplicates.
func (w *eventWriter) flush(ctx context.Context) error {
	rows := w.len()
	if rows == 0 {
		return nil
	}
	stmt, err := w.stmt(ctx, rows)
	if err != nil {
		return err
	}
	res, err := stmt.ExecContext(ctx, w.args...)
	if err != nil {
		return errorf(err, "import events records %d to %d", w.first, w.first+int64(rows)-1)
	}
	inserted := rowsAffected(res)
	w.im.stats.EventsInserted += inserted
	w.im.stats.EventsDuplicate += int64(rows) - inserted
	w.args, w.rows = w.args[:0], 0
	return nil
}

// stmt returns the prepared INSERT for a batch of rows events: the full
// batch size, or the one smaller batch at the end.
func (w *eventWriter) stmt(ctx context.Context, rows int) (*sql.Stmt, error) {
	if s, ok := w.stmts[rows]; ok {
		return s, nil
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO events (id, lead_id, type, occurred_at, properties, recorded_at) VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(` ON CONFLICT (id) DO NOTHING`)
	s, err := w.im.prepare(ctx, b.String())
	if err != nil {
		return nil, err
	}
	if w.stmts == nil {
		w.stmts = map[int]*sql.Stmt{}
	}
	w.stmts[rows] = s
	return s, nil
}

// checkLead fails with a record error if the n-th event names a lead the
// store does not hold. Every event must name a known lead, also one skipped
// as a duplicate, so this is checked rather than left to the foreign key,
// which sees only the events inserted; and it is checked as the event is
// read, so a file reader can say on which line the event is. Leads found
// are remembered, up to knownLeads of them, because events come in runs of
// one lead.
func (w *eventWriter) checkLead(ctx context.Context, n int64, leadID string) error {
	if _, ok := w.known[leadID]; ok {
		return nil
	}
	if w.exists == nil {
		var err error
		if w.exists, err = w.im.prepare(ctx, `SELECT EXISTS (SELECT 1 FROM leads WHERE id = ?)`); err != nil {
			return err
		}
		w.known = make(map[string]struct{})
	}
	var exists bool
	if err := w.exists.QueryRowContext(ctx, leadID).Scan(&exists); err != nil {
		return errorf(err, "import events record %d: look up lead %q", n, leadID)
	}
	if !exists {
		return leadscore.UnknownLeadError(leadscore.TableEvents, n, leadID)
	}
	if len(w.known) >= knownLeads {
		clear(w.known)
	}
	w.known[leadID] = struct{}{}
	return nil
}

func (w *eventWriter) close() {
	for _, s := range w.stmts {
		_ = s.Close()
	}
	if w.exists != nil {
		_ = w.exists.Close()
	}
}

func (im *importer) outcomes(ctx context.Context, src leadscore.HistorySource) error {
	if _, err := im.tx.ExecContext(ctx,
		`CREATE TEMP TABLE leadscore_import_outcomes (lead_id TEXT NOT NULL PRIMARY KEY, pos INTEGER NOT NULL) WITHOUT ROWID`); err != nil {
		return errorf(err, "stage outcomes")
	}
	seen, err := im.prepare(ctx, `INSERT INTO temp.leadscore_import_outcomes (lead_id, pos) VALUES (?, ?)
ON CONFLICT (lead_id) DO UPDATE SET lead_id = excluded.lead_id RETURNING pos`)
	if err != nil {
		return err
	}
	defer seen.Close()
	exists, err := im.prepare(ctx, `SELECT EXISTS (SELECT 1 FROM outcomes WHERE lead_id = ?)`)
	if err != nil {
		return err
	}
	defer exists.Close()
	upsert, err := im.prepare(ctx, `INSERT INTO outcomes AS o (lead_id, status, occurred_at, amount, currency, recorded_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (lead_id) DO UPDATE SET
    status = excluded.status, occurred_at = excluded.occurred_at, amount = excluded.amount,
    currency = excluded.currency, recorded_at = excluded.recorded_at
WHERE o.status IS NOT excluded.status OR o.occurred_at IS NOT excluded.occurred_at
    OR o.amount IS NOT excluded.amount OR o.currency IS NOT excluded.currency`)
	if err != nil {
		return err
	}
	defer upsert.Close()

	n, err := stream(ctx, leadscore.TableOutcomes, src.Outcomes, im.progress.Reporter(leadscore.TableOutcomes),
		func(n int64, o leadscore.Outcome) error {
			if err := o.Validate(); err != nil {
				return leadscore.RecordError(leadscore.TableOutcomes, n, err)
			}
			var first int64
			if err := seen.QueryRowContext(ctx, o.LeadID, n).Scan(&first); err != nil {
				return errorf(err, "import outcomes record %d", n)
			}
			if first != n {
				return leadscore.RepeatedRecordError(leadscore.TableOutcomes, n, first, "lead_id", o.LeadID)
			}
			var existed bool
			if err := exists.QueryRowContext(ctx, o.LeadID).Scan(&existed); err != nil {
				return errorf(err, "import outcomes record %d", n)
			}
			// "No amount" is stored as NULL rather than 0, so that the
			// schema's rule "an amount has a currency" holds.
			var amount sql.NullFloat64
			var currency sql.NullString
			if o.Amount != 0 || o.Currency != "" {
				amount = sql.NullFloat64{Float64: o.Amount, Valid: true}
				currency = sql.NullString{String: o.Currency, Valid: true}
			}
			res, err := upsert.ExecContext(ctx, o.LeadID, o.Status.String(), micros(o.OccurredAt), amount, currency, im.now)
			if err != nil {
				if sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
					return leadscore.UnknownLeadError(leadscore.TableOutcomes, n, o.LeadID)
				}
				return errorf(err, "import outcomes record %d", n)
			}
			switch changed := rowsAffected(res) == 1; {
			case !existed:
				im.stats.OutcomesInserted++
			case changed:
				im.stats.OutcomesUpdated++
			default:
				im.stats.OutcomesUnchanged++
			}
			return nil
		})
	if err != nil {
		return err
	}
	im.progress.Done(leadscore.TableOutcomes, n)
	return nil
}

func (im *importer) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	s, err := im.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, errorf(err, "prepare import statement")
	}
	return s, nil
}

// rowsAffected returns how many rows a statement changed. The driver
// always knows, so the error database/sql allows for cannot occur.
func rowsAffected(res sql.Result) int64 {
	n, _ := res.RowsAffected()
	return n
}

// sqliteCode returns err's SQLite extended result code, or 0.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// micros is a time as the schema keeps it: microseconds since the Unix
// epoch, truncated as PostgreSQL does.
func micros(t time.Time) int64 { return t.Truncate(time.Microsecond).UnixMicro() }

// nullable maps "" to NULL, as the schema stores an absent account, owner
// or currency.
func nullable(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// ScanHistory implements leadscore.HistoryStore. It reads in one read
// transaction, which in WAL mode is a consistent snapshot that does not
// block writers, and steps through each table's rows as the callbacks take
// them. ids are compared with SQLite's BINARY collation, byte by byte.
func (db *DB) ScanHistory(ctx context.Context, scan leadscore.HistoryScan) error {
	tx, err := db.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return errorf(err, "scan history: begin")
	}
	defer func() { _ = tx.Rollback() }()
	if scan.Leads != nil {
		if err := scanLeads(ctx, tx, scan.Leads); err != nil {
			return err
		}
	}
	if scan.Events != nil {
		if err := scanEvents(ctx, tx, scan.Events); err != nil {
			return err
		}
	}
	if scan.Outcomes != nil {
		if err := scanOutcomes(ctx, tx, scan.Outcomes); err != nil {
			return err
		}
	}
	return nil
}

func scanLeads(ctx context.Context, tx *sql.Tx, fn func(leadscore.Lead) error) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, account_id, owner, attributes, created_at FROM leads ORDER BY id`)
	if err != nil {
		return errorf(err, "scan leads")
	}
	defer rows.Close()
	var (
		id             string
		account, owner sql.NullString
		attrs          []byte
		createdAt      int64
	)
	for n := 1; rows.Next(); n++ {
		if n%checkEvery == 0 {
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
			CreatedAt: time.UnixMicro(createdAt).UTC(), Attributes: attributes}
		if err := fn(lead); err != nil {
			return fmt.Errorf("scan leads: %w", err)
		}
	}
	return errorf(rows.Err(), "scan leads")
}

func scanEvents(ctx context.Context, tx *sql.Tx, fn func(leadscore.Event) error) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, lead_id, type, occurred_at, properties FROM events ORDER BY lead_id, occurred_at, id`)
	if err != nil {
		return errorf(err, "scan events")
	}
	defer rows.Close()
	var (
		id, leadID, typ string
		occurredAt      int64
		props           []byte
	)
	for n := 1; rows.Next(); n++ {
		if n%checkEvery == 0 {
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
		event := leadscore.Event{ID: id, LeadID: leadID, Type: typ,
			OccurredAt: time.UnixMicro(occurredAt).UTC(), Properties: properties}
		if err := fn(event); err != nil {
			return fmt.Errorf("scan events: %w", err)
		}
	}
	return errorf(rows.Err(), "scan events")
}

func scanOutcomes(ctx context.Context, tx *sql.Tx, fn func(leadscore.Outcome) error) error {
	rows, err := tx.QueryContext(ctx, `SELECT lead_id, status, occurred_at, amount, currency FROM outcomes ORDER BY lead_id`)
	if err != nil {
		return errorf(err, "scan outcomes")
	}
	defer rows.Close()
	var (
		leadID, status string
		occurredAt     int64
		amount         sql.NullFloat64
		currency       sql.NullString
	)
	for n := 1; rows.Next(); n++ {
		if n%checkEvery == 0 {
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
		outcome := leadscore.Outcome{LeadID: leadID, Status: st, OccurredAt: time.UnixMicro(occurredAt).UTC(),
			Amount: amount.Float64, Currency: currency.String}
		if err := fn(outcome); err != nil {
			return fmt.Errorf("scan outcomes: %w", err)
		}
	}
	return errorf(rows.Err(), "scan outcomes")
}

// CountHistory implements leadscore.HistoryStore, counting the four tables
// in one statement, and so one snapshot.
func (db *DB) CountHistory(ctx context.Context) (leadscore.HistoryCounts, error) {
	var c leadscore.HistoryCounts
	err := db.db.QueryRowContext(ctx, `
SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM events),
       (SELECT count(*) FROM outcomes), (SELECT count(*) FROM accounts)`,
	).Scan(&c.Leads, &c.Events, &c.Outcomes, &c.Accounts)
	if err != nil {
		return leadscore.HistoryCounts{}, errorf(err, "count history")
	}
	return c, nil
}
