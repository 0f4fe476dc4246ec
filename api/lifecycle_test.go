package api_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
)

// TestLifecycle walks a key through its whole life through kmsclient, as
// the admin and as an S3 node, and checks the audit trail.
func TestLifecycle(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	ctx := context.Background()
	adm := e.Client(t, e.Admin)
	s3 := e.Client(t, e.S3Node)
	const bk = "bucket/b1"
	ec := map[string]string{"bucket": "b1", "key": "photos/cat.jpg"}

	var dk1, dk2 kms.DataKey
	var rewrapped []byte
	steps := []struct {
		name string
		run  func(t *testing.T) error
		want kms.Code // "" for success
	}{
		{"create bucket key", func(t *testing.T) error {
			k, err := adm.CreateKey(ctx, wire.CreateKeyRequest{ID: bk, Purpose: "bucket-root", Description: "b1"})
			if err == nil && (k.ID != bk || k.State != "active" || !k.Enabled || k.CurrentVersion != 1 ||
				k.Owner != string(e.Admin.Identity) || k.Purpose != "bucket-root" || k.CreatedAt.IsZero() ||
				k.CreatedAt.Location() != time.UTC) {
				t.Errorf("created key %+v", k)
			}
			return err
		}, ""},
		{"create it again", func(*testing.T) error {
			_, err := adm.CreateKey(ctx, wire.CreateKeyRequest{ID: bk, Purpose: "bucket-root"})
			return err
		}, kms.EConflict},
		{"create bucket key exportable", func(*testing.T) error {
			_, err := adm.CreateKey(ctx, wire.CreateKeyRequest{ID: "bucket/exp", Purpose: "bucket-root", Exportable: true})
			return err
		}, kms.EInvalid},
		{"create named keys", func(*testing.T) error {
			for _, id := range []string{"named/k1", "named/k2", "named/k3"} {
				if _, err := adm.CreateKey(ctx, wire.CreateKeyRequest{ID: id}); err != nil {
					return err
				}
			}
			_, err := adm.CreateKey(ctx, wire.CreateKeyRequest{ID: "named/pre", State: "pre-active"})
			return err
		}, ""},
		{"list in pages of 2", func(t *testing.T) error {
			var ids []string
			after := ""
			for pages := 0; ; pages++ {
				page, err := adm.ListKeys(ctx, after, 2)
				if err != nil {
					return err
				}
				keys, next := page.Keys, page.Next
				if len(keys) > 2 || pages > 5 {
					t.Fatalf("page of %d keys, page %d", len(keys), pages)
				}
				for _, k := range keys {
					ids = append(ids, k.ID)
				}
				if next == "" {
					break
				}
				after = next
			}
			want := []string{bk, "named/k1", "named/k2", "named/k3", "named/pre"}
			if !slices.Equal(ids, want) {
				t.Errorf("listed %v, want %v", ids, want)
			}
			return nil
		}, ""},
		{"s3 node generates", func(t *testing.T) error {
			var err error
			dk1, err = s3.GenerateDataKey(ctx, bk, ec)
			if err == nil && (dk1.KeyID != bk || dk1.KeyVersion != 1 || len(dk1.Plaintext) != kms.DataKeySize || len(dk1.Sealed) == 0) {
				t.Errorf("data key %s v%d, %d bytes", dk1.KeyID, dk1.KeyVersion, len(dk1.Plaintext))
			}
			return err
		}, ""},
		{"s3 node decrypts", func(t *testing.T) error {
			got, err := s3.Decrypt(ctx, dk1.Sealed, ec)
			if err == nil && !bytes.Equal(got.Plaintext, dk1.Plaintext) {
				t.Error("decrypted a different data key")
			}
			return err
		}, ""},
		{"show with versions", func(t *testing.T) error {
			k, err := adm.GetKey(ctx, bk)
			if err == nil && (len(k.Versions) != 1 || k.Versions[0].Version != 1 || k.Versions[0].Protector != "software" ||
				k.Versions[0].MasterKeyID == "" || k.Versions[0].CreatedAt.IsZero() || k.Versions[0].DestroyedAt != nil) {
				t.Errorf("key %+v", k)
			}
			return err
		}, ""},
		{"rotate", func(t *testing.T) error {
			k, err := adm.RotateKey(ctx, bk)
			if err == nil && k.CurrentVersion != 2 {
				t.Errorf("current version %d after rotation", k.CurrentVersion)
			}
			if k, _ := adm.GetKey(ctx, bk); len(k.Versions) != 2 {
				t.Errorf("%d versions after rotation", len(k.Versions))
			}
			return err
		}, ""},
		{"old data key still decrypts", func(t *testing.T) error {
			got, err := s3.Decrypt(ctx, dk1.Sealed, ec)
			if err == nil && (got.KeyVersion != 1 || !bytes.Equal(got.Plaintext, dk1.Plaintext)) {
				t.Errorf("decrypted v%d", got.KeyVersion)
			}
			return err
		}, ""},
		{"generate uses v2", func(t *testing.T) error {
			var err error
			dk2, err = s3.GenerateDataKey(ctx, bk, ec)
			if err == nil && dk2.KeyVersion != 2 {
				t.Errorf("generated under v%d", dk2.KeyVersion)
			}
			return err
		}, ""},
		{"rewrap v1 to v2", func(t *testing.T) error {
			out, err := s3.Rewrap(ctx, dk1.Sealed, ec)
			if err != nil {
				return err
			}
			rewrapped = out.Sealed
			if out.KeyVersion != 2 || out.Plaintext != nil {
				t.Errorf("rewrapped to v%d", out.KeyVersion)
			}
			got, err := s3.Decrypt(ctx, rewrapped, ec)
			if err == nil && (got.KeyVersion != 2 || !bytes.Equal(got.Plaintext, dk1.Plaintext)) {
				t.Error("rewrapped key decrypts to something else")
			}
			return err
		}, ""},
		{"rewrap batch", func(t *testing.T) error {
			bad := bytes.Clone(dk2.Sealed)
			bad[len(bad)-1] ^= 1
			res, err := s3.RewrapBatch(ctx, []kms.RewrapItem{
				{Sealed: dk1.Sealed, Context: ec}, {Sealed: dk2.Sealed, Context: ec}, {Sealed: bad, Context: ec},
				{Sealed: dk1.Sealed, Context: map[string]string{"bucket": "b1", "key": "other"}},
			})
			if err != nil {
				return err
			}
			if len(res) != 4 || res[0].Err != nil || res[0].KeyVersion != 2 || res[1].Err != nil ||
				kms.ErrorCode(res[2].Err) != kms.EDecrypt || kms.ErrorCode(res[3].Err) != kms.EDecrypt {
				t.Errorf("batch results %+v", res)
			}
			return nil
		}, ""},
		{"encrypt and decrypt a payload", func(t *testing.T) error {
			pec := map[string]string{"purpose": "test"}
			blob, v, err := adm.Encrypt(ctx, "named/k1", []byte("hello"), pec)
			if err != nil {
				return err
			}
			got, err := adm.DecryptPayload(ctx, blob, pec)
			if err == nil && (string(got.Plaintext) != "hello" || got.KeyVersion != v || got.KeyID != "named/k1") {
				t.Errorf("payload %q v%d", got.Plaintext, got.KeyVersion)
			}
			return err
		}, ""},
		{"s3 node may not encrypt", func(*testing.T) error {
			_, _, err := s3.Encrypt(ctx, bk, []byte("x"), nil)
			return err
		}, kms.EForbidden},
		{"disable", func(t *testing.T) error {
			k, err := adm.DisableKey(ctx, bk)
			if err == nil && k.Enabled {
				t.Error("still enabled")
			}
			return err
		}, ""},
		{"generate while disabled", func(*testing.T) error {
			_, err := s3.GenerateDataKey(ctx, bk, ec)
			return err
		}, kms.EDisabled},
		{"decrypt while disabled", func(*testing.T) error {
			_, err := s3.Decrypt(ctx, dk1.Sealed, ec)
			return err
		}, kms.EDisabled},
		{"enable", func(*testing.T) error {
			if _, err := adm.EnableKey(ctx, bk); err != nil {
				return err
			}
			_, err := s3.GenerateDataKey(ctx, bk, ec)
			return err
		}, ""},
		{"schedule deletion in 1 day", func(*testing.T) error {
			_, err := adm.ScheduleDeletion(ctx, bk, 1)
			return err
		}, kms.EInvalid},
		{"schedule deletion in 365 days", func(*testing.T) error {
			_, err := adm.ScheduleDeletion(ctx, bk, 365)
			return err
		}, kms.EInvalid},
		{"schedule deletion in 7 days", func(t *testing.T) error {
			k, err := adm.ScheduleDeletion(ctx, bk, 7)
			if err == nil && (k.DeletionDate == nil || k.DeletionDate.Before(time.Now().Add(6*24*time.Hour))) {
				t.Errorf("deletion date %v", k.DeletionDate)
			}
			return err
		}, ""},
		{"generate while pending deletion", func(*testing.T) error {
			_, err := s3.GenerateDataKey(ctx, bk, ec)
			return err
		}, kms.EDisabled},
		{"cancel deletion", func(t *testing.T) error {
			k, err := adm.CancelDeletion(ctx, bk)
			if err == nil && (k.DeletionDate != nil || k.Enabled) {
				t.Errorf("after cancel: deletion date %v, enabled %v", k.DeletionDate, k.Enabled)
			}
			return err
		}, ""},
		{"cancel again", func(*testing.T) error {
			_, err := adm.CancelDeletion(ctx, bk)
			return err
		}, kms.EState},
		{"enable after cancel", func(*testing.T) error {
			_, err := adm.EnableKey(ctx, bk)
			return err
		}, ""},
		{"destroy refused while active", func(*testing.T) error {
			_, err := adm.DestroyKey(ctx, bk)
			return err
		}, kms.EState},
		{"deactivate", func(t *testing.T) error {
			k, err := adm.DeactivateKey(ctx, bk)
			if err == nil && k.State != "deactivated" {
				t.Errorf("state %s", k.State)
			}
			return err
		}, ""},
		{"generate while deactivated", func(*testing.T) error {
			_, err := s3.GenerateDataKey(ctx, bk, ec)
			return err
		}, kms.EState},
		{"decrypt while deactivated", func(*testing.T) error {
			_, err := s3.Decrypt(ctx, dk2.Sealed, ec)
			return err
		}, ""},
		{"destroy", func(t *testing.T) error {
			k, err := adm.DestroyKey(ctx, bk)
			if err == nil && (k.State != "destroyed" || k.Enabled) {
				t.Errorf("state %s enabled %v", k.State, k.Enabled)
			}
			info, gerr := adm.GetKey(ctx, bk)
			if gerr != nil {
				t.Fatal(gerr)
			}
			for _, v := range info.Versions {
				if v.DestroyedAt == nil {
					t.Errorf("version %d not marked destroyed", v.Version)
				}
			}
			return err
		}, ""},
		{"decrypt after destroy", func(*testing.T) error {
			_, err := s3.Decrypt(ctx, dk1.Sealed, ec)
			return err
		}, kms.EDestroyed},
		{"activate a pre-active key", func(t *testing.T) error {
			if _, err := adm.GenerateDataKey(ctx, "named/pre", nil); kms.ErrorCode(err) != kms.EState {
				t.Errorf("generate on a pre-active key: %v", err)
			}
			k, err := adm.ActivateKey(ctx, "named/pre")
			if err == nil && k.State != "active" {
				t.Errorf("state %s", k.State)
			}
			return err
		}, ""},
		{"unknown key", func(*testing.T) error {
			_, err := adm.GetKey(ctx, "named/nope")
			return err
		}, kms.ENotFound},
	}
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			err := st.run(t)
			if got := kms.ErrorCode(err); got != st.want {
				t.Fatalf("got %v (code %q), want code %q", err, got, st.want)
			}
		})
		if !ok {
			t.FailNow()
		}
	}

	// The audit trail names each operation, who did it and how it ended.
	page, err := adm.ListAudit(ctx, kms.AuditFilter{KeyID: bk, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	events, next := page.Events, page.NextBefore
	if next != 0 {
		t.Errorf("next_before %d on a short list", next)
	}
	type rec struct{ op, who, result string }
	have := map[rec]bool{}
	for _, ev := range events {
		have[rec{ev.Operation, ev.Identity, ev.Result}] = true
		if ev.RequestID == "" || ev.Time.IsZero() {
			t.Errorf("event %+v lacks request id or time", ev)
		}
	}
	admin, node := string(e.Admin.Identity), string(e.S3Node.Identity)
	for _, want := range []rec{
		{"key.create", admin, "ok"},
		{"key.create", admin, "conflict"},
		{"datakey.generate", node, "ok"},
		{"decrypt", node, "ok"},
		{"key.get", admin, "ok"},
		{"key.rotate", admin, "ok"},
		{"rewrap", node, "ok"},
		{"rewrap", node, "decrypt_failed"},
		{"key.disable", admin, "ok"},
		{"datakey.generate", node, "disabled"},
		{"decrypt", node, "disabled"},
		{"key.enable", admin, "ok"},
		{"key.schedule-deletion", admin, "invalid"},
		{"key.schedule-deletion", admin, "ok"},
		{"key.cancel-deletion", admin, "ok"},
		{"key.cancel-deletion", admin, "wrong_state"},
		{"key.destroy", admin, "wrong_state"},
		{"key.state.deactivated", admin, "ok"},
		{"datakey.generate", node, "wrong_state"},
		{"key.destroy", admin, "ok"},
		{"decrypt", node, "destroyed"},
		{"encrypt", node, "forbidden"},
	} {
		if !have[want] {
			t.Errorf("no audit event %+v", want)
		}
	}
	// Audit paging: pages of 3 cover the same events.
	var paged []wire.AuditEvent
	var before int64
	for {
		page, err := adm.ListAudit(ctx, kms.AuditFilter{KeyID: bk, Limit: 3, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		evs, nb := page.Events, page.NextBefore
		paged = append(paged, evs...)
		if nb == 0 {
			break
		}
		before = nb
	}
	// The paged listing also sees the audit.list events of the first listing.
	if len(paged) < len(events) {
		t.Errorf("paged audit: %d events, unpaged %d", len(paged), len(events))
	}
	if _, err := s3.ListAudit(ctx, kms.AuditFilter{}); kms.ErrorCode(err) != kms.EForbidden {
		t.Errorf("s3 node reading the audit log: %v", err)
	}
}

// TestKeyIDEscaping checks that key ids with "/" travel escaped in paths.
func TestKeyIDEscaping(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	c := rawClients(t, e)[asAdmin]
	r := rawDo(t, c, e, "POST", "/v1/keys", []byte(`{"id":"bucket/a.b/c:d-e_f"}`))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/v1/keys/bucket%2Fa.b%2Fc:d-e_f", "/v1/keys/bucket%2fa.b%2Fc%3Ad-e_f"} {
		r = rawDo(t, c, e, "GET", path, nil)
		if r.status != 200 || !bytes.Contains(r.body, []byte(`"id":"bucket/a.b/c:d-e_f"`)) {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	r = rawDo(t, c, e, "POST", "/v1/keys/bucket%2Fa.b%2Fc:d-e_f/rotate", nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"current_version":2`)) {
		t.Errorf("rotate: %d %s", r.status, r.body)
	}
	// An unescaped "/" splits the id: no such route.
	r = rawDo(t, c, e, "GET", "/v1/keys/bucket/a.b/c:d-e_f", nil)
	if r.status != 404 {
		t.Errorf("unescaped: %d %s", r.status, r.body)
	}
	// Through the client.
	k, err := e.Client(t, e.Admin).GetKey(context.Background(), "bucket/a.b/c:d-e_f")
	if err != nil || k.ID != "bucket/a.b/c:d-e_f" || k.CurrentVersion != 2 {
		t.Errorf("client GetKey: %+v, %v", k, err)
	}
}
