package kms

import (
	"context"
	"strconv"
	"time"
)

// Master-key rotation re-wraps every root version under the protector's
// current master key, so that the previous master key can be retired. The
// roots themselves do not change: sealed data keys and payloads keep
// opening, and nothing proportional to the amount of data is rewritten.
//
// Procedure: configure the protector with the new master key as current
// and the old one as previous (new roots go under the new one, old ones
// still open), call RotateMaster until remaining is 0, check with
// MasterStatus that the old master wraps no version, then remove it.

// DefaultMasterBatch and MaxMasterBatch bound the versions one RotateMaster
// call rewraps.
const (
	DefaultMasterBatch = 500
	MaxMasterBatch     = 5000
)

// MasterKeyID returns the id of the protector's current master key.
func (s *Service) MasterKeyID() string { return s.protector.MasterKeyID() }

// MasterStatus returns how many root versions, not destroyed, each master
// key id wraps. The current master key id is always present (with 0 when
// it wraps nothing yet). It needs the "master" operation on "*".
func (s *Service) MasterStatus(ctx context.Context) (counts map[string]int, err error) {
	o := op{name: "master.status"}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorize(ctx, OpMaster, ""); err != nil {
		return nil, err
	}
	counts, err = s.store.CountVersionsByMaster(ctx)
	if err != nil {
		return nil, err
	}
	cur := s.protector.MasterKeyID()
	counts[cur] += 0
	return counts, nil
}

// RotateMaster rewraps up to batch root versions (DefaultMasterBatch if
// batch <= 0, at most MaxMasterBatch) that are not under the current
// master key and not destroyed, and returns how many it rewrapped and how
// many remain. It needs the "master" operation on "*" and a protector that
// implements MasterRewrapper.
//
// It is resumable and safe to run concurrently: each call takes the first
// versions still not under the current master key, and stores each new
// wrapping only if the stored one is still the one it rewrapped
// (KeyStore.RewrapVersion); a version another call rewrapped meanwhile is
// skipped, not counted in done. Each rewrap is audited as "master.rewrap"
// of its key and version (context: from and to master key ids), the call
// as "master.rotate" (context: done, remaining, master key id).
//
// A version that the protector cannot open (under none of its master
// keys) stops the call with that error, naming the key and version: the
// protector lacks the master key that wraps it.
func (s *Service) RotateMaster(ctx context.Context, batch int) (done, remaining int, err error) {
	o := op{name: "master.rotate"}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorize(ctx, OpMaster, ""); err != nil {
		return 0, 0, err
	}
	rw, ok := s.protector.(MasterRewrapper)
	if !ok {
		return 0, 0, Errorf(EInvalid, "the %s protector cannot rewrap root keys under a new master key", s.protector.Kind())
	}
	if batch <= 0 {
		batch = DefaultMasterBatch
	}
	if batch > MaxMasterBatch {
		return 0, 0, Errorf(EInvalid, "batch must be at most %d", MaxMasterBatch)
	}
	cur, kind := s.protector.MasterKeyID(), s.protector.Kind()
	o.context = map[string]string{"master_key_id": cur}
	var events []AuditEvent
	defer func() {
		// The rewraps stored are audited also when a later one failed, and
		// the call's record says how many there were.
		if aerr := s.appendEvents(ctx, events); aerr != nil && err == nil {
			err = aerr
		}
		o.context["done"] = strconv.Itoa(done)
		if err == nil {
			o.context["remaining"] = strconv.Itoa(remaining)
		}
	}()
	vs, err := s.store.ListVersionsNotUnder(ctx, cur, VersionCursor{}, batch)
	if err != nil {
		return 0, 0, err
	}
	for _, v := range vs {
		wrapped, err := s.rewrapVersion(ctx, rw, v)
		if err != nil {
			if ErrorCode(err) == EDecrypt {
				return done, 0, Wrap(EDecrypt, err, "key "+strconv.Quote(v.KeyID)+" version "+strconv.Itoa(v.Version)+
					" (master key "+v.MasterKeyID+") does not open under the protector's master keys; configure its master key as a previous one")
			}
			return done, 0, protectorError(err)
		}
		nv := v
		nv.Wrapped, nv.Protector, nv.MasterKeyID = wrapped, kind, cur
		switch err := s.store.RewrapVersion(ctx, nv, v.Wrapped); ErrorCode(err) {
		case "":
		case EConflict, ENotFound:
			continue // rewrapped by a concurrent run, or destroyed
		default:
			return done, 0, err
		}
		done++
		events = append(events, s.event(ctx, op{
			name: "master.rewrap", keyID: v.KeyID, version: v.Version,
			context: map[string]string{"from": v.MasterKeyID, "to": cur},
		}, nil))
	}
	counts, err := s.store.CountVersionsByMaster(ctx)
	if err != nil {
		return done, 0, err
	}
	for id, n := range counts {
		if id != cur {
			remaining += n
		}
	}
	return done, remaining, nil
}

// appendEvents writes events to the audit log, in batches when the log
// can (AuditBatcher).
func (s *Service) appendEvents(ctx context.Context, events []AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	var b AuditBatcher
	switch l := s.audit.(type) {
	case *groupAudit:
		b = l.batch
	case AuditBatcher:
		b = l
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for len(events) > 0 {
		n := len(events)
		if b == nil {
			n = 1
		}
		n = min(n, maxAuditBatch)
		var err error
		if b != nil {
			err = b.AppendAuditBatch(actx, events[:n])
		} else {
			err = s.audit.AppendAudit(actx, events[0])
		}
		if err != nil {
			s.log.Error("audit write failed", "op", events[0].Operation, "err", err)
			return Wrap(EUnavailable, err, "audit log unavailable")
		}
		events = events[n:]
	}
	return nil
}

// wrappedRootSize is the size of a wrapped root version: RFC 5649 of 32
// bytes (an 8-byte integrity block and the key).
const wrappedRootSize = 40

// rewrapVersion re-wraps one version under the current master: a root in
// the protector (RewrapRoot), or the material of a PurposeMaterial key,
// whose wrapped form has another size than a root's, through
// MaterialProtector (for secret data and opaque objects, the DEK of
// their envelope) (that material is exportable: it may be in clear in
// this process).
func (s *Service) rewrapVersion(ctx context.Context, rw MasterRewrapper, v KeyVersion) ([]byte, error) {
	mp, ok := s.protector.(MaterialProtector)
	if !ok || len(v.Wrapped) == wrappedRootSize {
		return rw.RewrapRoot(ctx, v.Wrapped)
	}
	// Secret data and opaque objects are envelopes: only their DEK is
	// wrapped material.
	k, err := s.store.GetKey(ctx, v.KeyID)
	if err != nil {
		return nil, err
	}
	if k.Attributes.variableLength() {
		return rewrapEnvelope(ctx, mp, v.Wrapped)
	}
	plain, err := mp.UnwrapMaterial(ctx, v.Wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return mp.WrapMaterial(ctx, plain)
}
