// Package objcrypt encrypts object data at rest for the S3 node: the
// per-object key (OEK), the keys of parts, the stored data format, the
// SSE-C/SSE-KMS ETag and the sealing of an OEK under an SSE-C customer
// key. This comment is the format's spec (DESIGN.md, "Key hierarchy");
// testdata/vectors.json freezes it (TestVectors; rewrite only with
// -update, and only for new vectors; testdata/verify_vectors.py re-checks
// it with Python's cryptography package). Stored data of Format
// "s3kms/v1/dare2-aes256gcm-64k" must keep decrypting.
//
// Notation: ‖ concatenation, [x]_32 the 32-bit big-endian encoding of x,
// HMAC = HMAC-SHA256.
//
// # Keys
//
// Each object version has an OEK of 256 random bits (NewObjectKey). It is
// never used as a cipher key, only as an HMAC key, for two derivations
// whose inputs cannot collide (the labels differ from their ninth byte):
//
//	part key(n) = HMAC(OEK, "s3kms/v1/part-key" ‖ [n]_32)
//	ETag(n, m)  = hex(HMAC(OEK, "s3kms/v1/etag" ‖ [n]_32 ‖ m)[:16])
//
// n is 0 for an object written by one PutObject, POST or CopyObject, and
// the part number 1..10000 for a multipart part, so every part is
// written and read on its own with its own key. m is the MD5 of the
// plaintext (of the object, or of the part). The ETag is 32 lower-case
// hex digits, deterministic for (OEK, n, MD5), and as HMAC is a PRF it
// reveals nothing about the MD5 to anyone without the OEK: equal
// contents under different keys give unrelated ETags (SSE-SPEC D9; used
// for SSE-C and SSE-KMS, while SSE-S3 keeps the plaintext MD5).
//
// # Data format
//
// A part is encrypted with its part key as one DARE 2.0 stream
// (github.com/minio/sio, DARE.md there), pinned to AES-256-GCM: the
// plaintext is cut into packages of 65536 bytes, the last one 1..65536
// bytes. Package i (from 0) is stored as
//
//	header (16) ‖ AES-256-GCM ciphertext (len) ‖ tag (16)
//
//	header[0]     0x20, version 2.0
//	header[1]     0x00, cipher suite AES-256-GCM
//	header[2:4]   len-1, uint16 little-endian
//	header[4:16]  12-byte nonce, the same random value in every package
//	              of a stream, except the top bit of header[4]: 1 in the
//	              last package (the final flag), 0 elsewhere
//	GCM nonce     header[4:16] with its last 4 bytes, read as a
//	              little-endian uint32, XORed with i (the sequence number)
//	GCM AD        header[0:4]
//
// Every package but the last holds exactly 65536 bytes. So 32 bytes per
// package are added:
//
//	stored size  = ⌊p/65536⌋·65568 + (p mod 65536 > 0 ? p mod 65536 + 32 : 0)
//
// (EncryptedSize), and plaintext offset o lies in package i = ⌊o/65536⌋,
// stored from offset i·65568, decrypted with sequence number i, at
// o mod 65536 into its payload. A range read (NewReader) reads and
// decrypts packages ⌊off/65536⌋ to ⌊(off+length-1)/65536⌋ only. A stored
// size whose last package would hold 32 bytes or less is invalid.
//
// An empty part stores nothing (0 bytes; DARE has no empty package).
// Its emptiness is then vouched for only by the object's metadata, which
// records the sizes; a non-empty stream cannot be read as empty, nor
// an empty one as anything else, without changing that metadata.
//
// Why these choices:
//   - The sequence number in the nonce authenticates each package's
//     position; the final flag (in the nonce as well) authenticates the
//     end, so reordering, dropping, duplicating or truncating packages
//     fails, also at a package boundary: a read that reaches the last
//     package checks its flag.
//   - Nonce: GCM needs (key, nonce) unique. The part key is unique per
//     (object version, part number); within a stream the sequence number
//     makes the nonces distinct. The random 95 bits (from crypto/rand,
//     drawn by sio per stream) cover the remaining case of one part key
//     used for several streams: an UploadPart retried or repeated with
//     the same part number in the same upload. Callers must not reuse an
//     OEK for another object version.
//   - 64 KiB packages: ranges cost at most one 64 KiB package of waste at
//     each end, and the 0.05% overhead is negligible.
//   - A stream is limited to 2^32 packages (2^48 bytes) so sequence
//     numbers never repeat; S3 parts are at most 5 GiB.
//   - Known limit: nothing but the key and the random nonce tells two
//     streams of the same part key apart, so someone who can write the
//     data store can swap a part for an older upload of the same part
//     number of the same multipart upload; it cannot mix packages of the
//     two (the nonce differs) nor move data across parts or objects.
//
// # SSE-C
//
// For SSE-C the S3 node seals the OEK itself, in the kms/sealed format
// (kms/sealed/SPEC.md), with the 32-byte customer key in place of the
// root key:
//
//	sealed.Seal(rand, sealed.HMACPRF(customerKey), sealed.UseSSEC,
//	            "sse-c", 0, sealed.EncodeContext(ctx), OEK)
//
// so KEK = HMAC(customer key, SP 800-108 input("s3kms/v1/sse-c",
// salt ‖ context)). The key id "sse-c" (CustomerKeyID) and version 0 only
// mark the blob; OpenCustomer refuses blobs of any other use, id or
// version. A wrong customer key or context fails authentication
// (ErrWrongKey): that is the SSE-C key check. The customer key is never
// stored.
//
// # Secrets
//
// ObjectKey never prints its bytes, and no error or panic of this package
// contains key material. sio keeps no reference to a key slice (the AES
// key schedule, which Go cannot wipe, lives in crypto/aes); part keys and
// unsealed OEK copies are cleared after use.
package objcrypt
