package kmip

import (
	"errors"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// KMIP 2.0 Result Reasons of the cryptographic operations (kmip14 lacks
// them; KMIP 1.x clients get the 1.x reason named where they are used).
const (
	resultReasonIncompatibleUsageMask kmip14.ResultReason = 0x00000029
	resultReasonMissingIV             kmip14.ResultReason = 0x00000034
)

// Cryptographic Parameters enumerations the server implements, and their
// kms names.
var (
	blockCipherModes = map[kmip14.BlockCipherMode]string{
		kmip14.BlockCipherModeECB: kms.ModeECB,
		kmip14.BlockCipherModeCBC: kms.ModeCBC,
		kmip14.BlockCipherModeGCM: kms.ModeGCM,
	}
	paddingMethods = map[kmip14.PaddingMethod]string{
		kmip14.PaddingMethodNone:  kms.PaddingNone,
		kmip14.PaddingMethodPKCS5: kms.PaddingPKCS5,
	}
	cryptoAlgorithms = map[kmip14.CryptographicAlgorithm]string{
		kmip14.CryptographicAlgorithmAES:         kms.AlgorithmAES,
		kmip14.CryptographicAlgorithmDES3:        kms.AlgorithmTripleDES,
		kmip14.CryptographicAlgorithmHMAC_SHA1:   kms.AlgorithmHMACSHA1,
		kmip14.CryptographicAlgorithmHMAC_SHA224: kms.AlgorithmHMACSHA224,
		kmip14.CryptographicAlgorithmHMAC_SHA256: kms.AlgorithmHMACSHA256,
		kmip14.CryptographicAlgorithmHMAC_SHA384: kms.AlgorithmHMACSHA384,
		kmip14.CryptographicAlgorithmHMAC_SHA512: kms.AlgorithmHMACSHA512,
	}
)

// parseCryptoParams decodes a Cryptographic Parameters structure (of a
// request, or the value of the key attribute of that name): Block Cipher
// Mode, Padding Method, Cryptographic Algorithm, Tag Length (bytes),
// Random IV and IV Length (bits, a multiple of 8). A mode, padding or
// algorithm the server does not implement is Invalid Field; other fields
// (Hashing Algorithm, Key Role Type, the counter and IV construction
// lengths…) do not change what these modes compute and are ignored.
func parseCryptoParams(n node) (kms.CryptoParams, error) {
	return decodeCryptoParams(n, false)
}

// parseCryptoParamsAttr decodes the value of a Cryptographic Parameters
// attribute given at Create or Register. Unlike a request's parameters,
// it may name a mode, padding or algorithm the server does not implement
// (the attribute only records how the client means to use the key, e.g.
// XTS in the OASIS AX cases); such values are kept by their KMIP names,
// and an Encrypt or Decrypt that relies on them fails then.
func parseCryptoParamsAttr(n node) (kms.CryptoParams, error) {
	return decodeCryptoParams(n, true)
}

func decodeCryptoParams(n node, lenient bool) (kms.CryptoParams, error) {
	var p kms.CryptoParams
	if n.structure() != nil {
		return p, fieldError("Cryptographic Parameters is not a structure")
	}
	for _, k := range n.kids {
		switch k.tag {
		case kmip14.TagBlockCipherMode:
			v, err := k.enum()
			m, ok := blockCipherModes[kmip14.BlockCipherMode(v)]
			if err == nil && !ok && lenient {
				m, ok = kmip14.BlockCipherMode(v).String(), true
			}
			if err != nil || !ok {
				return p, fieldError("Block Cipher Mode %s is not supported (ECB, CBC and GCM are)", kmip14.BlockCipherMode(v))
			}
			p.Mode = m
		case kmip14.TagPaddingMethod:
			v, err := k.enum()
			m, ok := paddingMethods[kmip14.PaddingMethod(v)]
			if err == nil && !ok && lenient {
				m, ok = kmip14.PaddingMethod(v).String(), true
			}
			if err != nil || !ok {
				return p, fieldError("Padding Method %s is not supported (None and PKCS5 are)", kmip14.PaddingMethod(v))
			}
			p.Padding = m
		case kmip14.TagCryptographicAlgorithm:
			v, err := k.enum()
			a, ok := cryptoAlgorithms[kmip14.CryptographicAlgorithm(v)]
			if err == nil && !ok && lenient {
				a, ok = kmip14.CryptographicAlgorithm(v).String(), true
			}
			if err != nil || !ok {
				return p, fieldError("Cryptographic Algorithm %s is not supported here", kmip14.CryptographicAlgorithm(v))
			}
			p.Algorithm = a
		case kmip14.TagTagLength:
			v, err := k.integer()
			if err != nil {
				return p, fieldError("the Tag Length is not an Integer")
			}
			p.TagLength = int(v)
		case kmip14.TagRandomIV:
			v, err := k.boolean()
			if err != nil {
				return p, fieldError("Random IV is not a Boolean")
			}
			p.RandomIV = v
		case kmip14.TagIVLength:
			v, err := k.integer()
			if err != nil || v <= 0 || v%8 != 0 {
				return p, fieldError("the IV Length must be a positive multiple of 8 bits")
			}
			p.IVLength = int(v / 8)
		}
	}
	return p, nil
}

// byteString returns a copy of the value of a Byte String.
func byteString(n node) ([]byte, error) {
	if n.typ != ttlv.TypeByteString {
		return nil, n.typeError(ttlv.TypeByteString)
	}
	return append([]byte{}, n.val...), nil
}

// optBytes returns the Byte String child of the payload with the tag, nil
// when absent.
func optBytes(c call, tag ttlv.Tag, name string) ([]byte, error) {
	n, ok := c.payload.child(tag)
	if !ok {
		return nil, nil
	}
	b, err := byteString(n)
	if err != nil {
		return nil, fieldError("%s is not a Byte String", name)
	}
	return b, nil
}

// cryptoRequest decodes what Encrypt, Decrypt, MAC and MAC Verify share:
// the target, the Cryptographic Parameters and the Data. Multi-part
// requests (Correlation Value, Init and Final Indicators) are refused
// unless parts is set (Encrypt, stream.go).
func cryptoRequest(c call, parts bool) (id string, p kms.CryptoParams, data []byte, err error) {
	if id, err = uniqueID(c); err != nil {
		return "", p, nil, err
	}
	for _, t := range []ttlv.Tag{kmip14.TagCorrelationValue, kmip14.TagInitIndicator, kmip14.TagFinalIndicator} {
		if _, ok := c.payload.child(t); ok && !parts {
			return "", p, nil, errorf(kmip14.ResultReasonFeatureNotSupported, "this operation is not served in parts (only GCM Encrypt is)")
		}
	}
	if n, ok := c.payload.child(kmip14.TagCryptographicParameters); ok {
		if p, err = parseCryptoParams(n); err != nil {
			return "", p, nil, err
		}
	}
	n, ok := c.payload.child(kmip14.TagData)
	if !ok {
		return "", p, nil, fieldError("the request needs Data")
	}
	if data, err = byteString(n); err != nil {
		return "", p, nil, fieldError("Data is not a Byte String")
	}
	return id, p, data, nil
}

// cipherRequest decodes an Encrypt or Decrypt request.
func cipherRequest(c call, parts bool) (id string, req kms.CipherRequest, data []byte, err error) {
	id, req.Params, data, err = cryptoRequest(c, parts)
	if err != nil {
		return "", req, nil, err
	}
	if req.IV, err = optBytes(c, kmip14.TagIVCounterNonce, "the IV/Counter/Nonce"); err != nil {
		return "", req, nil, err
	}
	if req.AAD, err = optBytes(c, kmip14.TagAuthenticatedEncryptionAdditionalData, "the Authenticated Encryption Additional Data"); err != nil {
		return "", req, nil, err
	}
	if req.Tag, err = optBytes(c, kmip14.TagAuthenticatedEncryptionTag, "the Authenticated Encryption Tag"); err != nil {
		return "", req, nil, err
	}
	return id, req, data, nil
}

// cryptoError gives the kms errors of the cryptographic operations their
// KMIP Result Reasons where the one table in errors.go cannot, as they
// depend on the protocol version or on the OASIS test cases' choices:
// a missing IV is Invalid Message (1.x, CS-BC-M-11) or Missing
// Initialization Vector (2.0); a usage mask that forbids the operation
// Permission Denied (1.x) or Incompatible Cryptographic Usage Mask (2.0);
// a GCM tag length outside 12 to 16 bytes General Failure (1.x,
// CS-BC-M-GCM-1) or Invalid Field (2.0); a key in the wrong state
// Permission Denied (1.x) or Wrong Key Lifecycle State (2.0).
func cryptoError(v version, err error) error {
	msg := kms.ErrorMessage(err)
	v2 := v.major >= 2
	switch {
	case errors.Is(err, kms.ErrMissingIV):
		if v2 {
			return errorf(resultReasonMissingIV, "%s", msg)
		}
		return errorf(kmip14.ResultReasonInvalidMessage, "%s", msg)
	case errors.Is(err, kms.ErrUsageMask):
		if v2 {
			return errorf(resultReasonIncompatibleUsageMask, "%s", msg)
		}
		return errorf(kmip14.ResultReasonPermissionDenied, "%s", msg)
	case errors.Is(err, kms.ErrTagLength):
		if v2 {
			return errorf(kmip14.ResultReasonInvalidField, "%s", msg)
		}
		return errorf(kmip14.ResultReasonGeneralFailure, "%s", msg)
	case kms.ErrorCode(err) == kms.EState:
		return lifecycleError(v, "%s", msg)
	}
	return err
}

// encrypt answers Encrypt: the Data encrypted with a symmetric key
// (kms.Service.EncryptData), with the IV/Counter/Nonce when the server
// chose it and the tag in GCM mode.
func (h *handler) encrypt(c call) (encodeFunc, error) {
	init, final, cv, err := streamFlags(c)
	if err != nil {
		return nil, err
	}
	if cv != nil || init != final {
		return h.encryptPart(c, init, final, cv)
	}
	id, req, data, err := cipherRequest(c, true)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.EncryptData(c.ctx, id, req, data)
	if err != nil {
		return nil, cryptoError(c.version, err)
	}
	h.compensateUsage(c, id, len(data))
	return func(e *ttlv.Encoder) error {
		e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		e.EncodeByteString(kmip14.TagData, res.Data)
		if res.IV != nil {
			e.EncodeByteString(kmip14.TagIVCounterNonce, res.IV)
		}
		if res.Tag != nil {
			e.EncodeByteString(kmip14.TagAuthenticatedEncryptionTag, res.Tag)
		}
		return nil
	}, nil
}

// decrypt answers Decrypt (kms.Service.DecryptData). The plaintext is
// wiped once encoded.
func (h *handler) decrypt(c call) (encodeFunc, error) {
	id, req, data, err := cipherRequest(c, false)
	if err != nil {
		return nil, err
	}
	plain, err := h.svc.DecryptData(c.ctx, id, req, data)
	if err != nil {
		return nil, cryptoError(c.version, err)
	}
	if plain == nil {
		plain = []byte{} // an empty Data is still sent
	}
	return func(e *ttlv.Encoder) error {
		defer clear(plain)
		e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		e.EncodeByteString(kmip14.TagData, plain)
		return nil
	}, nil
}

// mac answers MAC: the HMAC of the Data under an HMAC key
// (kms.Service.MAC).
func (h *handler) mac(c call) (encodeFunc, error) {
	id, p, data, err := cryptoRequest(c, false)
	if err != nil {
		return nil, err
	}
	m, err := h.svc.MAC(c.ctx, id, p.Algorithm, data)
	if err != nil {
		return nil, cryptoError(c.version, err)
	}
	h.compensateUsage(c, id, len(data))
	return func(e *ttlv.Encoder) error {
		e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		e.EncodeByteString(kmip14.TagMACData, m)
		return nil
	}, nil
}

// macVerify answers MAC Verify with a Validity Indicator of Valid or
// Invalid (kms.Service.VerifyMAC).
func (h *handler) macVerify(c call) (encodeFunc, error) {
	id, p, data, err := cryptoRequest(c, false)
	if err != nil {
		return nil, err
	}
	n, ok := c.payload.child(kmip14.TagMACData)
	if !ok {
		return nil, fieldError("MAC Verify needs the MAC Data")
	}
	m, err := byteString(n)
	if err != nil {
		return nil, fieldError("the MAC Data is not a Byte String")
	}
	valid, err := h.svc.VerifyMAC(c.ctx, id, p.Algorithm, data, m)
	if err != nil {
		return nil, cryptoError(c.version, err)
	}
	vi := kmip14.ValidityIndicatorInvalid
	if valid {
		vi = kmip14.ValidityIndicatorValid
	}
	return func(e *ttlv.Encoder) error {
		e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		e.EncodeEnumeration(kmip14.TagValidityIndicator, uint32(vi))
		return nil
	}, nil
}

// rngRetrieve answers RNG Retrieve: Data Length random bytes (1 to
// kms.MaxRandomBytes) for any identity the policy knows.
func (h *handler) rngRetrieve(c call) (encodeFunc, error) {
	n, ok := c.payload.child(kmip14.TagDataLength)
	if !ok {
		return nil, fieldError("RNG Retrieve needs a Data Length")
	}
	l, err := n.integer()
	if err != nil {
		return nil, fieldError("the Data Length is not an Integer")
	}
	b, err := h.svc.RandomBytes(c.ctx, int(l))
	if err != nil {
		return nil, err
	}
	return func(e *ttlv.Encoder) error {
		e.EncodeByteString(kmip14.TagData, b)
		return nil
	}, nil
}
