// Package pkcs11 is the PKCS#11 kms.Protector: the master key lives in an
// HSM token and root keys are in clear only inside the HSM.
//
// It asks the HSM for exactly what hsm/software computes in memory, so a
// root wrapped by one protector opens under the other with the same
// master (hsm/hsmtest's known answers check it against SoftHSM):
//
//   - GenerateRoot: C_GenerateKey (CKM_GENERIC_SECRET_KEY_GEN, 32 bytes) of
//     a sensitive session object, C_WrapKey with CKM_AES_KEY_WRAP_PAD
//     (RFC 5649) under the master, 40 bytes, then C_DestroyObject;
//   - OpenRoot: C_UnwrapKey (CKM_AES_KEY_WRAP_PAD) into a sensitive,
//     non-extractable generic-secret session object (CKA_TOKEN false)
//     that can only sign; RootKey.PRF is CKM_SHA256_HMAC on it and
//     RootKey.Close destroys it;
//   - RewrapRoot (master rotation): unwrap under an older master into a
//     sensitive object extractable only by wrapping, wrap under the
//     current master, destroy.
//
// Why this shape (DESIGN.md, "Key hierarchy"): SoftHSM 2.6.1 has no HKDF
// or SP 800-108 mechanism, but KWP and HMAC are enough, and one HMAC is
// one SP 800-108 counter-mode block: the KEK. There is one token object,
// the master; roots are session objects, because creating token objects
// is slow and racy (SoftHSM) and storage would grow with the number of
// keys. The kms cache keeps opened roots, so an unwrap is paid once per
// cache miss.
//
// # The master key
//
// InitMaster (s3kms kms hsm init) generates it inside the HSM: an AES-256
// token object, private, sensitive, not extractable, not modifiable, with
// CKA_WRAP and CKA_UNWRAP and nothing else (masterTemplate). It is found
// by its CKA_ID, the bytes of Config.MasterKeyID, never by label: labels
// need not be unique and most HSMs accept duplicates silently. New looks
// the masters up once, refuses a CKA_ID held by two objects, and keeps
// the handles: no request looks anything up in the HSM. After a master
// rotation the older masters stay in the token, listed in
// Config.PreviousMasterKeyIDs, and OpenRoot tries them after the current
// one.
//
// # Sessions
//
// New opens a pool of read-only sessions (one per GOMAXPROCS, 2 to 16)
// and never closes them before Close: opening a session costs a round
// trip, closing the last one logs the token out, and closing a session
// destroys the session objects it created (the opened roots). A PKCS#11
// session runs one operation at a time, so each call takes a session from
// the pool (a buffered channel) and gives it back; object handles are
// valid in every session, so a root opened in one session is used in
// any. Login is per token and process, not per session: the first C_Login
// logs in every session, later ones answer CKR_USER_ALREADY_LOGGED_IN
// (the package remembers a hash of the PIN it logged in with, so a wrong
// PIN is still refused while another protector holds the token).
//
// PKCS#11 library state is per process too (C_Initialize once;
// C_Finalize ends everyone's sessions), so protectors and InitMaster share
// one loaded module per path, reference-counted; the last one finalizes.
// Token-object creation is serialized (SoftHSM 2.6.1 races otherwise).
//
// # Why miekg/pkcs11 and not crypto11
//
// crypto11 (github.com/ThalesGroup/crypto11) has no wrap, unwrap or HMAC
// on a handle we choose, and does not expose its sessions, so those calls
// would need a second pkcs11.Ctx on the same module beside crypto11's own
// C_Initialize/C_Finalize and session pool: two owners of one process-wide
// library state. Its login errors are not typed (no ErrPIN), its key
// lookups go to the HSM on each call, and its Seal and Sum panic on HSM
// errors. What it would give us (a session pool, attribute helpers) is a
// few dozen lines here, so this package uses github.com/miekg/pkcs11
// directly.
//
// # Errors
//
// Start-up failures wrap ErrModule, ErrToken, ErrPIN or ErrNoMaster. Every
// other HSM error is a *kms.Error naming the PKCS#11 function and the
// CKR_ value, never key material: EUnavailable when the device, the token
// or the session is gone (the caller may retry), EDecrypt when a wrapped
// root does not unwrap, EInternal otherwise. The package never panics on
// an HSM error. A protector whose token was removed stays broken; restart
// the process (or New again) once the token is back.
package pkcs11
