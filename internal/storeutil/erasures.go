package storeutil

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/leadscore/leadscore"
)

// The rules of DeleteLead's audit log both backends follow.

// CheckErasure refuses an erasure of a malformed id, or without an actor
// or time, or with a reason that is too long or not text; it names the
// field ("id", "actor", "at", "reason").
func CheckErasure(id string, e leadscore.Erasure) error {
	if err := CheckLeadID(id); err != nil {
		return err
	}
	if strings.TrimSpace(e.Actor) == "" {
		return leadscore.InvalidField("actor", e.Actor, "is required")
	}
	if err := checkFilterText("actor", e.Actor); err != nil {
		return err
	}
	if len(e.Reason) > leadscore.MaxErasureReason {
		return leadscore.InvalidField("reason", e.Reason[:32]+"...", fmt.Sprintf("is longer than %d bytes", leadscore.MaxErasureReason))
	}
	if !utf8.ValidString(e.Reason) || strings.IndexByte(e.Reason, 0) >= 0 {
		return leadscore.InvalidField("reason", fmt.Sprintf("%q", e.Reason), "must be valid UTF-8 without NUL bytes")
	}
	if e.At.IsZero() {
		return leadscore.InvalidField("at", "", "is required")
	}
	return nil
}

// LeadIDHash is the lower-case hex SHA-256 of a lead id's bytes, as the
// audit log of erasures keeps it instead of the id.
func LeadIDHash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}
