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
// Batch items are served in order. Operation and Unique Batch Item ID are
// echoed when the request carries them. Batch Error Continuation Option
// Continue serves every item; Stop (the default) answers the items up to
// and including the first failure; Undo is served as Stop and the failing
// item's Result Message says so. Asynchronous Indicator and Batch Order
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
// This slice implements Discover Versions and Query (Query Operations,
// Query Objects, Query Server Information with Vendor Identification
// "s3kms"; Query Extension Map and the other functions report nothing).
// The operation table (operationTable in ops.go) is the one place later
// slices extend: Create, Register, Get, Get Attributes, Get Attribute
// List, Add/Modify/Delete Attribute, Locate, Activate, Revoke, Destroy,
// ReKey, Check, Encrypt, Decrypt, MAC and RNG Retrieve over kms.Service,
// with ID Placeholder handling in the batch loop, the object types
// Query Objects reports, and a real Undo once operations have effects.
package kmip
