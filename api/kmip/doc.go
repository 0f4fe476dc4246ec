// Package kmip serves the KMS over KMIP (TTLV over TLS, port 5696) for
// ordinary KMIP clients.
//
// # What it uses of kmip-go
//
// github.com/gemalto/kmip-go provides the TTLV codec only: the tag and
// enumeration constants (kmip14), the header checks of ttlv.TTLV, and
// ttlv.Encoder for responses. Its server layer is not used (it sends
// 1.4-only header fields to every client, stays silent on requests it
// cannot parse, panics on unmapped errors, trusts announced lengths and
// has no timeouts). Requests are walked by our own bounded parser
// (ttlv.go): kmip-go's recursive Valid/Next costs 2^depth on nested
// Structures.
//
// # Connections
//
// TLS 1.2 or later with a client certificate required and verified
// against the KMS's client CAs, as for the HTTP API. The caller's identity
// is the SHA-256 of the certificate's public key (kms.IdentityOf),
// derived once per connection; an identity the policy does not name may
// only run Discover Versions, everything else fails with Authentication
// Not Successful. Each request is framed by its 8-byte TTLV header, which
// is checked before anything is allocated: not a Request Message
// Structure, or longer than Config.MaxMessageSize (1 MiB), gets an
// Invalid Message response and the connection is closed (the stream
// cannot be resynchronised). Deadlines: the idle timeout for the first
// byte of a request, the read timeout for the rest and for the handshake,
// the write timeout for each response. A panic is recovered per
// connection and per batch item and logged without request contents;
// other connections are unaffected.
//
// # Messages
//
// Every framed request gets a response. A request that does not decode
// (bad TTLV, no header, Batch Count not matching the items…) gets one
// batch item without Operation, Result Status Operation Failed, Result
// Reason Invalid Message and a Result Message, and the connection stays
// open. Responses are written in the request's protocol version; the
// server speaks 1.0–1.4 and 2.0 and sends only the header fields all of
// them define (Protocol Version, Time Stamp, Batch Count): never Nonce,
// Attestation Type or Client/Server Correlation Values. At a version it
// does not speak, every batch item fails with Invalid Message except
// Discover Versions, which is how a client finds a version in common.
//
// Batch items are served in order; a request holds at most
// maxBatchItems of them. Operation and Unique Batch Item ID are
// echoed when the request carries them. Batch Error Continuation Option
// Continue serves every item; Stop (the default) answers the items up to
// and including the first failure; Undo is Stop, then undoes the earlier
// items, newest first, and answers them Operation Undone (undo.go: Create
// and ReKey purge their key, state and attribute changes are restored
// under compare-and-set, and Destroy, which cannot be undone, is deferred
// until every item has succeeded). Asynchronous Indicator and Batch Order
// Option are accepted (processing is always synchronous and in order);
// a response longer than the Maximum Response Size has its successful
// items replaced by Response Too Large failures. Every failure carries a
// Result Reason and a Result Message: kms errors through the one table in
// errors.go, unknown errors as General Failure ("internal error", cause
// only in the log). Operations missing from the operation table get
// Operation Not Supported.
//
// # Operations
//
// Query Operations lists every row of the operation table (ops.go):
//
//   - Discover Versions; Query (Operations, Objects, Server Information
//     with Vendor Identification "s3kms"; Extension Map and the other
//     functions report nothing); RNG Retrieve.
//   - Objects (objects.go, register.go, get.go): Create (Symmetric Key:
//     AES-128/192/256, 3DES 168/192, HMAC keys), Register (Symmetric Key
//     in Raw or Transparent Symmetric Key format, Secret Data, Opaque
//     Object; wrapped or compressed key blocks are refused), Get (Raw or
//     Transparent Symmetric Key, Secret Data, Opaque Object; in every
//     state but Destroyed; with a Key Wrapping Specification, keys and
//     secret data wrapped under an AES key with NIST Key Wrap or AES Key
//     Wrap with Padding: wrap.go), ReKey (a
//     new object with fresh material of the same kind; Names move to it;
//     Replaced/Replacement Object Links), Locate (by Unique Identifier,
//     read directly, Name, Object Type, State, Object Group, algorithm,
//     length, Alternative Name, Application Specific Information and
//     custom attributes; Maximum Items, Offset Items), Check.
//   - Lifecycle (keys.go): Activate, Revoke (Key or CA Compromise →
//     Compromised, any other reason → Deactivated), Destroy (refused while
//     Active: Permission Denied in 1.x, Wrong Key Lifecycle State in 2.0).
//     State changes are compare-and-set transitions in kms (of concurrent
//     Activates exactly one succeeds) and record the lifecycle attributes
//     (Activation, Deactivation, Compromise Occurrence, Compromise and
//     Destroy Dates, Revocation Reason).
//   - Attributes (attributes.go, attrvalues.go, attrmod.go): Get
//     Attributes and Get Attribute List (1.x Attribute structures; 2.0
//     Attributes, Attribute References and Vendor Attributes of vendors
//     "x" and "y"); Add, Modify and Delete Attribute for Name, Object
//     Group, Link, Contact Information, Alternative Name, Application
//     Specific Information and custom attributes (the others are read
//     only). Names are unique among objects not destroyed. The server
//     reports Fresh (recorded by kms: false once the value was returned),
//     a Lease Time of one hour and, by name only, the Random Number
//     Generator of keys it generated (objattrs.go).
//   - Cryptography (crypt.go, stream.go) through kms.Service.EncryptData,
//     DecryptData, MAC and VerifyMAC: AES and 3DES in ECB or CBC (no
//     padding or PKCS5; a CBC IV the client does not give is random and
//     returned), AES-GCM (any client IV length, else 12 random bytes;
//     tags of 12 to 16 bytes; additional data; Encrypt also in parts),
//     HMAC-SHA1 to SHA-512. The key's Cryptographic Parameters attribute
//     supplies what the request leaves out. Encrypt and MAC need an Active
//     key, Decrypt and MAC Verify an Active, Deactivated or Compromised
//     one; a Usage Mask, Process Start Date or Protect Stop Date that
//     forbids the use refuses it. Usage Limits (usage.go), given at
//     Create or Register (Total and Unit, Byte or Object; the server sets
//     the Count), are used up by Encrypt, MAC and wrapped Get under a
//     compare-and-set update of the key: a use that would exceed them
//     fails with Permission Denied and uses nothing (Decrypt and MAC
//     Verify apply no protection and use none, KMIP 1.4 section 3.21).
//     Reasons that differ by version: a
//     missing IV is Invalid Message in 1.x (as the OASIS CS-BC-M cases
//     expect) and Missing Initialization Vector in 2.0; a forbidding usage
//     mask is Permission Denied in 1.x and Incompatible Cryptographic Usage
//     Mask in 2.0; a GCM Tag Length outside 12 to 16 is General Failure in
//     1.x (CS-BC-M-GCM-1) and Invalid Field in 2.0.
//
// # Objects
//
// Create, Register and ReKey make kms material keys (kms.PurposeMaterial)
// with a random UUID as Unique Identifier, owned by the caller,
// Pre-Active (Active when an Activation Date not in the future is given)
// and exportable unless Extractable is false; Get exports them through
// kms.Service.ExportKey (policy op "export"). Keys made by the admin API
// (named root keys) are KMIP Symmetric Keys too (AES-256) for attributes,
// Locate and lifecycle, but Get, Encrypt and MAC refuse them: their
// material never leaves the protector. Bucket root keys are not KMIP
// objects. The Digest attribute is the SHA-256 of the key material (Raw
// format) or of the secret or opaque value, computed when the object is
// made. An AES key made over KMIP can be named as an SSE-KMS key id by
// the S3 node once Active (see kms/materialroot.go). The attributes kms
// does not model live in kms.Key.Attributes. Create, Register, ReKey and
// Locate set the batch's ID Placeholder; items without a Unique
// Identifier use it. Operations with side effects register a
// compensation (undo.go) that a failed Undo batch runs.
package kmip
