package leadscore

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Etags are how the API and the command line alike guard a change against
// a concurrent one: a caller passes back the etag it read, and a stale one
// fails. They are quoted, as HTTP writes entity tags.

// RevisionETag returns the etag of a revision-numbered resource (a model,
// an alias): the revision in double quotes, such as "3".
func RevisionETag(revision int64) string {
	return `"` + strconv.FormatInt(revision, 10) + `"`
}

// ParseRevisionETag reads an etag that RevisionETag wrote; the empty etag
// is 0 (no check). field names the etag in errors.
func ParseRevisionETag(field, etag string) (int64, error) {
	if etag == "" {
		return 0, nil
	}
	inner, ok := strings.CutPrefix(etag, `"`)
	if ok {
		inner, ok = strings.CutSuffix(inner, `"`)
	}
	n, err := strconv.ParseInt(inner, 10, 64)
	if !ok || err != nil || n < 1 || strconv.FormatInt(n, 10) != inner {
		return 0, InvalidField(field, etag, `must be an etag as the server returned it, such as "3" with its quotes`)
	}
	return n, nil
}

// ETag is a checksum of a version's mutable fields: its description, tags
// and state. A version has no revision counter (the store interface keeps
// none), so its etag is a short hash instead, quoted like the others.
func (v ModelVersion) ETag() string {
	h := sha256.New()
	writeField := func(s string) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	writeField(v.Description)
	writeField(string(v.State))
	for _, k := range slices.Sorted(maps.Keys(v.Tags)) {
		writeField(k)
		writeField(v.Tags[k])
	}
	return `"` + hex.EncodeToString(h.Sum(nil)[:8]) + `"`
}
