// Package sealed implements the sealed-key format of s3kms: how an object
// encryption key (OEK), or a small KMS Encrypt payload, is sealed under a
// key-encryption key (KEK) derived from a root key version. SPEC.md in
// this directory is the normative description; frozen test vectors are in
// testdata/vectors.json.
//
// # Derivation
//
// For every Seal, a fresh 256-bit salt is drawn and
//
//	KEK = HMAC-SHA256(root, [1]_32 ‖ Label ‖ 0x00 ‖ salt ‖ EncodeContext(ctx) ‖ [256]_32)
//
// which is NIST SP 800-108r1 KDF in counter mode (HMAC-SHA256 PRF, 32-bit
// counter before the fixed input, L = 256, hence a single PRF block). One
// HMAC is what a PKCS#11 token (CKM_SHA256_HMAC) computes on a root key it
// never exports, so the software and HSM protectors derive the same KEK.
// The label names the Use ("s3kms/v1/sse-s3", "s3kms/v1/sse-kms",
// "s3kms/v1/sse-c", "s3kms/v1/encrypt"), separating the domains.
//
// # Blob
//
//	0x01 ‖ use ‖ len(keyID) ‖ keyID ‖ [keyVersion]_32 ‖ salt(32) ‖ nonce(12) ‖ AES-256-GCM(KEK, nonce, plaintext, AD)
//	AD = header (all bytes before the ciphertext) ‖ EncodeContext(ctx)
//
// For a 32-byte OEK the blob is 99 + len(keyID) bytes.
//
// # Nonces
//
// Every KEK is used for exactly one encryption: the 256-bit random salt
// makes each Seal derive a new KEK (two seals share a KEK only if their
// salts collide, probability about 2^-256 per pair, or n²·2^-257 for n
// seals). GCM's nonce-uniqueness requirement is therefore met whatever the
// nonce; the 96-bit nonce is still random, as defence in depth, and the
// usual 2^32-messages-per-key bound for random GCM nonces does not apply
// since each key encrypts one message. Rewrapping seals again with a new
// salt and nonce.
//
// # Binding
//
// The use, key id, key version, salt and nonce are authenticated as
// associated data, and the encryption context is both an input of the KEK
// derivation and associated data: a blob moved to another object, bucket,
// key, key version or use does not open (ErrOpen).
//
// # Secrets
//
// Seal and Open wipe the KEK array they receive from the PRF. Go offers no
// way to wipe the AES key schedule held by crypto/aes or the HMAC pads held
// by crypto/hmac; those become garbage when the call returns.
package sealed
