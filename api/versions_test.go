package api_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
)

// TestVersionStatesOverAPI retires a root version through kmsclient over
// mTLS: what it sealed stops opening as soon as it is deactivated, opens
// again once activated, and never again once destroyed; the current
// version keeps working throughout.
func TestVersionStatesOverAPI(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	ctx := context.Background()
	adm := e.Client(t, e.Admin)
	s3 := e.Client(t, e.S3Node)
	const bk = "bucket/vs"
	ec := map[string]string{"bucket": "vs", "key": "k"}
	if _, err := adm.CreateKey(ctx, wire.CreateKeyRequest{ID: bk, Purpose: "bucket-root"}); err != nil {
		t.Fatal(err)
	}
	dk1, err := s3.GenerateDataKey(ctx, bk, ec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.RotateKey(ctx, bk); err != nil {
		t.Fatal(err)
	}
	dk2, err := s3.GenerateDataKey(ctx, bk, ec)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name      string
		call      func() (wire.KeyVersion, error)
		code      kms.Code
		state     string   // of the version after the call
		open1     kms.Code // decrypt and rewrap of dk1 afterwards
		versions1 string   // version 1's state in GET /v1/keys/{id}
	}{
		{"node deactivates", func() (wire.KeyVersion, error) { return s3.SetVersionState(ctx, bk, 1, "deactivated") }, kms.EForbidden, "", "", "active"},
		{"deactivate current", func() (wire.KeyVersion, error) { return adm.SetVersionState(ctx, bk, 2, "deactivated") }, kms.EState, "", "", "active"},
		{"destroy active", func() (wire.KeyVersion, error) { return adm.DestroyVersion(ctx, bk, 1) }, kms.EState, "", "", "active"},
		{"unknown version", func() (wire.KeyVersion, error) { return adm.SetVersionState(ctx, bk, 7, "deactivated") }, kms.ENotFound, "", "", "active"},
		{"deactivate", func() (wire.KeyVersion, error) { return adm.SetVersionState(ctx, bk, 1, "deactivated") }, "", "deactivated", kms.EState, "deactivated"},
		{"activate", func() (wire.KeyVersion, error) { return adm.SetVersionState(ctx, bk, 1, "active") }, "", "active", "", "active"},
		{"deactivate again", func() (wire.KeyVersion, error) { return adm.SetVersionState(ctx, bk, 1, "deactivated") }, "", "deactivated", kms.EState, "deactivated"},
		{"destroy", func() (wire.KeyVersion, error) { return adm.DestroyVersion(ctx, bk, 1) }, "", "destroyed", kms.EDestroyed, "destroyed"},
		{"activate destroyed", func() (wire.KeyVersion, error) { return adm.SetVersionState(ctx, bk, 1, "active") }, kms.EDestroyed, "", kms.EDestroyed, "destroyed"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			v, err := st.call()
			if kms.ErrorCode(err) != st.code {
				t.Fatalf("error %v, want code %q", err, st.code)
			}
			if err == nil && v.State != st.state {
				t.Errorf("version state %q, want %q", v.State, st.state)
			}
			_, err = s3.Decrypt(ctx, dk1.Sealed, ec)
			if kms.ErrorCode(err) != st.open1 {
				t.Errorf("decrypt version 1: %v, want %q", err, st.open1)
			}
			_, err = s3.Rewrap(ctx, dk1.Sealed, ec)
			if kms.ErrorCode(err) != st.open1 {
				t.Errorf("rewrap from version 1: %v, want %q", err, st.open1)
			}
			if _, err := s3.Decrypt(ctx, dk2.Sealed, ec); err != nil {
				t.Errorf("decrypt version 2: %v", err)
			}
			if dk, err := s3.GenerateDataKey(ctx, bk, ec); err != nil || dk.KeyVersion != 2 {
				t.Errorf("new data key: version %d, %v", dk.KeyVersion, err)
			}
			k, err := adm.GetKey(ctx, bk)
			if err != nil || len(k.Versions) != 2 || k.Versions[0].State != st.versions1 || k.Versions[1].State != "active" {
				t.Errorf("GET key versions %+v, %v; want version 1 %s", k.Versions, err, st.versions1)
			}
		})
	}
	for _, op := range []string{"key.version.deactivate", "key.version.activate", "key.version.destroy"} {
		found := false
		for _, ev := range e.AuditEvents(t, kms.AuditFilter{KeyID: bk}) {
			if ev.Operation == op && ev.Result == "ok" && ev.KeyVersion == 1 && ev.Identity == string(e.Admin.Identity) {
				found = true
			}
		}
		if !found {
			t.Errorf("no successful %s audit record", op)
		}
	}
}

// TestVersionRoutesBadInput checks the version and rotation routes' input
// errors on raw HTTP.
func TestVersionRoutesBadInput(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	adm := e.Client(t, e.Admin)
	if _, err := adm.CreateKey(context.Background(), wire.CreateKeyRequest{ID: "bucket/x", Purpose: "bucket-root"}); err != nil {
		t.Fatal(err)
	}
	c := rawClients(t, e)[asAdmin]
	for _, tc := range []struct {
		method, path string
		body         []byte
		status       int
		code         string
	}{
		{http.MethodPost, "/v1/keys/bucket%2Fx/versions/0/deactivate", nil, 400, "invalid"},
		{http.MethodPost, "/v1/keys/bucket%2Fx/versions/x/deactivate", nil, 400, "invalid"},
		{http.MethodPost, "/v1/keys/bucket%2Fx/versions/1/deactivate", nil, 409, "wrong_state"},
		{http.MethodPost, "/v1/keys/bucket%2Fx/versions/1/destroy", []byte(`{"x":1}`), 400, "invalid"},
		{http.MethodPut, "/v1/keys/bucket%2Fx/rotation", []byte(`{"period":"soon"}`), 400, "invalid"},
		{http.MethodPut, "/v1/keys/bucket%2Fx/rotation", []byte(`{"period":"10s"}`), 400, "invalid"},
		{http.MethodPut, "/v1/keys/bucket%2Fx/rotation", nil, 400, "invalid"},
		{http.MethodPut, "/v1/keys/bucket%2Fnone/rotation", []byte(`{"period":"1h"}`), 404, "not_found"},
		{http.MethodPut, "/v1/keys/bucket%2Fx/rotation", []byte(`{"period":"8760h"}`), 200, ""},
	} {
		r := rawDo(t, c, e, tc.method, tc.path, tc.body)
		if r.status != tc.status || r.err.Code != tc.code {
			t.Errorf("%s %s %s: %d %q, want %d %q", tc.method, tc.path, tc.body, r.status, r.err.Code, tc.status, tc.code)
		}
	}
}

// TestAutomaticRotationOverAPI sets a rotation period through kmsclient
// and lets the rotation loop's step (Service.RotateDue) rotate the key on
// an injected clock.
func TestAutomaticRotationOverAPI(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := apitest.New(t, apitest.Options{Now: clock})
	ctx := context.Background()
	adm := e.Client(t, e.Admin)
	const bk = "bucket/auto"
	if _, err := adm.CreateKey(ctx, wire.CreateKeyRequest{ID: bk, Purpose: "bucket-root"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client(t, e.S3Node).SetRotation(ctx, bk, time.Hour); kms.ErrorCode(err) != kms.EForbidden {
		t.Fatalf("the S3 node sets a rotation period: %v", err)
	}
	k, err := adm.SetRotation(ctx, bk, 8760*time.Hour)
	if err != nil || k.RotationPeriod != "8760h0m0s" || k.NextRotation == nil || !k.NextRotation.Equal(now.Add(8760*time.Hour)) {
		t.Fatalf("SetRotation: %+v, %v", k, err)
	}
	mu.Lock()
	now = now.Add(8761 * time.Hour)
	mu.Unlock()
	sys := kms.WithIdentity(ctx, "system")
	if n, err := e.Service.RotateDue(sys); err != nil || n != 1 {
		t.Fatalf("RotateDue: %d, %v", n, err)
	}
	k, err = adm.GetKey(ctx, bk)
	if err != nil || k.CurrentVersion != 2 || !k.NextRotation.Equal(clock().Add(8760*time.Hour)) {
		t.Fatalf("after automatic rotation: %+v, %v", k, err)
	}
	k, err = adm.SetRotation(ctx, bk, 0)
	if err != nil || k.RotationPeriod != "" || k.NextRotation != nil {
		t.Fatalf("rotation off: %+v, %v", k, err)
	}
}
