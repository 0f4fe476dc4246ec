// Package kms is the domain of the s3kms key management service: keys, their
// versions and lifecycle, caller identities and policies, and the Service
// that creates keys and hands out data keys. It imports no other package of
// the project except its own format package kms/sealed; storage, protectors
// and protocols are adapters that implement or call what is declared here.
//
// # Key hierarchy
//
//	master key   held by a Protector (hsm/software: 256 bits in memory;
//	             pkcs11: a non-extractable HSM object)
//	root_v       per key and version: 256 random bits, stored only as
//	             RFC 5649 AES-KWP(master, root_v) in the KeyStore
//	KEK          per sealed object: HMAC-SHA256(root_v, KDFInput) where
//	             KDFInput = [1]_32 ‖ label ‖ 0x00 ‖ salt ‖ context ‖ [256]_32
//	             (NIST SP 800-108 counter mode, one block), salt 32 random
//	             bytes, context the canonical encoding of the encryption
//	             context (at least bucket and object key for S3)
//	OEK          per object version: 256 random bits, sealed with
//	             AES-256-GCM under the KEK, associated data = sealed header
//	             ‖ context (see kms/sealed/SPEC.md)
//
// KMIP objects that clients may Get are PurposeMaterial keys instead: their
// versions hold the object's value (symmetric key material wrapped by
// MaterialProtector; secret data and opaque values in an AES-256-GCM
// envelope under a random DEK that MaterialProtector wraps, envelope.go).
// Such material exists in clear outside the protector. An AES one may
// also be named where a root is (SSE-KMS key id): its KEKs are
// HMAC-SHA256(material, KDFInput), computed in Go (materialroot.go), so
// data sealed under it is only as safe as every client that may Get it.
//
// The Service never returns a KEK or a root key. GenerateDataKey returns the
// OEK together with its sealed form; Decrypt returns the OEK of a sealed
// form given the same context; Rewrap re-seals under the current version
// without revealing the OEK. Encrypt and Decrypt also seal small payloads
// (at most 4 KiB) the same way, for SSE-KMS and KMIP.
//
// # Lifecycle
//
// A key's State follows KMIP: pre-active, active, deactivated, compromised,
// destroyed. New data (GenerateDataKey, Encrypt, Rewrap) needs an active
// key; existing data decrypts while a key is active, deactivated or
// compromised. Independently, Enabled is the AWS-style switch that refuses
// every cryptographic use, and a scheduled deletion (7 to 30 days by
// default) disables the key until it is cancelled or the date passes and
// ReapDeletions destroys the material. Destroy refuses an active key, as
// KMIP requires. Transition changes the state under compare-and-set from
// the states the caller expects (of concurrent Activates, one wins); state
// changes record the KMIP lifecycle dates and Revocation Reason in the
// key's Attributes.
//
// Each root version has a state of its own (versions.go): active,
// deactivated (refuses to open and to be rewrapped from; activate it
// again to undo) or destroyed (material erased; only from deactivated).
// Only the current version seals, and it is always active.
// SetVersionState and DestroyVersion retire older versions once nothing
// is sealed under them any more (the S3 node's rewrap job moves objects
// to the current version). A key with a RotationPeriod (SetRotation) is
// rotated by RotateDue, which the server runs next to ReapDeletions.
//
// # KMIP attributes
//
// Key.Attributes hold what KMIP clients set or the lifecycle records;
// UpdateAttributes changes them under compare-and-set (policy op
// "attributes"). Names are unique among keys not destroyed: the KeyStore
// enforces it (ErrNameTaken) and indexes them (FindKeyByName).
// RestoreKey and PurgeKey undo a change or a creation for the KMIP
// adapter's batch Undo, only while nothing else changed the key.
//
// # Symmetric operations on material keys
//
// PurposeMaterial keys (KMIP Symmetric Keys) hold their material wrapped
// by a MaterialProtector; symmetric.go unwraps it for one call and wipes
// it after. EncryptData and DecryptData (policy ops encrypt and decrypt)
// run AES or 3DES in ECB or CBC with optional PKCS#5 padding, and AES-GCM;
// MAC (op encrypt) and VerifyMAC (op decrypt) compute HMAC-SHA1 to
// SHA-512 with HMAC keys; RandomBytes serves any known identity. Protecting
// (encrypt, MAC) needs an Active key before its Protect Stop Date;
// processing (decrypt, verify) an Active, Deactivated or Compromised one
// after its Process Start Date; a set Cryptographic Usage Mask must have
// the operation's bit (EForbidden, cause ErrUsageMask); Usage Limits
// (usage.go) must cover what a protection uses, which is then taken
// from their Count under compare-and-set (EForbidden, cause
// ErrUsageLimits, when they do not). Root keys are EInvalid. Audit events name the key and version, never the data.
//
// # Authorization and audit
//
// Every Service method reads the caller's Identity from the context
// (WithIdentity; adapters derive it from the client certificate), checks
// it against the Policy, and writes one AuditEvent, whether it succeeds or
// not. An operation whose audit record cannot be written fails with
// EUnavailable. Audit events never contain key material.
//
// # Errors
//
// Errors carry a Code (EInvalid, ENotFound, ...). Protocol adapters map
// codes to their own errors with exactly one table each; Message is safe to
// return to callers, the wrapped cause only goes to logs.
package kms
