package kms

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
)

// Identity names a caller: the lower-case hex SHA-256 of the
// SubjectPublicKeyInfo of its TLS client certificate. Pinning the public
// key, not the certificate, lets certificates be renewed for the same key.
type Identity string

// IdentityOf returns the identity of a client certificate.
func IdentityOf(cert *x509.Certificate) Identity {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return Identity(hex.EncodeToString(sum[:]))
}

// Valid reports whether id has the form of an identity.
func (id Identity) Valid() bool {
	if len(id) != 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

type ctxKey int

const (
	identityKey ctxKey = iota
	requestIDKey
)

// WithIdentity returns a context carrying the caller's identity.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey, id)
}

// IdentityFrom returns the caller identity carried by ctx.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey).(Identity)
	return id, ok && id != ""
}

// WithRequestID returns a context carrying a request id for audit records.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestIDFrom returns the request id carried by ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}
