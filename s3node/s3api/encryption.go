package s3api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/sealed"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/bucketkey"
	"github.com/s3kms/s3kms/s3node/objcrypt"
	"github.com/s3kms/s3kms/s3node/s3err"
	"github.com/s3kms/s3kms/s3node/sse"
)

// Encryption context entries that bind a sealed object key to its object
// (DESIGN.md "Key hierarchy"): the bucket's internal id and the object
// key. A sealed key moved to another object does not open. SSE-KMS
// contexts given by clients may not use the prefix.
const (
	contextPrefix = "s3kms:"
	contextBucket = contextPrefix + "bucket"
	contextKey    = contextPrefix + "key"
)

// Messages of SSE-SPEC Appendix B used here (the header parsers in package
// sse own the others).
const (
	msgSSECBlocked     = "Requests specifying Server Side Encryption with Customer provided keys are not allowed: this bucket has blocked upload requests that specify Server Side Encryption with Customer provided keys (SSE-C). Please specify a different server-side encryption type"
	msgNotApplicable   = "The encryption parameters are not applicable to this object."
	msgNeedParameters  = "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
	msgWrongKey        = "Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key."
	msgSSEOnRead       = "x-amz-server-side-encryption header is not supported for this operation."
	msgUploadEncrypted = "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters."
	msgKeyMismatch     = "The provided encryption parameters did not match the ones used originally."
	msgNoDefaultKey    = "Server Side Encryption with AWS KMS managed key requires a key id: neither the request, the bucket nor this server names a default KMS key"
	msgBadSSEKMSKeyID  = "Invalid keyId '%s'"
	msgReservedContext = "The header 'x-amz-server-side-encryption-context' shall not use keys starting with \"s3kms:\""
)

// objectContext is the context a version's object key is sealed with:
// the bucket's id, the object key, and the client's SSE-KMS context.
func objectContext(b s3node.Bucket, key string, client map[string]string) map[string]string {
	ec := make(map[string]string, len(client)+2)
	for k, v := range client {
		ec[k] = v
	}
	ec[contextBucket] = b.ID
	ec[contextKey] = key
	return ec
}

// writeKey is the encryption of a version or upload being written: its
// EncryptionInfo (nil: stored in clear) and its object key.
type writeKey struct {
	info *s3node.EncryptionInfo
	oek  *objcrypt.ObjectKey
}

// encrypted reports whether data written with w is encrypted.
func (w *writeKey) encrypted() bool { return w != nil && w.info != nil }

// key returns the object key, nil when stored in clear.
func (w *writeKey) key() *objcrypt.ObjectKey {
	if !w.encrypted() {
		return nil
	}
	return w.oek
}

// wipe clears the object key.
func (w *writeKey) wipe() {
	if w != nil && w.oek != nil {
		w.oek.Wipe()
	}
}

// etag is the quoted ETag of data whose MD5 is sum, written as part (0
// for a whole object): the MD5 for plain and SSE-S3 data, a value derived
// from the object key otherwise (SSE-SPEC §2.2, D9).
func (w *writeKey) etag(part int, sum []byte) string {
	if w.encrypted() && w.info.Type != s3node.SSES3 {
		return `"` + objcrypt.ETag(w.oek, part, sum) + `"`
	}
	return `"` + hex.EncodeToString(sum) + `"`
}

// storedSize is the size in the data store of plain bytes written with w.
func (w *writeKey) storedSize(plain int64) int64 {
	if w.encrypted() {
		return objcrypt.EncryptedSize(plain)
	}
	return plain
}

// setEncryptionHeaders sets the response headers of SSE-SPEC §2.1 for an
// object or upload encrypted as info (nil: none). withContext adds the
// SSE-KMS context (PutObject, POST, CopyObject, CreateMultipartUpload).
func setEncryptionHeaders(set func(k, v string), info *s3node.EncryptionInfo, withContext bool) {
	if info == nil {
		return
	}
	switch info.Type {
	case s3node.SSES3:
		set(sse.HeaderSSE, sse.ValueAES256)
	case s3node.SSEKMS:
		set(sse.HeaderSSE, sse.ValueKMS)
		set(sse.HeaderKMSKeyID, info.KeyID)
		if info.BucketKeyEnabled {
			set(sse.HeaderBucketKeyEnabled, "true")
		}
		if withContext && len(info.Context) > 0 {
			b, _ := json.Marshal(info.Context) // a string map cannot fail
			set(sse.HeaderContext, base64.StdEncoding.EncodeToString(b))
		}
	case s3node.SSEC:
		set(sse.HeaderCustomerAlgorithm, sse.AlgorithmAES256)
		set(sse.HeaderCustomerKeyMD5, info.CustomerKeyMD5)
	}
}

// hasSSEHeader reports whether h carries any destination encryption
// header: the SSE mode, its KMS key id or context, or the SSE-C trio.
func hasSSEHeader(h http.Header) bool {
	for _, name := range []string{sse.HeaderSSE, sse.HeaderKMSKeyID, sse.HeaderContext, sse.HeaderBucketKeyEnabled,
		sse.HeaderCustomerAlgorithm, sse.HeaderCustomerKey, sse.HeaderCustomerKeyMD5} {
		if len(h.Values(name)) > 0 {
			return true
		}
	}
	return false
}

// writePlan is the encryption a write will use, decided from its
// headers and the bucket's default, before any key is made.
type writePlan struct {
	typ       s3node.SSEType // "" for none
	keyID     string         // KMS key (SSE-S3: the bucket's root key)
	context   map[string]string
	bucketKey bool
	customer  *sse.CustomerKey // SSE-C; wiped by newWriteKey
}

// planWrite parses the encryption headers h of a write to bucket b
// (PutObject, POST, CopyObject destination, CreateMultipartUpload) and
// applies the bucket default when they ask for nothing (SSE-SPEC §4.4).
// On error nothing needs wiping.
func (s *Server) planWrite(h http.Header, b s3node.Bucket) (writePlan, error) {
	req, err := sse.ParseRequest(h)
	if err != nil {
		return writePlan{}, err
	}
	cfg, err := s.bucketEncryption(b)
	if err != nil {
		req.CustomerKey.Wipe()
		return writePlan{}, err
	}
	p := writePlan{bucketKey: req.BucketKeyEnabled}
	if req.Type == sse.None && cfg != nil {
		switch cfg.SSEAlgorithm {
		case s3node.AlgorithmAES256:
			req.Type = sse.S3
		case s3node.AlgorithmKMS:
			req.Type = sse.KMS
		}
		if !req.BucketKeySet {
			p.bucketKey = cfg.BucketKeyEnabled
		}
	}
	switch req.Type {
	case sse.None:
		p.bucketKey = false
	case sse.C:
		if cfg.BlocksSSEC() {
			req.CustomerKey.Wipe()
			return writePlan{}, s3err.Msg(s3err.AccessDenied, msgSSECBlocked)
		}
		p.typ, p.customer, p.bucketKey = s3node.SSEC, req.CustomerKey, false
	case sse.S3:
		p.typ, p.keyID, p.bucketKey = s3node.SSES3, kms.BucketKeyID(b.ID), false
	case sse.KMS:
		p.typ, p.context = s3node.SSEKMS, req.Context
		id := req.KMSKeyID
		if id == "" && cfg != nil && cfg.SSEAlgorithm == s3node.AlgorithmKMS {
			id = cfg.KMSMasterKeyID
		}
		if id == "" {
			id = s.defaultKMSKeyID
		}
		if id == "" {
			return writePlan{}, s3err.Argument(msgNoDefaultKey, strings.ToLower(sse.HeaderKMSKeyID), "null")
		}
		if p.keyID, err = sseKMSKeyID(id); err != nil {
			return writePlan{}, err
		}
		for k := range p.context {
			if strings.HasPrefix(k, contextPrefix) {
				return writePlan{}, s3err.Argument(msgReservedContext, strings.ToLower(sse.HeaderContext), k)
			}
		}
	}
	return p, nil
}

// sseKMSKeyID turns an SSE-KMS key id as a client names it (a key id, or
// an AWS-style key ARN "arn:aws:kms:region:account:key/ID") into a KMS
// key id. Bucket root keys and the node's own keys cannot be named.
func sseKMSKeyID(id string) (string, error) {
	bare := id
	if strings.HasPrefix(id, "arn:") {
		parts := strings.SplitN(id, ":", 6)
		if len(parts) == 6 && parts[2] == "kms" {
			if k, ok := strings.CutPrefix(parts[5], "key/"); ok {
				bare = k
			}
		}
	}
	if !kms.ValidKeyID(bare) || strings.HasPrefix(bare, "bucket/") || strings.HasPrefix(bare, "s3node/") {
		return "", s3err.Msg(s3err.KMSNotFound, strings.Replace(msgBadSSEKMSKeyID, "%s", id, 1))
	}
	return bare, nil
}

// newWriteKey decides how a write to key in bucket b is encrypted
// (planWrite) and makes its object key: from the KMS for SSE-S3 and
// SSE-KMS, fresh and sealed under the customer's key for SSE-C. The
// caller wipes the result.
func (s *Server) newWriteKey(ctx context.Context, h http.Header, b s3node.Bucket, key string) (*writeKey, error) {
	p, err := s.planWrite(h, b)
	if err != nil {
		return nil, err
	}
	return s.makeWriteKey(ctx, p, b, key)
}

// makeWriteKey makes the object key of plan p; it wipes p's customer key.
func (s *Server) makeWriteKey(ctx context.Context, p writePlan, b s3node.Bucket, key string) (*writeKey, error) {
	defer p.customer.Wipe()
	switch p.typ {
	case "":
		return &writeKey{}, nil
	case s3node.SSEC:
		oek, err := objcrypt.NewObjectKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		sealedKey, err := objcrypt.SealCustomer(rand.Reader, p.customer.Bytes(), objectContext(b, key, nil), oek)
		if err != nil {
			oek.Wipe()
			return nil, err
		}
		return &writeKey{oek: oek, info: &s3node.EncryptionInfo{
			Type: s3node.SSEC, SealedKey: sealedKey, KeyID: objcrypt.CustomerKeyID,
			CustomerKeyMD5: p.customer.KeyMD5(), Format: objcrypt.Format,
		}}, nil
	}
	if s.kms == nil {
		return nil, errNoKMS()
	}
	ec := objectContext(b, key, p.context)
	if s.bucketKeys != nil && (p.typ == s3node.SSES3 || p.bucketKey && len(p.context) == 0) {
		return s.bucketKeyWrite(ctx, p, b, ec)
	}
	dk, err := s.kms.GenerateDataKey(ctx, p.keyID, ec)
	if p.typ == s3node.SSES3 && kms.ErrorCode(err) == kms.ENotFound {
		// A bucket created while the KMS was unreachable, or before
		// encryption existed: its root key is made on first use.
		if err = s.kms.CreateBucketKey(ctx, p.keyID); err == nil {
			dk, err = s.kms.GenerateDataKey(ctx, p.keyID, ec)
		}
	}
	if err != nil {
		return nil, s.kmsError(ctx, err, p.keyID)
	}
	defer dk.Wipe()
	oek, err := objcrypt.ObjectKeyFrom(dk.Plaintext)
	if err != nil {
		return nil, s3node.Errorf(s3node.EInternal, "", "KMS returned a data key of %d bytes", len(dk.Plaintext))
	}
	return &writeKey{oek: oek, info: &s3node.EncryptionInfo{
		Type: p.typ, SealedKey: dk.Sealed, KeyID: p.keyID, KeyVersion: dk.KeyVersion,
		Format: objcrypt.Format, Context: p.context, BucketKeyEnabled: p.bucketKey,
	}}, nil
}

// bucketContext is the context a bucket data key is sealed with.
func bucketContext(b s3node.Bucket) map[string]string {
	return map[string]string{contextBucket: b.ID}
}

// bucketKeyWrite is makeWriteKey with bucket keys: the OEK is sealed by
// the node under the bucket's cached data key (s3node/bucketkey).
func (s *Server) bucketKeyWrite(ctx context.Context, p writePlan, b s3node.Bucket, ec map[string]string) (*writeKey, error) {
	use := sealed.UseSSES3
	if p.typ == s3node.SSEKMS {
		use = sealed.UseSSEKMS
	}
	oek, env, version, err := s.bucketKeys.Seal(ctx, p.keyID, bucketContext(b), ec, use)
	if p.typ == s3node.SSES3 && kms.ErrorCode(err) == kms.ENotFound {
		if err = s.kms.CreateBucketKey(ctx, p.keyID); err == nil {
			oek, env, version, err = s.bucketKeys.Seal(ctx, p.keyID, bucketContext(b), ec, use)
		}
	}
	if err != nil {
		return nil, s.kmsError(ctx, err, p.keyID)
	}
	return &writeKey{oek: oek, info: &s3node.EncryptionInfo{
		Type: p.typ, SealedKey: env, KeyID: p.keyID, KeyVersion: version,
		Format: objcrypt.Format, Context: p.context, BucketKeyEnabled: p.bucketKey,
	}}, nil
}

// errNoKMS is the answer to SSE-S3 and SSE-KMS requests on a node without
// a KMS.
func errNoKMS() error {
	return s3err.Msg(s3err.ServiceUnavailable, "Server-side encryption with KMS keys is not available: this node has no KMS configured.")
}

// kmsError turns an error of the KMS into the S3 error a client gets
// (SSE-SPEC §5.2). Unexpected errors are logged and become InternalError.
func (s *Server) kmsError(ctx context.Context, err error, keyID string) error {
	var ke *kms.Error
	msg := ""
	if errors.As(err, &ke) {
		msg = ke.Message
	}
	switch kms.ErrorCode(err) {
	case kms.ENotFound:
		return s3err.Msg(s3err.KMSNotFound, strings.Replace(msgBadSSEKMSKeyID, "%s", keyID, 1))
	case kms.EDisabled:
		if strings.Contains(msg, "pending deletion") {
			return s3err.Msg(s3err.KMSInvalidState, keyID+" is pending deletion.")
		}
		return s3err.Msg(s3err.KMSDisabled, keyID+" is disabled.")
	case kms.EState, kms.EDestroyed:
		return s3err.Msg(s3err.KMSInvalidState, keyID+" is not in a state that allows this operation.")
	case kms.EForbidden, kms.EUnauthorized:
		return s3err.Msg(s3err.AccessDenied, "Access Denied: this node may not use KMS key "+keyID+".")
	case kms.EUnavailable:
		s.log.LogAttrs(ctx, slog.LevelWarn, "s3: KMS unavailable", slog.String("key_id", keyID), slog.String("error", err.Error()))
		return s3err.Msg(s3err.ServiceUnavailable, "The key management service is unavailable. Please retry.")
	}
	return s3node.Errorf(s3node.EInternal, "", "KMS call for key %s: %v", keyID, err)
}

// refuseCopySourceKey answers the copy-source SSE-C trio on operations
// that copy nothing (PutObject, CreateMultipartUpload; SSE-SPEC §3.1).
func refuseCopySourceKey(h http.Header) error {
	for _, name := range []string{"algorithm", "key", "key-MD5"} {
		if h.Get(sse.CopySourcePrefix+name) != "" {
			return s3err.Msg(s3err.InvalidRequest, msgNotApplicable)
		}
	}
	return nil
}

// refuseSSEOnRead answers R6: the SSE-S3/SSE-KMS request headers on
// operations that read (GetObject, HeadObject, GetObjectAttributes).
func refuseSSEOnRead(h http.Header) error {
	for _, name := range []string{sse.HeaderSSE, sse.HeaderKMSKeyID, sse.HeaderContext} {
		if len(h.Values(name)) > 0 {
			return s3err.Argument(msgSSEOnRead, strings.ToLower(sse.HeaderSSE), h.Get(name))
		}
	}
	return nil
}

// readKey checks the SSE-C headers selected by prefix (sse.CustomerPrefix
// for reads, sse.CopySourcePrefix for copy sources) against version v of
// bucket b (SSE-SPEC §1.3 R1–R5, §1.4) and, for an SSE-C version, opens
// its object key with the customer's key. It returns nil for versions
// that are not SSE-C. inPlace selects the answer to a wrong key on an
// in-place copy (§6.3).
func (s *Server) readKey(h http.Header, prefix string, b s3node.Bucket, v s3node.ObjectVersion, inPlace bool) (*objcrypt.ObjectKey, error) {
	isC := v.Encryption != nil && v.Encryption.Type == s3node.SSEC
	ck, err := sse.ParseCustomerKey(h, prefix)
	if err != nil {
		if isC && sse.WrongKeySize(err) {
			// R3: a key of the wrong size but a matching MD5 on a read.
			// A key that is not base64 at all stays W5 (400).
			return nil, s3err.Msg(s3err.AccessDenied, msgWrongKey)
		}
		return nil, err
	}
	defer ck.Wipe()
	switch {
	case !isC && ck != nil:
		return nil, s3err.Msg(s3err.InvalidRequest, msgNotApplicable)
	case !isC:
		return nil, nil
	case ck == nil:
		return nil, s3err.Msg(s3err.InvalidRequest, msgNeedParameters)
	}
	wrong := s3err.Msg(s3err.AccessDenied, msgWrongKey)
	if inPlace {
		wrong = s3err.Msg(s3err.InvalidRequest, msgKeyMismatch)
	}
	return openCustomer(ck, v.Encryption, b, v.Key, wrong)
}

// openCustomer opens the SSE-C object key sealed in info (an object or
// upload of key in bucket b) with the customer's key: wrong is the answer
// when the key is not the one it was sealed with.
func openCustomer(ck *sse.CustomerKey, info *s3node.EncryptionInfo, b s3node.Bucket, key string, wrong error) (*objcrypt.ObjectKey, error) {
	oek, err := objcrypt.OpenCustomer(ck.Bytes(), info.SealedKey, objectContext(b, key, nil))
	if errors.Is(err, objcrypt.ErrWrongKey) {
		return nil, wrong
	}
	if err != nil {
		return nil, s3node.Errorf(s3node.EInternal, "", "sealed key of %s/%s: %v", b.Name, key, err)
	}
	return oek, nil
}

// dataKey returns the object key that decrypts the data of version (or
// upload) info of key in bucket b: customer, opened by readKey, for SSE-C;
// from the KMS for SSE-S3 and SSE-KMS; nil for plain data.
func (s *Server) dataKey(ctx context.Context, b s3node.Bucket, key string, info *s3node.EncryptionInfo, customer *objcrypt.ObjectKey) (*objcrypt.ObjectKey, error) {
	switch {
	case info == nil:
		return nil, nil
	case info.Type == s3node.SSEC:
		if customer == nil {
			return nil, s3node.Errorf(s3node.EInternal, "", "SSE-C object %s without its key", key)
		}
		return customer, nil
	case s.kms == nil:
		return nil, errNoKMS()
	}
	if bucketkey.IsEnvelope(info.SealedKey) {
		var oek *objcrypt.ObjectKey
		var err error
		if s.bucketKeys != nil {
			oek, err = s.bucketKeys.Open(ctx, info.SealedKey, bucketContext(b), objectContext(b, key, info.Context))
		} else {
			oek, err = bucketkey.Open(ctx, s.kms, info.SealedKey, bucketContext(b), objectContext(b, key, info.Context))
		}
		if errors.Is(err, bucketkey.ErrWrongObject) || errors.Is(err, bucketkey.ErrMalformed) {
			return nil, s3node.Errorf(s3node.EInternal, "", "sealed key of %s: %v", key, err)
		}
		if err != nil {
			return nil, s.kmsError(ctx, err, info.KeyID)
		}
		return oek, nil
	}
	dk, err := s.kms.Decrypt(ctx, info.SealedKey, objectContext(b, key, info.Context))
	if err != nil {
		return nil, s.kmsError(ctx, err, info.KeyID)
	}
	defer dk.Wipe()
	oek, err := objcrypt.ObjectKeyFrom(dk.Plaintext)
	if err != nil {
		return nil, s3node.Errorf(s3node.EInternal, "", "KMS returned a data key of %d bytes", len(dk.Plaintext))
	}
	return oek, nil
}

// partKey returns the object key of upload u for UploadPart and
// UploadPartCopy (destination side), checking the request's SSE-C trio
// against the upload (SSE-SPEC §1.5); SSE-S3 and SSE-KMS headers are
// ignored (D7). The caller wipes the result.
func (s *Server) partKey(ctx context.Context, h http.Header, b s3node.Bucket, u s3node.MultipartUpload) (*writeKey, error) {
	isC := u.Encryption != nil && u.Encryption.Type == s3node.SSEC
	ck, err := sse.ParseCustomerKey(h, sse.CustomerPrefix)
	if err != nil {
		return nil, err
	}
	defer ck.Wipe()
	if isC != (ck != nil) {
		return nil, s3err.Msg(s3err.InvalidRequest, msgUploadEncrypted)
	}
	if isC {
		oek, err := openCustomer(ck, u.Encryption, b, u.Key, s3err.Msg(s3err.InvalidRequest, msgKeyMismatch))
		if err != nil {
			return nil, err
		}
		return &writeKey{info: u.Encryption, oek: oek}, nil
	}
	oek, err := s.dataKey(ctx, b, u.Key, u.Encryption, nil)
	if err != nil {
		return nil, err
	}
	return &writeKey{info: u.Encryption, oek: oek}, nil
}

// checkCompleteKey applies D4 to CompleteMultipartUpload: the SSE-C trio
// is optional, but when present it must be valid and, for an SSE-C
// upload, the upload's key. It returns the key's MD5 when the trio was
// sent.
func (s *Server) checkCompleteKey(h http.Header, b s3node.Bucket, u s3node.MultipartUpload) (string, error) {
	ck, err := sse.ParseCustomerKey(h, sse.CustomerPrefix)
	if err != nil || ck == nil {
		return "", err
	}
	defer ck.Wipe()
	if u.Encryption == nil || u.Encryption.Type != s3node.SSEC {
		return "", s3err.Msg(s3err.InvalidRequest, msgNotApplicable)
	}
	oek, err := openCustomer(ck, u.Encryption, b, u.Key, s3err.Msg(s3err.InvalidRequest, msgKeyMismatch))
	if err != nil {
		return "", err
	}
	oek.Wipe()
	return ck.KeyMD5(), nil
}
