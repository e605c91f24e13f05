package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/leadscore/leadscore"
)

// dataDir is the directory under which jobs may read files. Paths in
// requests are relative to it and must stay inside it: absolute paths,
// ".." and symbolic links that lead outside are refused, so a caller can
// read only what the operator put there.
type dataDir struct {
	// root is the directory's absolute path with symbolic links resolved,
	// or "" when the server reads no files.
	root string
}

// newDataDir resolves dir; "" means jobs may not read files.
func newDataDir(dir string) (dataDir, error) {
	if dir == "" {
		return dataDir{}, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dataDir{}, fmt.Errorf("data directory %s: %w", dir, err)
	}
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return dataDir{}, fmt.Errorf("data directory %s: %w", dir, err)
	}
	info, err := os.Stat(root)
	if err != nil {
		return dataDir{}, fmt.Errorf("data directory %s: %w", dir, err)
	}
	if !info.IsDir() {
		return dataDir{}, fmt.Errorf("data directory %s is not a directory", dir)
	}
	return dataDir{root: root}, nil
}

// resolve returns the real path of the regular file that a request's
// relative path names, or an error naming field and path.
//
// The check resolves symbolic links and then the file is opened later by
// path, so a link swapped in between could still redirect the read. The
// directory is the operator's, not the caller's: a caller cannot create
// links in it through the API, and the job resolves its paths again just
// before it reads them.
func (d dataDir) resolve(field, path string) (string, error) {
	if d.root == "" {
		return "", &leadscore.Error{
			Code:    leadscore.EPRECONDITION,
			Message: fmt.Sprintf("%s: this server reads no data files; start it with --data-dir to allow files under that directory", field),
			Preconditions: []leadscore.PreconditionViolation{{
				Type: "DATA_DIR", Subject: field, Description: "the server has no data directory",
			}},
		}
	}
	switch {
	case path == "":
		return "", leadscore.InvalidField(field, path, "is required")
	case strings.ContainsRune(path, 0):
		return "", leadscore.InvalidField(field, path, "must not contain NUL characters")
	case filepath.IsAbs(path) || strings.HasPrefix(path, "/") || filepath.VolumeName(path) != "":
		return "", leadscore.InvalidField(field, path, "must be relative to the server's data directory, not absolute")
	}
	for _, part := range strings.Split(filepath.ToSlash(path), "/") {
		if part == ".." {
			return "", leadscore.InvalidField(field, path, `must not contain ".."; paths stay inside the server's data directory`)
		}
	}
	real, err := filepath.EvalSymlinks(filepath.Join(d.root, filepath.Clean(path)))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", leadscore.InvalidField(field, path, "does not exist in the server's data directory")
	case err != nil:
		return "", leadscore.InvalidField(field, path, "cannot be read in the server's data directory")
	}
	rel, err := filepath.Rel(d.root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", leadscore.InvalidField(field, path, "leads outside the server's data directory through a symbolic link")
	}
	info, err := os.Stat(real)
	if err != nil {
		return "", leadscore.InvalidField(field, path, "cannot be read in the server's data directory")
	}
	if !info.Mode().IsRegular() {
		return "", leadscore.InvalidField(field, path, "is not a regular file")
	}
	return real, nil
}

// relative rewrites a message for a caller: the data directory's real
// path, wherever a reader named a file by it, becomes the path relative
// to the directory that requests use, so errors do not show the server's
// file system.
func (d dataDir) relative(msg string) string {
	if d.root == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, d.root+string(filepath.Separator), "")
	return strings.ReplaceAll(msg, d.root, ".")
}
