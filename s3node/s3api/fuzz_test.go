package s3api

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strings"
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
	{"POST", "/fuzz/mpu?uploadId={upload}", false}, // CompleteMultipartUpload
}

// xmlEncryption and xmlComplete are the indexes of PutBucketEncryption
// and CompleteMultipartUpload in xmlTargets.
const xmlEncryption, xmlComplete = 5, 6

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
		f.Add(uint8(xmlEncryption), []byte(s))
	}
	for _, s := range []string{
		`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"0123456789abcdef0123456789abcdef"</ETag></Part></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>x</ETag></Part><Part><PartNumber>1</PartNumber><ETag>y</ETag></Part></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload></CompleteMultipartUpload>`,
	} {
		f.Add(uint8(xmlComplete), []byte(s))
	}
	e := newEnv(f, "")
	if resp, _ := e.raw(f, alice(), "PUT", "/fuzz", nil, nil); resp.StatusCode != 200 {
		f.Fatalf("create bucket: %d", resp.StatusCode)
	}
	if resp, _ := e.raw(f, alice(), "PUT", "/fuzz/obj", []byte("x"), nil); resp.StatusCode != 200 {
		f.Fatalf("put object: %d", resp.StatusCode)
	}
	upload := newUpload(f, e)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		tg := xmlTargets[int(which)%len(xmlTargets)]
		tg.path = strings.ReplaceAll(tg.path, "{upload}", upload)
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
		if strings.Contains(tg.path, "uploadId=") && resp.StatusCode == 200 {
			upload = newUpload(t, e) // completed: the next input needs another
		}
	})
}

// newUpload starts a multipart upload of /fuzz/mpu with one part.
func newUpload(t testing.TB, e *env) string {
	resp, out := e.raw(t, alice(), "POST", "/fuzz/mpu?uploads", nil, nil)
	var doc struct{ UploadId string }
	if err := xml.Unmarshal(out, &doc); resp.StatusCode != 200 || err != nil || doc.UploadId == "" {
		t.Fatalf("create multipart upload: %d %v\n%s", resp.StatusCode, err, out)
	}
	if resp, out := e.raw(t, alice(), "PUT", "/fuzz/mpu?partNumber=1&uploadId="+doc.UploadId, []byte("part"), nil); resp.StatusCode != 200 {
		t.Fatalf("upload part: %d\n%s", resp.StatusCode, out)
	}
	return doc.UploadId
}
