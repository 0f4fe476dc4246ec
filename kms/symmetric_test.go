package kms_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/s3kms/s3kms/kms"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// materialKey creates an Active PurposeMaterial key with known material.
func (h *harness) materialKey(t testing.TB, id, alg string, material []byte, mask int32, params *kms.CryptoParams) {
	t.Helper()
	_, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{
		ID: id, Purpose: kms.PurposeMaterial, Material: material,
		Attributes: kms.Attributes{Algorithm: alg, Length: 8 * len(material), UsageMask: mask, Params: params},
	})
	if err != nil {
		t.Fatalf("CreateKey(%s): %v", id, err)
	}
}

// Known answers from the OASIS KMIP 1.4 CS-BC-M test cases (AES-128 key
// 0123…ef, NIST SP 800-38A style data) and CS-BC-M-GCM (the GCM spec's
// test cases 1, 2 and 5, and NIST CAVP vectors with short tags).
func TestCipherKnownAnswers(t *testing.T) {
	h := newHarness(t, 16)
	const ecbKey = "0123456789abcdef0123456789abcdef"
	const data16 = "01020304050607080910111213141516"
	const data33 = "010203040506070809101112131415160102030405060708091011121314151601"
	tests := []struct {
		name, key string
		p         kms.CryptoParams
		iv, aad   string
		plain     string
		cipher    string
		tag       string
	}{
		{"ECB", ecbKey, kms.CryptoParams{Mode: kms.ModeECB}, "", "", data16, "d9bcce11b0b437b90239552df3a360c9", ""},
		{"ECB none", ecbKey, kms.CryptoParams{Mode: kms.ModeECB, Padding: kms.PaddingNone}, "", "", data16, "d9bcce11b0b437b90239552df3a360c9", ""},
		{"ECB PKCS5 full block", ecbKey, kms.CryptoParams{Mode: kms.ModeECB, Padding: kms.PaddingPKCS5}, "", "", data16,
			"d9bcce11b0b437b90239552df3a360c90efb6bfed93b4d1ea2123ba4db075ff6", ""},
		{"ECB PKCS5", ecbKey, kms.CryptoParams{Mode: kms.ModeECB, Padding: kms.PaddingPKCS5}, "", "", data33,
			"d9bcce11b0b437b90239552df3a360c9d9bcce11b0b437b90239552df3a360c9be261a7bd1371bb738fe004d500381d0", ""},
		{"CBC PKCS5", ecbKey, kms.CryptoParams{Mode: kms.ModeCBC, Padding: kms.PaddingPKCS5}, "FF020304050607080910111213141516", "", data33,
			"e768203ba72b6e157daaad34b1e791d8e88457dc147942f01bfaff7b28a3cdde2203d4d5a4c7928ba9e9cc78b66a6546", ""},
		{"GCM zero", "00000000000000000000000000000000", kms.CryptoParams{Mode: kms.ModeGCM, TagLength: 16}, "000000000000000000000000", "",
			"00000000000000000000000000000000", "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"},
		{"GCM tag 12", "00000000000000000000000000000000", kms.CryptoParams{Mode: kms.ModeGCM, TagLength: 12}, "000000000000000000000000", "",
			"00000000000000000000000000000000", "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b2"},
		{"GCM 8-byte IV", "feffe9928665731c6d6a8f9467308308", kms.CryptoParams{Mode: kms.ModeGCM}, "cafebabefacedbad", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
			"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
			"61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598",
			"3612d2e79e3b0785561be14aaca2fccb"},
		{"GCM tag 15 empty", "6dfa1a07c14f978020ace450ad663d18", kms.CryptoParams{Mode: kms.ModeGCM, TagLength: 15}, "34edfa462a14c6969a680ec1", "2a35c7f5f8578e919a581c60500c04f6",
			"", "", "751f3098d59cf4ea1d2fb0853bde1c"},
		{"GCM tag 14", "ed6cd876ceba555706674445c229c12d", kms.CryptoParams{Mode: kms.ModeGCM, TagLength: 14}, "92ecbf74b765bc486383ca2e", "95bd10d77dbe0e87fb34217f1a2e5efe",
			"bfaaaea3880d72d4378561e2597a9b35", "bdd2ed6c66fa087dce617d7fd1ff6d93", "ba82e49c55a22ed02ca67da4ec6f"},
		{"GCM tag 13", "a1412ff6f687787fb404a4a9d18511d1", kms.CryptoParams{Mode: kms.ModeGCM, TagLength: 13}, "7e78061027ac22ddad25c930", "e21cfc627452107d55f34f7d06bca88e",
			"abef8c37dfc74ad8b5e59e71ae9a9583", "0d378e6a61589c6f49b739ae374e6fc1", "75ea647ff1318e4a53b55ac0d2"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := "kat-" + string(rune('a'+i))
			h.materialKey(t, id, kms.AlgorithmAES, unhex(t, tc.key), kms.UsageEncrypt|kms.UsageDecrypt, nil)
			var iv, aad []byte
			if tc.iv != "" {
				iv = unhex(t, tc.iv)
			}
			if tc.aad != "" {
				aad = unhex(t, tc.aad)
			}
			res, err := h.svc.EncryptData(h.admin, id, kms.CipherRequest{Params: tc.p, IV: iv, AAD: aad}, unhex(t, tc.plain))
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(res.Data) != tc.cipher || hex.EncodeToString(res.Tag) != tc.tag || res.IV != nil {
				t.Errorf("encrypt = %x tag %x iv %x, want %s tag %s", res.Data, res.Tag, res.IV, tc.cipher, tc.tag)
			}
			plain, err := h.svc.DecryptData(h.admin, id, kms.CipherRequest{Params: tc.p, IV: iv, AAD: aad, Tag: unhex(t, tc.tag)}, unhex(t, tc.cipher))
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(plain) != tc.plain {
				t.Errorf("decrypt = %x, want %s", plain, tc.plain)
			}
			if tc.tag != "" {
				bad := unhex(t, tc.tag)
				bad[0] ^= 1
				_, err := h.svc.DecryptData(h.admin, id, kms.CipherRequest{Params: tc.p, IV: iv, AAD: aad, Tag: bad}, unhex(t, tc.cipher))
				wantCode(t, "bad tag", err, kms.EDecrypt)
			}
		})
	}
}

// 3DES known answers, computed with openssl enc -des-ede3-cbc -nopad and
// -des-ede3 (ECB, PKCS#5 padding).
func TestCipherTripleDES(t *testing.T) {
	h := newHarness(t, 16)
	h.materialKey(t, "3des", kms.AlgorithmTripleDES, unhex(t, "0123456789abcdeffedcba987654321089abcdef01234567"), 0, nil)
	for _, tc := range []struct {
		p             kms.CryptoParams
		iv            string
		plain, cipher string
	}{
		{kms.CryptoParams{Mode: kms.ModeCBC}, "1234567890abcdef", "0123456789abcdef0123456789abcdef", "debc601b24c68755f902a2aa5eedaf6d"},
		{kms.CryptoParams{Mode: kms.ModeECB, Padding: kms.PaddingPKCS5}, "", hex.EncodeToString([]byte("Now is the time for all ")),
			"fbe62b683922941e0e05e3677c31fc264259965404d683df455cf52f367d3b35"},
	} {
		var iv []byte
		if tc.iv != "" {
			iv = unhex(t, tc.iv)
		}
		res, err := h.svc.EncryptData(h.admin, "3des", kms.CipherRequest{Params: tc.p, IV: iv}, unhex(t, tc.plain))
		if err != nil || hex.EncodeToString(res.Data) != tc.cipher {
			t.Errorf("%s: encrypt = %x, %v", tc.p.Mode, res.Data, err)
		}
		plain, err := h.svc.DecryptData(h.admin, "3des", kms.CipherRequest{Params: tc.p, IV: iv}, unhex(t, tc.cipher))
		if err != nil || hex.EncodeToString(plain) != tc.plain {
			t.Errorf("%s: decrypt = %x, %v", tc.p.Mode, plain, err)
		}
	}
	_, err := h.svc.EncryptData(h.admin, "3des", kms.CipherRequest{Params: kms.CryptoParams{Mode: kms.ModeGCM}}, nil)
	wantCode(t, "3DES GCM", err, kms.EInvalid)
}

// TestCipherRandomIV checks server-chosen IVs: returned, fresh, and
// decrypting; with the key's own Cryptographic Parameters as defaults.
func TestCipherRandomIV(t *testing.T) {
	h := newHarness(t, 16)
	key := unhex(t, "0123456789abcdef0123456789abcdef")
	h.materialKey(t, "cbc", kms.AlgorithmAES, key, 0, &kms.CryptoParams{Mode: kms.ModeCBC, Padding: kms.PaddingPKCS5, RandomIV: true})
	h.materialKey(t, "gcm", kms.AlgorithmAES, key, 0, nil)
	des := unhex(t, "0123456789abcdeffedcba98765432100123456789abcdef")
	h.materialKey(t, "3des", kms.AlgorithmTripleDES, des, 0, nil)
	for _, tc := range []struct {
		id     string
		p      kms.CryptoParams
		ivSize int
	}{
		{"cbc", kms.CryptoParams{}, 16},
		{"gcm", kms.CryptoParams{Mode: kms.ModeGCM}, 12},
		{"gcm", kms.CryptoParams{Mode: kms.ModeGCM, IVLength: 16, TagLength: 12}, 16},
		{"3des", kms.CryptoParams{Mode: kms.ModeCBC, Padding: kms.PaddingPKCS5}, 8},
	} {
		data := []byte("attack at dawn, attack at dusk!")
		r1, err := h.svc.EncryptData(h.admin, tc.id, kms.CipherRequest{Params: tc.p}, data)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := h.svc.EncryptData(h.admin, tc.id, kms.CipherRequest{Params: tc.p}, data)
		if err != nil {
			t.Fatal(err)
		}
		if len(r1.IV) != tc.ivSize || bytes.Equal(r1.IV, r2.IV) || bytes.Equal(r1.Data, r2.Data) {
			t.Errorf("%s: IVs %x and %x", tc.id, r1.IV, r2.IV)
		}
		plain, err := h.svc.DecryptData(h.admin, tc.id, kms.CipherRequest{Params: tc.p, IV: r1.IV, Tag: r1.Tag}, r1.Data)
		if err != nil || !bytes.Equal(plain, data) {
			t.Errorf("%s: decrypt = %q, %v", tc.id, plain, err)
		}
	}
}

func TestCipherRefusals(t *testing.T) {
	h := newHarness(t, 16)
	key := unhex(t, "0123456789abcdef0123456789abcdef")
	h.materialKey(t, "k", kms.AlgorithmAES, key, kms.UsageEncrypt|kms.UsageDecrypt, nil)
	h.materialKey(t, "enc-only", kms.AlgorithmAES, key, kms.UsageEncrypt, nil)
	h.materialKey(t, "mac", kms.AlgorithmHMACSHA256, key, 0, nil)
	if _, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: "pre", Purpose: kms.PurposeMaterial, State: kms.StatePreActive,
		Attributes: kms.Attributes{Algorithm: kms.AlgorithmAES, Length: 128}}); err != nil {
		t.Fatal(err)
	}
	h.materialKey(t, "old", kms.AlgorithmAES, key, 0, nil)
	if _, err := h.svc.SetState(h.admin, "old", kms.StateDeactivated); err != nil {
		t.Fatal(err)
	}
	h.materialKey(t, "gone", kms.AlgorithmAES, key, 0, nil)
	if _, err := h.svc.SetState(h.admin, "gone", kms.StateCompromised); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.DestroyKey(h.admin, "gone"); err != nil {
		t.Fatal(err)
	}
	h.create(t, "root", kms.PurposeNamed)
	h.create(t, "bucket/b", kms.PurposeBucketRoot)
	past, future := h.clock.now().Add(-time.Hour), h.clock.now().Add(time.Hour)
	if _, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: "dated", Purpose: kms.PurposeMaterial, Material: key,
		Attributes: kms.Attributes{Algorithm: kms.AlgorithmAES, Length: 128, ProtectStopDate: &past, ProcessStartDate: &future}}); err != nil {
		t.Fatal(err)
	}

	ecb := kms.CryptoParams{Mode: kms.ModeECB}
	cbc := kms.CryptoParams{Mode: kms.ModeCBC}
	gcm := kms.CryptoParams{Mode: kms.ModeGCM}
	block := make([]byte, 16)
	iv16 := make([]byte, 16)
	tests := []struct {
		name    string
		decrypt bool
		id      string
		req     kms.CipherRequest
		data    []byte
		code    kms.Code
		cause   error
	}{
		{"no mode", false, "k", kms.CipherRequest{}, block, kms.EInvalid, nil},
		{"CTR", false, "k", kms.CipherRequest{Params: kms.CryptoParams{Mode: "CTR"}}, block, kms.EInvalid, nil},
		{"bad padding method", false, "k", kms.CipherRequest{Params: kms.CryptoParams{Mode: kms.ModeCBC, Padding: "OAEP"}}, block, kms.EInvalid, nil},
		{"GCM padding", false, "k", kms.CipherRequest{Params: kms.CryptoParams{Mode: kms.ModeGCM, Padding: kms.PaddingPKCS5}}, block, kms.EInvalid, nil},
		{"ECB partial block", false, "k", kms.CipherRequest{Params: ecb}, make([]byte, 15), kms.EInvalid, nil},
		{"ECB with IV", false, "k", kms.CipherRequest{Params: ecb, IV: iv16}, block, kms.EInvalid, nil},
		{"CBC short IV", false, "k", kms.CipherRequest{Params: cbc, IV: make([]byte, 8)}, block, kms.EInvalid, nil},
		{"IV and Random IV", false, "k", kms.CipherRequest{Params: kms.CryptoParams{Mode: kms.ModeCBC, RandomIV: true}, IV: iv16}, block, kms.EInvalid, nil},
		{"GCM tag 32", false, "k", kms.CipherRequest{Params: kms.CryptoParams{Mode: kms.ModeGCM, TagLength: 32}}, block, kms.EInvalid, kms.ErrTagLength},
		{"GCM tag 1", false, "k", kms.CipherRequest{Params: kms.CryptoParams{Mode: kms.ModeGCM, TagLength: 1}}, block, kms.EInvalid, kms.ErrTagLength},
		{"GCM IV too long", false, "k", kms.CipherRequest{Params: gcm, IV: make([]byte, 129)}, block, kms.EInvalid, nil},
		{"algorithm mismatch", false, "k", kms.CipherRequest{Params: kms.CryptoParams{Mode: kms.ModeECB, Algorithm: kms.AlgorithmTripleDES}}, block, kms.EInvalid, nil},
		{"HMAC key", false, "mac", kms.CipherRequest{Params: ecb}, block, kms.EInvalid, nil},
		{"too large", false, "k", kms.CipherRequest{Params: ecb}, make([]byte, kms.MaxCipherData+16), kms.ETooLarge, nil},
		{"pre-active", false, "pre", kms.CipherRequest{Params: ecb}, block, kms.EState, nil},
		{"deactivated encrypts", false, "old", kms.CipherRequest{Params: ecb}, block, kms.EState, nil},
		{"destroyed", false, "gone", kms.CipherRequest{Params: ecb}, block, kms.EDestroyed, nil},
		{"unknown", false, "nope", kms.CipherRequest{Params: ecb}, block, kms.ENotFound, nil},
		{"named root key", false, "root", kms.CipherRequest{Params: ecb}, block, kms.EInvalid, nil},
		{"bucket root key", false, "bucket/b", kms.CipherRequest{Params: ecb}, block, kms.EInvalid, nil},
		{"mask forbids decrypt", true, "enc-only", kms.CipherRequest{Params: ecb}, block, kms.EForbidden, kms.ErrUsageMask},
		{"CBC no IV", true, "k", kms.CipherRequest{Params: cbc}, block, kms.EInvalid, kms.ErrMissingIV},
		{"GCM no IV", true, "k", kms.CipherRequest{Params: gcm, Tag: block}, block, kms.EInvalid, kms.ErrMissingIV},
		{"GCM no tag", true, "k", kms.CipherRequest{Params: gcm, IV: make([]byte, 12)}, block, kms.EInvalid, nil},
		{"GCM short tag", true, "k", kms.CipherRequest{Params: gcm, IV: make([]byte, 12), Tag: make([]byte, 8)}, block, kms.EInvalid, kms.ErrTagLength},
		{"GCM tag length mismatch", true, "k", kms.CipherRequest{Params: kms.CryptoParams{Mode: kms.ModeGCM, TagLength: 12}, IV: make([]byte, 12), Tag: block}, block, kms.EInvalid, nil},
		{"bad PKCS5 padding", true, "k", kms.CipherRequest{Params: kms.CryptoParams{Mode: kms.ModeECB, Padding: kms.PaddingPKCS5}}, block, kms.EDecrypt, nil},
		{"pre-active decrypt", true, "pre", kms.CipherRequest{Params: ecb}, block, kms.EState, nil},
		{"past Protect Stop Date", false, "dated", kms.CipherRequest{Params: ecb}, block, kms.EState, nil},
		{"before Process Start Date", true, "dated", kms.CipherRequest{Params: ecb}, block, kms.EState, nil},
		{"CBC partial block", true, "k", kms.CipherRequest{Params: cbc, IV: iv16}, make([]byte, 17), kms.EInvalid, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.decrypt {
				var p []byte
				p, err = h.svc.DecryptData(h.admin, tc.id, tc.req, tc.data)
				if p != nil {
					t.Error("plaintext returned with an error")
				}
			} else {
				var r kms.CipherResult
				r, err = h.svc.EncryptData(h.admin, tc.id, tc.req, tc.data)
				if r.Data != nil {
					t.Error("ciphertext returned with an error")
				}
			}
			wantCode(t, tc.name, err, tc.code)
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %v is not %v", err, tc.cause)
			}
		})
	}
	// A Deactivated key still decrypts (it processes, never protects).
	if _, err := h.svc.DecryptData(h.admin, "old", kms.CipherRequest{Params: ecb}, block); err != nil {
		t.Errorf("deactivated key decrypt: %v", err)
	}
	// Policy: encrypt and decrypt are the policy ops encrypt and decrypt.
	_, err := h.svc.EncryptData(h.node, "k", kms.CipherRequest{Params: ecb}, block)
	wantCode(t, "node encrypts", err, kms.EForbidden)
	_, err = h.svc.EncryptData(h.other, "k", kms.CipherRequest{Params: ecb}, block)
	wantCode(t, "stranger encrypts", err, kms.EUnauthorized)
	evs, err := h.svc.ListAudit(h.admin, kms.AuditFilter{KeyID: "enc-only"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].Operation != "cipher.decrypt" || evs[0].Result != string(kms.EForbidden) {
		t.Errorf("refused decrypt not audited: %+v", evs)
	}
}

// Known answers: the data of RFC 4231 test case 1 ("Hi There") under a
// 16-byte key of 0x0b (RFC 4231 uses 20 bytes, which a MaterialProtector
// does not wrap), computed with Python's hmac module.
func TestMAC(t *testing.T) {
	h := newHarness(t, 16)
	key := bytes.Repeat([]byte{0x0b}, 16)
	want := map[string]string{
		kms.AlgorithmHMACSHA1:   "675b0b3a1b4ddf4e124872da6c2f632bfed957e9",
		kms.AlgorithmHMACSHA224: "4e841ce7a4ae83fbcf71e3cd64bfbf277f73a14680aae8c518ac7861",
		kms.AlgorithmHMACSHA256: "492ce020fe2534a5789dc3848806c78f4f6711397f08e7e7a12ca5a4483c8aa6",
		kms.AlgorithmHMACSHA384: "7afaa633e20d379b02395915fbc385ff8dc27dcd3885e1068ab942eeab52ec1f20ad382a92370d8b2e0ac8b83c4d53bf",
		kms.AlgorithmHMACSHA512: "7641c48a3b4aa8f887c07b3e83f96affb89c978fed8c96fcbbf4ad596eebfe496f9f16da6cd080ba393c6f365ad72b50d15c71bfb1d6b81f66a911786c6ce932",
	}
	for alg, mac := range want {
		h.materialKey(t, alg, alg, key, 0, nil)
		got, err := h.svc.MAC(h.admin, alg, "", []byte("Hi There"))
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != mac {
			t.Errorf("%s = %x, want %s", alg, got, mac)
		}
		ok, err := h.svc.VerifyMAC(h.admin, alg, alg, []byte("Hi There"), got)
		if err != nil || !ok {
			t.Errorf("%s: verify = %v, %v", alg, ok, err)
		}
		got[0] ^= 1
		if ok, err := h.svc.VerifyMAC(h.admin, alg, "", []byte("Hi There"), got); err != nil || ok {
			t.Errorf("%s: bad MAC verifies: %v, %v", alg, ok, err)
		}
	}
	h.materialKey(t, "gen-only", kms.AlgorithmHMACSHA256, key, kms.UsageMACGenerate, nil)
	h.materialKey(t, "aes", kms.AlgorithmAES, key, 0, nil)
	_, err := h.svc.VerifyMAC(h.admin, "gen-only", "", nil, make([]byte, 32))
	if kms.ErrorCode(err) != kms.EForbidden || !errors.Is(err, kms.ErrUsageMask) {
		t.Errorf("verify with a MAC Generate key: %v", err)
	}
	_, err = h.svc.MAC(h.admin, "aes", "", nil)
	wantCode(t, "MAC with an AES key", err, kms.EInvalid)
	_, err = h.svc.MAC(h.admin, kms.AlgorithmHMACSHA1, kms.AlgorithmHMACSHA256, nil)
	wantCode(t, "algorithm mismatch", err, kms.EInvalid)
	for _, l := range []int{56, 72, 128, 576} {
		_, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{ID: "hmac-bad", Purpose: kms.PurposeMaterial,
			Attributes: kms.Attributes{Algorithm: kms.AlgorithmHMACSHA256, Length: l}})
		if l == 128 {
			if err != nil {
				t.Errorf("HMAC key of 128 bits: %v", err)
			}
			continue
		}
		wantCode(t, "HMAC key length", err, kms.EInvalid)
	}
}

func TestRandomBytes(t *testing.T) {
	h := newHarness(t, 16)
	b, err := h.svc.RandomBytes(h.node, 32)
	if err != nil || len(b) != 32 {
		t.Fatalf("RandomBytes = %x, %v", b, err)
	}
	for _, n := range []int{0, -1, kms.MaxRandomBytes + 1} {
		_, err := h.svc.RandomBytes(h.admin, n)
		wantCode(t, "RandomBytes length", err, kms.EInvalid)
	}
	_, err = h.svc.RandomBytes(h.other, 8)
	wantCode(t, "stranger", err, kms.EUnauthorized)
}
