package kmip

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// KMIP managed objects are kms keys: named keys (PurposeNamed, made by
// the admin API or by an earlier Create) are AES-256 Symmetric Keys whose
// material never leaves the protector; material keys (PurposeMaterial,
// made by Create and Register) are Symmetric Keys, Secret Data or Opaque
// Objects whose value a client may Get. Bucket root keys are not KMIP
// objects.

// algorithmNames maps the KMIP Cryptographic Algorithms of symmetric keys
// to the kms names (kms.Attributes.Algorithm). kms decides which
// algorithm and length it supports; an algorithm missing here is refused
// as unsupported.
var algorithmNames = map[kmip14.CryptographicAlgorithm]string{
	kmip14.CryptographicAlgorithmAES:         kms.AlgorithmAES,
	kmip14.CryptographicAlgorithmDES3:        kms.AlgorithmTripleDES,
	kmip14.CryptographicAlgorithmHMAC_SHA1:   "HMAC_SHA1",
	kmip14.CryptographicAlgorithmHMAC_SHA224: "HMAC_SHA224",
	kmip14.CryptographicAlgorithmHMAC_SHA256: "HMAC_SHA256",
	kmip14.CryptographicAlgorithmHMAC_SHA384: "HMAC_SHA384",
	kmip14.CryptographicAlgorithmHMAC_SHA512: "HMAC_SHA512",
}

// algorithmOf returns the KMIP algorithm of a kms algorithm name.
func algorithmOf(name string) (kmip14.CryptographicAlgorithm, bool) {
	for a, n := range algorithmNames {
		if n == name {
			return a, true
		}
	}
	return 0, false
}

// kmipObject reports whether k is a KMIP object.
func kmipObject(k kms.Key) bool {
	return k.Purpose == kms.PurposeNamed || k.Purpose == kms.PurposeMaterial
}

// objectTypeOf is the KMIP Object Type of key k.
func objectTypeOf(k kms.Key) kmip14.ObjectType {
	if k.Purpose == kms.PurposeMaterial {
		switch k.Attributes.ObjectType {
		case kms.ObjectSecretData:
			return kmip14.ObjectTypeSecretData
		case kms.ObjectOpaque:
			return kmip14.ObjectTypeOpaqueObject
		}
	}
	return kmip14.ObjectTypeSymmetricKey
}

// cryptoOf returns the Cryptographic Algorithm and Length of a symmetric
// key (named keys are AES-256); ok is false for other objects.
func cryptoOf(k kms.Key) (alg kmip14.CryptographicAlgorithm, length int32, ok bool) {
	if k.Purpose != kms.PurposeMaterial {
		return keyAlgorithm, keyLength, true
	}
	if objectTypeOf(k) != kmip14.ObjectTypeSymmetricKey {
		return 0, 0, false
	}
	alg, ok = algorithmOf(k.Attributes.Algorithm)
	return alg, int32(k.Attributes.Length), ok
}

// objectAttrs lists the attributes that follow from what kind of object k
// is: Object Type, Cryptographic Algorithm and Length.
func objectAttrs(k kms.Key) []outAttr {
	out := []outAttr{enumOut(attrObjectType, uint32(objectTypeOf(k)))}
	if alg, length, ok := cryptoOf(k); ok {
		out = append(out, enumOut(attrAlgorithm, uint32(alg)),
			outAttr{name: attrLength, enc: func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeInteger(tag, length) }})
	}
	return out
}

// materialAttrs lists the attributes of material keys: Digest (SHA-256
// of the key material in Raw format, or of the secret or opaque value),
// Original Creation Date and the KMIP 1.4 booleans (these last five are
// returned only by name: PyKMIP cannot decode them) Extractable, Never
// Extractable (an object's exportability never changes), Sensitive and
// Always Sensitive (always false: values are only returned in clear).
// Fresh is among serverAttrs.
func materialAttrs(k kms.Key) []outAttr {
	if k.Purpose != kms.PurposeMaterial {
		return nil
	}
	var out []outAttr
	if d, err := hex.DecodeString(k.Attributes.Digest); err == nil && len(d) > 0 {
		format := kmip14.KeyFormatTypeRaw
		switch objectTypeOf(k) {
		case kmip14.ObjectTypeSecretData:
			format = kmip14.KeyFormatTypeOpaque
		case kmip14.ObjectTypeOpaqueObject:
			format = 0
		}
		out = append(out, outAttr{name: attrDigest, enc: func(e *ttlv.Encoder, tag ttlv.Tag) {
			_ = e.EncodeStructure(tag, func(e *ttlv.Encoder) error {
				e.EncodeEnumeration(kmip14.TagHashingAlgorithm, uint32(kmip14.HashingAlgorithmSHA_256))
				e.EncodeByteString(kmip14.TagDigestValue, d)
				if format != 0 {
					e.EncodeEnumeration(kmip14.TagKeyFormatType, uint32(format))
				}
				return nil
			})
		}})
	}
	out = append(out, usageLimitsAttrs(k.Attributes)...)
	created := k.CreatedAt
	out = append(out, outAttr{name: attrOriginalCreation, named: true, enc: func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeDateTime(tag, created) }})
	boolAttr := func(name string, v bool) outAttr {
		return outAttr{name: name, named: true, enc: func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeBoolean(tag, v) }}
	}
	return append(out, boolAttr(attrSensitive, false), boolAttr(attrAlwaysSensitive, false),
		boolAttr(attrExtractable, k.Exportable), boolAttr(attrNeverExtractable, !k.Exportable))
}

func enumOut(name string, v uint32) outAttr {
	return outAttr{name: name, enc: func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeEnumeration(tag, v) }}
}

// Secret Data Types and Opaque Data Types are stored by name: the KMIP
// name of a defined value, "0x" and eight hex digits for others
// (extensions, as every Opaque Data Type is).
var secretDataTypes = map[string]kmip14.SecretDataType{
	"Password": kmip14.SecretDataTypePassword,
	"Seed":     kmip14.SecretDataTypeSeed,
}

func dataTypeName(v uint32, secret bool) string {
	if secret {
		for n, t := range secretDataTypes {
			if uint32(t) == v {
				return n
			}
		}
	}
	return fmt.Sprintf("0x%08x", v)
}

func dataTypeValue(name string) uint32 {
	if t, ok := secretDataTypes[name]; ok {
		return uint32(t)
	}
	v, _ := strconv.ParseUint(name, 0, 32)
	return uint32(v)
}

// byteValue returns the value of a Byte String.
func (n node) byteValue() ([]byte, error) {
	if n.typ != ttlv.TypeByteString {
		return nil, n.typeError(ttlv.TypeByteString)
	}
	return n.val, nil
}

// newObject is what Create and Register read from a request's
// attributes.
type newObject struct {
	attrs      kms.Attributes
	state      kms.State
	exportable bool
	// alg and length are the Cryptographic Algorithm and Length given
	// (0 when not).
	alg    kmip14.CryptographicAlgorithm
	length int32
}

// objectAttributes reads the attributes a client may set on a new object:
// Name, Object Group, Cryptographic Usage Mask, Activation Date (not in
// the future: the object is then Active, else Pre-Active), Extractable
// (false makes the object non-exportable; default true), Sensitive (false
// only: values are never returned wrapped), custom x-
// attributes (1.x) and, when crypto is set (symmetric keys), the
// Cryptographic Algorithm and Length. Anything else is refused rather
// than silently dropped.
func (h *handler) objectAttributes(c call, crypto bool) (newObject, error) {
	attrs, err := requestAttributes(c, true)
	if err != nil {
		return newObject{}, err
	}
	o := newObject{state: kms.StatePreActive, exportable: true}
	for _, at := range attrs {
		switch {
		case crypto && at.name == attrAlgorithm:
			e, err := enumValue(at)
			if err != nil {
				return newObject{}, err
			}
			o.alg = kmip14.CryptographicAlgorithm(e)
			if _, ok := algorithmNames[o.alg]; !ok {
				return newObject{}, fieldError("Cryptographic Algorithm %s is not supported for symmetric keys", o.alg)
			}
		case crypto && at.name == attrLength:
			if o.length, err = intValue(at); err != nil {
				return newObject{}, err
			}
			if o.length <= 0 {
				return newObject{}, fieldError("invalid Cryptographic Length %d", o.length)
			}
		case at.name == attrUsageMask:
			if o.attrs.UsageMask, err = intValue(at); err != nil {
				return newObject{}, err
			}
		case at.name == attrName:
			n, err := nameValue(at.value)
			if err != nil {
				return newObject{}, err
			}
			o.attrs.Names = append(o.attrs.Names, n)
		case at.name == attrObjectGroup:
			g, err := textValue(at)
			if err != nil {
				return newObject{}, err
			}
			o.attrs.ObjectGroups = append(o.attrs.ObjectGroups, g)
		case at.name == attrActivationDate:
			d, err := at.value.dateTime()
			if err != nil {
				return newObject{}, fieldError("Activation Date is not a Date-Time")
			}
			if d.After(h.now()) {
				return newObject{}, fieldError("an Activation Date in the future is not supported")
			}
			o.state = kms.StateActive
			o.attrs.ActivationDate = &d
		case at.name == attrCryptoParams:
			p, err := parseCryptoParamsAttr(at.value)
			if err != nil {
				return newObject{}, err
			}
			o.attrs.Params = &p
		case at.name == attrProcessStartDate || at.name == attrProtectStopDate:
			d, err := at.value.dateTime()
			if err != nil {
				return newObject{}, fieldError("%s is not a Date-Time", at.name)
			}
			if at.name == attrProcessStartDate {
				o.attrs.ProcessStartDate = &d
			} else {
				o.attrs.ProtectStopDate = &d
			}
		case at.name == attrExtractable:
			b, err := at.value.boolean()
			if err != nil {
				return newObject{}, fieldError("Extractable is not a Boolean")
			}
			o.exportable = b
		case at.name == attrSensitive:
			b, err := at.value.boolean()
			if err != nil {
				return newObject{}, fieldError("Sensitive is not a Boolean")
			}
			if b {
				return newObject{}, fieldError("sensitive objects (returned only wrapped) are not supported; use Extractable false")
			}
		case at.name == attrUsageLimits:
			if o.attrs.UsageLimits, err = parseUsageLimits(at.value); err != nil {
				return newObject{}, err
			}
		case settableAtCreate(at.name):
			if err := setAtCreate(&o.attrs, at); err != nil {
				return newObject{}, err
			}
		default:
			return newObject{}, fieldError("attribute %q cannot be set on a new object", at.name)
		}
	}
	return o, nil
}

// createObject makes the kms key of a new object, with a fresh UUID as
// its Unique Identifier, and makes that the batch's ID Placeholder.
// material is nil for Create.
func (h *handler) createObject(c call, o newObject, material []byte) (string, error) {
	id := newUUID()
	k, err := h.svc.CreateKey(c.ctx, kms.CreateKeyRequest{
		ID: id, Purpose: kms.PurposeMaterial, Exportable: o.exportable, State: o.state,
		Attributes: o.attrs, Material: material,
	})
	if err != nil {
		return "", nameConflict(c.version, err)
	}
	c.compensate(func(ctx context.Context) error { return h.svc.PurgeKey(ctx, id, k) })
	*c.placeholder = id
	return id, nil
}

// inVersion reports whether attribute name exists at protocol version v
// (Sensitive, Always Sensitive, Extractable and Never Extractable came
// with KMIP 1.4; Random Number Generator with 1.3; Original Creation
// Date and Alternative Name with 1.2; Fresh with 1.1).
func inVersion(name string, v version) bool {
	switch name {
	case attrSensitive, attrAlwaysSensitive, attrExtractable, attrNeverExtractable:
		return v.major >= 2 || v.minor >= 4
	case attrRNG:
		return v.major >= 2 || v.minor >= 3
	case attrOriginalCreation, attrAlternativeName:
		return v.major >= 2 || v.minor >= 2
	case attrFresh:
		return v.major >= 2 || v.minor >= 1
	}
	return true
}
