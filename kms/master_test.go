package kms_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/storage/sqlite"
)

var masterOpID = kms.Identity(strings.Repeat("d", 64)) // "master" on bucket/* only

func newMaster(t testing.TB) []byte {
	t.Helper()
	m := make([]byte, 32)
	if _, err := rand.Read(m); err != nil {
		t.Fatal(err)
	}
	return m
}

// masterService starts a Service on db with the given protector, as a KMS
// restarted with a new protector configuration would.
func masterService(t testing.TB, db *sqlite.DB, prot kms.Protector) *kms.Service {
	t.Helper()
	policy, err := kms.NewPolicy([]kms.PolicyEntry{
		{Name: "admin", Identities: []kms.Identity{adminID}, Allow: []kms.Rule{{Ops: []kms.Op{kms.OpAll}, Keys: []string{"*"}}}},
		{Name: "s3node", Identities: []kms.Identity{nodeID}, Allow: []kms.Rule{{
			Ops: []kms.Op{kms.OpGenerate, kms.OpDecrypt, kms.OpRewrap}, Keys: []string{"bucket/*"},
		}}},
		{Name: "narrow", Identities: []kms.Identity{masterOpID}, Allow: []kms.Rule{{
			Ops: []kms.Op{kms.OpMaster}, Keys: []string{"bucket/*"},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := kms.New(kms.Config{Store: db.KeyStore(), Audit: db.AuditLog(), Protector: prot, Policy: policy, CacheSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

func softwareProtector(t testing.TB, master []byte, previous ...[]byte) *software.Protector {
	t.Helper()
	p, err := software.New(master, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func openDB(t testing.TB) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir()+"/kms.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

type sealedKey struct {
	keyID     string
	ec        map[string]string
	sealed    []byte
	plaintext []byte
}

// masterFixture creates keys under svc's master: n bucket keys, each
// rotated once (2n versions), plus one destroyed key, and a data key
// under every version.
func masterFixture(t *testing.T, svc *kms.Service, n int) []sealedKey {
	t.Helper()
	admin := kms.WithIdentity(context.Background(), adminID)
	node := kms.WithIdentity(context.Background(), nodeID)
	var out []sealedKey
	gen := func(id string, i int) {
		ec := map[string]string{"bucket": id, "key": fmt.Sprint(i)}
		dk, err := svc.GenerateDataKey(node, id, ec)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sealedKey{id, ec, dk.Sealed, dk.Plaintext})
	}
	for i := range n {
		id := fmt.Sprintf("bucket/b%02d", i)
		if _, err := svc.CreateKey(admin, kms.CreateKeyRequest{ID: id, Purpose: kms.PurposeBucketRoot}); err != nil {
			t.Fatal(err)
		}
		gen(id, 1)
		if _, err := svc.RotateKey(admin, id); err != nil {
			t.Fatal(err)
		}
		gen(id, 2)
	}
	if _, err := svc.CreateKey(admin, kms.CreateKeyRequest{ID: "doomed", State: kms.StatePreActive}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DestroyKey(admin, "doomed"); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkDecrypts(t *testing.T, svc *kms.Service, keys []sealedKey) {
	t.Helper()
	node := kms.WithIdentity(context.Background(), nodeID)
	for _, k := range keys {
		dk, err := svc.Decrypt(node, k.sealed, k.ec)
		if err != nil {
			t.Fatalf("Decrypt of a data key under %s: %v", k.keyID, err)
		}
		if !bytes.Equal(dk.Plaintext, k.plaintext) {
			t.Fatalf("data key under %s decrypts to another key", k.keyID)
		}
	}
}

func TestMasterRotation(t *testing.T) {
	db := openDB(t)
	admin := kms.WithIdentity(context.Background(), adminID)
	a, b := newMaster(t), newMaster(t)
	idA, idB := software.MasterKeyID(a), software.MasterKeyID(b)

	svcA := masterService(t, db, softwareProtector(t, a))
	keys := masterFixture(t, svcA, 5) // 10 versions under A
	st, err := svcA.MasterStatus(admin)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{idA: 10}; !maps.Equal(st, want) {
		t.Fatalf("status under A = %v, want %v", st, want)
	}
	svcA.Close()

	// Restart with B current and A previous: everything still opens, new
	// roots go under B.
	svcB := masterService(t, db, softwareProtector(t, b, a))
	checkDecrypts(t, svcB, keys)
	if _, err := svcB.CreateKey(admin, kms.CreateKeyRequest{ID: "new-under-b"}); err != nil {
		t.Fatal(err)
	}
	st, err = svcB.MasterStatus(admin)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{idA: 10, idB: 1}; !maps.Equal(st, want) {
		t.Fatalf("status after restart = %v, want %v", st, want)
	}

	// Rotate in batches of 3, each call a new run (as if interrupted).
	total, calls := 0, 0
	for remaining := -1; remaining != 0; calls++ {
		if calls > 10 {
			t.Fatal("rotation does not finish")
		}
		var done int
		done, remaining, err = svcB.RotateMaster(admin, 3)
		if err != nil {
			t.Fatal(err)
		}
		total += done
		if want := 10 - total; remaining != want {
			t.Fatalf("call %d: done %d, remaining %d, want %d", calls, done, remaining, want)
		}
	}
	if total != 10 || calls != 4 {
		t.Fatalf("rewrapped %d versions in %d calls, want 10 in 4", total, calls)
	}
	st, err = svcB.MasterStatus(admin)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{idB: 11}; !maps.Equal(st, want) {
		t.Fatalf("status after rotation = %v, want %v", st, want)
	}
	// Another run finds nothing to do.
	if done, remaining, err := svcB.RotateMaster(admin, 0); err != nil || done != 0 || remaining != 0 {
		t.Fatalf("RotateMaster after the end = %d, %d, %v", done, remaining, err)
	}
	checkDecrypts(t, svcB, keys)
	info, err := svcB.GetKey(admin, "bucket/b03")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range info.Versions {
		if v.MasterKeyID != idB || v.Protector != "software" {
			t.Fatalf("version %d is under %s/%s", v.Version, v.Protector, v.MasterKeyID)
		}
	}
	// The destroyed key stays destroyed, with no material.
	if vs, err := db.KeyStore().ListVersions(context.Background(), "doomed"); err != nil || len(vs[0].Wrapped) != 0 || vs[0].MasterKeyID != idA {
		t.Fatalf("destroyed key's version = %+v, %v", vs, err)
	}
	svcB.Close()

	// With only B configured, everything opens: A can be destroyed.
	svcOnlyB := masterService(t, db, softwareProtector(t, b))
	checkDecrypts(t, svcOnlyB, keys)

	// Audit: one master.rewrap per version with from/to, the calls.
	events, err := svcOnlyB.ListAudit(admin, kms.AuditFilter{KeyID: "bucket/b02", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	rewraps := 0
	for _, e := range events {
		if e.Operation == "master.rewrap" {
			rewraps++
			if e.Result != "ok" || e.Context["from"] != idA || e.Context["to"] != idB || e.Identity != string(adminID) || e.KeyVersion == 0 {
				t.Fatalf("rewrap event %+v", e)
			}
		}
	}
	if rewraps != 2 {
		t.Fatalf("%d master.rewrap events for bucket/b02, want 2", rewraps)
	}
	all, err := svcOnlyB.ListAudit(admin, kms.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var rotates []kms.AuditEvent
	for _, e := range all {
		if e.Operation == "master.rotate" {
			rotates = append(rotates, e)
		}
	}
	if len(rotates) != 5 || rotates[0].Context["remaining"] != "0" || rotates[1].Context["done"] != "1" || rotates[1].Context["master_key_id"] != idB {
		t.Fatalf("master.rotate events: %+v", rotates)
	}
}

// A root under a master key the protector does not have stops the
// rotation with EDecrypt naming the key; the versions already done stay.
func TestMasterRotationUnknownMaster(t *testing.T) {
	db := openDB(t)
	admin := kms.WithIdentity(context.Background(), adminID)
	a, b, c := newMaster(t), newMaster(t), newMaster(t)
	masterFixture(t, masterService(t, db, softwareProtector(t, a)), 1)
	svc := masterService(t, db, softwareProtector(t, b))
	_, _, err := svc.RotateMaster(admin, 10)
	wantCode(t, "RotateMaster without the old master", err, kms.EDecrypt)
	if !strings.Contains(kms.ErrorMessage(err), "bucket/b00") {
		t.Errorf("error %q does not name the key", kms.ErrorMessage(err))
	}
	// With A as previous under a C master it works.
	svc = masterService(t, db, softwareProtector(t, c, a))
	if done, remaining, err := svc.RotateMaster(admin, 10); err != nil || done != 2 || remaining != 0 {
		t.Fatalf("RotateMaster = %d, %d, %v", done, remaining, err)
	}
}

func TestMasterRotationConcurrent(t *testing.T) {
	db := openDB(t)
	admin := kms.WithIdentity(context.Background(), adminID)
	a, b := newMaster(t), newMaster(t)
	keys := masterFixture(t, masterService(t, db, softwareProtector(t, a)), 12) // 24 versions
	// Two KMS processes on the same database, both with B current.
	svcs := []*kms.Service{
		masterService(t, db, softwareProtector(t, b, a)),
		masterService(t, db, softwareProtector(t, b, a)),
	}
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for {
				done, remaining, err := svcs[i%2].RotateMaster(admin, 5)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				total += done
				mu.Unlock()
				if remaining == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	if total != 24 {
		t.Fatalf("runs rewrapped %d versions in all, want 24 (each exactly once)", total)
	}
	st, err := svcs[0].MasterStatus(admin)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{software.MasterKeyID(b): 24}; !maps.Equal(st, want) {
		t.Fatalf("status = %v, want %v", st, want)
	}
	checkDecrypts(t, masterService(t, db, softwareProtector(t, b)), keys)
}

// noRewrap hides the software protector's RewrapRoot.
type noRewrap struct{ kms.Protector }

func TestMasterRotationRefused(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	admin := kms.WithIdentity(ctx, adminID)
	a := newMaster(t)
	svc := masterService(t, db, softwareProtector(t, a))
	masterFixture(t, svc, 1)
	for _, id := range []kms.Identity{nodeID, masterOpID} {
		_, _, err := svc.RotateMaster(kms.WithIdentity(ctx, id), 10)
		wantCode(t, "RotateMaster by "+string(id[:4]), err, kms.EForbidden)
		_, err = svc.MasterStatus(kms.WithIdentity(ctx, id))
		wantCode(t, "MasterStatus by "+string(id[:4]), err, kms.EForbidden)
	}
	_, _, err := svc.RotateMaster(kms.WithIdentity(ctx, otherID), 10)
	wantCode(t, "RotateMaster by a stranger", err, kms.EUnauthorized)
	_, _, err = svc.RotateMaster(admin, kms.MaxMasterBatch+1)
	wantCode(t, "RotateMaster with a huge batch", err, kms.EInvalid)

	plain := masterService(t, db, noRewrap{softwareProtector(t, newMaster(t), a)})
	_, _, err = plain.RotateMaster(admin, 10)
	wantCode(t, "RotateMaster without MasterRewrapper", err, kms.EInvalid)
	if !strings.Contains(kms.ErrorMessage(err), "cannot rewrap") {
		t.Errorf("message %q", kms.ErrorMessage(err))
	}

	// Refusals are audited.
	events, err := svc.ListAudit(admin, kms.AuditFilter{Identity: string(nodeID), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range events {
		got[e.Operation] = e.Result
	}
	if got["master.rotate"] != string(kms.EForbidden) || got["master.status"] != string(kms.EForbidden) {
		t.Fatalf("audited refusals: %v", got)
	}
}

// TestRotateMasterMaterialKeys re-wraps the material of KMIP-style keys
// (AES-128, 3DES: wrapped sizes other than a root's), of an AES-256 key
// and the envelope DEKs of secret data and opaque objects under the new
// master; the exported material is unchanged.
func TestRotateMasterMaterialKeys(t *testing.T) {
	db := openDB(t)
	a, b := newMaster(t), newMaster(t)
	ctx := kms.WithIdentity(context.Background(), adminID)
	svcA := masterService(t, db, softwareProtector(t, a))
	want := map[string][]byte{}
	for id, attrs := range map[string]kms.Attributes{
		"m-aes128": {Algorithm: kms.AlgorithmAES, Length: 128},
		"m-aes256": {Algorithm: kms.AlgorithmAES, Length: 256},
		"m-3des":   {Algorithm: kms.AlgorithmTripleDES, Length: 192},
	} {
		if _, err := svcA.CreateKey(ctx, kms.CreateKeyRequest{ID: id, Purpose: kms.PurposeMaterial, Exportable: true, Attributes: attrs}); err != nil {
			t.Fatal(err)
		}
		_, m, err := svcA.ExportKey(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want[id] = m
	}
	for id, typ := range map[string]string{"m-secret": kms.ObjectSecretData, "m-opaque": kms.ObjectOpaque} {
		v := []byte("a variable-length value of " + id)
		if _, err := svcA.CreateKey(ctx, kms.CreateKeyRequest{
			ID: id, Purpose: kms.PurposeMaterial, Exportable: true,
			Attributes: kms.Attributes{ObjectType: typ}, Material: v,
		}); err != nil {
			t.Fatal(err)
		}
		want[id] = v
	}
	before, err := db.KeyStore().GetVersion(ctx, "m-secret", 1)
	if err != nil {
		t.Fatal(err)
	}
	svcB := masterService(t, db, softwareProtector(t, b, a))
	if _, remaining, err := svcB.RotateMaster(ctx, 100); err != nil || remaining != 0 {
		t.Fatalf("RotateMaster: %d remaining, %v", remaining, err)
	}
	// Only the envelope's DEK is rewrapped: its ciphertext (after the
	// 2-byte header and the 40-byte wrapped DEK) is the same.
	after, err := db.KeyStore().GetVersion(ctx, "m-secret", 1)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(after.Wrapped[:42], before.Wrapped[:42]) || !bytes.Equal(after.Wrapped[42:], before.Wrapped[42:]) {
		t.Error("the envelope was not rewrapped as its DEK only")
	}
	svc := masterService(t, db, softwareProtector(t, b)) // the old master is gone
	for id, m := range want {
		_, got, err := svc.ExportKey(ctx, id)
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("%s after rotation: %v", id, err)
		}
	}
}
