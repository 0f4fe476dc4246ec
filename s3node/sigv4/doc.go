// Package sigv4 verifies AWS Signature Version 4 on S3 requests.
//
// # Flow
//
// The S3 router calls Verify for every request, before any handler:
//
//  1. Verify finds the form of authentication: the Authorization header
//     ("AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…") or the
//     presigned query (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
//     X-Amz-Expires ≤ 604800, X-Amz-SignedHeaders, X-Amz-Signature). Neither
//     gives ErrNoAuth (an anonymous request); both give InvalidArgument.
//
//  2. It checks what needs no secret: credential scope (date equal to the
//     request date, Options.Region, service "s3", "aws4_request"), clock skew
//     (Options.MaxSkew, default 15 minutes: RequestTimeTooSkewed) or the
//     presigned validity window ("Request has expired"), that host and the
//     date header are signed, that every x-amz-* header the request carries
//     is signed (AccessDenied "There were headers present in the request
//     which were not signed"), and the x-amz-content-sha256 value.
//
//  3. It asks Credentials for the secret key, derives the signing key
//     kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"‖secret, yyyymmdd), region), "s3"),
//     "aws4_request") and wipes the secret.
//
//  4. It rebuilds the canonical request exactly as AWS does:
//
//     method \n canonical URI \n canonical query \n canonical headers \n
//     signed headers \n payload hash
//
//     The canonical URI is the path with each segment decoded once and
//     re-encoded (unreserved characters A-Za-z0-9-._~ kept, all else %XX);
//     S3 neither normalises nor double-encodes it. The query parameters are
//     decoded, re-encoded the same way and sorted (X-Amz-Signature left out
//     for presigned URLs). Header values are trimmed, inner runs of spaces
//     folded, repeated headers joined with ','. Host comes from r.Host.
//
//  5. It compares HMAC(kSigning, string to sign) with the signature in
//     constant time (SignatureDoesNotMatch).
//
// The returned Result names the access key and the payload mode. The handler
// then reads the body through Result.Body, which verifies the payload while
// streaming: a hex x-amz-content-sha256 is checked at EOF
// (XAmzContentSHA256Mismatch); UNSIGNED-PAYLOAD passes through; the three
// aws-chunked modes (STREAMING-AWS4-HMAC-SHA256-PAYLOAD,
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER,
// STREAMING-UNSIGNED-PAYLOAD-TRAILER) are decoded one chunk at a time. A
// signed chunk's signature is
//
//	HMAC(kSigning, "AWS4-HMAC-SHA256-PAYLOAD\n" + timestamp + "\n" + scope + "\n" +
//	     previous signature + "\n" + hex(SHA256("")) + "\n" + hex(SHA256(chunk data)))
//
// where the first previous signature (the seed) is the request's. The
// trailer signature is
//
//	HMAC(kSigning, "AWS4-HMAC-SHA256-TRAILER\n" + timestamp + "\n" + scope + "\n" +
//	     final chunk signature + "\n" + hex(SHA256("name:value\n" for each trailer)))
//
// A chunk is buffered whole (at most Options.MaxChunkSize, 16 MiB by
// default) and its signature checked before any of its bytes reach the
// caller. At the end the decoded length must equal
// x-amz-decoded-content-length (IncompleteBody) and the x-amz-checksum-*
// trailer named by x-amz-trailer (CRC32, CRC32C, CRC64NVME, SHA1, SHA256)
// must match the data (BadDigest). The reader returns io.EOF only when every
// check passed: a handler must not commit an object unless it read to EOF.
//
// Browser-form POST uploads are verified by VerifyPostPolicy: the signature
// is HMAC(kSigning, policy field as sent, in base64); the policy's
// expiration and conditions are then checked with PostResult.CheckFields and
// PostResult.CheckContentLength.
//
// Errors are *Error values carrying AWS's code, message and HTTP status.
// They never contain the secret key, a computed signature or a string to
// sign. Not supported: SigV2, SigV4a (ECDSA), session tokens
// (X-Amz-Security-Token gives InvalidToken).
package sigv4
