package kmip

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/kms"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// materialKey makes a PurposeMaterial key with known material through the
// service (KMIP Register is another slice's) and returns its id.
func (ts *testServer) materialKey(t *testing.T, alg string, material []byte, mask int32, state kms.State, params *kms.CryptoParams) string {
	t.Helper()
	ctx := kms.WithIdentity(context.Background(), ts.env.Admin.Identity)
	id := newUUID()
	_, err := ts.env.Service.CreateKey(ctx, kms.CreateKeyRequest{
		ID: id, Purpose: kms.PurposeMaterial, State: state, Material: material,
		Attributes: kms.Attributes{Algorithm: alg, Length: 8 * len(material), UsageMask: mask, Params: params},
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// cparams is a request's Cryptographic Parameters (zero fields are not
// sent).
type cparams struct {
	mode      kmip14.BlockCipherMode
	padding   kmip14.PaddingMethod
	alg       kmip14.CryptographicAlgorithm
	tagLength int32
	randomIV  bool
}

// cryptPayload builds an Encrypt, Decrypt, MAC or MAC Verify payload;
// nil byte fields are not sent.
type cryptPayload struct {
	id             string
	params         *cparams
	data, iv, aad  []byte
	tag, macData   []byte
	dataLen        int32
	correlationVal []byte
	init, final    bool
}

func (p cryptPayload) enc(e *ttlv.Encoder) {
	idOnly(p.id)(e)
	if p.params != nil {
		_ = e.EncodeStructure(kmip14.TagCryptographicParameters, func(e *ttlv.Encoder) error {
			if p.params.mode != 0 {
				e.EncodeEnumeration(kmip14.TagBlockCipherMode, uint32(p.params.mode))
			}
			if p.params.padding != 0 {
				e.EncodeEnumeration(kmip14.TagPaddingMethod, uint32(p.params.padding))
			}
			if p.params.alg != 0 {
				e.EncodeEnumeration(kmip14.TagCryptographicAlgorithm, uint32(p.params.alg))
			}
			if p.params.tagLength != 0 {
				e.EncodeInteger(kmip14.TagTagLength, p.params.tagLength)
			}
			if p.params.randomIV {
				e.EncodeBoolean(kmip14.TagRandomIV, true)
			}
			return nil
		})
	}
	for _, f := range []struct {
		tag ttlv.Tag
		b   []byte
	}{
		{kmip14.TagData, p.data}, {kmip14.TagIVCounterNonce, p.iv},
		{kmip14.TagAuthenticatedEncryptionAdditionalData, p.aad}, {kmip14.TagAuthenticatedEncryptionTag, p.tag},
		{kmip14.TagMACData, p.macData}, {kmip14.TagCorrelationValue, p.correlationVal},
	} {
		if f.b != nil {
			e.EncodeByteString(f.tag, f.b)
		}
	}
	if p.dataLen != 0 {
		e.EncodeInteger(kmip14.TagDataLength, p.dataLen)
	}
	if p.init {
		e.EncodeBoolean(kmip14.TagInitIndicator, true)
	}
	if p.final {
		e.EncodeBoolean(kmip14.TagFinalIndicator, true)
	}
}

// payloadBytes returns copies of the Byte String fields of a response
// payload by tag.
func payloadBytes(p ttlv.TTLV) map[ttlv.Tag][]byte {
	out := map[ttlv.Tag][]byte{}
	for _, c := range children(p) {
		if c.Type() == ttlv.TypeByteString {
			out[c.Tag()] = bytes.Clone(c.ValueByteString()) // not aliasing the response

		}
	}
	return out
}

// TestCryptKnownAnswers replays the OASIS CS-BC-M and CS-BC-M-GCM known
// answers over mTLS at KMIP 1.2, 1.4 and 2.0, with key material wrapped by
// the software protector and by the pkcs11 one on SoftHSM.
func TestCryptKnownAnswers(t *testing.T) {
	t.Run("software", func(t *testing.T) { cryptKnownAnswers(t, startServer(t, Config{})) })
	t.Run("pkcs11", func(t *testing.T) {
		cryptKnownAnswers(t, startServerWithOps(t, apitest.Options{Protector: softHSMProtector(t)}, nil))
	})
}

func cryptKnownAnswers(t *testing.T, ts *testServer) {
	c := ts.dial(t)
	ecbKey := mustHex(t, "0123456789abcdef0123456789abcdef")
	data16 := mustHex(t, "01020304050607080910111213141516")
	data33 := mustHex(t, "010203040506070809101112131415160102030405060708091011121314151601")
	tests := []struct {
		name    string
		key     []byte
		params  *cparams
		iv, aad []byte
		plain   []byte
		cipher  string
		tag     string
	}{
		{"ECB", ecbKey, &cparams{mode: kmip14.BlockCipherModeECB}, nil, nil, data16, "d9bcce11b0b437b90239552df3a360c9", ""},
		{"ECB PKCS5", ecbKey, &cparams{mode: kmip14.BlockCipherModeECB, padding: kmip14.PaddingMethodPKCS5}, nil, nil, data33,
			"d9bcce11b0b437b90239552df3a360c9d9bcce11b0b437b90239552df3a360c9be261a7bd1371bb738fe004d500381d0", ""},
		{"CBC PKCS5", ecbKey, &cparams{mode: kmip14.BlockCipherModeCBC, padding: kmip14.PaddingMethodPKCS5}, mustHex(t, "FF020304050607080910111213141516"), nil, data33,
			"e768203ba72b6e157daaad34b1e791d8e88457dc147942f01bfaff7b28a3cdde2203d4d5a4c7928ba9e9cc78b66a6546", ""},
		{"GCM", make([]byte, 16), &cparams{mode: kmip14.BlockCipherModeGCM, tagLength: 16}, make([]byte, 12), nil, make([]byte, 16),
			"0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"},
		{"GCM 8-byte IV", mustHex(t, "feffe9928665731c6d6a8f9467308308"), &cparams{mode: kmip14.BlockCipherModeGCM},
			mustHex(t, "cafebabefacedbad"), mustHex(t, "feedfacedeadbeeffeedfacedeadbeefabaddad2"),
			mustHex(t, "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"),
			"61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598",
			"3612d2e79e3b0785561be14aaca2fccb"},
		{"GCM tag 13", mustHex(t, "a1412ff6f687787fb404a4a9d18511d1"), &cparams{mode: kmip14.BlockCipherModeGCM, tagLength: 13},
			mustHex(t, "7e78061027ac22ddad25c930"), mustHex(t, "e21cfc627452107d55f34f7d06bca88e"), mustHex(t, "abef8c37dfc74ad8b5e59e71ae9a9583"),
			"0d378e6a61589c6f49b739ae374e6fc1", "75ea647ff1318e4a53b55ac0d2"},
	}
	for _, v := range testVersions {
		for _, tc := range tests {
			t.Run(v.String()+"/"+tc.name, func(t *testing.T) {
				id := ts.materialKey(t, kms.AlgorithmAES, tc.key, int32(kmip14.CryptographicUsageMaskEncrypt|kmip14.CryptographicUsageMaskDecrypt), kms.StateActive, nil)
				it := mustSucceed(t, do(t, c, v, kmip14.OperationEncrypt, cryptPayload{id: id, params: tc.params, data: tc.plain, iv: tc.iv, aad: tc.aad}.enc))
				got := payloadBytes(it.ResponsePayload)
				if hex.EncodeToString(got[kmip14.TagData]) != tc.cipher || hex.EncodeToString(got[kmip14.TagAuthenticatedEncryptionTag]) != tc.tag {
					t.Errorf("Encrypt = %x tag %x", got[kmip14.TagData], got[kmip14.TagAuthenticatedEncryptionTag])
				}
				if _, ok := got[kmip14.TagIVCounterNonce]; ok {
					t.Error("Encrypt echoed the client's IV")
				}
				if ids := textChildren(it.ResponsePayload, kmip14.TagUniqueIdentifier); len(ids) != 1 || ids[0] != id {
					t.Errorf("Encrypt ids %q", ids)
				}
				var tag []byte
				if tc.tag != "" {
					tag = mustHex(t, tc.tag)
				}
				dec := cryptPayload{id: id, params: tc.params, data: mustHex(t, tc.cipher), iv: tc.iv, aad: tc.aad, tag: tag}
				it = mustSucceed(t, do(t, c, v, kmip14.OperationDecrypt, dec.enc))
				if p := payloadBytes(it.ResponsePayload)[kmip14.TagData]; !bytes.Equal(p, tc.plain) {
					t.Errorf("Decrypt = %x", p)
				}
				if tag != nil {
					dec.tag = append([]byte{tag[0] ^ 0xff}, tag[1:]...)
					mustFail(t, do(t, c, v, kmip14.OperationDecrypt, dec.enc), kmip14.ResultReasonCryptographicFailure)
				}
			})
		}
	}
}

// TestCryptServerIV covers server-chosen IVs: requested (no IV), and
// from the key's own Cryptographic Parameters with Random IV
// (CS-BC-M-13).
func TestCryptServerIV(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	key := mustHex(t, "0123456789abcdef0123456789abcdef")
	data := []byte("a message of some thirty-odd bytes")
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			withParams := ts.materialKey(t, kms.AlgorithmAES, key, 0, kms.StateActive,
				&kms.CryptoParams{Mode: kms.ModeCBC, Padding: kms.PaddingPKCS5, RandomIV: true})
			plain := ts.materialKey(t, kms.AlgorithmAES, key, 0, kms.StateActive, nil)
			for _, tc := range []struct {
				name   string
				id     string
				params *cparams
				ivLen  int
			}{
				{"key params", withParams, nil, 16},
				{"CBC", plain, &cparams{mode: kmip14.BlockCipherModeCBC, padding: kmip14.PaddingMethodPKCS5, randomIV: true}, 16},
				{"GCM", plain, &cparams{mode: kmip14.BlockCipherModeGCM}, 12},
			} {
				it := mustSucceed(t, do(t, c, v, kmip14.OperationEncrypt, cryptPayload{id: tc.id, params: tc.params, data: data}.enc))
				got := payloadBytes(it.ResponsePayload)
				iv := got[kmip14.TagIVCounterNonce]
				if len(iv) != tc.ivLen {
					t.Fatalf("%s: IV %x", tc.name, iv)
				}
				// Without the IV: Invalid Message in 1.x (CS-BC-M-13), Missing
				// Initialization Vector in 2.0.
				dec := cryptPayload{id: tc.id, params: tc.params, data: got[kmip14.TagData], tag: got[kmip14.TagAuthenticatedEncryptionTag]}
				if tc.params != nil {
					dec.params = &cparams{mode: tc.params.mode, padding: tc.params.padding}
				}
				want := kmip14.ResultReasonInvalidMessage
				if v.major >= 2 {
					want = resultReasonMissingIV
				}
				mustFail(t, do(t, c, v, kmip14.OperationDecrypt, dec.enc), want)
				dec.iv = iv
				it = mustSucceed(t, do(t, c, v, kmip14.OperationDecrypt, dec.enc))
				if p := payloadBytes(it.ResponsePayload)[kmip14.TagData]; !bytes.Equal(p, data) {
					t.Errorf("%s: Decrypt = %q", tc.name, p)
				}
			}
		})
	}
}

func TestCryptErrors(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	ctx := kms.WithIdentity(context.Background(), ts.env.Admin.Identity)
	key := mustHex(t, "0123456789abcdef0123456789abcdef")
	block := make([]byte, 16)
	ecb := &cparams{mode: kmip14.BlockCipherModeECB}
	cbc := &cparams{mode: kmip14.BlockCipherModeCBC}
	gcm := &cparams{mode: kmip14.BlockCipherModeGCM}
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			v2 := v.major >= 2
			active := ts.materialKey(t, kms.AlgorithmAES, key, 0, kms.StateActive, nil)
			pre := ts.materialKey(t, kms.AlgorithmAES, key, 0, kms.StatePreActive, nil)
			encOnly := ts.materialKey(t, kms.AlgorithmAES, key, int32(kmip14.CryptographicUsageMaskEncrypt), kms.StateActive, nil)
			deactivated := ts.materialKey(t, kms.AlgorithmAES, key, 0, kms.StateActive, nil)
			if _, err := ts.env.Service.SetState(ctx, deactivated, kms.StateDeactivated); err != nil {
				t.Fatal(err)
			}
			// An Active named root key, as the admin API makes them.
			rootID := fmt.Sprintf("root-%d-%d", v.major, v.minor)
			if _, err := ts.env.Service.CreateKey(ctx, kms.CreateKeyRequest{ID: rootID}); err != nil {
				t.Fatal(err)
			}

			wrongState := kmip14.ResultReasonPermissionDenied
			usage := kmip14.ResultReasonPermissionDenied
			tagLen := kmip14.ResultReasonGeneralFailure
			if v2 {
				wrongState, usage, tagLen = resultReasonWrongKeyLifecycleState, resultReasonIncompatibleUsageMask, kmip14.ResultReasonInvalidField
			}
			for _, tc := range []struct {
				name string
				op   kmip14.Operation
				p    cryptPayload
				want kmip14.ResultReason
			}{
				{"pre-active encrypt", kmip14.OperationEncrypt, cryptPayload{id: pre, params: ecb, data: block}, wrongState},
				{"pre-active decrypt", kmip14.OperationDecrypt, cryptPayload{id: pre, params: ecb, data: block}, wrongState},
				{"deactivated encrypt", kmip14.OperationEncrypt, cryptPayload{id: deactivated, params: ecb, data: block}, wrongState},
				{"usage mask", kmip14.OperationDecrypt, cryptPayload{id: encOnly, params: ecb, data: block}, usage},
				{"bad tag length", kmip14.OperationEncrypt, cryptPayload{id: active, params: &cparams{mode: kmip14.BlockCipherModeGCM, tagLength: 32}, data: block}, tagLen},
				{"bad CBC IV length", kmip14.OperationEncrypt, cryptPayload{id: active, params: cbc, data: block, iv: make([]byte, 8)}, kmip14.ResultReasonInvalidField},
				{"unsupported mode", kmip14.OperationEncrypt, cryptPayload{id: active, params: &cparams{mode: kmip14.BlockCipherModeCTR}, data: block}, kmip14.ResultReasonInvalidField},
				{"unsupported padding", kmip14.OperationEncrypt, cryptPayload{id: active, params: &cparams{mode: kmip14.BlockCipherModeCBC, padding: kmip14.PaddingMethodOAEP}, data: block}, kmip14.ResultReasonInvalidField},
				{"no mode", kmip14.OperationEncrypt, cryptPayload{id: active, data: block}, kmip14.ResultReasonInvalidField},
				{"no data", kmip14.OperationEncrypt, cryptPayload{id: active, params: ecb}, kmip14.ResultReasonInvalidField},
				{"no tag", kmip14.OperationDecrypt, cryptPayload{id: active, params: gcm, data: block, iv: make([]byte, 12)}, kmip14.ResultReasonInvalidField},
				{"bad padding", kmip14.OperationDecrypt, cryptPayload{id: active, params: &cparams{mode: kmip14.BlockCipherModeECB, padding: kmip14.PaddingMethodPKCS5}, data: block}, kmip14.ResultReasonCryptographicFailure},
				{"unknown id", kmip14.OperationEncrypt, cryptPayload{id: newUUID(), params: ecb, data: block}, kmip14.ResultReasonItemNotFound},
				{"no id", kmip14.OperationEncrypt, cryptPayload{params: ecb, data: block}, kmip14.ResultReasonInvalidField},
				{"root key", kmip14.OperationEncrypt, cryptPayload{id: rootID, params: ecb, data: block}, kmip14.ResultReasonInvalidField},
				{"root key MAC", kmip14.OperationMAC, cryptPayload{id: rootID, data: block}, kmip14.ResultReasonInvalidField},
				{"unknown stream", kmip14.OperationEncrypt, cryptPayload{id: active, params: gcm, data: block, correlationVal: []byte{1}}, kmip14.ResultReasonItemNotFound},
				{"streamed decrypt", kmip14.OperationDecrypt, cryptPayload{id: active, params: ecb, data: block, correlationVal: []byte{1}}, kmip14.ResultReasonFeatureNotSupported},
				{"streamed ECB", kmip14.OperationEncrypt, cryptPayload{id: active, params: ecb, data: block, init: true}, kmip14.ResultReasonFeatureNotSupported},
				{"MAC with AES key", kmip14.OperationMAC, cryptPayload{id: active, data: block}, kmip14.ResultReasonInvalidField},
				{"RNG length 0", kmip14.OperationRNGRetrieve, cryptPayload{}, kmip14.ResultReasonInvalidField},
				{"RNG too long", kmip14.OperationRNGRetrieve, cryptPayload{dataLen: kms.MaxRandomBytes + 1}, kmip14.ResultReasonInvalidField},
			} {
				it := do(t, c, v, tc.op, tc.p.enc)
				if it.ResultStatus != kmip14.ResultStatusOperationFailed || it.ResultReason != tc.want || it.ResultMessage == "" {
					t.Errorf("%s: got %s %s %q, want %s", tc.name, it.ResultStatus, it.ResultReason, it.ResultMessage, tc.want)
				}
			}
			// A Deactivated key still decrypts.
			mustSucceed(t, do(t, c, v, kmip14.OperationDecrypt, cryptPayload{id: deactivated, params: ecb, data: block}.enc))
		})
	}
	// An identity outside the policy is refused before the operation.
	sc := ts.dialWith(t, ts.env.TLSConfig(ts.env.Stranger))
	mustFail(t, do(t, sc, version{1, 4}, kmip14.OperationRNGRetrieve, cryptPayload{dataLen: 8}.enc), kmip14.ResultReasonAuthenticationNotSuccessful)
}

func TestMACAndRNG(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	key := bytes.Repeat([]byte{0x0b}, 16)
	const want = "492ce020fe2534a5789dc3848806c78f4f6711397f08e7e7a12ca5a4483c8aa6" // HMAC-SHA256(0x0b×16, "Hi There")
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			id := ts.materialKey(t, kms.AlgorithmHMACSHA256, key, 0, kms.StateActive, nil)
			it := mustSucceed(t, do(t, c, v, kmip14.OperationMAC, cryptPayload{id: id,
				params: &cparams{alg: kmip14.CryptographicAlgorithmHMAC_SHA256}, data: []byte("Hi There")}.enc))
			mac := payloadBytes(it.ResponsePayload)[kmip14.TagMACData]
			if hex.EncodeToString(mac) != want {
				t.Errorf("MAC = %x", mac)
			}
			mustFail(t, do(t, c, v, kmip14.OperationMAC, cryptPayload{id: id,
				params: &cparams{alg: kmip14.CryptographicAlgorithmHMAC_SHA512}, data: []byte("Hi There")}.enc), kmip14.ResultReasonInvalidField)
			for _, tc := range []struct {
				mac  []byte
				want kmip14.ValidityIndicator
			}{
				{mac, kmip14.ValidityIndicatorValid},
				{append([]byte{mac[0] ^ 1}, mac[1:]...), kmip14.ValidityIndicatorInvalid},
				{mac[:16], kmip14.ValidityIndicatorInvalid},
			} {
				it := mustSucceed(t, do(t, c, v, kmip14.OperationMACVerify, cryptPayload{id: id, data: []byte("Hi There"), macData: tc.mac}.enc))
				var vi kmip14.ValidityIndicator
				for _, ch := range children(it.ResponsePayload) {
					if ch.Tag() == kmip14.TagValidityIndicator {
						vi = kmip14.ValidityIndicator(ch.ValueEnumeration())
					}
				}
				if vi != tc.want {
					t.Errorf("MAC Verify = %s, want %s", vi, tc.want)
				}
			}
			it = mustSucceed(t, do(t, c, v, kmip14.OperationRNGRetrieve, cryptPayload{dataLen: 32}.enc))
			if r := payloadBytes(it.ResponsePayload)[kmip14.TagData]; len(r) != 32 || bytes.Equal(r, make([]byte, 32)) {
				t.Errorf("RNG Retrieve = %x", r)
			}
		})
	}
}

// TestCryptStreamedGCM encrypts in three parts (client IV, then server
// IV) and compares with one-shot encryption; a stream is its caller's
// and ends with its final part.
func TestCryptStreamedGCM(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	key := mustHex(t, "feffe9928665731c6d6a8f9467308308")
	plain := mustHex(t, "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
	aad := mustHex(t, "feedfacedeadbeeffeedfacedeadbeefabaddad2")
	gcm := &cparams{mode: kmip14.BlockCipherModeGCM}
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			id := ts.materialKey(t, kms.AlgorithmAES, key, 0, kms.StateActive, nil)
			for _, clientIV := range []bool{true, false} {
				var iv []byte
				if clientIV {
					iv = mustHex(t, "cafebabefacedbad")
				}
				it := mustSucceed(t, do(t, c, v, kmip14.OperationEncrypt, cryptPayload{id: id, params: gcm, data: plain[:20], iv: iv, aad: aad, init: true}.enc))
				got := payloadBytes(it.ResponsePayload)
				cv, ct := got[kmip14.TagCorrelationValue], got[kmip14.TagData]
				if cv == nil || got[kmip14.TagAuthenticatedEncryptionTag] != nil {
					t.Fatalf("first part: %v", got)
				}
				if !clientIV {
					iv = got[kmip14.TagIVCounterNonce]
				}
				// Another identity cannot continue the stream.
				other := ts.dialWith(t, ts.env.TLSConfig(ts.env.S3Node))
				mustFail(t, do(t, other, v, kmip14.OperationEncrypt, cryptPayload{id: id, params: gcm, data: plain[20:30], correlationVal: cv}.enc), kmip14.ResultReasonItemNotFound)
				it = mustSucceed(t, do(t, c, v, kmip14.OperationEncrypt, cryptPayload{id: id, params: gcm, data: plain[20:30], correlationVal: cv}.enc))
				got = payloadBytes(it.ResponsePayload)
				ct = append(ct, got[kmip14.TagData]...)
				it = mustSucceed(t, do(t, c, v, kmip14.OperationEncrypt, cryptPayload{id: id, params: gcm, data: plain[30:], correlationVal: cv, final: true}.enc))
				got = payloadBytes(it.ResponsePayload)
				ct = append(ct, got[kmip14.TagData]...)
				tag := got[kmip14.TagAuthenticatedEncryptionTag]
				it = mustSucceed(t, do(t, c, v, kmip14.OperationDecrypt, cryptPayload{id: id, params: gcm, data: ct, iv: iv, aad: aad, tag: tag}.enc))
				if p := payloadBytes(it.ResponsePayload)[kmip14.TagData]; !bytes.Equal(p, plain) {
					t.Errorf("streamed ciphertext decrypts to %x", p)
				}
				if clientIV && hex.EncodeToString(tag) != "3612d2e79e3b0785561be14aaca2fccb" {
					t.Errorf("streamed tag %x", tag)
				}
				mustFail(t, do(t, c, v, kmip14.OperationEncrypt, cryptPayload{id: id, params: gcm, data: plain[:1], correlationVal: cv, final: true}.enc), kmip14.ResultReasonItemNotFound)
			}
		})
	}
}
