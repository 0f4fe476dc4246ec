package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/s3node"
)

// sseMode is the encryption of an object or of a write request in the
// copy tests: a request mode "" (nothing) asks for the bucket default.
type sseMode string

const (
	modeNone  sseMode = ""
	modePlain sseMode = "plain"
	modeS3    sseMode = "sse-s3"
	modeKMS   sseMode = "sse-kms"
	modeC     sseMode = "sse-c"
)

// storedType is the s3node encryption type of an object in mode m.
func (m sseMode) storedType() s3node.SSEType {
	switch m {
	case modeS3:
		return s3node.SSES3
	case modeKMS:
		return s3node.SSEKMS
	case modeC:
		return s3node.SSEC
	}
	return ""
}

// md5ETag reports whether objects in mode m have the plaintext MD5 as
// single-part ETag (SSE-SPEC §2.2, D9).
func (m sseMode) md5ETag() bool { return m == modePlain || m == modeS3 || m == modeNone }

// sseOut is the encryption part of a write or read response.
type sseOut struct {
	sse, kmsKeyID, cMD5, context string
}

// check fails unless o describes mode m with KMS key kmsKey (SSE-KMS) or
// customer key ck (SSE-C), without an SSE-KMS context.
func (o sseOut) check(t *testing.T, what string, m sseMode, kmsKey string, ck customerKey) {
	t.Helper()
	want := sseOut{}
	switch m {
	case modeS3:
		want.sse = "AES256"
	case modeKMS:
		want.sse, want.kmsKeyID = "aws:kms", kmsKey
	case modeC:
		want.cMD5 = ck.md5
	}
	if o != want {
		t.Fatalf("%s: encryption headers %+v, want %+v", what, o, want)
	}
}

// ssecInput are the SSE-C fields of an SDK input.
type ssecInput struct{ alg, key, md5 *string }

// trio returns the SSE-C fields for ck, or nothing for nil.
func trio(ck *customerKey) ssecInput {
	if ck == nil {
		return ssecInput{}
	}
	return ssecInput{aws.String("AES256"), aws.String(ck.b64), aws.String(ck.md5)}
}

// copyReq is the encryption of a CopyObject or UploadPartCopy request.
type copyReq struct {
	src    ssecInput // copy-source trio
	dst    sseMode   // destination request (CopyObject; Create for UploadPartCopy)
	kmsKey string    // destination SSE-KMS key
	dstKey *customerKey
}

// sseCopyEnv is the shared state of the copy tests.
type sseCopyEnv struct {
	e      *env
	c      *s3.Client
	k1, k2 customerKey
}

// putIn returns a PutObject input writing data in mode m (SSE-C: k1,
// SSE-KMS: key "src-key" with an encryption context).
func (ce *sseCopyEnv) put(t *testing.T, bucket, key string, data []byte, m sseMode) *s3.PutObjectOutput {
	t.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}
	switch m {
	case modeS3:
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	case modeKMS:
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String("src-key")
		in.SSEKMSEncryptionContext = aws.String(base64.StdEncoding.EncodeToString([]byte(`{"app":"copy-source"}`)))
	case modeC:
		s := trio(&ce.k1)
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = s.alg, s.key, s.md5
	}
	out, err := ce.c.PutObject(context.Background(), in)
	if err != nil {
		t.Fatalf("put %s/%s (%s): %v", bucket, key, m, err)
	}
	return out
}

// get reads bucket/key with ck (nil: no SSE-C headers).
func (ce *sseCopyEnv) get(bucket, key string, ck *customerKey) (*s3.GetObjectOutput, []byte, error) {
	s := trio(ck)
	out, err := ce.c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		SSECustomerAlgorithm: s.alg, SSECustomerKey: s.key, SSECustomerKeyMD5: s.md5})
	if err != nil {
		return nil, nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return out, b, err
}

// copyObject sends CopyObject of source to bucket/key.
func (ce *sseCopyEnv) copyObject(bucket, key, source string, r copyReq, more func(*s3.CopyObjectInput)) (*s3.CopyObjectOutput, error) {
	d := trio(r.dstKey)
	in := &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), CopySource: aws.String(source),
		CopySourceSSECustomerAlgorithm: r.src.alg, CopySourceSSECustomerKey: r.src.key, CopySourceSSECustomerKeyMD5: r.src.md5,
		SSECustomerAlgorithm: d.alg, SSECustomerKey: d.key, SSECustomerKeyMD5: d.md5}
	switch r.dst {
	case modeS3:
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	case modeKMS:
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(r.kmsKey)
	}
	if more != nil {
		more(in)
	}
	return ce.c.CopyObject(context.Background(), in)
}

// createUpload starts a multipart upload of bucket/key encrypted as r asks.
func (ce *sseCopyEnv) createUpload(t *testing.T, bucket, key string, r copyReq) *s3.CreateMultipartUploadOutput {
	t.Helper()
	d := trio(r.dstKey)
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		SSECustomerAlgorithm: d.alg, SSECustomerKey: d.key, SSECustomerKeyMD5: d.md5}
	switch r.dst {
	case modeS3:
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	case modeKMS:
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(r.kmsKey)
	}
	out, err := ce.c.CreateMultipartUpload(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateMultipartUpload %s/%s: %v", bucket, key, err)
	}
	return out
}

// copyPart sends UploadPartCopy of source (range rng, "" for all) as part n.
func (ce *sseCopyEnv) copyPart(bucket, key, uploadID string, n int32, source, rng string, r copyReq) (*s3.UploadPartCopyOutput, error) {
	d := trio(r.dstKey)
	in := &s3.UploadPartCopyInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(uploadID),
		PartNumber: aws.Int32(n), CopySource: aws.String(source),
		CopySourceSSECustomerAlgorithm: r.src.alg, CopySourceSSECustomerKey: r.src.key, CopySourceSSECustomerKeyMD5: r.src.md5,
		SSECustomerAlgorithm: d.alg, SSECustomerKey: d.key, SSECustomerKeyMD5: d.md5}
	if rng != "" {
		in.CopySourceRange = aws.String(rng)
	}
	return ce.c.UploadPartCopy(context.Background(), in)
}

// newSSECopyEnv starts an env on SQLite with the KMS keys src-key,
// dst-key and def-key, a source bucket "cp-src", a destination bucket
// without default ("cp-plain") and one whose default is SSE-KMS under
// def-key ("cp-def").
func newSSECopyEnv(t *testing.T) *sseCopyEnv {
	t.Helper()
	e := newEnv(t, "")
	ce := &sseCopyEnv{e: e, c: e.client(alice()), k1: newCustomerKey(0x11), k2: newCustomerKey(0x22)}
	admin := e.kms.Client(t, e.kms.Admin)
	for _, id := range []string{"src-key", "dst-key", "def-key"} {
		if _, err := admin.CreateKey(context.Background(), wire.CreateKeyRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []string{"cp-src", "cp-plain", "cp-def"} {
		mustCreateBucket(t, ce.c, b)
	}
	if err := putEncryption(ce.c, "cp-def", sseRule(types.ServerSideEncryptionAwsKms, "def-key", nil)); err != nil {
		t.Fatal(err)
	}
	return ce
}

// patterned returns n recognisable bytes.
func patterned(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ byte(i>>9) ^ seed
	}
	return b
}

// TestSSECopyMatrix runs the copy matrix of SSE-SPEC §3.3 through
// CopyObject and UploadPartCopy: every source mode × every destination
// request, into a bucket without and with a default, for three sizes; the
// destination must read back byte-identical with its own key, have the
// asked-for (or default) mode, the §2.1 response headers, the §2.2 ETag,
// and no copied SSE-KMS context.
func TestSSECopyMatrix(t *testing.T) {
	ce := newSSECopyEnv(t)
	ctx := context.Background()
	srcModes := []sseMode{modePlain, modeS3, modeKMS, modeC}
	dstModes := []sseMode{modeNone, modeS3, modeKMS, modeC}
	sizes := []int{1, 1024, 1<<20 + 17}
	data := map[string][]byte{}
	for _, n := range sizes {
		for _, m := range srcModes {
			key := fmt.Sprintf("%s-%d", m, n)
			data[key] = patterned(n, byte(len(m)))
			ce.put(t, "cp-src", key, data[key], m)
		}
	}
	for _, op := range []string{"CopyObject", "UploadPartCopy"} {
		for _, bucket := range []string{"cp-plain", "cp-def"} {
			for _, sm := range srcModes {
				for _, dm := range dstModes {
					for _, n := range sizes {
						to := string(dm)
						if dm == modeNone {
							to = "nothing"
						}
						name := fmt.Sprintf("%s/%s/%s-to-%s/%d", op, bucket, sm, to, n)
						t.Run(name, func(t *testing.T) {
							t.Parallel()
							srcKey := fmt.Sprintf("%s-%d", sm, n)
							want := data[srcKey]
							r := copyReq{dst: dm, kmsKey: "dst-key"}
							if sm == modeC {
								r.src = trio(&ce.k1)
							}
							if dm == modeC {
								r.dstKey = &ce.k2
							}
							// The mode the destination must get.
							got, gotKMS := dm, "dst-key"
							if dm == modeNone {
								got, gotKMS = modePlain, ""
								if bucket == "cp-def" {
									got, gotKMS = modeKMS, "def-key"
								}
							}
							dst := strings.ReplaceAll(name, "/", "_")
							var etag string
							if op == "CopyObject" {
								out, err := ce.copyObject(bucket, dst, "cp-src/"+srcKey, r, nil)
								if err != nil {
									t.Fatal(err)
								}
								sseOut{string(out.ServerSideEncryption), aws.ToString(out.SSEKMSKeyId),
									aws.ToString(out.SSECustomerKeyMD5), aws.ToString(out.SSEKMSEncryptionContext)}.check(t, "copy", got, gotKMS, ce.k2)
								etag = aws.ToString(out.CopyObjectResult.ETag)
								if (etag == md5hex(want)) != got.md5ETag() {
									t.Fatalf("copy ETag %s, MD5 %s (mode %s)", etag, md5hex(want), got)
								}
							} else {
								up := ce.createUpload(t, bucket, dst, r)
								out, err := ce.copyPart(bucket, dst, aws.ToString(up.UploadId), 1, "cp-src/"+srcKey, "", r)
								if err != nil {
									t.Fatal(err)
								}
								sseOut{string(out.ServerSideEncryption), aws.ToString(out.SSEKMSKeyId),
									aws.ToString(out.SSECustomerKeyMD5), ""}.check(t, "copy part", got, gotKMS, ce.k2)
								pe := aws.ToString(out.CopyPartResult.ETag)
								if (pe == md5hex(want)) != got.md5ETag() {
									t.Fatalf("part ETag %s, MD5 %s (mode %s)", pe, md5hex(want), got)
								}
								cout, err := ce.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket),
									Key: aws.String(dst), UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{
										Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(pe)}}}})
								if err != nil {
									t.Fatal(err)
								}
								etag = aws.ToString(cout.ETag)
								if etag != compositeOfETags(pe) {
									t.Fatalf("complete ETag %s, want %s", etag, compositeOfETags(pe))
								}
							}
							var ck *customerKey
							if got == modeC {
								ck = &ce.k2
							}
							g, body, err := ce.get(bucket, dst, ck)
							if err != nil {
								t.Fatal(err)
							}
							if !bytes.Equal(body, want) || aws.ToString(g.ETag) != etag {
								t.Fatalf("GET: %d bytes (want %d), ETag %s (want %s)", len(body), len(want), aws.ToString(g.ETag), etag)
							}
							sseOut{string(g.ServerSideEncryption), aws.ToString(g.SSEKMSKeyId), aws.ToString(g.SSECustomerKeyMD5), ""}.check(t, "get", got, gotKMS, ce.k2)
							v, err := ce.e.s.meta.GetObject(ctx, bucket, dst, "")
							if err != nil {
								t.Fatal(err)
							}
							var typ s3node.SSEType
							if v.Encryption != nil {
								typ = v.Encryption.Type
								if len(v.Encryption.Context) != 0 {
									t.Fatalf("SSE-KMS context copied: %v", v.Encryption.Context)
								}
							}
							if typ != got.storedType() {
								t.Fatalf("stored mode %q, want %q", typ, got.storedType())
							}
						})
					}
				}
			}
		}
	}

	t.Run("UploadPartCopy/8MiB-ranges-across-packages", func(t *testing.T) {
		t.Parallel()
		big := patterned(8<<20, 3)
		ce.put(t, "cp-src", "big", big, modeC)
		r := copyReq{src: trio(&ce.k1), dst: modeKMS, kmsKey: "dst-key"}
		up := ce.createUpload(t, "cp-plain", "big", r)
		// Part 1 starts 6 bytes before the end of the first 64 KiB
		// package and ends inside another; part 2 is the rest.
		cut := int64(5<<20 + 65536 + 3)
		var parts []types.CompletedPart
		for i, rng := range [][2]int64{{65530, cut - 1}, {cut, int64(len(big)) - 1}} {
			out, err := ce.copyPart("cp-plain", "big", aws.ToString(up.UploadId), int32(i+1), "cp-src/big",
				fmt.Sprintf("bytes=%d-%d", rng[0], rng[1]), r)
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag})
		}
		if _, err := ce.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("cp-plain"),
			Key: aws.String("big"), UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
			t.Fatal(err)
		}
		g, body, err := ce.get("cp-plain", "big", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, big[65530:]) || g.ServerSideEncryption != types.ServerSideEncryptionAwsKms {
			t.Fatalf("GET: %d bytes, equal %v, sse %q", len(body), bytes.Equal(body, big[65530:]), g.ServerSideEncryption)
		}
		if r := getRange(t, ce.c, "cp-plain", "big", "bytes=5308400-5308500"); !bytes.Equal(r, big[65530+5308400:65530+5308501]) {
			t.Fatal("range across the part boundary differs")
		}
	})
}

// compositeETag is the multipart ETag of parts with the given (quoted) ETags.
func compositeOfETags(etags ...string) string {
	var all []byte
	for _, e := range etags {
		b, _ := hex.DecodeString(strings.Trim(e, `"`))
		all = append(all, b...)
	}
	s := md5.Sum(all)
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(s[:]), len(etags))
}

// TestSSECopyErrors checks the copy-source errors of SSE-SPEC §1.4 and the
// destination conflict W1, through CopyObject and UploadPartCopy.
func TestSSECopyErrors(t *testing.T) {
	ce := newSSECopyEnv(t)
	ce.put(t, "cp-src", "c", []byte("sse-c source"), modeC)
	ce.put(t, "cp-src", "plain", []byte("plain source"), modePlain)
	ce.put(t, "cp-src", "s3", []byte("sse-s3 source"), modeS3)
	ce.put(t, "cp-src", "kms", []byte("sse-kms source"), modeKMS)
	up := ce.createUpload(t, "cp-plain", "mpu", copyReq{})
	wrongAlg := trio(&ce.k1)
	wrongAlg.alg = aws.String("AES128")
	for _, tc := range []struct {
		name, source string
		r            copyReq
		code         string
		status       int
		msg          string
		copyOnly     bool
	}{
		{name: "SSE-C source without trio", source: "c", code: "InvalidRequest", status: 400, msg: msgNeedParameters},
		{name: "SSE-C source without trio to SSE-C", source: "c", r: copyReq{dst: modeC, dstKey: &ce.k2}, code: "InvalidRequest", status: 400, msg: msgNeedParameters, copyOnly: true},
		{name: "wrong algorithm", source: "c", r: copyReq{src: wrongAlg}, code: "InvalidEncryptionAlgorithmError", status: 400,
			msg: "The Encryption request you specified is not valid. Supported value: AES256."},
		{name: "wrong key", source: "c", r: copyReq{src: trio(&ce.k2)}, code: "AccessDenied", status: 403, msg: msgWrongKey},
		{name: "trio on plain source", source: "plain", r: copyReq{src: trio(&ce.k1)}, code: "InvalidRequest", status: 400, msg: msgNotApplicable},
		{name: "trio on SSE-S3 source", source: "s3", r: copyReq{src: trio(&ce.k1)}, code: "InvalidRequest", status: 400, msg: msgNotApplicable},
		{name: "trio on SSE-KMS source", source: "kms", r: copyReq{src: trio(&ce.k1)}, code: "InvalidRequest", status: 400, msg: msgNotApplicable},
		{name: "SSE-C and SSE-S3 on destination", source: "plain", r: copyReq{dst: modeS3, dstKey: &ce.k2}, code: "InvalidArgument", status: 400,
			msg: "Server Side Encryption with Customer provided key is incompatible with the encryption method specified", copyOnly: true},
		{name: "SSE-C and SSE-KMS on destination", source: "plain", r: copyReq{dst: modeKMS, kmsKey: "dst-key", dstKey: &ce.k2}, code: "InvalidArgument", status: 400,
			msg: "Server Side Encryption with Customer provided key is incompatible with the encryption method specified", copyOnly: true},
	} {
		t.Run("CopyObject/"+tc.name, func(t *testing.T) {
			_, err := ce.copyObject("cp-plain", "dst", "cp-src/"+tc.source, tc.r, nil)
			wantCode(t, err, tc.code, tc.status)
			wantMessage(t, err, tc.msg)
		})
		if tc.copyOnly {
			continue
		}
		t.Run("UploadPartCopy/"+tc.name, func(t *testing.T) {
			_, err := ce.copyPart("cp-plain", "mpu", aws.ToString(up.UploadId), 1, "cp-src/"+tc.source, "", tc.r)
			wantCode(t, err, tc.code, tc.status)
			wantMessage(t, err, tc.msg)
		})
	}
	// Nothing was written by the failed copies.
	if _, err := ce.e.s.meta.GetObject(context.Background(), "cp-plain", "dst", ""); s3node.ErrorReason(err) != s3node.NoSuchKey {
		t.Fatalf("destination after failed copies: %v", err)
	}
}

// TestSSECopyInPlace checks copies of an object onto itself (SSE-SPEC
// §6.2–6.4): legal only when something, the encryption included, changes;
// SSE-C key rotation; a wrong source key on an in-place copy; a forgotten
// destination trio falling back to the bucket default.
func TestSSECopyInPlace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ce := &sseCopyEnv{e: e, c: e.client(alice()), k1: newCustomerKey(0x31), k2: newCustomerKey(0x32)}
		if _, err := e.kms.Client(t, e.kms.Admin).CreateKey(ctx, wire.CreateKeyRequest{ID: "src-key"}); err != nil {
			t.Fatal(err)
		}
		mustCreateBucket(t, ce.c, "inplace")
		mustCreateBucket(t, ce.c, "inplace-def")
		if err := putEncryption(ce.c, "inplace-def", sseRule(types.ServerSideEncryptionAes256, "", nil)); err != nil {
			t.Fatal(err)
		}
		replace := func(in *s3.CopyObjectInput) { in.MetadataDirective = types.MetadataDirectiveReplace }
		for i, tc := range []struct {
			name, bucket string
			src          sseMode
			r            copyReq
			more         func(*s3.CopyObjectInput)
			code, msg    string // error expected
			after        sseMode
			afterKey     *customerKey
		}{
			{name: "plain, nothing changed", bucket: "inplace", src: modePlain, code: "InvalidRequest", msg: msgCopyToItself},
			{name: "plain, REPLACE", bucket: "inplace", src: modePlain, more: replace, after: modePlain},
			{name: "plain, SSE AES256", bucket: "inplace", src: modePlain, r: copyReq{dst: modeS3}, after: modeS3},
			{name: "SSE-S3, same SSE header", bucket: "inplace", src: modeS3, r: copyReq{dst: modeS3}, after: modeS3},
			// No default on the bucket (legacy mode, D5): the destination
			// mode is "none", which differs from the source's.
			{name: "SSE-S3, no headers, no bucket default", bucket: "inplace", src: modeS3, after: modePlain},
			{name: "SSE-KMS, no headers, no bucket default", bucket: "inplace", src: modeKMS, after: modePlain},
			{name: "SSE-KMS, same key", bucket: "inplace", src: modeKMS, r: copyReq{dst: modeKMS, kmsKey: "src-key"}, after: modeKMS},
			{name: "SSE-KMS, no headers, bucket default AES256", bucket: "inplace-def", src: modeKMS, after: modeS3},
			{name: "SSE-S3, no headers, explicit bucket default", bucket: "inplace-def", src: modeS3, after: modeS3},
			{name: "SSE-C rotation K1 to K2", bucket: "inplace", src: modeC, r: copyReq{src: trio(&ce.k1), dst: modeC, dstKey: &ce.k2}, after: modeC, afterKey: &ce.k2},
			{name: "SSE-C same key", bucket: "inplace", src: modeC, r: copyReq{src: trio(&ce.k1), dst: modeC, dstKey: &ce.k1}, after: modeC, afterKey: &ce.k1},
			{name: "SSE-C wrong source key", bucket: "inplace", src: modeC, r: copyReq{src: trio(&ce.k2), dst: modeC, dstKey: &ce.k2},
				code: "InvalidRequest", msg: msgKeyMismatch},
			{name: "SSE-C without source trio", bucket: "inplace", src: modeC, r: copyReq{dst: modeC, dstKey: &ce.k2}, code: "InvalidRequest", msg: msgNeedParameters},
			{name: "SSE-C forgotten destination trio, no default", bucket: "inplace", src: modeC, r: copyReq{src: trio(&ce.k1)}, more: replace, after: modePlain},
			{name: "SSE-C forgotten destination trio, default AES256", bucket: "inplace-def", src: modeC, r: copyReq{src: trio(&ce.k1)}, more: replace, after: modeS3},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := fmt.Sprintf("o%d", i)
				data := patterned(70000, byte(i))
				put := ce.put(t, tc.bucket, key, data, tc.src)
				out, err := ce.copyObject(tc.bucket, key, tc.bucket+"/"+key, tc.r, tc.more)
				if tc.code != "" {
					wantCode(t, err, tc.code, 400)
					wantMessage(t, err, tc.msg)
					// The object is untouched.
					var ck *customerKey
					if tc.src == modeC {
						ck = &ce.k1
					}
					g, body, err := ce.get(tc.bucket, key, ck)
					if err != nil || !bytes.Equal(body, data) || aws.ToString(g.ETag) != aws.ToString(put.ETag) {
						t.Fatalf("after a refused copy: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				etag := aws.ToString(out.CopyObjectResult.ETag)
				if (etag == md5hex(data)) != tc.after.md5ETag() {
					t.Fatalf("ETag %s, MD5 %s, mode %s", etag, md5hex(data), tc.after)
				}
				g, body, err := ce.get(tc.bucket, key, tc.afterKey)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(body, data) || aws.ToString(g.ETag) != etag {
					t.Fatalf("GET after copy: equal %v, ETag %s want %s", bytes.Equal(body, data), aws.ToString(g.ETag), etag)
				}
				sseOut{string(g.ServerSideEncryption), aws.ToString(g.SSEKMSKeyId), aws.ToString(g.SSECustomerKeyMD5), ""}.check(t, "get", tc.after, "src-key", deref(tc.afterKey))
				if tc.afterKey == &ce.k2 {
					_, _, err := ce.get(tc.bucket, key, &ce.k1)
					wantCode(t, err, "AccessDenied", 403)
				}
			})
		}
	})
}

// deref returns *ck, or the zero key for nil.
func deref(ck *customerKey) customerKey {
	if ck == nil {
		return customerKey{}
	}
	return *ck
}
