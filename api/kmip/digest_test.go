package kmip

import (
	"crypto/tls"
	"testing"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/kms"
)

// TestDigestOfSecretsNeedsExport: the Digest of Secret Data (an unsalted
// SHA-256 of, say, a password) is shown only to callers that may export
// the secret; a caller with read only sees the other attributes. Keys
// show their Digest to any reader.
func TestDigestOfSecretsNeedsExport(t *testing.T) {
	var reader apitest.Cert
	ts := startServerWithOps(t, apitest.Options{PolicyFunc: func(ca *apitest.CA) []kms.PolicyEntry {
		reader = ca.Client(t, "reader")
		return []kms.PolicyEntry{{Name: "reader", Identities: []kms.Identity{reader.Identity},
			Allow: []kms.Rule{{Ops: []kms.Op{kms.OpRead}, Keys: []string{"*"}}}}}
	}}, nil)
	admin := ts.dial(t)
	rc := ts.dialWith(t, ts.env.TLSConfig(reader))
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			secret := textChildren(mustSucceed(t, do(t, admin, v, kmip14.OperationRegister,
				registerSecret(v, kmip14.SecretDataTypePassword, kmip14.KeyFormatTypeOpaque, []byte("hunter2")))).ResponsePayload,
				kmip14.TagUniqueIdentifier)[0]
			key := textChildren(mustSucceed(t, do(t, admin, v, kmip14.OperationCreate,
				createPayload(v, kmip14.ObjectTypeSymmetricKey, aes(128)...))).ResponsePayload, kmip14.TagUniqueIdentifier)[0]
			for _, tc := range []struct {
				name string
				conn *tls.Conn
				id   string
				want bool
			}{
				{"admin sees the secret's digest", admin, secret, true},
				{"reader does not see the secret's digest", rc, secret, false},
				{"reader sees a key's digest", rc, key, true},
			} {
				for _, op := range []kmip14.Operation{kmip14.OperationGetAttributes, kmip14.OperationGetAttributeList} {
					it := mustSucceed(t, do(t, tc.conn, v, op, idOnly(tc.id)))
					if got := hasDigest(it.ResponsePayload, v); got != tc.want {
						t.Errorf("%s: %s shows Digest = %v, want %v", tc.name, op, got, tc.want)
					}
				}
			}
		})
	}
}

// hasDigest reports whether a Get Attributes or Get Attribute List
// payload names or holds the Digest attribute.
func hasDigest(p ttlv.TTLV, v version) bool {
	if v.major < 2 {
		found := false
		walkTTLV(p, func(n ttlv.TTLV) {
			if n.Tag() == kmip14.TagAttributeName && n.Type() == ttlv.TypeTextString && n.ValueTextString() == attrDigest {
				found = true
			}
		})
		return found
	}
	return findTag(p, kmip14.TagDigest) || findEnum(p, tagAttributeReference, uint32(kmip14.TagDigest))
}

// findTag reports whether a value with tag t is anywhere in p.
func findTag(p ttlv.TTLV, t ttlv.Tag) bool {
	found := false
	walkTTLV(p, func(n ttlv.TTLV) {
		if n.Tag() == t {
			found = true
		}
	})
	return found
}

// findEnum reports whether an Enumeration with tag t and value v is in p.
func findEnum(p ttlv.TTLV, t ttlv.Tag, v uint32) bool {
	found := false
	walkTTLV(p, func(n ttlv.TTLV) {
		if n.Tag() == t && n.Type() == ttlv.TypeEnumeration && uint32(n.ValueEnumeration()) == v {
			found = true
		}
	})
	return found
}

func walkTTLV(p ttlv.TTLV, f func(ttlv.TTLV)) {
	f(p)
	if p.Type() != ttlv.TypeStructure {
		return
	}
	for n := p.ValueStructure(); len(n) > 0 && n.Valid() == nil; n = n.Next() {
		walkTTLV(n, f)
	}
}
