package kmip

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/kms"
)

// getResult is a decoded Get response payload.
type getResult struct {
	typ      kmip14.ObjectType
	id       string
	format   kmip14.KeyFormatType
	value    []byte
	alg      kmip14.CryptographicAlgorithm
	length   int32
	dataType uint32
}

func child(p ttlv.TTLV, tag ttlv.Tag) ttlv.TTLV {
	for _, c := range children(p) {
		if c.Tag() == tag {
			return c
		}
	}
	return nil
}

func decodeGet(t *testing.T, p ttlv.TTLV) getResult {
	t.Helper()
	var r getResult
	r.typ = kmip14.ObjectType(child(p, kmip14.TagObjectType).ValueEnumeration())
	r.id = child(p, kmip14.TagUniqueIdentifier).ValueTextString()
	obj := child(p, map[kmip14.ObjectType]ttlv.Tag{
		kmip14.ObjectTypeSymmetricKey: kmip14.TagSymmetricKey,
		kmip14.ObjectTypeSecretData:   kmip14.TagSecretData,
		kmip14.ObjectTypeOpaqueObject: kmip14.TagOpaqueObject,
	}[r.typ])
	if obj == nil {
		t.Fatalf("Get payload has no %s", r.typ)
	}
	if r.typ == kmip14.ObjectTypeOpaqueObject {
		r.dataType = uint32(child(obj, kmip14.TagOpaqueDataType).ValueEnumeration())
		r.value = child(obj, kmip14.TagOpaqueDataValue).ValueByteString()
		return r
	}
	if dt := child(obj, kmip14.TagSecretDataType); dt != nil {
		r.dataType = uint32(dt.ValueEnumeration())
	}
	kb := child(obj, kmip14.TagKeyBlock)
	r.format = kmip14.KeyFormatType(child(kb, kmip14.TagKeyFormatType).ValueEnumeration())
	km := child(child(kb, kmip14.TagKeyValue), kmip14.TagKeyMaterial)
	if r.format == kmip14.KeyFormatTypeTransparentSymmetricKey {
		km = child(km, kmip14.TagKey)
	}
	r.value = km.ValueByteString()
	if a := child(kb, kmip14.TagCryptographicAlgorithm); a != nil {
		r.alg = kmip14.CryptographicAlgorithm(a.ValueEnumeration())
		r.length = child(kb, kmip14.TagCryptographicLength).ValueInteger()
	}
	return r
}

func getPayload(id string, format kmip14.KeyFormatType) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) {
		idOnly(id)(e)
		if format != 0 {
			e.EncodeEnumeration(kmip14.TagKeyFormatType, uint32(format))
		}
	}
}

// digestOf returns the Digest Value of a Get Attributes response.
func digestOf(p ttlv.TTLV) []byte {
	var out []byte
	var walk func(p ttlv.TTLV)
	walk = func(p ttlv.TTLV) {
		for _, c := range children(p) {
			if c.Tag() == kmip14.TagDigestValue {
				out = c.ValueByteString()
			}
			if c.Type() == ttlv.TypeStructure {
				walk(c)
			}
		}
	}
	walk(p)
	return out
}

func createdID(t *testing.T, it respItem) string {
	t.Helper()
	ids := textChildren(mustSucceed(t, it).ResponsePayload, kmip14.TagUniqueIdentifier)
	if len(ids) != 1 || !uuidPattern.MatchString(ids[0]) {
		t.Fatalf("ids %q, want one UUID", ids)
	}
	return ids[0]
}

func TestCreateAlgorithms(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	des3 := uint32(kmip14.CryptographicAlgorithmDES3)
	tests := []struct {
		name   string
		attrs  []tattr
		alg    kmip14.CryptographicAlgorithm
		length int32
		size   int
	}{
		{"AES-128", aes(128), kmip14.CryptographicAlgorithmAES, 128, 16},
		{"AES-192", aes(192), kmip14.CryptographicAlgorithmAES, 192, 24},
		{"AES-256", aes(256), kmip14.CryptographicAlgorithmAES, 256, 32},
		{"3DES-168", []tattr{aEnum(attrAlgorithm, des3), aInt(attrLength, 168)}, kmip14.CryptographicAlgorithmDES3, 168, 24},
		{"3DES-192", []tattr{aEnum(attrAlgorithm, des3), aInt(attrLength, 192)}, kmip14.CryptographicAlgorithmDES3, 192, 24},
	}
	for _, v := range testVersions {
		for _, tc := range tests {
			t.Run(v.String()+"/"+tc.name, func(t *testing.T) {
				id := createdID(t, do(t, c, v, kmip14.OperationCreate, createPayload(v, kmip14.ObjectTypeSymmetricKey, tc.attrs...)))
				// Pre-Active keys Get.
				g := decodeGet(t, mustSucceed(t, do(t, c, v, kmip14.OperationGet, idOnly(id))).ResponsePayload)
				if g.typ != kmip14.ObjectTypeSymmetricKey || g.id != id || g.format != kmip14.KeyFormatTypeRaw ||
					len(g.value) != tc.size || g.alg != tc.alg || g.length != tc.length {
					t.Fatalf("Get = %+v", g)
				}
				tr := decodeGet(t, mustSucceed(t, do(t, c, v, kmip14.OperationGet,
					getPayload(id, kmip14.KeyFormatTypeTransparentSymmetricKey))).ResponsePayload)
				if tr.format != kmip14.KeyFormatTypeTransparentSymmetricKey || !bytes.Equal(tr.value, g.value) {
					t.Errorf("Transparent Get = %+v", tr)
				}
				ga := mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributes, idOnly(id))).ResponsePayload
				if d := sha256.Sum256(g.value); !bytes.Equal(digestOf(ga), d[:]) {
					t.Errorf("Digest = %x, want SHA-256 of the key", digestOf(ga))
				}
				got := attrsOf(t, v, ga)
				if !slices.Equal(got[attrAlgorithm], []string{fmt.Sprint(uint32(tc.alg))}) ||
					!slices.Equal(got[attrLength], []string{fmt.Sprint(tc.length)}) {
					t.Errorf("attributes = %v", got)
				}
			})
		}
	}
}

// TestCreateNotExtractable: Extractable false makes a key whose Get
// fails; named (admin-created root) keys never Get.
func TestGetRefusals(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	ctx := kms.WithIdentity(context.Background(), ts.env.Admin.Identity)
	if _, err := ts.env.Service.CreateKey(ctx, kms.CreateKeyRequest{ID: "admin-root", Purpose: kms.PurposeNamed}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.env.Service.CreateKey(ctx, kms.CreateKeyRequest{ID: "bucket/b1", Purpose: kms.PurposeBucketRoot}); err != nil {
		t.Fatal(err)
	}
	extractable := func(b bool) tattr {
		return tattr{attrExtractable, func(e *ttlv.Encoder, tag ttlv.Tag) { e.EncodeBoolean(tag, b) }}
	}
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			sealed := createdID(t, do(t, c, v, kmip14.OperationCreate, createPayload(v, kmip14.ObjectTypeSymmetricKey,
				append(aes(256), extractable(false))...)))
			notExtractable := kmip14.ResultReasonNotExtractable
			if v.major < 2 && v.minor < 4 {
				notExtractable = kmip14.ResultReasonPermissionDenied
			}
			mustFail(t, do(t, c, v, kmip14.OperationGet, idOnly(sealed)), notExtractable)
			if v.major >= 2 || v.minor >= 4 {
				got := attrsOf(t, v, mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributes, func(e *ttlv.Encoder) {
					idOnly(sealed)(e)
					for _, n := range []string{attrExtractable, attrNeverExtractable, attrSensitive} {
						if v.major < 2 {
							e.EncodeTextString(kmip14.TagAttributeName, n)
						} else {
							e.EncodeEnumeration(tagAttributeReference, uint32(attrTags[n]))
						}
					}
				})).ResponsePayload)
				want := map[string][]string{attrExtractable: {"false"}, attrNeverExtractable: {"true"}, attrSensitive: {"false"}}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("Extractable and co. = %v, want %v", got, want)
				}
			}
			mustFail(t, do(t, c, v, kmip14.OperationGet, idOnly("admin-root")), kmip14.ResultReasonPermissionDenied)
			mustFail(t, do(t, c, v, kmip14.OperationGet, idOnly("bucket/b1")), kmip14.ResultReasonItemNotFound)

			id := createdID(t, do(t, c, v, kmip14.OperationCreate, createPayload(v, kmip14.ObjectTypeSymmetricKey, aes(128)...)))
			// A wrapping key is needed (wrapped Get: wrap_test.go).
			mustFail(t, do(t, c, v, kmip14.OperationGet, func(e *ttlv.Encoder) {
				idOnly(id)(e)
				_ = e.EncodeStructure(kmip14.TagKeyWrappingSpecification, func(e *ttlv.Encoder) error {
					e.EncodeEnumeration(kmip14.TagWrappingMethod, uint32(kmip14.WrappingMethodEncrypt))
					return nil
				})
			}), kmip14.ResultReasonInvalidField)
			mustFail(t, do(t, c, v, kmip14.OperationGet, getPayload(id, kmip14.KeyFormatTypePKCS_1)), kmip14.ResultReasonKeyFormatTypeNotSupported)
			// Get works in every state but Destroyed.
			mustSucceed(t, do(t, c, v, kmip14.OperationActivate, idOnly(id)))
			mustSucceed(t, do(t, c, v, kmip14.OperationGet, idOnly(id)))
			mustSucceed(t, do(t, c, v, kmip14.OperationRevoke, revokePayload(id, kmip14.RevocationReasonCodeCessationOfOperation)))
			mustSucceed(t, do(t, c, v, kmip14.OperationGet, idOnly(id)))
			mustSucceed(t, do(t, c, v, kmip14.OperationRevoke, revokePayload(id, kmip14.RevocationReasonCodeKeyCompromise)))
			mustSucceed(t, do(t, c, v, kmip14.OperationGet, idOnly(id)))
			mustSucceed(t, do(t, c, v, kmip14.OperationDestroy, idOnly(id)))
			mustFail(t, do(t, c, v, kmip14.OperationGet, idOnly(id)), kmip14.ResultReasonItemNotFound)
		})
	}
}

// registerKey is a Register payload of a symmetric key.
func registerKey(v version, format kmip14.KeyFormatType, material []byte, alg kmip14.CryptographicAlgorithm, length int32, attrs ...tattr) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) {
		e.EncodeEnumeration(kmip14.TagObjectType, uint32(kmip14.ObjectTypeSymmetricKey))
		encAttrs(e, v, true, attrs)
		_ = e.EncodeStructure(kmip14.TagSymmetricKey, func(e *ttlv.Encoder) error {
			return keyBlockOf(e, format, material, func(e *ttlv.Encoder) {
				if alg != 0 {
					e.EncodeEnumeration(kmip14.TagCryptographicAlgorithm, uint32(alg))
				}
				if length != 0 {
					e.EncodeInteger(kmip14.TagCryptographicLength, length)
				}
			})
		})
	}
}

func keyBlockOf(e *ttlv.Encoder, format kmip14.KeyFormatType, material []byte, extra func(e *ttlv.Encoder)) error {
	return e.EncodeStructure(kmip14.TagKeyBlock, func(e *ttlv.Encoder) error {
		e.EncodeEnumeration(kmip14.TagKeyFormatType, uint32(format))
		_ = e.EncodeStructure(kmip14.TagKeyValue, func(e *ttlv.Encoder) error {
			if format == kmip14.KeyFormatTypeTransparentSymmetricKey {
				return e.EncodeStructure(kmip14.TagKeyMaterial, func(e *ttlv.Encoder) error {
					e.EncodeByteString(kmip14.TagKey, material)
					return nil
				})
			}
			if material != nil {
				e.EncodeByteString(kmip14.TagKeyMaterial, material)
			}
			return nil
		})
		if extra != nil {
			extra(e)
		}
		return nil
	})
}

func registerSecret(v version, typ kmip14.SecretDataType, format kmip14.KeyFormatType, value []byte, attrs ...tattr) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) {
		e.EncodeEnumeration(kmip14.TagObjectType, uint32(kmip14.ObjectTypeSecretData))
		encAttrs(e, v, true, attrs)
		_ = e.EncodeStructure(kmip14.TagSecretData, func(e *ttlv.Encoder) error {
			e.EncodeEnumeration(kmip14.TagSecretDataType, uint32(typ))
			return keyBlockOf(e, format, value, nil)
		})
	}
}

func registerOpaquePayload(v version, typ uint32, value []byte, attrs ...tattr) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) {
		e.EncodeEnumeration(kmip14.TagObjectType, uint32(kmip14.ObjectTypeOpaqueObject))
		encAttrs(e, v, true, attrs)
		_ = e.EncodeStructure(kmip14.TagOpaqueObject, func(e *ttlv.Encoder) error {
			e.EncodeEnumeration(kmip14.TagOpaqueDataType, typ)
			if value != nil {
				e.EncodeByteString(kmip14.TagOpaqueDataValue, value)
			}
			return nil
		})
	}
}

func TestRegister(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	key16 := bytes.Repeat([]byte{0x2a}, 16)
	key32 := bytes.Repeat([]byte{0x5c}, 32)
	aesAlg := kmip14.CryptographicAlgorithmAES
	for _, v := range testVersions {
		// The raw key is in a group of its own: the others are the only
		// object of their type in group.
		group := "reg-" + v.String()
		tests := []struct {
			name    string
			group   string
			payload func(e *ttlv.Encoder)
			want    getResult
		}{
			{"raw AES-128", group + "-raw", registerKey(v, kmip14.KeyFormatTypeRaw, key16, aesAlg, 128, aText(attrObjectGroup, group+"-raw")),
				getResult{typ: kmip14.ObjectTypeSymmetricKey, format: kmip14.KeyFormatTypeRaw, value: key16, alg: aesAlg, length: 128}},
			{"transparent AES-256, algorithm in the attributes", group, registerKey(v, kmip14.KeyFormatTypeTransparentSymmetricKey, key32, 0, 0,
				append(aes(256), aText(attrObjectGroup, group))...),
				getResult{typ: kmip14.ObjectTypeSymmetricKey, format: kmip14.KeyFormatTypeTransparentSymmetricKey, value: key32, alg: aesAlg, length: 256}},
			{"password", group, registerSecret(v, kmip14.SecretDataTypePassword, kmip14.KeyFormatTypeOpaque, []byte("SecretPassword"), aText(attrObjectGroup, group)),
				getResult{typ: kmip14.ObjectTypeSecretData, format: kmip14.KeyFormatTypeOpaque, value: []byte("SecretPassword"),
					dataType: uint32(kmip14.SecretDataTypePassword)}},
			{"opaque", group, registerOpaquePayload(v, 0x80000001, []byte{1, 2, 3}, aText(attrObjectGroup, group)),
				getResult{typ: kmip14.ObjectTypeOpaqueObject, value: []byte{1, 2, 3}, dataType: 0x80000001}},
		}
		for _, tc := range tests {
			t.Run(v.String()+"/"+tc.name, func(t *testing.T) {
				id := createdID(t, do(t, c, v, kmip14.OperationRegister, tc.payload))
				g := decodeGet(t, mustSucceed(t, do(t, c, v, kmip14.OperationGet, idOnly(id))).ResponsePayload)
				tc.want.id = id
				if fmt.Sprint(g) != fmt.Sprint(tc.want) {
					t.Errorf("Get =\n %+v\nwant\n %+v", g, tc.want)
				}
				ga := mustSucceed(t, do(t, c, v, kmip14.OperationGetAttributes, idOnly(id))).ResponsePayload
				got := attrsOf(t, v, ga)
				if !slices.Equal(got[attrObjectType], []string{fmt.Sprint(uint32(tc.want.typ))}) ||
					!slices.Equal(got[attrState], []string{state(kmip14.StatePreActive)}) {
					t.Errorf("attributes = %v", got)
				}
				if d := sha256.Sum256(tc.want.value); !bytes.Equal(digestOf(ga), d[:]) {
					t.Errorf("Digest = %x", digestOf(ga))
				}
				found := textChildren(mustSucceed(t, do(t, c, v, kmip14.OperationLocate, locatePayload(v, 0, 0,
					aText(attrObjectGroup, tc.group), aEnum(attrState, uint32(kmip14.StatePreActive)), aEnum(attrObjectType, uint32(tc.want.typ))))).ResponsePayload, kmip14.TagUniqueIdentifier)
				if !slices.Equal(found, []string{id}) {
					t.Errorf("Locate by group and object type = %q", found)
				}
			})
		}
	}
}

func TestRegisterErrors(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	aesAlg := kmip14.CryptographicAlgorithmAES
	key16 := make([]byte, 16)
	for _, v := range testVersions {
		tests := []struct {
			name    string
			payload func(e *ttlv.Encoder)
			reason  kmip14.ResultReason
		}{
			{"no object type", func(e *ttlv.Encoder) {}, kmip14.ResultReasonInvalidField},
			{"certificate", func(e *ttlv.Encoder) {
				e.EncodeEnumeration(kmip14.TagObjectType, uint32(kmip14.ObjectTypeCertificate))
			}, kmip14.ResultReasonInvalidField},
			{"no symmetric key", func(e *ttlv.Encoder) {
				e.EncodeEnumeration(kmip14.TagObjectType, uint32(kmip14.ObjectTypeSymmetricKey))
			}, kmip14.ResultReasonInvalidField},
			{"length differs from material", registerKey(v, kmip14.KeyFormatTypeRaw, key16, aesAlg, 256), kmip14.ResultReasonInvalidField},
			{"algorithm differs", registerKey(v, kmip14.KeyFormatTypeRaw, key16, aesAlg, 128,
				aEnum(attrAlgorithm, uint32(kmip14.CryptographicAlgorithmDES3))), kmip14.ResultReasonInvalidField},
			{"no algorithm", registerKey(v, kmip14.KeyFormatTypeRaw, key16, 0, 128), kmip14.ResultReasonInvalidField},
			{"unsupported algorithm", registerKey(v, kmip14.KeyFormatTypeRaw, key16, kmip14.CryptographicAlgorithmRSA, 128), kmip14.ResultReasonInvalidField},
			{"PKCS#8 format", registerKey(v, kmip14.KeyFormatTypePKCS_8, key16, aesAlg, 128), kmip14.ResultReasonKeyFormatTypeNotSupported},
			{"no key material", registerKey(v, kmip14.KeyFormatTypeRaw, nil, aesAlg, 128), kmip14.ResultReasonKeyValueNotPresent},
			{"wrapped key block", func(e *ttlv.Encoder) {
				e.EncodeEnumeration(kmip14.TagObjectType, uint32(kmip14.ObjectTypeSymmetricKey))
				_ = e.EncodeStructure(kmip14.TagSymmetricKey, func(e *ttlv.Encoder) error {
					return e.EncodeStructure(kmip14.TagKeyBlock, func(e *ttlv.Encoder) error {
						e.EncodeEnumeration(kmip14.TagKeyFormatType, uint32(kmip14.KeyFormatTypeRaw))
						e.EncodeByteString(kmip14.TagKeyValue, make([]byte, 24))
						_ = e.EncodeStructure(kmip14.TagKeyWrappingData, func(e *ttlv.Encoder) error {
							e.EncodeEnumeration(kmip14.TagWrappingMethod, uint32(kmip14.WrappingMethodEncrypt))
							return nil
						})
						return nil
					})
				})
			}, kmip14.ResultReasonFeatureNotSupported},
			{"secret data in raw format", registerSecret(v, kmip14.SecretDataTypePassword, kmip14.KeyFormatTypeRaw, []byte("pw")), kmip14.ResultReasonKeyFormatTypeNotSupported},
			{"secret data too large", registerSecret(v, kmip14.SecretDataTypeSeed, kmip14.KeyFormatTypeOpaque, make([]byte, kms.MaxValueSize+1)), kmip14.ResultReasonInvalidField},
			{"secret data with an algorithm", registerSecret(v, kmip14.SecretDataTypeSeed, kmip14.KeyFormatTypeOpaque, []byte("s"), aes(128)...), kmip14.ResultReasonInvalidField},
			{"empty opaque object", registerOpaquePayload(v, 0x80000001, nil), kmip14.ResultReasonKeyValueNotPresent},
		}
		for _, tc := range tests {
			t.Run(v.String()+"/"+tc.name, func(t *testing.T) {
				ctx := kms.WithIdentity(context.Background(), ts.env.Admin.Identity)
				before, _, err := ts.env.Service.ListKeys(ctx, "", 0)
				if err != nil {
					t.Fatal(err)
				}
				mustFail(t, do(t, c, v, kmip14.OperationRegister, tc.payload), tc.reason)
				after, _, err := ts.env.Service.ListKeys(ctx, "", 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(after) != len(before) {
					t.Errorf("a refused Register created a key")
				}
			})
		}
	}
}

// TestRegisterBatchPlaceholder registers and gets in one batch through
// the ID Placeholder, as the OASIS test cases do.
func TestRegisterBatchPlaceholder(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	v := version{1, 4}
	m := roundTrip(t, c, encodeRequest(t, v, reqOpts{},
		testItem{op: kmip14.OperationRegister, payload: registerOpaquePayload(v, 0x80000001, []byte("opaque"))},
		testItem{op: kmip14.OperationGet}))
	for _, it := range m.BatchItem {
		mustSucceed(t, it)
	}
	if g := decodeGet(t, m.BatchItem[1].ResponsePayload); string(g.value) != "opaque" {
		t.Errorf("Get through the placeholder = %+v", g)
	}
}
