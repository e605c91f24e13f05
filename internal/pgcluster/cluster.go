package pgcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// namePrefix starts the name of every cluster this package creates; the
// creating process's id follows it, so that a cluster left behind by a
// test binary that was killed can be recognised and dropped.
const namePrefix = "lstest_"

// commandTimeout bounds one postgresql-common command. Creating a cluster
// runs initdb, which takes a few seconds on a busy machine.
const commandTimeout = 2 * time.Minute

// tools are the postgresql-common commands the package runs.
var tools = []string{"pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "pg_lsclusters"}

// Cluster is a running (or deliberately stopped) PostgreSQL cluster that
// belongs to one test. It trusts every local and loopback connection and
// runs with fsync off: its data is thrown away with it.
type Cluster struct {
	// Version is the PostgreSQL major version, such as "15".
	Version string
	// Name is the cluster's name in pg_lsclusters.
	Name string
	// Port is the TCP port it listens on at localhost.
	Port int
}

// New creates and starts a cluster of the newest installed PostgreSQL on a
// free port. It is stopped and dropped when the test ends, whether the
// test passed or not; if the test failed, the cluster's log is logged
// first. A machine without the postgresql-common tools fails the test,
// saying what to install: a skipped outage test would pass silently in CI.
func New(t testing.TB) *Cluster {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("pgcluster: %s is not installed (%v); this test runs a PostgreSQL cluster of its own, "+
				"which needs Debian's postgresql-common and a PostgreSQL server package (apt-get install postgresql), run as root", tool, err)
		}
	}
	version, err := newestVersion()
	if err != nil {
		t.Fatalf("pgcluster: %v", err)
	}
	dropStale(t)
	port, err := freePort()
	if err != nil {
		t.Fatalf("pgcluster: find a free port: %v", err)
	}
	c := &Cluster{Version: version, Name: fmt.Sprintf("%s%d_%s", namePrefix, os.Getpid(), randomHex(4)), Port: port}
	// Cleanup is registered before the cluster exists, so that a creation
	// that fails half-way is dropped too.
	t.Cleanup(func() { c.drop(t) })
	if out, err := run("pg_createcluster", c.Version, c.Name, "--port", strconv.Itoa(c.Port),
		"--pgoption", "fsync=off", "--pgoption", "full_page_writes=off",
		"--", "--auth=trust"); err != nil {
		t.Fatalf("pgcluster: create cluster %s/%s: %v\n%s", c.Version, c.Name, err, out)
	}
	c.Start(t)
	return c
}

// Start starts the cluster and waits until it accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	if out, err := run("pg_ctlcluster", "--skip-systemctl-redirect", c.Version, c.Name, "start"); err != nil {
		t.Fatalf("pgcluster: start cluster %s/%s: %v\n%s\nlog:\n%s", c.Version, c.Name, err, out, c.Log())
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("pgcluster: cluster %s/%s started but does not accept connections: %v\nlog:\n%s", c.Version, c.Name, err, c.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the cluster in fast mode, as an operator's restart or a
// failover does: open sessions are terminated and new connections
// refused until Start.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if out, err := run("pg_ctlcluster", "--skip-systemctl-redirect", "--mode", "fast", c.Version, c.Name, "stop"); err != nil {
		t.Fatalf("pgcluster: stop cluster %s/%s: %v\n%s", c.Version, c.Name, err, out)
	}
}

// URL returns the connection URL of a database of the cluster, as the
// postgres superuser over TCP.
func (c *Cluster) URL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates a database in the cluster and returns its URL.
func (c *Cluster) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatalf("pgcluster: connect to cluster %s/%s: %v", c.Version, c.Name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgcluster: create database %s: %v", name, err)
	}
	return c.URL(name)
}

// Log returns the server log of the cluster, or why it cannot be read.
func (c *Cluster) Log() string {
	b, err := os.ReadFile(c.logFile())
	if err != nil {
		return fmt.Sprintf("(cannot read the cluster log: %v)", err)
	}
	return string(b)
}

func (c *Cluster) logFile() string {
	return filepath.Join("/var/log/postgresql", fmt.Sprintf("postgresql-%s-%s.log", c.Version, c.Name))
}

// drop stops and removes the cluster, its data, configuration and log.
func (c *Cluster) drop(t testing.TB) {
	t.Helper()
	if t.Failed() {
		t.Logf("pgcluster: log of cluster %s/%s:\n%s", c.Version, c.Name, c.Log())
	}
	if !c.exists() {
		return
	}
	if out, err := run("pg_dropcluster", "--stop", c.Version, c.Name); err != nil {
		t.Errorf("pgcluster: drop cluster %s/%s: %v\n%s", c.Version, c.Name, err, out)
	}
}

// exists reports whether pg_lsclusters lists the cluster.
func (c *Cluster) exists() bool {
	clusters, err := list()
	if err != nil {
		return true // let pg_dropcluster say what is wrong
	}
	return slices.Contains(clusters, [2]string{c.Version, c.Name})
}

// dropStale drops the clusters this package created in processes that no
// longer run: a test binary killed before its cleanup leaves its cluster
// (and a running postgres) behind.
func dropStale(t testing.TB) {
	t.Helper()
	clusters, err := list()
	if err != nil {
		t.Logf("pgcluster: list clusters to drop stale ones: %v", err)
		return
	}
	for _, c := range clusters {
		pid, ok := creator(c[1])
		if !ok || processRuns(pid) {
			continue
		}
		if out, err := run("pg_dropcluster", "--stop", c[0], c[1]); err != nil {
			t.Logf("pgcluster: drop stale cluster %s/%s: %v\n%s", c[0], c[1], err, out)
			continue
		}
		t.Logf("pgcluster: dropped stale cluster %s/%s of process %d, which no longer runs", c[0], c[1], pid)
	}
}

// creator returns the id of the process that created a cluster of this
// package, from its name.
func creator(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return 0, false
	}
	pidText, _, ok := strings.Cut(rest, "_")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(pidText)
	return pid, err == nil && pid > 0
}

func processRuns(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// list returns the clusters pg_lsclusters knows, as (version, name).
func list() ([][2]string, error) {
	out, err := run("pg_lsclusters", "--no-header")
	if err != nil {
		return nil, fmt.Errorf("pg_lsclusters: %w: %s", err, out)
	}
	var clusters [][2]string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			clusters = append(clusters, [2]string{f[0], f[1]})
		}
	}
	return clusters, nil
}

// newestVersion returns the newest PostgreSQL major version installed
// where Debian installs them.
func newestVersion() (string, error) {
	matches, err := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if err != nil {
		return "", err
	}
	best, bestNum := "", -1.0
	for _, m := range matches {
		v := filepath.Base(filepath.Dir(filepath.Dir(m)))
		n, err := strconv.ParseFloat(v, 64)
		if err == nil && n > bestNum {
			best, bestNum = v, n
		}
	}
	if best == "" {
		return "", errors.New("no PostgreSQL server is installed under /usr/lib/postgresql (apt-get install postgresql)")
	}
	return best, nil
}

// freePort returns a TCP port nothing listens on at the loopback address
// now. Another process may take it before the cluster does; the start
// then fails saying so.
func freePort() (int, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer lis.Close()
	return lis.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// run runs a command and returns its combined output.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	// Should a child (postgres, started by pg_ctl) hold the output pipe
	// open, the command still returns once pg_ctl has exited.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.String(), err
}
