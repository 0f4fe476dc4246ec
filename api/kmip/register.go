package kmip

import (
	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// register answers Register: a Symmetric Key (Raw or Transparent
// Symmetric Key format, algorithm and length in its Key Block), Secret
// Data (Password or Seed, Opaque format) or Opaque Object, with the
// attributes Create takes (Template-Attribute in 1.x, Attributes in 2.0).
// The object is an exportable material key (unless Extractable is false),
// Pre-Active unless an Activation Date not in the future is given, with a
// fresh UUID as Unique Identifier. Wrapped or compressed key blocks are
// refused; the value is checked against the algorithm and length by kms.
func (h *handler) register(c call) (encodeFunc, error) {
	ot, ok := c.payload.child(kmip14.TagObjectType)
	t, err := ot.enum()
	if !ok || err != nil {
		return nil, fieldError("Register needs an Object Type")
	}
	typ := kmip14.ObjectType(t)
	var o newObject
	var value []byte
	switch typ {
	case kmip14.ObjectTypeSymmetricKey:
		if o, err = h.objectAttributes(c, true); err != nil {
			return nil, err
		}
		value, err = registerSymmetricKey(c, &o)
	case kmip14.ObjectTypeSecretData:
		if o, err = h.objectAttributes(c, false); err != nil {
			return nil, err
		}
		value, err = registerSecretData(c, &o)
	case kmip14.ObjectTypeOpaqueObject:
		if o, err = h.objectAttributes(c, false); err != nil {
			return nil, err
		}
		value, err = registerOpaque(c, &o)
	default:
		return nil, fieldError("Register takes Symmetric Keys, Secret Data and Opaque Objects, not %s", typ)
	}
	if err != nil {
		return nil, err
	}
	id, err := h.createObject(c, o, value)
	if err != nil {
		return nil, err
	}
	return idPayload(id), nil
}

// object returns the payload's structure with the given tag.
func object(c call, tag ttlv.Tag) (node, error) {
	n, ok := c.payload.child(tag)
	if !ok || n.structure() != nil {
		return node{}, errorf(kmip14.ResultReasonInvalidField, "Register of a %s needs its %s structure", tag, tag)
	}
	return n, nil
}

// keyBlock reads a Key Block: its Key Format Type, which must be one of
// formats, and its key material (the Key Material byte string, or the
// Key of a Transparent Symmetric Key).
func keyBlock(parent node, formats ...kmip14.KeyFormatType) (kmip14.KeyFormatType, []byte, node, error) {
	kb, ok := parent.child(kmip14.TagKeyBlock)
	if !ok || kb.structure() != nil {
		return 0, nil, node{}, fieldError("the object has no Key Block")
	}
	if _, ok := kb.child(kmip14.TagKeyWrappingData); ok {
		return 0, nil, node{}, errorf(kmip14.ResultReasonFeatureNotSupported, "wrapped key blocks (Key Wrapping Data) are not supported; register the key in clear over TLS")
	}
	if _, ok := kb.child(kmip14.TagKeyCompressionType); ok {
		return 0, nil, node{}, errorf(kmip14.ResultReasonKeyCompressionTypeNotSupported, "Key Compression Type is not supported")
	}
	ft, ok := kb.child(kmip14.TagKeyFormatType)
	f, err := ft.enum()
	if !ok || err != nil {
		return 0, nil, node{}, fieldError("the Key Block has no Key Format Type")
	}
	format := kmip14.KeyFormatType(f)
	supported := false
	for _, want := range formats {
		supported = supported || format == want
	}
	if !supported {
		return 0, nil, node{}, errorf(kmip14.ResultReasonKeyFormatTypeNotSupported, "Key Format Type %s is not supported for this object", format)
	}
	kv, ok := kb.child(kmip14.TagKeyValue)
	if !ok || kv.structure() != nil {
		return 0, nil, node{}, errorf(kmip14.ResultReasonKeyValueNotPresent, "the Key Block has no Key Value structure")
	}
	km, ok := kv.child(kmip14.TagKeyMaterial)
	if !ok {
		return 0, nil, node{}, errorf(kmip14.ResultReasonKeyValueNotPresent, "the Key Value has no Key Material")
	}
	if format == kmip14.KeyFormatTypeTransparentSymmetricKey {
		if km.structure() != nil {
			return 0, nil, node{}, fieldError("a Transparent Symmetric Key's Key Material is a structure")
		}
		if km, ok = km.child(kmip14.TagKey); !ok {
			return 0, nil, node{}, errorf(kmip14.ResultReasonKeyValueNotPresent, "the Transparent Symmetric Key has no Key")
		}
	}
	b, err := km.byteValue()
	if err != nil || len(b) == 0 {
		return 0, nil, node{}, fieldError("the Key Material is not a non-empty Byte String")
	}
	return format, b, kb, nil
}

// registerSymmetricKey reads a Symmetric Key: its algorithm and length
// from the Key Block, which must agree with the attributes when both
// give them.
func registerSymmetricKey(c call, o *newObject) ([]byte, error) {
	sk, err := object(c, kmip14.TagSymmetricKey)
	if err != nil {
		return nil, err
	}
	format, material, kb, err := keyBlock(sk, kmip14.KeyFormatTypeRaw, kmip14.KeyFormatTypeTransparentSymmetricKey)
	if err != nil {
		return nil, err
	}
	if n, ok := kb.child(kmip14.TagCryptographicAlgorithm); ok {
		v, err := n.enum()
		if err != nil {
			return nil, fieldError("the Key Block's Cryptographic Algorithm is not an Enumeration")
		}
		alg := kmip14.CryptographicAlgorithm(v)
		if o.alg != 0 && o.alg != alg {
			return nil, fieldError("the Key Block's Cryptographic Algorithm %s differs from the attribute's %s", alg, o.alg)
		}
		o.alg = alg
	}
	if n, ok := kb.child(kmip14.TagCryptographicLength); ok {
		v, err := n.integer()
		if err != nil {
			return nil, fieldError("the Key Block's Cryptographic Length is not an Integer")
		}
		if o.length != 0 && o.length != v {
			return nil, fieldError("the Key Block's Cryptographic Length %d differs from the attribute's %d", v, o.length)
		}
		o.length = v
	}
	name, ok := algorithmNames[o.alg]
	switch {
	case o.alg == 0:
		return nil, fieldError("a Symmetric Key needs its Cryptographic Algorithm")
	case !ok:
		return nil, fieldError("Cryptographic Algorithm %s is not supported for symmetric keys", o.alg)
	}
	if o.length <= 0 {
		return nil, fieldError("a Symmetric Key needs its Cryptographic Length")
	}
	if len(material) > kms.MaxMaterialSize {
		return nil, fieldError("key material of %d bytes is longer than any supported key", len(material))
	}
	o.attrs.ObjectType, o.attrs.Algorithm, o.attrs.Length = kms.ObjectSymmetricKey, name, int(o.length)
	if format == kmip14.KeyFormatTypeTransparentSymmetricKey {
		o.attrs.KeyFormat = formatTransparent
	}
	return material, nil
}

// registerSecretData reads Secret Data: a Secret Data Type and a Key
// Block in Opaque format.
func registerSecretData(c call, o *newObject) ([]byte, error) {
	sd, err := object(c, kmip14.TagSecretData)
	if err != nil {
		return nil, err
	}
	st, ok := sd.child(kmip14.TagSecretDataType)
	t, err := st.enum()
	if !ok || err != nil {
		return nil, fieldError("Secret Data needs a Secret Data Type")
	}
	_, value, _, err := keyBlock(sd, kmip14.KeyFormatTypeOpaque)
	if err != nil {
		return nil, err
	}
	if len(value) > kms.MaxValueSize {
		return nil, fieldError("Secret Data longer than %d bytes", kms.MaxValueSize)
	}
	o.attrs.ObjectType, o.attrs.DataType = kms.ObjectSecretData, dataTypeName(t, true)
	return value, nil
}

// registerOpaque reads an Opaque Object: Opaque Data Type and Value.
func registerOpaque(c call, o *newObject) ([]byte, error) {
	ob, err := object(c, kmip14.TagOpaqueObject)
	if err != nil {
		return nil, err
	}
	dt, ok := ob.child(kmip14.TagOpaqueDataType)
	t, err := dt.enum()
	if !ok || err != nil {
		return nil, fieldError("an Opaque Object needs an Opaque Data Type")
	}
	dv, ok := ob.child(kmip14.TagOpaqueDataValue)
	value, err := dv.byteValue()
	if !ok || err != nil || len(value) == 0 {
		return nil, errorf(kmip14.ResultReasonKeyValueNotPresent, "an Opaque Object needs a non-empty Opaque Data Value")
	}
	if len(value) > kms.MaxValueSize {
		return nil, fieldError("an Opaque Data Value longer than %d bytes", kms.MaxValueSize)
	}
	o.attrs.ObjectType, o.attrs.DataType = kms.ObjectOpaque, dataTypeName(t, false)
	return value, nil
}
