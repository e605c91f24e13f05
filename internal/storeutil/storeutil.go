// Package storeutil holds what the PostgreSQL and SQLite backends share
// beyond their SQL: how a database error becomes an application error, how
// an import reports its progress, the registry's rules (above all the
// decision of an alias move) and the delivery of alias notices. One copy
// keeps the two backends' behaviour identical, which the conformance suite
// then checks.
package storeutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/leadscore/leadscore"
)

// Classifier returns the application code for a backend's error and a
// short caller-safe description of what went wrong ("" when the code says
// it all). Backends classify by error code (SQLSTATE, SQLite result code),
// never by error text.
type Classifier func(err error) (leadscore.Code, string)

// Wrap wraps err, the failure of the operation described by format and
// args, in a leadscore.Error whose code classify gives. Errors that are
// already classified keep their code and gain context. Context
// cancellation and deadlines are wrapped but left unclassified: the
// transport recognises them with errors.Is and reports them as such. It
// returns nil for a nil err so callers can wrap unconditionally.
func Wrap(err error, classify Classifier, format string, args ...any) error {
	if err == nil {
		return nil
	}
	op := fmt.Sprintf(format, args...)
	var appErr *leadscore.Error
	if errors.As(err, &appErr) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	code, what := classify(err)
	if what == "" {
		return &leadscore.Error{Code: code, Message: op, Err: err}
	}
	return &leadscore.Error{Code: code, Message: op + ": " + what, Err: err}
}

// Progress calls ImportOptions.Progress every so many records.
type Progress struct {
	fn    func(leadscore.ImportProgress)
	every int64
}

// NewProgress returns the progress reporter of an import.
func NewProgress(opts leadscore.ImportOptions) *Progress {
	every := int64(opts.ProgressEvery)
	if every <= 0 {
		every = leadscore.DefaultProgressEvery
	}
	return &Progress{fn: opts.Progress, every: every}
}

// Reporter returns the function called with the number of records of
// table read so far.
func (p *Progress) Reporter(table string) func(int64) {
	if p.fn == nil {
		return func(int64) {}
	}
	return func(n int64) {
		if n%p.every == 0 {
			p.fn(leadscore.ImportProgress{Table: table, Records: n})
		}
	}
}

// Done reports that table's records are in the store.
func (p *Progress) Done(table string, n int64) {
	if p.fn != nil {
		p.fn(leadscore.ImportProgress{Table: table, Records: n, Done: true})
	}
}
