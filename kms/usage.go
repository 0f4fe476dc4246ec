package kms

import (
	"context"
	"errors"
	"fmt"
)

// UsageLimits is the KMIP Usage Limits attribute of a PurposeMaterial key
// (KMIP 1.4 section 3.21): how much the key may protect (encrypt or MAC)
// over its life, in bytes of data or in objects (operations).
type UsageLimits struct {
	// Total is the allocation the client set (Usage Limits Total), > 0.
	Total int64 `json:"total"`
	// Count is what remains of it (Usage Limits Count): the server sets
	// it to Total when the key is made and lowers it on every Encrypt
	// and MAC. A protection that needs more than Count is refused.
	Count int64 `json:"count"`
	// Unit is UsageUnitByte or UsageUnitObject.
	Unit string `json:"unit"`
}

// Usage Limits Units.
const (
	// UsageUnitByte counts the bytes of data protected.
	UsageUnitByte = "Byte"
	// UsageUnitObject counts operations: each protection uses 1.
	UsageUnitObject = "Object"
)

// ErrUsageLimits is the cause (errors.Is) of the EForbidden error of a
// protection that the key's remaining Usage Limits Count does not allow.
var ErrUsageLimits = errors.New("the key's Usage Limits are exhausted")

// newUsageLimits checks the Usage Limits of a new key and returns them
// with Count set to Total (a Count the request carries is the server's
// to set, and is ignored).
func newUsageLimits(u *UsageLimits) (*UsageLimits, error) {
	if u == nil {
		return nil, nil
	}
	if u.Total <= 0 {
		return nil, Errorf(EInvalid, "the Usage Limits Total must be positive")
	}
	if u.Unit != UsageUnitByte && u.Unit != UsageUnitObject {
		return nil, Errorf(EInvalid, "the Usage Limits Unit must be %s or %s", UsageUnitByte, UsageUnitObject)
	}
	n := *u
	n.Count = n.Total
	return &n, nil
}

// usageAmount is what protecting n bytes takes from limits u; a
// continued multi-part operation takes no object.
func usageAmount(u *UsageLimits, n int, continued bool) int64 {
	if u.Unit == UsageUnitObject {
		if continued {
			return 0
		}
		return 1
	}
	return int64(n)
}

// Allows reports whether u (nil: no limits) has amount left: what KMIP
// Check with a Usage Limits Count asks.
func (u *UsageLimits) Allows(amount int64) bool {
	return u == nil || amount <= u.Count
}

// allowsUsage returns nil if u (nil: no limits) has amount left, else
// the EForbidden error, with cause ErrUsageLimits, that refuses it.
func allowsUsage(id string, u *UsageLimits, amount int64) error {
	if u.Allows(amount) {
		return nil
	}
	return Wrap(EForbidden, ErrUsageLimits, fmt.Sprintf(
		"key %q has %d of its Usage Limits (%d %s) left, the operation needs %d", id, u.Count, u.Total, u.Unit, amount))
}

// consumeUsage takes what protecting n bytes (in a continued multi-part
// operation, or not) uses from the Usage Limits of key k, read by the
// caller (a key without limits never gets any: Usage Limits are set at
// creation only). It is a compare-and-set update of the stored count: of
// concurrent protections that together need more than is left, those
// that do not fit are refused (EForbidden, cause ErrUsageLimits). Callers
// compute their result first and release it only if this succeeds, so a
// failed operation uses nothing.
func (s *Service) consumeUsage(ctx context.Context, k *Key, n int, continued bool) error {
	if k.Attributes.UsageLimits == nil || usageAmount(k.Attributes.UsageLimits, n, continued) == 0 {
		return nil
	}
	_, err := s.update(ctx, k.ID, func(cur *Key) (*KeyVersion, error) {
		u := cur.Attributes.UsageLimits
		if u == nil {
			return nil, nil
		}
		amount := usageAmount(u, n, continued)
		if err := allowsUsage(cur.ID, u, amount); err != nil {
			return nil, err
		}
		left := *u
		left.Count -= amount
		cur.Attributes.UsageLimits = &left
		return nil, nil
	})
	return err
}

// ReturnUsage gives back to the Usage Limits of key id what protecting n
// bytes took (one object, with the unit Object; nothing with that unit
// for a continued part of a multi-part operation), never beyond their
// Total: the undo of an EncryptData, MAC or ExportWrapped whose result
// was not released (a KMIP Undo batch). A key without Usage Limits is
// left alone. Needs the policy op encrypt, as the protection did;
// audited as key.usage.return.
func (s *Service) ReturnUsage(ctx context.Context, id string, n int, continued bool) (err error) {
	o := op{name: "key.usage.return", keyID: id}
	defer func() { err = s.finish(ctx, o, err) }()
	if err := s.authorizeKey(ctx, OpEncrypt, id); err != nil {
		return err
	}
	k, err := s.store.GetKey(ctx, id)
	if err != nil || k.Attributes.UsageLimits == nil {
		return err
	}
	_, err = s.update(ctx, id, func(cur *Key) (*KeyVersion, error) {
		u := cur.Attributes.UsageLimits
		if u == nil {
			return nil, nil
		}
		back := *u
		back.Count += min(usageAmount(u, n, continued), back.Total-back.Count)
		cur.Attributes.UsageLimits = &back
		return nil, nil
	})
	return err
}
