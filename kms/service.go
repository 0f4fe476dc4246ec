package kms

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"time"
)

// Config holds what a Service consumes.
type Config struct {
	Store     KeyStore
	Audit     AuditLog
	Protector Protector
	Policy    *Policy
	// Logger receives operational messages; never key material.
	Logger *slog.Logger
	// Now and Rand default to time.Now and crypto/rand.Reader.
	Now  func() time.Time
	Rand io.Reader
	// CacheSize and CacheTTL bound the cache of opened root versions.
	// A zero CacheSize disables the cache.
	CacheSize int
	CacheTTL  time.Duration
	// MinDeletionDays and MaxDeletionDays bound the waiting period of a
	// scheduled deletion (AWS KMS: 7 and 30).
	MinDeletionDays int
	MaxDeletionDays int
}

// Service is the KMS: key lifecycle, data keys and payload encryption.
// Every method checks the caller's policy (the identity in ctx) and writes
// one audit record, also when it fails.
type Service struct {
	store     KeyStore
	audit     AuditLog
	protector Protector
	policy    *Policy
	log       *slog.Logger
	now       func() time.Time
	rand      io.Reader
	cache     *rootCache
	minDays   int
	maxDays   int
	pstats    protectorCounters
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Audit == nil || cfg.Protector == nil || cfg.Policy == nil {
		return nil, errors.New("kms: Store, Audit, Protector and Policy are required")
	}
	s := &Service{
		store: cfg.Store, audit: newGroupAudit(cfg.Audit), protector: cfg.Protector, policy: cfg.Policy,
		log: cfg.Logger, now: cfg.Now, rand: cfg.Rand,
		minDays: cfg.MinDeletionDays, maxDays: cfg.MaxDeletionDays,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	// Stores keep microseconds (PostgreSQL's precision); truncating here
	// makes what a caller sees equal what it reads back later.
	clock := s.now
	s.now = func() time.Time { return clock().Truncate(time.Microsecond) }
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.minDays == 0 {
		s.minDays = 7
	}
	if s.maxDays == 0 {
		s.maxDays = 30
	}
	ttl := cfg.CacheTTL
	if ttl == 0 {
		ttl = 5 * time.Minute
	}
	s.cache = newRootCache(cfg.CacheSize, ttl, s.now)
	return s, nil
}

// Close releases cached root keys.
func (s *Service) Close() error {
	s.cache.purge()
	return nil
}

// Policy returns the policy the service enforces.
func (s *Service) Policy() *Policy { return s.policy }

// CacheStats reports root-cache hits and misses since start.
func (s *Service) CacheStats() (hits, misses uint64) { return s.cache.stats() }

// Ready reports whether the key store answers.
func (s *Service) Ready(ctx context.Context) error {
	_, err := s.store.ListKeys(ctx, "", 1)
	return err
}

// op is the record of one operation in progress, written to the audit log
// by finish.
type op struct {
	name    string
	keyID   string
	version int
	context map[string]string
}

// authorize checks that the caller may perform o.name on o.keyID.
func (s *Service) authorize(ctx context.Context, perm Op, keyID string) error {
	id, ok := IdentityFrom(ctx)
	if !ok {
		return Errorf(EUnauthorized, "no client identity")
	}
	if _, known := s.policy.Known(id); !known {
		return Errorf(EUnauthorized, "client identity is not in the policy")
	}
	if !s.policy.Allowed(id, perm, keyID) {
		if keyID == "" {
			return Errorf(EForbidden, "operation %s is not allowed on all keys for this identity", perm)
		}
		return Errorf(EForbidden, "operation %s is not allowed on key %q for this identity", perm, keyID)
	}
	return nil
}

// Permits reports whether the caller's identity may perform perm on the
// key keyID. It neither audits nor fails: it is for adapters that shape a
// response by what the caller may do (KMIP shows the Digest of secret
// data only to callers that may export the secret itself).
func (s *Service) Permits(ctx context.Context, perm Op, keyID string) bool {
	return ValidKeyID(keyID) && s.authorize(ctx, perm, keyID) == nil
}

// authorizeKey is authorize for operations on one key: an empty or
// malformed id is refused before the policy sees it, so that "" can never
// stand for "every key".
func (s *Service) authorizeKey(ctx context.Context, perm Op, keyID string) error {
	if !ValidKeyID(keyID) {
		return Errorf(EInvalid, "invalid key id")
	}
	return s.authorize(ctx, perm, keyID)
}

// finish writes the audit record of o and returns err, or an EUnavailable
// error if the record could not be written: an operation that cannot be
// audited does not succeed.
func (s *Service) finish(ctx context.Context, o op, err error) error {
	ev := s.event(ctx, o, err)
	// The audit write must happen even when the caller's context is
	// cancelled, so that a failed or aborted request still leaves a trace.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if aerr := s.audit.AppendAudit(actx, ev); aerr != nil {
		s.log.Error("audit write failed", "op", o.name, "key", o.keyID, "err", aerr)
		if err == nil {
			return Wrap(EUnavailable, aerr, "audit log unavailable")
		}
	}
	if err != nil && ErrorCode(err) == EInternal {
		s.log.Error("kms operation failed", "op", o.name, "key", o.keyID, "request_id", ev.RequestID, "err", err)
	}
	return err
}

// event is the audit record of o ending with err.
func (s *Service) event(ctx context.Context, o op, err error) AuditEvent {
	id, _ := IdentityFrom(ctx)
	result := "ok"
	if err != nil {
		result = string(ErrorCode(err))
	}
	return AuditEvent{
		Time: s.now().UTC(), Identity: string(id), Operation: o.name,
		KeyID: o.keyID, KeyVersion: o.version, Result: result,
		Context: o.context, RequestID: RequestIDFrom(ctx),
	}
}

// RecordDenied audits a request an adapter refused before it reached the
// service (no client certificate, unknown identity, malformed request).
func (s *Service) RecordDenied(ctx context.Context, operation, keyID string, err error) {
	_ = s.finish(ctx, op{name: operation, keyID: keyID}, err)
}
