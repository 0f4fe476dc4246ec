package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"testing"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/kms"
)

// Master-key rotation through the client: keys made under master A (by a
// service on the same store, as before a restart) are rewrapped under B
// in batches and still decrypt.
func TestMasterRotationAPI(t *testing.T) {
	ctx := context.Background()
	a, b := make([]byte, 32), make([]byte, 32)
	rand.Read(a)
	rand.Read(b)
	e := apitest.New(t, apitest.Options{Master: b, PreviousMasters: [][]byte{a}})
	idA, idB := software.MasterKeyID(a), software.MasterKeyID(b)

	// The service before the restart, under A alone.
	protA, err := software.New(a)
	if err != nil {
		t.Fatal(err)
	}
	svcA, err := kms.New(kms.Config{Store: e.Store, Audit: e.Audit, Protector: protA, Policy: e.Service.Policy()})
	if err != nil {
		t.Fatal(err)
	}
	defer svcA.Close()
	adminCtx := kms.WithIdentity(ctx, e.Admin.Identity)
	type made struct {
		id            string
		sealed, plain []byte
	}
	var data []made
	for i := range 4 {
		id := fmt.Sprintf("bucket/m%d", i)
		if _, err := svcA.CreateKey(adminCtx, kms.CreateKeyRequest{ID: id, Purpose: kms.PurposeBucketRoot}); err != nil {
			t.Fatal(err)
		}
		dk, err := svcA.GenerateDataKey(adminCtx, id, map[string]string{"k": id})
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, made{id, dk.Sealed, dk.Plaintext})
	}

	admin := e.Client(t, e.Admin)
	st, err := admin.MasterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{idA: 4, idB: 0}; st.Current != idB || !maps.Equal(st.Versions, want) {
		t.Fatalf("status = %+v, want current %s and %v", st, idB, want)
	}
	for remaining, calls := -1, 0; remaining != 0; calls++ {
		if calls > 3 {
			t.Fatal("rotation does not finish")
		}
		r, err := admin.RotateMaster(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		if r.Current != idB || (calls == 0 && (r.Done != 3 || r.Remaining != 1)) {
			t.Fatalf("call %d: %+v", calls, r)
		}
		remaining = r.Remaining
	}
	st, err = admin.MasterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{idB: 4}; !maps.Equal(st.Versions, want) {
		t.Fatalf("status after rotation = %v, want %v", st.Versions, want)
	}
	for _, d := range data {
		dk, err := admin.Decrypt(ctx, d.sealed, map[string]string{"k": d.id})
		if err != nil || !bytes.Equal(dk.Plaintext, d.plain) {
			t.Fatalf("Decrypt under %s after rotation: %v", d.id, err)
		}
	}
	// Default batch with an empty body.
	if r, err := admin.RotateMaster(ctx, 0); err != nil || r.Done != 0 || r.Remaining != 0 {
		t.Fatalf("RotateMaster(0) = %+v, %v", r, err)
	}

	// Refusals: the S3 node has no master operation; a bad batch.
	node := e.Client(t, e.S3Node)
	if _, err := node.MasterStatus(ctx); kms.ErrorCode(err) != kms.EForbidden {
		t.Fatalf("node MasterStatus: %v", err)
	}
	if _, err := node.RotateMaster(ctx, 1); kms.ErrorCode(err) != kms.EForbidden {
		t.Fatalf("node RotateMaster: %v", err)
	}
	if _, err := admin.RotateMaster(ctx, kms.MaxMasterBatch+1); kms.ErrorCode(err) != kms.EInvalid {
		t.Fatalf("RotateMaster with a huge batch: %v", err)
	}
	if _, err := admin.RotateMaster(ctx, -1); kms.ErrorCode(err) != kms.EInvalid {
		t.Fatalf("RotateMaster with a negative batch: %v", err)
	}
	evs := e.AuditEvents(t, kms.AuditFilter{Identity: string(e.S3Node.Identity), Limit: 10})
	if len(evs) < 2 || evs[0].Operation != "master.rotate" || evs[0].Result != string(kms.EForbidden) {
		t.Fatalf("refusal not audited: %+v", evs)
	}
	rewrapped := false
	for _, ev := range e.AuditEvents(t, kms.AuditFilter{KeyID: "bucket/m0", Limit: 10}) {
		rewrapped = rewrapped || (ev.Operation == "master.rewrap" && ev.Context["from"] == idA && ev.Context["to"] == idB)
	}
	if !rewrapped {
		t.Fatal("rewrap of bucket/m0 not audited")
	}
}
