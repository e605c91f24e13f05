package main

import (
	"flag"
	"strconv"

	"github.com/leadscore/leadscore"
)

// etagValue is --etag: an alias's etag as the API and this command line
// print it, "3" with its quotes; the bare revision 3 of older scripts is
// still taken.
type etagValue struct{ s string }

func (e *etagValue) String() string { return e.s }

func (e *etagValue) Set(v string) error {
	e.s = v
	return nil
}

// revision returns the alias revision the etag names, 0 for none.
func (e *etagValue) revision() (int64, error) {
	if n, err := strconv.ParseInt(e.s, 10, 64); err == nil && n > 0 {
		return n, nil
	}
	return leadscore.ParseRevisionETag("--etag", e.s)
}

// etagFlag registers --etag.
func etagFlag(fs *flag.FlagSet) *etagValue {
	e := &etagValue{}
	fs.Var(e, "etag", `the alias's etag as last read, such as '"3"' (models --json and every move print it); a move since then fails instead of being overwritten`)
	return e
}
