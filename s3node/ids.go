package s3node

import (
	"crypto/rand"
	"encoding/hex"
)

// NewID returns a random 128-bit id in lower-case hex, used for bucket
// ids, upload ids and blob ids.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// NewVersionID returns a random version id. It is never NullVersionID.
func NewVersionID() string { return NewID() }
