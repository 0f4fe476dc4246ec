package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/api/wire"
)

// TestBadInput sends bad requests of every kind and checks that each gets
// a clear JSON error with the right status, is audited when it reached an
// operation, and changes no key.
func TestBadInput(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	ctx := context.Background()
	adm := e.Client(t, e.Admin)
	for _, req := range []wire.CreateKeyRequest{
		{ID: "bucket/b1", Purpose: "bucket-root"}, {ID: "bucket/b2", Purpose: "bucket-root"}, {ID: "named/x"},
	} {
		if _, err := adm.CreateKey(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	ec := map[string]string{"bucket": "b1", "key": "obj"}
	dk, err := adm.GenerateDataKey(ctx, "bucket/b1", ec)
	if err != nil {
		t.Fatal(err)
	}
	blob := dk.Sealed
	ec2 := map[string]string{"bucket": "b2", "key": "obj"}
	dk2, err := adm.GenerateDataKey(ctx, "bucket/b2", ec2)
	if err != nil {
		t.Fatal(err)
	}
	clients := rawClients(t, e)

	decryptBody := func(b []byte, ctx map[string]string) []byte {
		return mustJSON(t, wire.DecryptRequest{Ciphertext: b, Context: ctx})
	}
	type tc struct {
		name         string
		as           who
		method, path string
		body         []byte
		status       int
		code         string
		audit        string // audited operation, "" if the request must not be audited
	}
	cases := []tc{
		{"malformed JSON", asAdmin, "POST", "/v1/datakey/generate", []byte(`{"key_id":`), 400, "invalid", "datakey.generate"},
		{"not an object", asAdmin, "POST", "/v1/datakey/generate", []byte(`["bucket/b1"]`), 400, "invalid", "datakey.generate"},
		{"unknown field", asAdmin, "POST", "/v1/datakey/generate", []byte(`{"key_id":"bucket/b1","contxt":{}}`), 400, "invalid", "datakey.generate"},
		{"trailing garbage", asAdmin, "POST", "/v1/datakey/generate", []byte(`{"key_id":"bucket/b1"} xyz`), 400, "invalid", "datakey.generate"},
		{"two objects", asAdmin, "POST", "/v1/datakey/generate", []byte(`{"key_id":"bucket/b1"}{}`), 400, "invalid", "datakey.generate"},
		{"empty body", asAdmin, "POST", "/v1/datakey/generate", nil, 400, "invalid", "datakey.generate"},
		{"wrong type", asAdmin, "POST", "/v1/datakey/generate", []byte(`{"key_id":7}`), 400, "invalid", "datakey.generate"},
		{"context not strings", asAdmin, "POST", "/v1/datakey/generate", []byte(`{"key_id":"bucket/b1","context":{"a":1}}`), 400, "invalid", "datakey.generate"},
		{"invalid key id", asAdmin, "POST", "/v1/datakey/generate", []byte(`{"key_id":"bad id"}`), 400, "invalid", "datakey.generate"},
		{"missing key id", asAdmin, "POST", "/v1/datakey/generate", []byte(`{}`), 400, "invalid", "datakey.generate"},
		{"oversized body", asAdmin, "POST", "/v1/datakey/generate",
			[]byte(`{"key_id":"bucket/b1","context":{"a":"` + strings.Repeat("x", 70<<10) + `"}}`), 413, "too_large", "datakey.generate"},
		{"oversized key action", asAdmin, "POST", "/v1/keys/bucket%2Fb1/rotate", []byte(strings.Repeat(" ", 2<<10) + "{}"), 413, "too_large", "key.rotate"},
		{"body on key action", asAdmin, "POST", "/v1/keys/bucket%2Fb1/rotate", []byte(`{"force":true}`), 400, "invalid", "key.rotate"},
		{"bad base64", asAdmin, "POST", "/v1/datakey/decrypt", []byte(`{"ciphertext":"!!!notbase64"}`), 400, "invalid", "decrypt"},
		{"base64 without padding", asAdmin, "POST", "/v1/datakey/decrypt", []byte(`{"ciphertext":"AAE"}`), 400, "invalid", "decrypt"},
		{"missing ciphertext", asAdmin, "POST", "/v1/datakey/decrypt", []byte(`{"context":{}}`), 400, "invalid", "decrypt"},
		{"unknown key", asAdmin, "POST", "/v1/datakey/generate", []byte(`{"key_id":"bucket/nope"}`), 404, "not_found", "datakey.generate"},
		{"wrong context", asAdmin, "POST", "/v1/datakey/decrypt", decryptBody(blob, map[string]string{"bucket": "b1", "key": "other"}), 400, "decrypt_failed", "decrypt"},
		{"no context", asAdmin, "POST", "/v1/datakey/decrypt", decryptBody(blob, nil), 400, "decrypt_failed", "decrypt"},
		{"ciphertext from another key", asAdmin, "POST", "/v1/datakey/decrypt", decryptBody(relabel(dk2.Sealed, "bucket/b2", "bucket/b1"), ec2), 400, "decrypt_failed", "decrypt"},
		{"other key's ciphertext, this key's context", asAdmin, "POST", "/v1/datakey/decrypt", decryptBody(dk2.Sealed, ec), 400, "decrypt_failed", "decrypt"},
		{"payload route with a data key of another context", asAdmin, "POST", "/v1/decrypt", decryptBody(blob, ec2), 400, "decrypt_failed", "decrypt"},
		{"rewrap tampered", asAdmin, "POST", "/v1/datakey/rewrap", decryptBody(flip(blob, len(blob)-1), ec), 400, "decrypt_failed", "rewrap"},
		{"encrypt too large", asAdmin, "POST", "/v1/encrypt", mustJSON(t, wire.EncryptRequest{KeyID: "named/x", Plaintext: make([]byte, 5000)}), 413, "too_large", "encrypt"},
		{"batch too large", asAdmin, "POST", "/v1/datakey/rewrap-batch", batchOf(1001), 413, "too_large", "rewrap.batch"},
		{"no client certificate", asNone, "POST", "/v1/datakey/generate", []byte(`{"key_id":"bucket/b1"}`), 401, "unauthorized", "datakey.generate"},
		{"no client certificate, admin route", asNone, "POST", "/v1/keys/bucket%2Fb1/disable", nil, 401, "unauthorized", "key.disable"},
		{"unknown identity", asStranger, "POST", "/v1/datakey/generate", []byte(`{"key_id":"bucket/b1"}`), 401, "unauthorized", "datakey.generate"},
		{"unknown identity, bad body", asStranger, "POST", "/v1/datakey/generate", []byte(`{`), 401, "unauthorized", "datakey.generate"},
		{"s3 node creates a key", asS3Node, "POST", "/v1/keys", []byte(`{"id":"bucket/new","purpose":"bucket-root"}`), 403, "forbidden", "key.create"},
		{"s3 node generates on a named key", asS3Node, "POST", "/v1/datakey/generate", []byte(`{"key_id":"named/x"}`), 403, "forbidden", "datakey.generate"},
		{"s3 node reads a key", asS3Node, "GET", "/v1/keys/bucket%2Fb1", nil, 403, "forbidden", "key.get"},
		{"s3 node destroys a key", asS3Node, "POST", "/v1/keys/bucket%2Fb1/destroy", nil, 403, "forbidden", "key.destroy"},
		{"schedule deletion, days missing", asAdmin, "POST", "/v1/keys/bucket%2Fb1/schedule-deletion", []byte(`{}`), 400, "invalid", "key.schedule-deletion"},
		{"schedule deletion, days negative", asAdmin, "POST", "/v1/keys/bucket%2Fb1/schedule-deletion", []byte(`{"days":-7}`), 400, "invalid", "key.schedule-deletion"},
		{"schedule deletion, days huge", asAdmin, "POST", "/v1/keys/bucket%2Fb1/schedule-deletion", []byte(`{"days":99999999999999999999}`), 400, "invalid", "key.schedule-deletion"},
		{"invalid key id in path", asAdmin, "POST", "/v1/keys/bad%20id/rotate", nil, 400, "invalid", "key.rotate"},
		{"bad escape in path", asAdmin, "GET", "/v1/keys/a%25zz", nil, 400, "invalid", "key.get"},
		{"unknown key in path", asAdmin, "POST", "/v1/keys/named%2Fnope/rotate", nil, 404, "not_found", "key.rotate"},
		{"create with unknown purpose", asAdmin, "POST", "/v1/keys", []byte(`{"id":"named/y","purpose":"sse"}`), 400, "invalid", "key.create"},
		{"create with bad id", asAdmin, "POST", "/v1/keys", []byte(`{"id":"/abs"}`), 400, "invalid", "key.create"},
		{"create an existing key", asAdmin, "POST", "/v1/keys", []byte(`{"id":"named/x"}`), 409, "conflict", "key.create"},
		{"limit not a number", asAdmin, "GET", "/v1/keys?limit=abc", nil, 400, "invalid", "key.list"},
		{"limit too large", asAdmin, "GET", "/v1/keys?limit=100000", nil, 400, "invalid", "key.list"},
		{"bad identity filter", asAdmin, "GET", "/v1/audit?identity=XYZ", nil, 400, "invalid", "audit.list"},
		{"negative before", asAdmin, "GET", "/v1/audit?before=-1", nil, 400, "invalid", "audit.list"},
		{"method not allowed", asAdmin, "GET", "/v1/datakey/generate", nil, 405, "method_not_allowed", ""},
		{"method not allowed, key path", asAdmin, "DELETE", "/v1/keys/bucket%2Fb1", nil, 405, "method_not_allowed", ""},
		{"unknown route", asAdmin, "GET", "/v1/nope", nil, 404, "not_found", ""},
		{"unknown route, no cert", asNone, "POST", "/v2/datakey/generate", []byte(`{}`), 404, "not_found", ""},
	}
	// Tampered and truncated sealed keys: one case per field of the format
	// (version, use, key id length, key id, key version, salt, nonce,
	// ciphertext, tag).
	l := len("bucket/b1")
	for _, p := range []struct {
		field string
		pos   int
	}{
		{"format version", 0}, {"use", 1}, {"key id length", 2}, {"key id first byte", 3},
		{"key id last byte", 3 + l - 1}, {"key version high byte", 3 + l}, {"key version low byte", 3 + l + 3},
		{"salt", 3 + l + 4}, {"nonce", 3 + l + 4 + 32}, {"ciphertext", 3 + l + 4 + 32 + 12},
		{"tag", len(blob) - 1},
	} {
		cases = append(cases, tc{"tampered " + p.field, asAdmin, "POST", "/v1/datakey/decrypt",
			decryptBody(flip(blob, p.pos), ec), 400, "decrypt_failed", "decrypt"})
	}
	for _, n := range []int{1, 3, 3 + l, 3 + l + 4 + 32 + 12, len(blob) - 16, len(blob) - 1} {
		cases = append(cases, tc{fmt.Sprintf("truncated to %d bytes", n), asAdmin, "POST", "/v1/datakey/decrypt",
			decryptBody(blob[:n], ec), 400, "decrypt_failed", "decrypt"})
	}
	cases = append(cases, tc{"extended by one byte", asAdmin, "POST", "/v1/datakey/decrypt",
		decryptBody(append(bytes.Clone(blob), 0), ec), 400, "decrypt_failed", "decrypt"})

	before := snapshot(t, e)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rawDo(t, clients[c.as], e, c.method, c.path, c.body)
			if r.status != c.status || r.err.Code != c.code {
				t.Fatalf("got %d %q (%s), want %d %q", r.status, r.err.Code, r.err.Message, c.status, c.code)
			}
			reqID := r.header.Get("X-Request-Id")
			if r.err.Message == "" || reqID == "" || r.err.RequestID != reqID {
				t.Errorf("error %+v, X-Request-Id %q", r.err, reqID)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if c.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if bytes.Contains(r.body, []byte(base64.StdEncoding.EncodeToString(dk.Plaintext))) {
				t.Error("response leaks the data key")
			}
			ev, audited := auditOf(t, e, reqID)
			switch {
			case c.audit == "" && audited:
				t.Errorf("audited %+v", ev)
			case c.audit != "" && !audited:
				t.Errorf("not audited")
			case c.audit != "":
				if ev.Operation != c.audit || ev.Result != c.code || ev.Identity != string(identity(e, c.as)) {
					t.Errorf("audit %s by %q result %s, want %s by %q result %s",
						ev.Operation, ev.Identity, ev.Result, c.audit, identity(e, c.as), c.code)
				}
			}
			if after := snapshot(t, e); !maps.Equal(before, after) {
				t.Errorf("keys changed: %v → %v", before, after)
				before = after
			}
		})
	}
}

// flip returns a copy of b with bit 0 of byte i inverted.
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

// relabel returns a copy of a sealed blob with its key id replaced by one
// of the same length.
func relabel(b []byte, from, to string) []byte {
	return bytes.Replace(bytes.Clone(b), []byte(from), []byte(to), 1)
}

func batchOf(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"items":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"ciphertext":"AQ=="}`)
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}
