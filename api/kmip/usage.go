package kmip

import (
	"context"
	"encoding/binary"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// Usage Limits (KMIP 1.4 section 3.21): set at Create or Register, kept
// in kms.Attributes.UsageLimits, consumed by Encrypt and MAC in kms (a
// compare-and-set update of the count; Permission Denied once exhausted),
// asked about by Check, returned by Get Attributes. Usage Limits only
// count the application of protection (encryption, MAC), as KMIP says:
// Decrypt and MAC Verify do not use them. They are read only once set
// (Add, Modify and Delete Attribute refuse them). In an Undo batch, an
// undone Encrypt, MAC or wrapped Get gives back what it used.

// usageUnits maps the Usage Limits Unit enumeration to kms's names.
var usageUnits = map[kmip14.UsageLimitsUnit]string{
	kmip14.UsageLimitsUnitByte:   kms.UsageUnitByte,
	kmip14.UsageLimitsUnitObject: kms.UsageUnitObject,
}

// longInteger returns the value of a Long Integer.
func (n node) longInteger() (int64, error) {
	if n.typ != ttlv.TypeLongInteger || len(n.val) != 8 {
		return 0, n.typeError(ttlv.TypeLongInteger)
	}
	return int64(binary.BigEndian.Uint64(n.val)), nil
}

// parseUsageLimits reads a Usage Limits attribute value: Usage Limits
// Total (positive) and Unit are required; a Usage Limits Count is the
// server's to set and is ignored (kms sets it to the Total).
func parseUsageLimits(n node) (*kms.UsageLimits, error) {
	if n.structure() != nil {
		return nil, fieldError("Usage Limits is not a structure")
	}
	var u kms.UsageLimits
	tn, ok := n.child(kmip14.TagUsageLimitsTotal)
	if !ok {
		return nil, fieldError("Usage Limits needs a Usage Limits Total")
	}
	total, err := tn.longInteger()
	if err != nil || total <= 0 {
		return nil, fieldError("the Usage Limits Total must be a positive Long Integer")
	}
	u.Total = total
	un, ok := n.child(kmip14.TagUsageLimitsUnit)
	if !ok {
		return nil, fieldError("Usage Limits needs a Usage Limits Unit")
	}
	e, err := un.enum()
	if u.Unit = usageUnits[kmip14.UsageLimitsUnit(e)]; err != nil || u.Unit == "" {
		return nil, fieldError("the Usage Limits Unit must be Byte or Object")
	}
	if cn, ok := n.child(kmip14.TagUsageLimitsCount); ok {
		if _, err := cn.longInteger(); err != nil {
			return nil, fieldError("the Usage Limits Count is not a Long Integer")
		}
	}
	return &u, nil
}

// usageLimitsAttrs is the Usage Limits attribute of a, if it has one.
// Returned by Get Attributes only when asked for by name: PyKMIP fails
// on a response that holds it (its attribute factory does not implement
// it).
func usageLimitsAttrs(a kms.Attributes) []outAttr {
	u := a.UsageLimits
	if u == nil {
		return nil
	}
	unit := kmip14.UsageLimitsUnitByte
	if u.Unit == kms.UsageUnitObject {
		unit = kmip14.UsageLimitsUnitObject
	}
	return []outAttr{{name: attrUsageLimits, named: true, enc: func(e *ttlv.Encoder, tag ttlv.Tag) {
		_ = e.EncodeStructure(tag, func(e *ttlv.Encoder) error {
			e.EncodeLongInteger(kmip14.TagUsageLimitsTotal, u.Total)
			e.EncodeLongInteger(kmip14.TagUsageLimitsCount, u.Count)
			e.EncodeEnumeration(kmip14.TagUsageLimitsUnit, uint32(unit))
			return nil
		})
	}}}
}

// checkUsage is the Usage Limits Count test of Check: nil when the
// payload has no Usage Limits Count or k has that much left (or no
// limits), else Permission Denied with a payload naming the count.
func checkUsage(c call, id string, k kms.Key) error {
	n, ok := c.payload.child(kmip14.TagUsageLimitsCount)
	if !ok {
		return nil
	}
	count, err := n.longInteger()
	if err != nil || count < 0 {
		return fieldError("the Usage Limits Count is not a non-negative Long Integer")
	}
	if k.Attributes.UsageLimits.Allows(count) {
		return nil
	}
	e := errorf(kmip14.ResultReasonPermissionDenied, "object %q has less than %d of its Usage Limits left", id, count)
	// The payload names the check that failed.
	e.payload = func(e *ttlv.Encoder) error {
		e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		e.EncodeLongInteger(kmip14.TagUsageLimitsCount, count)
		return nil
	}
	return e
}

// compensateUsage registers, in an Undo batch, the return of what a
// protection of n bytes with key id took from its Usage Limits.
func (h *handler) compensateUsage(c call, id string, n int) {
	c.compensate(func(ctx context.Context) error { return h.svc.ReturnUsage(ctx, id, n, false) })
}
