package kmip

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// check answers Check (KMIP 1.4 section 4.10): whether the object may be
// used as the request says. Leases are not enforced (the Lease Time
// attribute reports a nominal hour), so a requested Lease Time always
// passes; the Cryptographic Usage Mask and the Usage Limits Count can
// fail: every
// bit asked must be in the key's mask (a key created without a mask is
// not restricted), and the key must have at least the count left of its
// Usage Limits (a key without them is not limited; nothing is used up).
// A mask failure is Permission Denied in 1.x, Incompatible Cryptographic
// Usage Mask in 2.0, a count failure Permission Denied, with a payload
// holding the Unique Identifier and the field that failed (as KMIP
// defines, and as PyKMIP's client requires). The response carries the
// Unique Identifier.
func (h *handler) check(c call) (encodeFunc, error) {
	id, k, err := h.target(c)
	if err != nil {
		return nil, err
	}
	if k.State == kms.StateDestroyed {
		return nil, errorf(kmip14.ResultReasonItemNotFound, "object %q is destroyed", id)
	}
	if n, ok := c.payload.child(kmip14.TagCryptographicUsageMask); ok {
		m, err := n.integer()
		if err != nil {
			return nil, fieldError("the Cryptographic Usage Mask is not an Integer")
		}
		if have := k.Attributes.UsageMask; have != 0 && m&^have != 0 {
			e := attrError(c.version, kmip14.ResultReasonPermissionDenied, resultReasonIncompatibleUsageMask,
				"the Cryptographic Usage Mask of object %q does not allow %#x", id, uint32(m&^have))
			// The payload names the check that failed.
			e.payload = func(e *ttlv.Encoder) error {
				e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
				e.EncodeInteger(kmip14.TagCryptographicUsageMask, m)
				return nil
			}
			return nil, e
		}
	}
	if err := checkUsage(c, id, k); err != nil {
		return nil, err
	}
	if n, ok := c.payload.child(kmip14.TagLeaseTime); ok && n.typ != ttlv.TypeInterval {
		return nil, fieldError("the Lease Time is not an Interval")
	}
	return idPayload(id), nil
}

// interval returns the value of an Interval node.
func interval(n node) (time.Duration, error) {
	if n.typ != ttlv.TypeInterval || len(n.val) != 4 {
		return 0, n.typeError(ttlv.TypeInterval)
	}
	return time.Duration(binary.BigEndian.Uint32(n.val)) * time.Second, nil
}

// reKey answers ReKey (KMIP 1.4 section 4.4): a new key with a new Unique
// Identifier and fresh material of the same kind (a material key of the
// same algorithm and length, or a new named root key), with the old
// key's attributes (KMIP's table of ReKey attributes): its Names move to
// the new key, which gets a Replaced Object Link to the old key, and the
// old key a Replacement Object Link to the new one; the lifecycle dates
// and Revocation Reason are not copied. With an Offset of 0 the new key
// is Active at once; without Offset it is Pre-Active. A positive Offset
// (activation in the future) and Template-Attributes are not supported.
// The new Unique Identifier becomes the batch's ID Placeholder.
func (h *handler) reKey(c call) (encodeFunc, error) {
	id, old, err := h.target(c)
	if err != nil {
		return nil, err
	}
	if old.State == kms.StateDestroyed {
		return nil, errorf(kmip14.ResultReasonItemNotFound, "object %q is destroyed", id)
	}
	state := kms.StatePreActive
	if n, ok := c.payload.child(kmip14.TagOffset); ok {
		d, err := interval(n)
		if err != nil {
			return nil, fieldError("the Offset is not an Interval")
		}
		if d > 0 {
			return nil, fieldError("an Offset activating the new key in the future is not supported")
		}
		state = kms.StateActive
	}
	if attrs, err := requestAttributes(c, true); err != nil {
		return nil, err
	} else if len(attrs) > 0 {
		return nil, fieldError("ReKey takes no Template-Attribute")
	}
	newID := newUUID()
	before, after, err := h.svc.UpdateAttributes(c.ctx, id, func(k *kms.Key) error {
		k.Attributes.Names = nil
		k.Attributes.Links = append(k.Attributes.Links, kms.Link{Type: uint32(kmip14.LinkTypeReplacementObjectLink), ObjectID: newID})
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The new key's attributes come from the old key as the update found
	// it: the Names it released are exactly those the new key takes.
	na := kms.CloneAttributes(before.Attributes)
	na.Lifecycle = kms.Lifecycle{
		Links:              []kms.Link{{Type: uint32(kmip14.LinkTypeReplacedObjectLink), ObjectID: id}},
		ContactInformation: na.ContactInformation,
		CustomTyped:        na.CustomTyped,
	}
	restore := func(ctx context.Context) error {
		_, err := h.svc.RestoreKey(ctx, id, after, before, kms.OpAttributes)
		return err
	}
	nk, err := h.svc.CreateKey(c.ctx, kms.CreateKeyRequest{
		ID: newID, Purpose: old.Purpose, Exportable: old.Exportable, State: state, Attributes: na,
	})
	if err != nil {
		if rerr := restore(context.WithoutCancel(c.ctx)); rerr != nil {
			h.log.Error("kmip: ReKey could not restore the old key's attributes", "key", id, "err", rerr)
		}
		return nil, nameConflict(c.version, err)
	}
	c.compensate(restore)
	c.compensate(func(ctx context.Context) error { return h.svc.PurgeKey(ctx, newID, nk) })
	*c.placeholder = newID
	return idPayload(newID), nil
}
