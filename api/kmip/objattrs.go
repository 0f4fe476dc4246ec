package kmip

import (
	"slices"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// Attributes the server reports about how it holds an object (Fresh,
// Lease Time, Random Number Generator), and the client-managed Alternative
// Name and Application Specific Information (KMIP 1.4 sections 3.3, 3.15,
// 3.34, 3.36, 3.44).

const (
	attrAlternativeName = "Alternative Name"
	attrAppInfo         = "Application Specific Information"
	attrFresh           = "Fresh"
	attrLeaseTime       = "Lease Time"
	attrRNG             = "Random Number Generator"
)

// leaseTime is the Lease Time of every cryptographic object: how long a
// client may use (cache) an object it obtained before getting it, or its
// state, again. The server keeps no per-client leases (there is no Obtain
// Lease): this is the one lease it grants, so that a client learns of a
// revocation or destruction within the hour.
const leaseTime = time.Hour

// serverAttrs lists the attributes of k the server maintains about its
// own handling of the object:
//   - Fresh: whether the object's value was never returned to a client.
//     Named keys (kms roots) are always fresh: their material never
//     leaves the protector. Material keys record it (kms.Attributes.Fresh;
//     absent on keys made before it was recorded).
//   - Lease Time (leaseTime), for symmetric keys and secret data.
//   - Random Number Generator, for keys whose material the server
//     generated (named keys, created and re-keyed material keys): the
//     system's CSPRNG through Go's crypto/rand, or the HSM's generator,
//     reported as RNG Algorithm Unspecified because KMIP has no value for
//     them (they are not ANSI X9.31 or an identifiable SP 800-90A DRBG).
//     Returned only when asked for by name: PyKMIP cannot decode it.
func serverAttrs(k kms.Key) []outAttr {
	var out []outAttr
	fresh, known := true, true
	if k.Purpose == kms.PurposeMaterial {
		known = k.Attributes.Fresh != nil
		fresh = known && *k.Attributes.Fresh
	}
	if known {
		out = append(out, outAttr{name: attrFresh, enc: func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeBoolean(tag, fresh) }})
	}
	if objectTypeOf(k) != kmip14.ObjectTypeOpaqueObject {
		out = append(out, outAttr{name: attrLeaseTime, enc: func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeInterval(tag, leaseTime) }})
	}
	if k.Purpose == kms.PurposeNamed || k.Attributes.Generated {
		out = append(out, outAttr{name: attrRNG, named: true, enc: func(e *ttlv.Encoder, tag ttlv.Tag) {
			_ = e.EncodeStructure(tag, func(e *ttlv.Encoder) error {
				e.EncodeEnumeration(kmip14.TagRNGAlgorithm, uint32(kmip14.RNGAlgorithmUnspecified))
				return nil
			})
		}})
	}
	return out
}

// clientInfoAttrs lists k's Alternative Names and Application Specific
// Information, in order.
func clientInfoAttrs(k kms.Key) []outAttr {
	var out []outAttr
	for i, n := range k.Attributes.AlternativeNames {
		out = append(out, outAttr{name: attrAlternativeName, index: int32(i), enc: func(e *ttlv.Encoder, tag ttlv.Tag) {
			_ = e.EncodeStructure(tag, func(e *ttlv.Encoder) error {
				e.EncodeTextString(kmip14.TagAlternativeNameValue, n.Value)
				e.EncodeEnumeration(kmip14.TagAlternativeNameType, n.Type)
				return nil
			})
		}})
	}
	for i, ai := range k.Attributes.AppInfo {
		out = append(out, outAttr{name: attrAppInfo, index: int32(i), enc: func(e *ttlv.Encoder, tag ttlv.Tag) {
			_ = e.EncodeStructure(tag, func(e *ttlv.Encoder) error {
				e.EncodeTextString(kmip14.TagApplicationNamespace, ai.Namespace)
				e.EncodeTextString(kmip14.TagApplicationData, ai.Data)
				return nil
			})
		}})
	}
	return out
}

// alternativeNameValue reads an Alternative Name: a non-empty Alternative
// Name Value and an Alternative Name Type KMIP 1.4 defines (Uninterpreted
// Text String to IP Address).
func alternativeNameValue(n node) (kms.AlternativeName, error) {
	if n.structure() != nil {
		return kms.AlternativeName{}, fieldError("an Alternative Name is not a structure")
	}
	vn, ok1 := n.child(kmip14.TagAlternativeNameValue)
	tn, ok2 := n.child(kmip14.TagAlternativeNameType)
	v, err1 := vn.text()
	t, err2 := tn.enum()
	if !ok1 || !ok2 || err1 != nil || err2 != nil || v == "" {
		return kms.AlternativeName{}, fieldError("an Alternative Name needs an Alternative Name Value and Type")
	}
	if t < uint32(kmip14.AlternativeNameTypeUninterpretedTextString) || t > uint32(kmip14.AlternativeNameTypeIPAddress) {
		return kms.AlternativeName{}, fieldError("Alternative Name Type %#x is not supported", t)
	}
	return kms.AlternativeName{Value: v, Type: t}, nil
}

// appInfoValue reads an Application Specific Information: a non-empty
// Application Namespace and its Application Data (both required in 1.x;
// the server generates no Application Data).
func appInfoValue(n node) (kms.AppInfo, error) {
	if n.structure() != nil {
		return kms.AppInfo{}, fieldError("an Application Specific Information is not a structure")
	}
	ns, ok1 := n.child(kmip14.TagApplicationNamespace)
	dn, ok2 := n.child(kmip14.TagApplicationData)
	s, err1 := ns.text()
	d, err2 := dn.text()
	if !ok1 || !ok2 || err1 != nil || err2 != nil || s == "" {
		return kms.AppInfo{}, fieldError("an Application Specific Information needs an Application Namespace and Application Data")
	}
	return kms.AppInfo{Namespace: s, Data: d}, nil
}

// listAttr is a multi-instance attribute stored as a slice of values
// parse reads.
func listAttr[T comparable](field func(a *kms.Attributes) *[]T, parse func(n node) (T, error)) mutable {
	return mutable{
		multi: true,
		count: func(a *kms.Attributes) int { return len(*field(a)) },
		get:   func(a *kms.Attributes, i int) any { return (*field(a))[i] },
		set: func(a *kms.Attributes, i int, v attr) error {
			x, err := parse(v.value)
			if err != nil {
				return err
			}
			f := field(a)
			if i == len(*f) {
				*f = append(*f, x)
			} else {
				(*f)[i] = x
			}
			return nil
		},
		del: func(a *kms.Attributes, i int) { f := field(a); *f = slices.Delete(*f, i, i+1) },
	}
}

var (
	alternativeNameAttr = listAttr(func(a *kms.Attributes) *[]kms.AlternativeName { return &a.AlternativeNames }, alternativeNameValue)
	appInfoAttr         = listAttr(func(a *kms.Attributes) *[]kms.AppInfo { return &a.AppInfo }, appInfoValue)
)

// listFilter is Locate's filter for an attribute of m: keys having an
// instance equal to a's value.
func listFilter(m mutable, a attr) (filter, error) {
	var want kms.Attributes
	if err := m.set(&want, 0, a); err != nil {
		return nil, err
	}
	wv := m.get(&want, 0)
	return func(k kms.Key) bool {
		for i := range m.count(&k.Attributes) {
			if m.get(&k.Attributes, i) == wv {
				return true
			}
		}
		return false
	}, nil
}
