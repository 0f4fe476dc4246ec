// Package sse parses and validates the server-side-encryption request
// headers of an S3 request, with AWS's error codes and messages
// (/work/shared/SSE-SPEC.md, "SSE-SPEC" below). It only looks at headers:
// which operation accepts which input (SSE-SPEC §3), object-level checks on
// reads (§1.3 R1–R4), multipart binding (§1.5) and the KMS itself (§5) are
// the caller's business.
//
// # SSE-C (ParseCustomerKey)
//
// ParseCustomerKey reads the trio
// x-amz-server-side-encryption-customer-{algorithm,key,key-MD5}, or with
// CopySourcePrefix the x-amz-copy-source-… trio of CopyObject and
// UploadPartCopy (§1.4). It checks, in AWS's order (§1.2), stopping at the
// first failure:
//
//  1. W1 (destination trio only): any SSE-C header together with
//     x-amz-server-side-encryption (whatever its value) is InvalidArgument
//     "…incompatible with the encryption method specified", ArgumentValue
//     the SSE value. The copy-source trio decrypts the source and may be
//     combined with any destination encryption (§1.4), so it skips W1;
//  2. W2: key or key-MD5 without algorithm → InvalidArgument;
//  3. W3/R5: algorithm other than AES256 → InvalidEncryptionAlgorithmError,
//     ArgumentValue the sent algorithm (also on reads and for the
//     copy-source trio, §1.4);
//  4. W4: algorithm without key → InvalidArgument;
//  5. W5: key not canonical standard padded base64 (non-zero
//     padding bits, CR or LF rejected, RFC 4648 §3.5) → InvalidArgument "The secret key
//     was invalid for the specified algorithm." (the §1.3 recommendation);
//  6. W7: key-MD5 present and not the base64 MD5 of the decoded key bytes
//     (§1.1) → InvalidArgument; compared in constant time. This precedes
//     the length check: AWS answered a 24-byte key with a wrong MD5 with
//     the MD5 error (§1.2 items 6–7);
//  7. W6: decoded key not 32 bytes → InvalidArgument;
//  8. W8/D2: key-MD5 missing → InvalidArgument (required, §9).
//
// Header names are case-insensitive (http.Header canonicalises them, so
// -key-md5 and -key-MD5 are the same header). A trio header with an empty
// value counts as absent. W1, W2, W3, W5, W6 and W7 carry ArgumentName
// x-amz-server-side-encryption, also for the copy-source trio (§1.4), and
// ArgumentValue the SSE value (W1), the algorithm (W3) or "null" (AWS's
// word for none; §1.3 names no value for W2, W6, W7); W4 and W8, for which
// §1.3 names no argument, carry none.
//
// The key never appears in an error, in its Err or in any formatted value:
// CustomerKey and Key print "[redacted]". Callers must still keep
// x-amz-server-side-encryption-customer-key and its copy-source twin out
// of logs (§10 item 9). KeyMD5 is what is stored and echoed (§2.1).
//
// # SSE-S3 and SSE-KMS (ParseRequest)
//
// ParseRequest is for PUT-like requests (PutObject, CopyObject
// destination, CreateMultipartUpload; §3.1). It first applies
// ParseCustomerKey to the destination trio (so W1 wins over any problem of
// the SSE value, §1.2 item 2), then:
//
//  1. x-amz-server-side-encryption: absent → no SSE-S3/KMS; AES256 → SSE-S3;
//     aws:kms → SSE-KMS; present but empty or anything else (aws:kms:dsse
//     included: not offered by this node) → InvalidArgument "The
//     encryption method specified is not supported" (§4.1);
//  2. x-amz-server-side-encryption-aws-kms-key-id without aws:kms →
//     InvalidArgument "Server Side Encryption with AWS KMS managed key
//     requires HTTP header x-amz-server-side-encryption : aws:kms" (§5.2).
//     aws:kms without a key id is accepted: the caller picks the bucket or
//     server default key (D6);
//  3. x-amz-server-side-encryption-context without aws:kms → the same
//     error; otherwise it must be base64 of a UTF-8 JSON object of string
//     values → InvalidArgument "The header
//     'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8
//     string holding JSON which represents a string-string map" (§5.2);
//  4. x-amz-server-side-encryption-bucket-key-enabled: true or false (any
//     case) → else InvalidArgument; accepted with any mode, meaningful only
//     with SSE-KMS (§4.6).
//
// Headers of operations that do not take them (R6, D7) are not handled
// here.
//
// # Transport (Secure)
//
// Secure implements D3: SSE-C (either trio, HasCustomerHeaders) needs TLS,
// or X-Forwarded-Proto: https sent by a trusted proxy address, or the
// explicit allow-HTTP switch; ErrInsecure is the refusal, 400
// InvalidRequest (§1.3 W9, §1.6). HEAD answers carry no body (s3err.Write).
package sse
