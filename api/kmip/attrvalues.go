package kmip

import (
	"encoding/binary"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// lifecycleAttributes lists the lifecycle and client-managed attributes
// of a (kms.Lifecycle) that are set, in a fixed order.
func lifecycleAttributes(a kms.Attributes) []outAttr {
	var out []outAttr
	dates := []struct {
		name string
		t    *time.Time
	}{
		{attrActivationDate, a.ActivationDate},
		{attrDeactivationDate, a.DeactivationDate},
		{attrCompromiseOccurrenceDate, a.CompromiseOccurrenceDate},
		{attrCompromiseDate, a.CompromiseDate},
		{attrDestroyDate, a.DestroyDate},
	}
	for _, d := range dates {
		if d.t != nil {
			t := *d.t
			out = append(out, outAttr{name: d.name, enc: func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeDateTime(tag, t) }})
		}
	}
	if rr := a.RevocationReason; rr != nil {
		out = append(out, outAttr{name: attrRevocationReason, enc: func(e *ttlv.Encoder, tag ttlv.Tag) {
			_ = e.EncodeStructure(tag, func(e *ttlv.Encoder) error {
				e.EncodeEnumeration(kmip14.TagRevocationReasonCode, rr.Code)
				if rr.Message != "" {
					e.EncodeTextString(kmip14.TagRevocationMessage, rr.Message)
				}
				return nil
			})
		}})
	}
	for i, l := range a.Links {
		out = append(out, outAttr{name: attrLink, index: int32(i), enc: func(e *ttlv.Encoder, tag ttlv.Tag) {
			_ = e.EncodeStructure(tag, func(e *ttlv.Encoder) error {
				e.EncodeEnumeration(kmip14.TagLinkType, l.Type)
				e.EncodeTextString(kmip14.TagLinkedObjectIdentifier, l.ObjectID)
				return nil
			})
		}})
	}
	if c := a.ContactInformation; c != "" {
		out = append(out, outAttr{name: attrContactInformation, enc: func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeTextString(tag, c) }})
	}
	return out
}

// customNames returns the names of a's custom attributes, text and typed,
// sorted.
func customNames(a kms.Attributes) []string {
	names := slices.Collect(maps.Keys(a.Custom))
	for n := range a.CustomTyped {
		if _, dup := a.Custom[n]; !dup {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// customAttr is the custom attribute name of a (which has it).
func customAttr(a kms.Attributes, name string) outAttr {
	if v, ok := a.Custom[name]; ok {
		return outAttr{name: name, enc: func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeTextString(tag, v) }}
	}
	tv := a.CustomTyped[name]
	return outAttr{name: name, enc: func(e *ttlv.Encoder, tag ttlv.Tag) { encodeTyped(e, tag, tv) }}
}

// typedKinds are the TTLV types a non-text custom attribute may have, with
// the length of their value.
var typedKinds = map[ttlv.Type]int{
	ttlv.TypeInteger: 4, ttlv.TypeLongInteger: 8, ttlv.TypeEnumeration: 4,
	ttlv.TypeBoolean: 8, ttlv.TypeDateTime: 8, ttlv.TypeInterval: 4, ttlv.TypeByteString: -1,
}

// setCustom sets the custom attribute at.name of a from its value: a Text
// String goes to Custom, the scalar types to CustomTyped (a structure is
// refused). One instance per name.
func setCustom(a *kms.Attributes, at attr) error {
	delete(a.Custom, at.name)
	delete(a.CustomTyped, at.name)
	if at.value.typ == ttlv.TypeTextString {
		if a.Custom == nil {
			a.Custom = map[string]string{}
		}
		a.Custom[at.name] = string(at.value.val)
		return nil
	}
	n, ok := typedKinds[at.value.typ]
	if !ok || (n >= 0 && len(at.value.val) != n) {
		return fieldError("custom attribute %q: values of type %s are not supported", at.name, at.value.typ)
	}
	if at.value.typ == ttlv.TypeBoolean {
		if _, err := at.value.boolean(); err != nil {
			return fieldError("custom attribute %q: invalid Boolean", at.name)
		}
	}
	if a.CustomTyped == nil {
		a.CustomTyped = map[string]kms.TypedValue{}
	}
	a.CustomTyped[at.name] = kms.TypedValue{Type: at.value.typ.String(), Value: hex.EncodeToString(at.value.val)}
	return nil
}

// encodeTyped writes a stored typed custom value.
func encodeTyped(e *ttlv.Encoder, tag ttlv.Tag, tv kms.TypedValue) {
	b, _ := hex.DecodeString(tv.Value)
	u := func(n int) uint64 {
		if len(b) != n {
			return 0
		}
		if n == 4 {
			return uint64(binary.BigEndian.Uint32(b))
		}
		return binary.BigEndian.Uint64(b)
	}
	switch tv.Type {
	case ttlv.TypeInteger.String():
		e.EncodeInteger(tag, int32(u(4)))
	case ttlv.TypeLongInteger.String():
		e.EncodeLongInteger(tag, int64(u(8)))
	case ttlv.TypeEnumeration.String():
		e.EncodeEnumeration(tag, uint32(u(4)))
	case ttlv.TypeBoolean.String():
		e.EncodeBoolean(tag, u(8) == 1)
	case ttlv.TypeDateTime.String():
		e.EncodeDateTime(tag, time.Unix(int64(u(8)), 0).UTC())
	case ttlv.TypeInterval.String():
		e.EncodeInterval(tag, time.Duration(u(4))*time.Second)
	default:
		e.EncodeByteString(tag, b)
	}
}

// encodeTagged writes one attribute in the KMIP 2.0 form: tagged with its
// own tag, or as a Vendor Attribute for custom x-/y- attributes.
// Attributes without a 2.0 form are left out.
func encodeTagged(e *ttlv.Encoder, a outAttr) {
	if tag, ok := attrTags[a.name]; ok {
		a.enc(e, tag)
		return
	}
	vendor, name, ok := strings.Cut(a.name, "-")
	if !ok || !isCustom(a.name) {
		return
	}
	_ = e.EncodeStructure(tagVendorAttribute, func(e *ttlv.Encoder) error {
		e.EncodeTextString(kmip14.TagVendorIdentification, vendor)
		e.EncodeTextString(kmip14.TagAttributeName, name)
		a.enc(e, kmip14.TagAttributeValue)
		return nil
	})
}

// linkValue reads a Link attribute value.
func linkValue(n node) (kms.Link, error) {
	if n.structure() != nil {
		return kms.Link{}, fieldError("a Link is not a structure")
	}
	lt, ok1 := n.child(kmip14.TagLinkType)
	id, ok2 := n.child(kmip14.TagLinkedObjectIdentifier)
	t, err1 := lt.enum()
	s, err2 := id.text()
	if !ok1 || !ok2 || err1 != nil || err2 != nil || s == "" {
		return kms.Link{}, fieldError("a Link needs a Link Type and a Linked Object Identifier")
	}
	return kms.Link{Type: t, ObjectID: s}, nil
}
