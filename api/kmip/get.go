package kmip

import (
	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// formatTransparent is the kms.Attributes.KeyFormat of symmetric keys
// registered in Transparent Symmetric Key format.
const formatTransparent = "TransparentSymmetricKey"

// get answers Get: the object's value in clear, in any state but
// Destroyed (Item Not Found). Symmetric keys come in Raw or Transparent
// Symmetric Key format (the requested Key Format Type, else the format
// they were registered in, else Raw), Secret Data in Opaque format,
// Opaque Objects as they were registered. Named keys (kms roots) are
// refused with Permission Denied: their material never leaves the
// protector. Non-exportable objects (Extractable false) are refused with
// Not Extractable (Permission Denied before KMIP 1.4). With a Key
// Wrapping Specification the value comes wrapped under another key
// (wrap.go); Key Compression Type is refused.
func (h *handler) get(c call) (encodeFunc, error) {
	id, k, err := h.target(c)
	if err != nil {
		return nil, err
	}
	if _, ok := c.payload.child(kmip14.TagKeyCompressionType); ok {
		return nil, errorf(kmip14.ResultReasonKeyCompressionTypeNotSupported, "Key Compression Type is not supported")
	}
	switch {
	case k.State == kms.StateDestroyed:
		return nil, errorf(kmip14.ResultReasonItemNotFound, "object %q is destroyed", id)
	case k.Purpose != kms.PurposeMaterial:
		return nil, errorf(kmip14.ResultReasonPermissionDenied,
			"object %q is a KMS root key: its material never leaves the key protector", id)
	case !k.Exportable:
		r := kmip14.ResultReasonNotExtractable
		if c.version.major < 2 && c.version.minor < 4 {
			r = kmip14.ResultReasonPermissionDenied
		}
		return nil, errorf(r, "object %q is not extractable", id)
	}
	typ := objectTypeOf(k)
	format, err := getFormat(c, k, typ)
	if err != nil {
		return nil, err
	}
	if spec, ok := c.payload.child(kmip14.TagKeyWrappingSpecification); ok {
		return h.getWrapped(c, spec, id, k, typ, format) // wrap.go
	}
	k, value, err := h.svc.ExportKey(c.ctx, id)
	if err != nil {
		return nil, err
	}
	// value is wiped once encoded (the connection wipes the encoded
	// response once written). A payload is encoded at most once: an item
	// that is undone or fails later loses it unencoded.
	return func(e *ttlv.Encoder) error {
		defer clear(value)
		e.EncodeEnumeration(kmip14.TagObjectType, uint32(typ))
		e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		switch typ {
		case kmip14.ObjectTypeSymmetricKey:
			alg, length, _ := cryptoOf(k)
			return e.EncodeStructure(kmip14.TagSymmetricKey, func(e *ttlv.Encoder) error {
				return encodeKeyBlock(e, format, value, func(e *ttlv.Encoder) {
					e.EncodeEnumeration(kmip14.TagCryptographicAlgorithm, uint32(alg))
					e.EncodeInteger(kmip14.TagCryptographicLength, length)
				})
			})
		case kmip14.ObjectTypeSecretData:
			return e.EncodeStructure(kmip14.TagSecretData, func(e *ttlv.Encoder) error {
				e.EncodeEnumeration(kmip14.TagSecretDataType, dataTypeValue(k.Attributes.DataType))
				return encodeKeyBlock(e, format, value, nil)
			})
		default:
			return e.EncodeStructure(kmip14.TagOpaqueObject, func(e *ttlv.Encoder) error {
				e.EncodeEnumeration(kmip14.TagOpaqueDataType, dataTypeValue(k.Attributes.DataType))
				e.EncodeByteString(kmip14.TagOpaqueDataValue, value)
				return nil
			})
		}
	}, nil
}

// getFormat returns the Key Format Type to return k in: the requested one
// if the object type allows it, else the default.
func getFormat(c call, k kms.Key, typ kmip14.ObjectType) (kmip14.KeyFormatType, error) {
	var allowed []kmip14.KeyFormatType
	switch typ {
	case kmip14.ObjectTypeSymmetricKey:
		allowed = []kmip14.KeyFormatType{kmip14.KeyFormatTypeRaw, kmip14.KeyFormatTypeTransparentSymmetricKey}
		if k.Attributes.KeyFormat == formatTransparent {
			allowed[0], allowed[1] = allowed[1], allowed[0]
		}
	case kmip14.ObjectTypeSecretData:
		allowed = []kmip14.KeyFormatType{kmip14.KeyFormatTypeOpaque}
	default:
		allowed = []kmip14.KeyFormatType{0}
	}
	n, ok := c.payload.child(kmip14.TagKeyFormatType)
	if !ok {
		return allowed[0], nil
	}
	v, err := n.enum()
	if err != nil {
		return 0, fieldError("Key Format Type is not an Enumeration")
	}
	for _, f := range allowed {
		if f != 0 && uint32(f) == v {
			return f, nil
		}
	}
	return 0, errorf(kmip14.ResultReasonKeyFormatTypeNotSupported,
		"Key Format Type %s is not supported for a %s", kmip14.KeyFormatType(v), typ)
}

// encodeKeyBlock writes a Key Block holding value in format, followed by
// the fields extra writes (algorithm and length of symmetric keys).
func encodeKeyBlock(e *ttlv.Encoder, format kmip14.KeyFormatType, value []byte, extra func(e *ttlv.Encoder)) error {
	return e.EncodeStructure(kmip14.TagKeyBlock, func(e *ttlv.Encoder) error {
		e.EncodeEnumeration(kmip14.TagKeyFormatType, uint32(format))
		if err := e.EncodeStructure(kmip14.TagKeyValue, func(e *ttlv.Encoder) error {
			if format == kmip14.KeyFormatTypeTransparentSymmetricKey {
				return e.EncodeStructure(kmip14.TagKeyMaterial, func(e *ttlv.Encoder) error {
					e.EncodeByteString(kmip14.TagKey, value)
					return nil
				})
			}
			e.EncodeByteString(kmip14.TagKeyMaterial, value)
			return nil
		}); err != nil {
			return err
		}
		if extra != nil {
			extra(e)
		}
		return nil
	})
}
