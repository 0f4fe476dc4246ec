package kms_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/sealed"
)

// secondService is another KMS node over h's store, with its own cache.
func secondService(t *testing.T, h *harness) *kms.Service {
	t.Helper()
	svc, err := kms.New(kms.Config{
		Store: h.store.KeyStore(), Audit: h.store.AuditLog(), Protector: h.prot,
		Policy: h.svc.Policy(), Now: h.clock.now, CacheSize: 16, CacheTTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

func TestVersionStates(t *testing.T) {
	h := newHarness(t, 16)
	other := secondService(t, h)
	const id = "bucket/b1"
	h.create(t, id, kms.PurposeBucketRoot)
	ec := map[string]string{"bucket": "b1", "key": "k"}
	dk1, err := h.svc.GenerateDataKey(h.node, id, ec)
	if err != nil {
		t.Fatal(err)
	}
	// Both nodes have version 1's root in their cache.
	for _, s := range []*kms.Service{h.svc, other} {
		if _, err := s.Decrypt(h.node, dk1.Sealed, ec); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.svc.RotateKey(h.admin, id); err != nil {
		t.Fatal(err)
	}
	dk2, err := h.svc.GenerateDataKey(h.node, id, ec)
	if err != nil {
		t.Fatal(err)
	}
	// open tries dk1 (version 1) and dk2 (version 2) on both nodes.
	open := func(t *testing.T, want1 kms.Code) {
		t.Helper()
		for _, s := range []*kms.Service{h.svc, other} {
			_, err := s.Decrypt(h.node, dk1.Sealed, ec)
			wantCode(t, "decrypt version 1", err, want1)
			_, err = s.Rewrap(h.node, dk1.Sealed, ec)
			wantCode(t, "rewrap from version 1", err, want1)
			_, err = s.Decrypt(h.node, dk2.Sealed, ec)
			wantCode(t, "decrypt version 2", err, "")
		}
	}
	steps := []struct {
		name    string
		destroy bool
		version int
		to      kms.State
		code    kms.Code
		open1   kms.Code // decrypting and rewrapping from version 1 afterwards
	}{
		{"deactivate current", false, 2, kms.StateDeactivated, kms.EState, ""},
		{"destroy current", true, 2, "", kms.EState, ""},
		{"destroy active", true, 1, "", kms.EState, ""},
		{"unknown version", false, 3, kms.StateDeactivated, kms.ENotFound, ""},
		{"invalid state", false, 1, kms.StateCompromised, kms.EInvalid, ""},
		{"activate active", false, 1, kms.StateActive, "", ""},
		{"deactivate", false, 1, kms.StateDeactivated, "", kms.EState},
		{"deactivate again", false, 1, kms.StateDeactivated, "", kms.EState},
		{"activate", false, 1, kms.StateActive, "", ""},
		{"deactivate before destroy", false, 1, kms.StateDeactivated, "", kms.EState},
		{"destroy", true, 1, "", "", kms.EDestroyed},
		{"destroy again", true, 1, "", "", kms.EDestroyed},
		{"activate destroyed", false, 1, kms.StateActive, kms.EDestroyed, kms.EDestroyed},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var err error
			if st.destroy {
				_, err = h.svc.DestroyVersion(h.admin, id, st.version)
			} else {
				_, err = h.svc.SetVersionState(h.admin, id, st.version, st.to)
			}
			wantCode(t, "change", err, st.code)
			open(t, st.open1)
			// A retired version never seals: new data keys and rewraps use
			// the current version.
			for _, s := range []*kms.Service{h.svc, other} {
				dk, err := s.GenerateDataKey(h.node, id, ec)
				if err != nil {
					t.Fatal(err)
				}
				sb, err := sealed.Parse(dk.Sealed)
				if err != nil || dk.KeyVersion != 2 || sb.KeyVersion != 2 {
					t.Fatalf("new data key under version %d (blob %v, %v), want 2", dk.KeyVersion, sb, err)
				}
			}
		})
	}
	info, err := h.svc.GetKey(h.admin, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := []kms.State{info.Versions[0].VersionState(), info.Versions[1].VersionState()}; !slices.Equal(got, []kms.State{kms.StateDestroyed, kms.StateActive}) {
		t.Errorf("version states = %v", got)
	}
	if info.Versions[0].DestroyedAt == nil {
		t.Error("destroyed version has no DestroyedAt")
	}
	// Master-key rotation skips the destroyed version.
	if counts, err := h.svc.MasterStatus(h.admin); err != nil || counts[h.svc.MasterKeyID()] != 1 {
		t.Errorf("master status = %v, %v; want one version with material", counts, err)
	}
	events, err := h.svc.ListAudit(h.admin, kms.AuditFilter{KeyID: id})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range events {
		if e.Result == "ok" {
			seen[e.Operation+"@"+strconv.Itoa(e.KeyVersion)] = true
		}
	}
	for _, want := range []string{"key.version.deactivate@1", "key.version.activate@1", "key.version.destroy@1"} {
		if !seen[want] {
			t.Errorf("audit has no successful %s", want)
		}
	}
}

func TestVersionStatePolicy(t *testing.T) {
	h := newHarness(t, 16)
	deleter := kms.WithIdentity(context.Background(), otherID)
	policy, err := kms.NewPolicy([]kms.PolicyEntry{
		{Name: "admin", Identities: []kms.Identity{adminID}, Allow: []kms.Rule{{Ops: []kms.Op{kms.OpAll}, Keys: []string{"*"}}}},
		{Name: "deleter", Identities: []kms.Identity{otherID}, Allow: []kms.Rule{{Ops: []kms.Op{kms.OpDelete}, Keys: []string{"*"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc2, err := kms.New(kms.Config{Store: h.store.KeyStore(), Audit: h.store.AuditLog(), Protector: h.prot, Policy: policy, Now: h.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	h.create(t, "bucket/p", kms.PurposeBucketRoot)
	if _, err := h.svc.RotateKey(h.admin, "bucket/p"); err != nil {
		t.Fatal(err)
	}
	// The S3 node may rewrap but not retire versions.
	_, err = h.svc.SetVersionState(h.node, "bucket/p", 1, kms.StateDeactivated)
	wantCode(t, "node deactivates", err, kms.EForbidden)
	if _, err := h.svc.SetVersionState(h.admin, "bucket/p", 1, kms.StateDeactivated); err != nil {
		t.Fatal(err)
	}
	// "delete" alone does not destroy a version.
	_, err = svc2.DestroyVersion(deleter, "bucket/p", 1)
	wantCode(t, "delete-only identity destroys", err, kms.EForbidden)
	_, err = h.svc.DestroyVersion(h.node, "bucket/p", 1)
	wantCode(t, "node destroys", err, kms.EForbidden)
	_, err = h.svc.SetRotation(h.node, "bucket/p", 24*time.Hour)
	wantCode(t, "node sets rotation", err, kms.EForbidden)
}

func TestAutomaticRotation(t *testing.T) {
	h := newHarness(t, 16)
	other := secondService(t, h)
	sys := kms.WithIdentity(context.Background(), "system")
	h.create(t, "bucket/auto", kms.PurposeBucketRoot)
	h.create(t, "bucket/off", kms.PurposeBucketRoot)
	h.create(t, "bucket/disabled", kms.PurposeBucketRoot)
	for _, tc := range []struct {
		period time.Duration
		code   kms.Code
	}{
		{30 * time.Second, kms.EInvalid},
		{time.Hour + time.Millisecond, kms.EInvalid},
		{-time.Hour, kms.EInvalid},
		{0, ""},
		{24 * time.Hour, ""},
	} {
		_, err := h.svc.SetRotation(h.admin, "bucket/auto", tc.period)
		wantCode(t, "SetRotation "+tc.period.String(), err, tc.code)
	}
	start := h.clock.now()
	k, err := h.svc.SetRotation(h.admin, "bucket/disabled", time.Hour)
	if err != nil || k.NextRotation == nil || !k.NextRotation.Equal(start.Add(time.Hour)) {
		t.Fatalf("SetRotation: %+v, %v", k.NextRotation, err)
	}
	if _, err := h.svc.SetEnabled(h.admin, "bucket/disabled", false); err != nil {
		t.Fatal(err)
	}
	h.clock.add(23 * time.Hour)
	if n, err := h.svc.RotateDue(sys); err != nil || n != 0 {
		t.Fatalf("rotated %d, %v before the period", n, err)
	}
	h.clock.add(2 * time.Hour)
	// Two nodes run the loop at once: the key rotates once.
	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i, s := range []*kms.Service{h.svc, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := s.RotateDue(sys)
			if err != nil {
				t.Error(err)
			}
			counts[i] = n
		}()
	}
	wg.Wait()
	if counts[0]+counts[1] != 1 {
		t.Fatalf("rotations = %v, want 1 in all", counts)
	}
	for id, want := range map[string]int{"bucket/auto": 2, "bucket/off": 1, "bucket/disabled": 1} {
		info, err := h.svc.GetKey(h.admin, id)
		if err != nil || info.CurrentVersion != want {
			t.Errorf("%s: current version %d, %v; want %d", id, info.CurrentVersion, err, want)
		}
	}
	info, _ := h.svc.GetKey(h.admin, "bucket/auto")
	if info.RotationPeriod != 24*time.Hour || info.NextRotation == nil || !info.NextRotation.Equal(h.clock.now().Add(24*time.Hour)) {
		t.Errorf("after rotation: period %s next %v", info.RotationPeriod, info.NextRotation)
	}
	// A manual rotation postpones the next automatic one.
	h.clock.add(time.Hour)
	k, err = h.svc.RotateKey(h.admin, "bucket/auto")
	if err != nil || !k.NextRotation.Equal(h.clock.now().Add(24*time.Hour)) {
		t.Errorf("manual rotation: next %v, %v", k.NextRotation, err)
	}
	events, err := h.svc.ListAudit(h.admin, kms.AuditFilter{KeyID: "bucket/auto"})
	if err != nil {
		t.Fatal(err)
	}
	auto := 0
	for _, e := range events {
		if e.Operation == "key.rotate.auto" {
			auto++
			if e.Result != "ok" || e.KeyVersion != 2 || e.Identity != "system" {
				t.Errorf("audit %+v", e)
			}
		}
	}
	if auto != 1 {
		t.Errorf("%d key.rotate.auto records, want 1", auto)
	}
	// Off again.
	k, err = h.svc.SetRotation(h.admin, "bucket/auto", 0)
	if err != nil || k.NextRotation != nil || k.RotationPeriod != 0 {
		t.Fatalf("rotation off: %+v, %v", k, err)
	}
	h.clock.add(100 * 24 * time.Hour)
	if n, err := h.svc.RotateDue(sys); err != nil || n != 0 {
		t.Fatalf("rotated %d, %v with rotation off", n, err)
	}
}
