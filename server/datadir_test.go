package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leadscore/leadscore"
)

// testDataDir is a data directory holding a file, a directory, a link to
// the file and a link out of the directory.
func testDataDir(t testing.TB) dataDir {
	t.Helper()
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret.csv")
	for _, f := range []string{filepath.Join(root, "sub", "leads.csv"), outside} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("id\n1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "sub", "leads.csv"), filepath.Join(root, "inside.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "outside.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(outside), filepath.Join(root, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	d, err := newDataDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDataDirResolve(t *testing.T) {
	t.Parallel()
	d := testDataDir(t)
	tests := []struct {
		name, path string
		ok         bool
	}{
		{"a file", "sub/leads.csv", true},
		{"a redundant ./", "./sub/leads.csv", true},
		{"a link that stays inside", "inside.csv", true},
		{"empty", "", false},
		{"absolute", filepath.Join(d.root, "sub", "leads.csv"), false},
		{"dot-dot", "sub/../sub/leads.csv", false},
		{"dot-dot out", "../secret.csv", false},
		{"a link to a file outside", "outside.csv", false},
		{"a link to a directory outside", "elsewhere/secret.csv", false},
		{"missing", "sub/none.csv", false},
		{"a directory", "sub", false},
		{"NUL", "sub/leads.csv\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.resolve("path", tt.path)
			if tt.ok {
				if err != nil || !strings.HasPrefix(got, d.root+string(filepath.Separator)) {
					t.Errorf("resolve(%q): got %q, %v; want a path inside %s", tt.path, got, err, d.root)
				}
				return
			}
			if leadscore.ErrorCode(err) != leadscore.EINVALID {
				t.Errorf("resolve(%q): got %q, %v; want an invalid path", tt.path, got, err)
			}
		})
	}
	if _, err := (dataDir{}).resolve("path", "sub/leads.csv"); leadscore.ErrorCode(err) != leadscore.EPRECONDITION {
		t.Errorf("without a data directory: got %v, want a failed precondition", err)
	}
}

// FuzzDataDirResolve checks that whatever a request names, an accepted
// path is a regular file inside the data directory.
func FuzzDataDirResolve(f *testing.F) {
	d := testDataDir(f)
	for _, seed := range []string{"sub/leads.csv", "inside.csv", "outside.csv", "../x", "/etc/passwd", "elsewhere/secret.csv", "sub//leads.csv", "sub/./leads.csv"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, path string) {
		got, err := d.resolve("path", path)
		if err != nil {
			if c := leadscore.ErrorCode(err); c != leadscore.EINVALID {
				t.Fatalf("resolve(%q): error %v is %s, want invalid", path, err, c)
			}
			return
		}
		if !strings.HasPrefix(got, d.root+string(filepath.Separator)) {
			t.Fatalf("resolve(%q) = %q, outside %s", path, got, d.root)
		}
		if info, err := os.Stat(got); err != nil || !info.Mode().IsRegular() {
			t.Fatalf("resolve(%q) = %q, not a regular file", path, got)
		}
	})
}

func TestDataDirErrorsShowRelativePaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := newDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	msg := "read " + filepath.Join(d.root, "exports", "leads.csv") + ": row 5: bad value; in " + d.root
	if got, want := d.relative(msg), "read exports/leads.csv: row 5: bad value; in ."; got != want {
		t.Errorf("relative(%q) = %q, want %q", msg, got, want)
	}
	if got := (dataDir{}).relative(msg); got != msg {
		t.Errorf("relative() without a data directory = %q, want the message as it is", got)
	}
}
