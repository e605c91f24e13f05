package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// An API key token is "lsk_{id}_{secret}": the prefix says what it is
// (and lets secret scanners find leaked ones), the id (16 hex digits) finds
// the key's record, and the secret (32 random bytes, base64url) proves the
// caller holds the key. The store keeps only the secret's SHA-256: a
// secret of 256 random bits needs no slow hash.
const keyPrefix = "lsk_"

// maxToken bounds a bearer token read from a call: a long header is
// refused before it is parsed or hashed further.
const maxToken = 8 << 10

// NewKey returns a new API key's id, the token to give its holder (shown
// once, never stored) and the SHA-256 of its secret, to store.
func NewKey() (id, token string, secretSHA256 []byte, err error) {
	var raw [8 + 32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", nil, err
	}
	id = hex.EncodeToString(raw[:8])
	secret := base64.RawURLEncoding.EncodeToString(raw[8:])
	sum := sha256.Sum256([]byte(secret))
	return id, keyPrefix + id + "_" + secret, sum[:], nil
}

// parseToken splits an API key token into its id and secret.
func parseToken(token string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(token, keyPrefix)
	if !ok || len(token) > maxToken {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || len(id) != 16 || len(secret) != 43 {
		return "", "", false
	}
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return "", "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(secret); err != nil {
		return "", "", false
	}
	return id, secret, true
}
