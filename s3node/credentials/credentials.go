// Package credentials manages the S3 node's users: access keys whose secret
// keys are stored only sealed by the KMS.
//
// SigV4 needs the secret key in plaintext to verify a signature, so the
// node cannot store a one-way hash as it would for a password. Instead the
// secret is sealed with the KMS's Encrypt under a named key (by default
// "s3node/users") and the encryption context {"purpose": "s3-user",
// "access_key_id": ID}: a sealed secret copied to another user does not
// open, and a database dump alone reveals no secret.
//
// Lookups keep unsealed secrets in a small in-memory cache (bounded, with a
// TTL), because one KMS round trip per S3 request would double the latency
// of small requests. Deleting a user evicts it at once on this node; other
// nodes forget it within the TTL.
//
// While the KMS is unreachable, an expired entry is still used for up to
// MaxStale, but only after the user has been read again from the store and
// its sealed secret is unchanged: a deleted user or a changed secret is
// never served from the cache, and requests that need no KMS (plain and
// SSE-C objects) keep working through a KMS outage.
package credentials

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"time"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3api"
)

// Sealer seals and opens small secrets; kms/kmsclient implements it.
type Sealer interface {
	// Encrypt seals plaintext under keyID bound to ec.
	Encrypt(ctx context.Context, keyID string, plaintext []byte, ec map[string]string) ([]byte, int, error)
	// DecryptPayload opens a blob made by Encrypt with the same ec.
	DecryptPayload(ctx context.Context, blob []byte, ec map[string]string) (kms.DataKey, error)
}

// DefaultKeyID is the KMS key that seals user secrets unless configured.
const DefaultKeyID = "s3node/users"

// Config configures Users.
type Config struct {
	Store  s3node.UserStore
	Sealer Sealer
	KeyID  string        // default DefaultKeyID
	TTL    time.Duration // cache lifetime of an unsealed secret; default 5m
	Max    int           // cache entries; default 10000
	// MaxStale is how long after expiry a cached secret may still be used
	// while the KMS is unavailable; default 1h, negative disables.
	MaxStale time.Duration
	Now      func() time.Time
}

// Users implements s3api.Users over a UserStore and the KMS.
type Users struct {
	cfg   Config
	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	id      s3api.Identity
	secret  []byte
	sealed  []byte // the sealed secret it was opened from
	expires time.Time
}

var _ s3api.Users = (*Users)(nil)

// New returns Users.
func New(cfg Config) *Users {
	if cfg.KeyID == "" {
		cfg.KeyID = DefaultKeyID
	}
	if cfg.TTL == 0 {
		cfg.TTL = 5 * time.Minute
	}
	if cfg.Max == 0 {
		cfg.Max = 10000
	}
	if cfg.MaxStale == 0 {
		cfg.MaxStale = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Users{cfg: cfg, cache: map[string]cached{}}
}

func sealContext(accessKeyID string) map[string]string {
	return map[string]string{"purpose": "s3-user", "access_key_id": accessKeyID}
}

// Created is a new user with its secret key, shown once.
type Created struct {
	AccessKeyID     string
	SecretAccessKey string
	CanonicalID     string
	DisplayName     string
}

const (
	alnumUpper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	secretSet  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// randomString draws n characters uniformly from set (rejection sampling
// keeps the distribution exact).
func randomString(n int, set string) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	limit := 256 - 256%len(set)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, set[int(b)%len(set)])
			}
		}
	}
	return string(out), nil
}

// Create makes a user. An empty accessKeyID gets a random one ("S3K" and
// 17 characters, AWS-like); the secret key is always random (40
// characters, 238 bits).
func (u *Users) Create(ctx context.Context, accessKeyID, displayName string) (Created, error) {
	if accessKeyID == "" {
		s, err := randomString(17, alnumUpper)
		if err != nil {
			return Created{}, err
		}
		accessKeyID = "S3K" + s
	}
	if !validAccessKeyID(accessKeyID) {
		return Created{}, s3node.Errorf(s3node.EInvalid, s3node.InvalidArgument, "access key ids are 16 to 128 characters of A-Z, a-z, 0-9")
	}
	secret, err := randomString(40, secretSet)
	if err != nil {
		return Created{}, err
	}
	sealed, _, err := u.cfg.Sealer.Encrypt(ctx, u.cfg.KeyID, []byte(secret), sealContext(accessKeyID))
	if err != nil {
		return Created{}, err
	}
	canonical, err := randomString(32, "0123456789abcdef")
	if err != nil {
		return Created{}, err
	}
	if displayName == "" {
		displayName = accessKeyID
	}
	user := s3node.User{
		AccessKeyID: accessKeyID, CanonicalID: canonical, DisplayName: displayName,
		SealedSecret: sealed, CreatedAt: u.cfg.Now().UTC().Truncate(time.Microsecond),
	}
	if err := u.cfg.Store.CreateUser(ctx, user); err != nil {
		return Created{}, err
	}
	return Created{AccessKeyID: accessKeyID, SecretAccessKey: secret, CanonicalID: canonical, DisplayName: displayName}, nil
}

func validAccessKeyID(id string) bool {
	if len(id) < 16 || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Delete removes a user and forgets its cached secret.
func (u *Users) Delete(ctx context.Context, accessKeyID string) error {
	u.mu.Lock()
	if c, ok := u.cache[accessKeyID]; ok {
		clear(c.secret)
		delete(u.cache, accessKeyID)
	}
	u.mu.Unlock()
	return u.cfg.Store.DeleteUser(ctx, accessKeyID)
}

// List returns the users without their secrets.
func (u *Users) List(ctx context.Context) ([]s3node.User, error) {
	users, err := u.cfg.Store.ListUsers(ctx)
	for i := range users {
		users[i].SealedSecret = nil
	}
	return users, err
}

// LookupUser implements s3api.Users.
func (u *Users) LookupUser(ctx context.Context, accessKeyID string) (s3api.Identity, []byte, error) {
	now := u.cfg.Now()
	u.mu.Lock()
	if c, ok := u.cache[accessKeyID]; ok && now.Before(c.expires) {
		u.mu.Unlock()
		return c.id, append([]byte(nil), c.secret...), nil
	}
	u.mu.Unlock()
	user, err := u.cfg.Store.GetUser(ctx, accessKeyID)
	if err != nil {
		if s3node.ErrorCode(err) == s3node.ENotFound {
			u.forget(accessKeyID)
		}
		return s3api.Identity{}, nil, err
	}
	dk, err := u.cfg.Sealer.DecryptPayload(ctx, user.SealedSecret, sealContext(accessKeyID))
	if err != nil {
		if kms.ErrorCode(err) == kms.EDecrypt {
			return s3api.Identity{}, nil, errors.New("credentials: the sealed secret of a user does not open")
		}
		if kms.ErrorCode(err) == kms.EUnavailable {
			if id, secret, ok := u.stale(accessKeyID, user.SealedSecret, now); ok {
				return id, secret, nil
			}
		}
		return s3api.Identity{}, nil, err
	}
	id := s3api.Identity{AccessKeyID: user.AccessKeyID, CanonicalID: user.CanonicalID, DisplayName: user.DisplayName}
	u.mu.Lock()
	if len(u.cache) >= u.cfg.Max {
		for k, c := range u.cache { // evict one arbitrary entry
			clear(c.secret)
			delete(u.cache, k)
			break
		}
	}
	if old, ok := u.cache[accessKeyID]; ok {
		clear(old.secret)
	}
	u.cache[accessKeyID] = cached{id: id, secret: append([]byte(nil), dk.Plaintext...),
		sealed: append([]byte(nil), user.SealedSecret...), expires: now.Add(u.cfg.TTL)}
	u.mu.Unlock()
	return id, dk.Plaintext, nil
}

// stale returns an expired cache entry of accessKeyID opened from the
// same sealed secret, if it expired less than MaxStale ago.
func (u *Users) stale(accessKeyID string, sealed []byte, now time.Time) (s3api.Identity, []byte, bool) {
	if u.cfg.MaxStale < 0 {
		return s3api.Identity{}, nil, false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	c, ok := u.cache[accessKeyID]
	if !ok || now.After(c.expires.Add(u.cfg.MaxStale)) || !bytes.Equal(c.sealed, sealed) {
		return s3api.Identity{}, nil, false
	}
	return c.id, append([]byte(nil), c.secret...), true
}

// forget drops accessKeyID from the cache.
func (u *Users) forget(accessKeyID string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if c, ok := u.cache[accessKeyID]; ok {
		clear(c.secret)
		delete(u.cache, accessKeyID)
	}
}
