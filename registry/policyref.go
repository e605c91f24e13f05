package registry

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/leadscore/leadscore"
)

// ParsePolicyRef reads a stored policy reference: "name" (newest revision),
// "name@revision", "gatePolicies/name" or
// "gatePolicies/name/revisions/revision". Revision 0 means the newest.
func ParsePolicyRef(s string) (string, int64, error) {
	rest, full := strings.CutPrefix(s, "gatePolicies/")
	var id, rev string
	if full {
		var ok bool
		id, rev, ok = strings.Cut(rest, "/revisions/")
		if !ok {
			id, rev = rest, ""
		} else if rev == "" {
			return "", 0, leadscore.InvalidField("gate_policy", s, "names no revision after /revisions/")
		}
	} else {
		id, rev, _ = strings.Cut(s, "@")
	}
	if err := leadscore.ValidateSlug("gate_policy", id); err != nil {
		return "", 0, leadscore.InvalidField("gate_policy", s, "must be a policy file, NAME, NAME@REVISION or gatePolicies/NAME/revisions/REVISION")
	}
	if rev == "" {
		return id, 0, nil
	}
	n, err := strconv.ParseInt(rev, 10, 64)
	if err != nil || n < 1 || strconv.FormatInt(n, 10) != rev {
		return "", 0, leadscore.InvalidField("gate_policy", s, "the revision must be a whole number from 1")
	}
	return id, n, nil
}

// IsPolicyFile reports whether a gate policy reference is a file path
// rather than a stored policy's name: it has a directory separator or a
// .yaml, .yml or .json extension. A bare name is never read as a file, so a
// stray file named "default" in the working directory cannot stand in for
// the stored default policy.
func IsPolicyFile(s string) bool {
	if strings.ContainsAny(s, "/\\") && !strings.HasPrefix(s, "gatePolicies/") {
		return true
	}
	switch strings.ToLower(filepath.Ext(s)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// policyIDFromPath turns a policy file's name into a policy id: its base
// name without extension, lower-cased, with other characters as "-".
func policyIDFromPath(path string) string {
	base := filepath.Base(path)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	var b strings.Builder
	for _, r := range strings.ToLower(base) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	id := strings.Trim(b.String(), "-")
	if id == "" || id[0] < 'a' || id[0] > 'z' {
		id = "policy-" + id
	}
	if len(id) > 63 {
		id = strings.TrimRight(id[:63], "-")
	}
	return id
}
