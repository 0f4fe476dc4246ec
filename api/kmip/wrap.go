package kmip

import (
	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// Get with a Key Wrapping Specification (KMIP 1.4 sections 2.1.5 and
// 4.11): the key value comes wrapped under another key of the server,
// through kms.Service.ExportWrapped. Served: Wrapping Method Encrypt with
// an Encryption Key Information naming an Active AES key (usage mask
// Wrap Key when it has one) and the Block Cipher Mode NIST Key Wrap (RFC
// 3394) or AES Key Wrap Padding (RFC 5649), from the request's
// Cryptographic Parameters or else the wrapping key's; Encoding Option
// No Encoding (the default): the Key Value is the wrapped Key Material
// byte string, so symmetric keys come in Raw format and secret data in
// Opaque format. MAC/signature wrapping, wrapped attributes and TTLV
// encoding are Feature Not Supported; opaque objects have no key block
// and are refused.

// wrapModes maps the Block Cipher Modes that wrap keys to kms's names.
var wrapModes = map[kmip14.BlockCipherMode]string{
	kmip14.BlockCipherModeNISTKeyWrap:       kms.ModeKeyWrap,
	kmip14.BlockCipherModeAESKeyWrapPadding: kms.ModeKeyWrapPad,
}

// wrapSpec is a decoded Key Wrapping Specification.
type wrapSpec struct {
	keyID string
	// mode is the kms wrapping mode the request names ("" to take the
	// wrapping key's).
	mode string
}

// parseWrapSpec decodes a Key Wrapping Specification.
func parseWrapSpec(n node) (wrapSpec, error) {
	var w wrapSpec
	if n.structure() != nil {
		return w, fieldError("the Key Wrapping Specification is not a structure")
	}
	wm, ok := n.child(kmip14.TagWrappingMethod)
	m, err := wm.enum()
	if !ok || err != nil {
		return w, fieldError("the Key Wrapping Specification needs a Wrapping Method")
	}
	if kmip14.WrappingMethod(m) != kmip14.WrappingMethodEncrypt {
		return w, errorf(kmip14.ResultReasonFeatureNotSupported, "Wrapping Method %s is not supported (Encrypt is)", kmip14.WrappingMethod(m))
	}
	if _, ok := n.child(kmip14.TagMACSignatureKeyInformation); ok {
		return w, errorf(kmip14.ResultReasonFeatureNotSupported, "MAC/signature key wrapping is not supported")
	}
	if _, ok := n.child(kmip14.TagAttributeName); ok {
		return w, errorf(kmip14.ResultReasonFeatureNotSupported, "wrapping attributes with the key is not supported")
	}
	if eo, ok := n.child(kmip14.TagEncodingOption); ok {
		if v, err := eo.enum(); err != nil || kmip14.EncodingOption(v) != kmip14.EncodingOptionNoEncoding {
			return w, errorf(kmip14.ResultReasonEncodingOptionError, "only the Encoding Option No Encoding is supported")
		}
	}
	eki, ok := n.child(kmip14.TagEncryptionKeyInformation)
	if !ok || eki.structure() != nil {
		return w, fieldError("Wrapping Method Encrypt needs an Encryption Key Information structure")
	}
	uid, ok := eki.child(kmip14.TagUniqueIdentifier)
	if w.keyID, err = uid.text(); !ok || err != nil || w.keyID == "" {
		return w, fieldError("the Encryption Key Information needs the wrapping key's Unique Identifier")
	}
	if cp, ok := eki.child(kmip14.TagCryptographicParameters); ok {
		if cp.structure() != nil {
			return w, fieldError("Cryptographic Parameters is not a structure")
		}
		if bm, ok := cp.child(kmip14.TagBlockCipherMode); ok {
			v, err := bm.enum()
			if err != nil {
				return w, fieldError("the Block Cipher Mode is not an Enumeration")
			}
			if w.mode = wrapModes[kmip14.BlockCipherMode(v)]; w.mode == "" {
				return w, fieldError("Block Cipher Mode %s does not wrap keys (NIST Key Wrap and AES Key Wrap Padding do)", kmip14.BlockCipherMode(v))
			}
		}
	}
	return w, nil
}

// getWrapped answers a Get with a Key Wrapping Specification spec, once
// get has checked the object (k, of type typ, to return in format).
func (h *handler) getWrapped(c call, spec node, id string, k kms.Key, typ kmip14.ObjectType, format kmip14.KeyFormatType) (encodeFunc, error) {
	w, err := parseWrapSpec(spec)
	if err != nil {
		return nil, err
	}
	switch {
	case typ == kmip14.ObjectTypeOpaqueObject:
		return nil, fieldError("opaque objects have no key block to wrap")
	case format == kmip14.KeyFormatTypeTransparentSymmetricKey:
		if _, asked := c.payload.child(kmip14.TagKeyFormatType); asked {
			return nil, errorf(kmip14.ResultReasonKeyFormatTypeNotSupported,
				"a wrapped key without TTLV encoding comes in Raw format only")
		}
		format = kmip14.KeyFormatTypeRaw
	}
	wk, err := h.svc.ExportWrapped(c.ctx, id, w.keyID, w.mode)
	if err != nil {
		return nil, cryptoError(c.version, err)
	}
	h.compensateUsage(c, w.keyID, wk.Size)
	k, wrapped := wk.Key, wk.Value
	mode := kmip14.BlockCipherModeNISTKeyWrap
	if wk.Mode == kms.ModeKeyWrapPad {
		mode = kmip14.BlockCipherModeAESKeyWrapPadding
	}
	block := func(e *ttlv.Encoder, extra func(e *ttlv.Encoder)) error {
		return e.EncodeStructure(kmip14.TagKeyBlock, func(e *ttlv.Encoder) error {
			e.EncodeEnumeration(kmip14.TagKeyFormatType, uint32(format))
			e.EncodeByteString(kmip14.TagKeyValue, wrapped)
			if extra != nil {
				extra(e)
			}
			return e.EncodeStructure(kmip14.TagKeyWrappingData, func(e *ttlv.Encoder) error {
				e.EncodeEnumeration(kmip14.TagWrappingMethod, uint32(kmip14.WrappingMethodEncrypt))
				return e.EncodeStructure(kmip14.TagEncryptionKeyInformation, func(e *ttlv.Encoder) error {
					e.EncodeTextString(kmip14.TagUniqueIdentifier, w.keyID)
					return e.EncodeStructure(kmip14.TagCryptographicParameters, func(e *ttlv.Encoder) error {
						e.EncodeEnumeration(kmip14.TagBlockCipherMode, uint32(mode))
						return nil
					})
				})
			})
		})
	}
	return func(e *ttlv.Encoder) error {
		e.EncodeEnumeration(kmip14.TagObjectType, uint32(typ))
		e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		if typ == kmip14.ObjectTypeSecretData {
			return e.EncodeStructure(kmip14.TagSecretData, func(e *ttlv.Encoder) error {
				e.EncodeEnumeration(kmip14.TagSecretDataType, dataTypeValue(k.Attributes.DataType))
				return block(e, nil)
			})
		}
		alg, length, _ := cryptoOf(k)
		return e.EncodeStructure(kmip14.TagSymmetricKey, func(e *ttlv.Encoder) error {
			return block(e, func(e *ttlv.Encoder) {
				e.EncodeEnumeration(kmip14.TagCryptographicAlgorithm, uint32(alg))
				e.EncodeInteger(kmip14.TagCryptographicLength, length)
			})
		})
	}, nil
}
