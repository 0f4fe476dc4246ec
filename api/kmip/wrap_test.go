package kmip

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/kms"
)

// wrapOpts is a Get with a Key Wrapping Specification; zero fields are
// not sent.
type wrapOpts struct {
	method   kmip14.WrappingMethod
	keyID    string
	mode     kmip14.BlockCipherMode
	encoding kmip14.EncodingOption
	format   kmip14.KeyFormatType
	macSign  bool
	noEKI    bool
}

func (w wrapOpts) payload(id string) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) {
		idOnly(id)(e)
		if w.format != 0 {
			e.EncodeEnumeration(kmip14.TagKeyFormatType, uint32(w.format))
		}
		_ = e.EncodeStructure(kmip14.TagKeyWrappingSpecification, func(e *ttlv.Encoder) error {
			e.EncodeEnumeration(kmip14.TagWrappingMethod, uint32(w.method))
			if !w.noEKI {
				_ = e.EncodeStructure(kmip14.TagEncryptionKeyInformation, func(e *ttlv.Encoder) error {
					e.EncodeTextString(kmip14.TagUniqueIdentifier, w.keyID)
					if w.mode != 0 {
						_ = e.EncodeStructure(kmip14.TagCryptographicParameters, func(e *ttlv.Encoder) error {
							e.EncodeEnumeration(kmip14.TagBlockCipherMode, uint32(w.mode))
							return nil
						})
					}
					return nil
				})
			}
			if w.macSign {
				_ = e.EncodeStructure(kmip14.TagMACSignatureKeyInformation, func(e *ttlv.Encoder) error {
					e.EncodeTextString(kmip14.TagUniqueIdentifier, w.keyID)
					return nil
				})
			}
			if w.encoding != 0 {
				e.EncodeEnumeration(kmip14.TagEncodingOption, uint32(w.encoding))
			}
			return nil
		})
	}
}

// TestGetWrapped: Get with a Key Wrapping Specification returns the key
// wrapped with AES Key Wrap (the RFC 3394 and 5649 known answers) at 1.2,
// 1.4 and 2.0, in the form of OASIS AX-M-2; and its refusals.
func TestGetWrapped(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	kek128 := mustHex(t, "000102030405060708090a0b0c0d0e0f")
	kek := ts.materialKey(t, kms.AlgorithmAES, kek128, kms.UsageWrapKey, kms.StateActive, &kms.CryptoParams{Mode: kms.ModeKeyWrap})
	kekPad := ts.materialKey(t, kms.AlgorithmAES, mustHex(t, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"), 0, kms.StateActive, nil)
	kekEncrypt := ts.materialKey(t, kms.AlgorithmAES, kek128, kms.UsageEncrypt, kms.StateActive, nil)
	kekPre := ts.materialKey(t, kms.AlgorithmAES, kek128, 0, kms.StatePreActive, nil)
	const kw128 = "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			target := createdID(t, do(t, c, v, kmip14.OperationRegister, registerKey(v, kmip14.KeyFormatTypeTransparentSymmetricKey,
				mustHex(t, "00112233445566778899aabbccddeeff"), kmip14.CryptographicAlgorithmAES, 128)))
			secret := createdID(t, do(t, c, v, kmip14.OperationRegister, registerSecret(v, kmip14.SecretDataTypePassword,
				kmip14.KeyFormatTypeOpaque, mustHex(t, "466f7250617369"))))
			opaque := createdID(t, do(t, c, v, kmip14.OperationRegister, registerOpaquePayload(v, 0x80000001, []byte{1, 2, 3})))
			enc := kmip14.WrappingMethodEncrypt
			kw, kwp := kmip14.BlockCipherModeNISTKeyWrap, kmip14.BlockCipherModeAESKeyWrapPadding
			tests := []struct {
				name string
				id   string
				w    wrapOpts
				want string // Key Block rendered, or "" with reason
				r1   kmip14.ResultReason
				r2   kmip14.ResultReason
			}{
				{"KW, the wrapping key's mode", target, wrapOpts{method: enc, keyID: kek},
					"Raw " + kw128 + " AES 128 Encrypt " + kek + " NISTKeyWrap", 0, 0},
				{"KW named", target, wrapOpts{method: enc, keyID: kek, mode: kw, format: kmip14.KeyFormatTypeRaw},
					"Raw " + kw128 + " AES 128 Encrypt " + kek + " NISTKeyWrap", 0, 0},
				{"KWP of secret data", secret, wrapOpts{method: enc, keyID: kekPad, mode: kwp},
					"Opaque afbeb0f07dfbf5419200f2ccb50bb24f Encrypt " + kekPad + " AESKeyWrapPadding", 0, 0},
				{"KW of 7 bytes", secret, wrapOpts{method: enc, keyID: kekPad, mode: kw}, "", kmip14.ResultReasonInvalidField, kmip14.ResultReasonInvalidField},
				{"no mode", target, wrapOpts{method: enc, keyID: kekPad}, "", kmip14.ResultReasonInvalidField, kmip14.ResultReasonInvalidField},
				{"ECB", target, wrapOpts{method: enc, keyID: kek, mode: kmip14.BlockCipherModeECB}, "", kmip14.ResultReasonInvalidField, kmip14.ResultReasonInvalidField},
				{"MAC/sign", target, wrapOpts{method: kmip14.WrappingMethodMACSign, keyID: kek}, "", kmip14.ResultReasonFeatureNotSupported, kmip14.ResultReasonFeatureNotSupported},
				{"MAC key information", target, wrapOpts{method: enc, keyID: kek, macSign: true}, "", kmip14.ResultReasonFeatureNotSupported, kmip14.ResultReasonFeatureNotSupported},
				{"TTLV encoding", target, wrapOpts{method: enc, keyID: kek, encoding: kmip14.EncodingOptionTTLVEncoding}, "", kmip14.ResultReasonEncodingOptionError, kmip14.ResultReasonEncodingOptionError},
				{"no Encryption Key Information", target, wrapOpts{method: enc, noEKI: true}, "", kmip14.ResultReasonInvalidField, kmip14.ResultReasonInvalidField},
				{"Transparent asked", target, wrapOpts{method: enc, keyID: kek, format: kmip14.KeyFormatTypeTransparentSymmetricKey}, "", kmip14.ResultReasonKeyFormatTypeNotSupported, kmip14.ResultReasonKeyFormatTypeNotSupported},
				{"opaque object", opaque, wrapOpts{method: enc, keyID: kek}, "", kmip14.ResultReasonInvalidField, kmip14.ResultReasonInvalidField},
				{"no Wrap Key usage", target, wrapOpts{method: enc, keyID: kekEncrypt, mode: kw}, "", kmip14.ResultReasonPermissionDenied, resultReasonIncompatibleUsageMask},
				{"pre-active wrapping key", target, wrapOpts{method: enc, keyID: kekPre, mode: kw}, "", kmip14.ResultReasonPermissionDenied, resultReasonWrongKeyLifecycleState},
				{"missing wrapping key", target, wrapOpts{method: enc, keyID: "nope", mode: kw}, "", kmip14.ResultReasonItemNotFound, kmip14.ResultReasonItemNotFound},
			}
			for _, tc := range tests {
				it := do(t, c, v, kmip14.OperationGet, tc.w.payload(tc.id))
				if tc.want == "" {
					if it.ResultStatus != kmip14.ResultStatusOperationFailed || it.ResultReason != pick(v, tc.r1, tc.r2) || it.ResultMessage == "" {
						t.Errorf("%s: %s %s %q, want %s", tc.name, it.ResultStatus, it.ResultReason, it.ResultMessage, pick(v, tc.r1, tc.r2))
					}
					continue
				}
				if it.ResultStatus != kmip14.ResultStatusSuccess {
					t.Errorf("%s: %s %q", tc.name, it.ResultReason, it.ResultMessage)
					continue
				}
				if got := wrappedBlock(it.ResponsePayload); got != tc.want {
					t.Errorf("%s: key block\n %s\nwant\n %s", tc.name, got, tc.want)
				}
			}
		})
	}
}

// wrappedBlock renders the Key Block of a Get response: format, wrapped
// value, algorithm and length if any, and the Key Wrapping Data.
func wrappedBlock(p ttlv.TTLV) string {
	var kb ttlv.TTLV
	for _, tag := range []ttlv.Tag{kmip14.TagSymmetricKey, kmip14.TagSecretData} {
		if o := child(p, tag); o != nil {
			kb = child(o, kmip14.TagKeyBlock)
		}
	}
	if kb == nil {
		return "no key block"
	}
	var out string
	var walk func(t ttlv.TTLV)
	walk = func(t ttlv.TTLV) {
		for _, c := range children(t) {
			switch c.Type() {
			case ttlv.TypeStructure:
				walk(c)
				continue
			case ttlv.TypeByteString:
				out += " " + hex.EncodeToString(c.ValueByteString())
			case ttlv.TypeEnumeration:
				out += " " + enumText(c)
			default:
				out += " " + fmt.Sprint(c.Value())
			}
		}
	}
	walk(kb)
	return strings.TrimSpace(out)
}

// enumText names the enumerations of a wrapped key block.
func enumText(c ttlv.TTLV) string {
	v := c.ValueEnumeration()
	switch c.Tag() {
	case kmip14.TagKeyFormatType:
		return kmip14.KeyFormatType(v).String()
	case kmip14.TagCryptographicAlgorithm:
		return kmip14.CryptographicAlgorithm(v).String()
	case kmip14.TagWrappingMethod:
		return kmip14.WrappingMethod(v).String()
	case kmip14.TagBlockCipherMode:
		return kmip14.BlockCipherMode(v).String()
	}
	return fmt.Sprint(uint32(v))
}

// FuzzGetWrappedAndCheck feeds arbitrary Request Payloads to Get (with
// its Key Wrapping Specification path) and Check against a wrapping key
// with Usage Limits and an exportable target (the ID Placeholder). Every
// call must end in a payload or a KMIP error with a Result Message,
// never a panic or an unexpected error.
func FuzzGetWrappedAndCheck(f *testing.F) {
	env := apitest.New(f, apitest.Options{})
	ctx := kms.WithIdentity(context.Background(), env.Admin.Identity)
	for _, req := range []kms.CreateKeyRequest{
		{ID: "kek", Attributes: kms.Attributes{Algorithm: kms.AlgorithmAES, Length: 256, UsageMask: kms.UsageWrapKey,
			UsageLimits: &kms.UsageLimits{Total: 1 << 40, Unit: kms.UsageUnitByte}}},
		{ID: "target", Exportable: true, Attributes: kms.Attributes{Algorithm: kms.AlgorithmAES, Length: 128}},
	} {
		req.Purpose = kms.PurposeMaterial
		if _, err := env.Service.CreateKey(ctx, req); err != nil {
			f.Fatal(err)
		}
	}
	seeds := []func(e *ttlv.Encoder){
		wrapOpts{method: kmip14.WrappingMethodEncrypt, keyID: "kek", mode: kmip14.BlockCipherModeNISTKeyWrap}.payload(""),
		wrapOpts{method: kmip14.WrappingMethodEncrypt, keyID: "kek", mode: kmip14.BlockCipherModeAESKeyWrapPadding, encoding: kmip14.EncodingOptionNoEncoding}.payload("target"),
		wrapOpts{method: kmip14.WrappingMethodMACSign, keyID: "kek", macSign: true}.payload(""),
		func(e *ttlv.Encoder) { e.EncodeLongInteger(kmip14.TagUsageLimitsCount, 5) },
	}
	for _, s := range seeds {
		f.Add(encodePayload(f, s))
	}
	var logged syncBuffer
	h := newHandler(env.Service, slog.New(slog.NewTextHandler(&logged, nil)))
	ops := []func(*handler, call) (encodeFunc, error){(*handler).get, (*handler).check}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseTTLV(b)
		if err != nil {
			return
		}
		for _, v := range []version{{1, 4}, {2, 0}} {
			for _, op := range ops {
				placeholder := "target"
				enc, err := op(h, call{ctx: ctx, sess: session{identity: env.Admin.Identity, known: true}, version: v, payload: n, placeholder: &placeholder})
				if err != nil {
					reason, msg, unexpected := toResult(err)
					if unexpected || msg == "" || reason == kmip14.ResultReasonGeneralFailure {
						t.Fatalf("error %v: reason %s, message %q", err, reason, msg)
					}
					continue
				}
				var buf bytes.Buffer
				e := ttlv.NewEncoder(&buf)
				if err := e.EncodeStructure(kmip14.TagResponsePayload, func(e *ttlv.Encoder) error { return enc(e) }); err != nil {
					t.Fatal(err)
				}
			}
		}
		if strings.Contains(logged.String(), "panic") {
			t.Fatal(logged.String())
		}
	})
}
