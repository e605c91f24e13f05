// Package pgcluster gives a test a PostgreSQL cluster of its own, on a free
// loopback port, that the test may stop and start again: what a test of
// behaviour during a database outage needs, and what the shared test
// server (package pgtest) must never be subjected to. It drives Debian's
// postgresql-common tools (pg_createcluster, pg_ctlcluster,
// pg_dropcluster), as root does on CI machines.
package pgcluster
