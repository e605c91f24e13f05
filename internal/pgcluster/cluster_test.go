package pgcluster

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestStopRefusesConnectionsAndStartKeepsTheData checks the life of a
// cluster as an outage test uses it: data written before a stop is there
// after the start, and while stopped nothing connects.
func TestStopRefusesConnectionsAndStartKeepsTheData(t *testing.T) {
	c := New(t)
	url := c.CreateDatabase(t, "kept")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE TABLE t (v int); INSERT INTO t VALUES (42)"); err != nil {
		t.Fatalf("write before the stop: %v", err)
	}
	c.Stop(t)
	if err := exec("SELECT 1"); err == nil {
		t.Fatal("a connection succeeded while the cluster was stopped")
	}
	c.Start(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect after the start: %v", err)
	}
	defer conn.Close(ctx)
	var got int
	if err := conn.QueryRow(ctx, "SELECT v FROM t").Scan(&got); err != nil || got != 42 {
		t.Errorf("after the restart: got %d, %v; want 42", got, err)
	}
}

func TestCreatorReadsThePidFromTheName(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		ok   bool
	}{
		{"lstest_1234_ab12cd34", 1234, true},
		{"main", 0, false},
		{"lstest_x_ab", 0, false},
		{"lstest_1234", 0, false},
	}
	for _, tt := range tests {
		pid, ok := creator(tt.name)
		if pid != tt.pid || ok != tt.ok {
			t.Errorf("creator(%q): got %d, %v; want %d, %v", tt.name, pid, ok, tt.pid, tt.ok)
		}
	}
}
