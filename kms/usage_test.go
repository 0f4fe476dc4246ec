package kms_test

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/s3kms/s3kms/kms"
)

// limitedKey creates an Active AES-128 material key (ECB, Encrypt and
// Decrypt) with Usage Limits u.
func (h *harness) limitedKey(t *testing.T, id string, u *kms.UsageLimits) kms.Key {
	t.Helper()
	k, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{
		ID: id, Purpose: kms.PurposeMaterial, Material: unhex(t, "0123456789abcdef0123456789abcdef"),
		Attributes: kms.Attributes{
			Algorithm: kms.AlgorithmAES, Length: 128, UsageMask: kms.UsageEncrypt | kms.UsageDecrypt,
			Params: &kms.CryptoParams{Mode: kms.ModeECB}, UsageLimits: u,
		},
	})
	if err != nil {
		t.Fatalf("CreateKey(%s): %v", id, err)
	}
	return k
}

func (h *harness) usageCount(t *testing.T, id string) int64 {
	t.Helper()
	k, err := h.svc.GetKey(h.admin, id)
	if err != nil {
		t.Fatal(err)
	}
	return k.Attributes.UsageLimits.Count
}

// TestUsageLimits: Encrypt uses the key's Usage Limits (bytes or
// operations) and is refused, using nothing, once they do not cover it;
// Decrypt uses none of them.
func TestUsageLimits(t *testing.T) {
	h := newHarness(t, 16)
	block := unhex(t, "01020304050607080910111213141516")
	tests := []struct {
		name  string
		u     kms.UsageLimits
		sizes []int // data sizes (multiples of 16) encrypted in turn
		ok    []bool
		left  int64
	}{
		{"bytes exact", kms.UsageLimits{Total: 16, Unit: kms.UsageUnitByte}, []int{16, 16}, []bool{true, false}, 0},
		{"bytes partial refused", kms.UsageLimits{Total: 40, Unit: kms.UsageUnitByte}, []int{32, 16, 0}, []bool{true, false, true}, 8},
		{"objects", kms.UsageLimits{Total: 2, Unit: kms.UsageUnitObject}, []int{48, 16, 16}, []bool{true, true, false}, 0},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := "limited-" + string(rune('a'+i))
			k := h.limitedKey(t, id, &kms.UsageLimits{Total: tc.u.Total, Count: 1, Unit: tc.u.Unit})
			if got := k.Attributes.UsageLimits; got == nil || got.Count != tc.u.Total {
				t.Fatalf("new key's limits %+v: want the Count set to the Total", got)
			}
			for j, n := range tc.sizes {
				data := make([]byte, 0, n)
				for len(data) < n {
					data = append(data, block...)
				}
				before := h.usageCount(t, id)
				_, err := h.svc.EncryptData(h.admin, id, kms.CipherRequest{}, data)
				if tc.ok[j] != (err == nil) {
					t.Fatalf("encryption %d of %d bytes: err = %v, want ok=%v", j, n, err, tc.ok[j])
				}
				if err != nil {
					if kms.ErrorCode(err) != kms.EForbidden || !errors.Is(err, kms.ErrUsageLimits) {
						t.Fatalf("err = %v, want EForbidden caused by ErrUsageLimits", err)
					}
					if after := h.usageCount(t, id); after != before {
						t.Fatalf("a refused encryption used %d", before-after)
					}
				}
			}
			if got := h.usageCount(t, id); got != tc.left {
				t.Errorf("Count = %d, want %d", got, tc.left)
			}
			// Decrypt applies no protection: it uses nothing, even
			// with nothing left.
			if _, err := h.svc.DecryptData(h.admin, id, kms.CipherRequest{}, block); err != nil {
				t.Errorf("decrypt: %v", err)
			}
			if got := h.usageCount(t, id); got != tc.left {
				t.Errorf("Count after Decrypt = %d, want %d", got, tc.left)
			}
		})
	}
}

// TestUsageLimitsMAC: MAC uses the limits of an HMAC key.
func TestUsageLimitsMAC(t *testing.T) {
	h := newHarness(t, 16)
	_, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{
		ID: "hmac-limited", Purpose: kms.PurposeMaterial, Material: make([]byte, 32),
		Attributes: kms.Attributes{Algorithm: kms.AlgorithmHMACSHA256, Length: 256,
			UsageLimits: &kms.UsageLimits{Total: 10, Unit: kms.UsageUnitByte}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.MAC(h.admin, "hmac-limited", "", make([]byte, 6)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.MAC(h.admin, "hmac-limited", "", make([]byte, 6)); !errors.Is(err, kms.ErrUsageLimits) {
		t.Fatalf("second MAC: err = %v, want ErrUsageLimits", err)
	}
	if _, err := h.svc.VerifyMAC(h.admin, "hmac-limited", "", make([]byte, 6), make([]byte, 32)); err != nil {
		t.Errorf("MAC Verify uses no limits: %v", err)
	}
	if got := h.usageCount(t, "hmac-limited"); got != 4 {
		t.Errorf("Count = %d, want 4", got)
	}
}

// TestUsageLimitsConcurrent: of concurrent encryptions that together
// need more than the limits, exactly as many succeed as fit (the count
// is a compare-and-set update).
func TestUsageLimitsConcurrent(t *testing.T) {
	h := newHarness(t, 16)
	h.limitedKey(t, "limited-race", &kms.UsageLimits{Total: 3, Unit: kms.UsageUnitObject})
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Retry the compare-and-set conflicts a busy key may give.
			for {
				_, errs[i] = h.svc.EncryptData(h.admin, "limited-race", kms.CipherRequest{}, make([]byte, 16))
				if kms.ErrorCode(errs[i]) != kms.EConflict {
					return
				}
			}
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, kms.ErrUsageLimits):
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 3 || h.usageCount(t, "limited-race") != 0 {
		t.Errorf("%d encryptions succeeded, Count %d: want 3 and 0", ok, h.usageCount(t, "limited-race"))
	}
}

// TestUsageLimitsInvalid: Usage Limits need a positive Total and a known
// Unit, and only material keys take them.
func TestUsageLimitsInvalid(t *testing.T) {
	h := newHarness(t, 16)
	for i, u := range []kms.UsageLimits{
		{Total: 0, Unit: kms.UsageUnitByte},
		{Total: -1, Unit: kms.UsageUnitObject},
		{Total: 5, Unit: "Bit"},
	} {
		_, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{
			ID: "bad-limits-" + string(rune('a'+i)), Purpose: kms.PurposeMaterial, Material: make([]byte, 16),
			Attributes: kms.Attributes{Algorithm: kms.AlgorithmAES, Length: 128, UsageLimits: &u},
		})
		if kms.ErrorCode(err) != kms.EInvalid {
			t.Errorf("limits %+v: err = %v, want EInvalid", u, err)
		}
	}
	_, err := h.svc.CreateKey(h.admin, kms.CreateKeyRequest{
		ID: "named-limits", Attributes: kms.Attributes{UsageLimits: &kms.UsageLimits{Total: 5, Unit: kms.UsageUnitByte}},
	})
	if kms.ErrorCode(err) != kms.EInvalid {
		t.Errorf("named key with limits: err = %v, want EInvalid", err)
	}
}

// TestUsageLimitsContinued: a later part of a multi-part encryption
// counts only its own data (and no further object).
func TestUsageLimitsContinued(t *testing.T) {
	h := newHarness(t, 16)
	h.limitedKey(t, "limited-parts", &kms.UsageLimits{Total: 48, Unit: kms.UsageUnitByte})
	h.limitedKey(t, "limited-parts-obj", &kms.UsageLimits{Total: 1, Unit: kms.UsageUnitObject})
	for _, id := range []string{"limited-parts", "limited-parts-obj"} {
		if _, err := h.svc.EncryptData(h.admin, id, kms.CipherRequest{}, make([]byte, 16)); err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.EncryptData(h.admin, id, kms.CipherRequest{Continued: true, Counted: 16}, make([]byte, 32)); err != nil {
			t.Fatalf("%s: second part: %v", id, err)
		}
	}
	if got := h.usageCount(t, "limited-parts"); got != 16 {
		t.Errorf("bytes left %d, want 16", got)
	}
	if got := h.usageCount(t, "limited-parts-obj"); got != 0 {
		t.Errorf("objects left %d, want 0", got)
	}
}

// TestReturnUsage: what an undone protection used comes back, never
// beyond the Total; keys without limits are left alone.
func TestReturnUsage(t *testing.T) {
	h := newHarness(t, 16)
	h.limitedKey(t, "limited-return", &kms.UsageLimits{Total: 32, Unit: kms.UsageUnitByte})
	h.limitedKey(t, "limited-return-obj", &kms.UsageLimits{Total: 2, Unit: kms.UsageUnitObject})
	h.limitedKey(t, "unlimited", nil)
	h.limitedKey(t, "limited-return-max", &kms.UsageLimits{Total: math.MaxInt64, Unit: kms.UsageUnitByte})
	for _, id := range []string{"limited-return", "limited-return-obj", "limited-return-max"} {
		if _, err := h.svc.EncryptData(h.admin, id, kms.CipherRequest{}, make([]byte, 32)); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		id        string
		n         int
		continued bool
		wantCount int64
	}{
		{"limited-return", 16, false, 16},
		{"limited-return", 32, false, 32},   // capped at the Total
		{"limited-return-obj", 32, true, 1}, // a continued part took no object
		{"limited-return-obj", 32, false, 2},
		{"limited-return-obj", 32, false, 2},
		{"limited-return-max", 64, false, math.MaxInt64}, // capped without overflow
	}
	for _, s := range steps {
		if err := h.svc.ReturnUsage(h.admin, s.id, s.n, s.continued); err != nil {
			t.Fatal(err)
		}
		if got := h.usageCount(t, s.id); got != s.wantCount {
			t.Errorf("%s after returning %d: Count %d, want %d", s.id, s.n, got, s.wantCount)
		}
	}
	if err := h.svc.ReturnUsage(h.admin, "unlimited", 16, false); err != nil {
		t.Errorf("key without limits: %v", err)
	}
	if err := h.svc.ReturnUsage(h.node, "limited-return", 16, false); kms.ErrorCode(err) != kms.EForbidden {
		t.Errorf("identity without encrypt: err = %v, want EForbidden", err)
	}
}
