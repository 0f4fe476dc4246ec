package s3api

import (
	"crypto/md5"
	"encoding/base64"
	"net/http"
	"testing"
)

// xmlTargets are the requests whose XML bodies come from clients.
var xmlTargets = []struct {
	method, path string
	md5          bool // the request needs Content-MD5
}{
	{"PUT", "/fuzz-new", false}, // CreateBucketConfiguration
	{"PUT", "/fuzz?versioning", false},
	{"PUT", "/fuzz?tagging", false},
	{"PUT", "/fuzz/obj?tagging", false},
	{"POST", "/fuzz?delete", true},
	{"PUT", "/fuzz?encryption", true},
}

// FuzzXMLBodies sends arbitrary XML request documents, signed, through the
// whole handler: every one must get an answer that is not a server error
// (no panic, no unmapped error).
func FuzzXMLBodies(f *testing.F) {
	seeds := []string{
		`<CreateBucketConfiguration><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>`,
		`<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>`,
		`<VersioningConfiguration><Status>Bogus</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>`,
		`<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>`,
		`<Delete><Quiet>true</Quiet><Object><Key>obj</Key><VersionId>null</VersionId></Object></Delete>`,
		`<Delete><Object><Key></Key></Object></Delete>`,
		`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Tagging>&a;</Tagging>`,
		`<Tagging><TagSet>` + "\x00" + `</TagSet>`,
		``,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	for _, s := range []string{
		`<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>`,
		`<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>arn:aws:kms:us-east-1:111122223333:key/k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType></BlockedEncryptionTypes></Rule></ServerSideEncryptionConfiguration>`,
		`<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm><KMSMasterKeyID>k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule><Rule/></ServerSideEncryptionConfiguration>`,
	} {
		f.Add(uint8(len(xmlTargets)-1), []byte(s)) // PutBucketEncryption
	}
	e := newEnv(f, "")
	if resp, _ := e.raw(f, alice(), "PUT", "/fuzz", nil, nil); resp.StatusCode != 200 {
		f.Fatalf("create bucket: %d", resp.StatusCode)
	}
	if resp, _ := e.raw(f, alice(), "PUT", "/fuzz/obj", []byte("x"), nil); resp.StatusCode != 200 {
		f.Fatalf("put object: %d", resp.StatusCode)
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		tg := xmlTargets[int(which)%len(xmlTargets)]
		hdr := http.Header{}
		if tg.md5 {
			sum := md5.Sum(body)
			hdr.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
		}
		resp, out := e.raw(t, alice(), tg.method, tg.path, body, hdr)
		if resp.StatusCode == http.StatusInternalServerError {
			t.Fatalf("%s %s with %q: %d\n%s", tg.method, tg.path, body, resp.StatusCode, out)
		}
		if tg.path == "/fuzz-new" && resp.StatusCode == 200 {
			e.raw(t, alice(), "DELETE", "/fuzz-new", nil, nil)
		}
	})
}
