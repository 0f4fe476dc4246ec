// Package bucketkey implements bucket keys for the S3 node, the scheme of
// AWS's "S3 Bucket Keys": instead of one KMS call per encrypted PUT and
// GET, the node asks the KMS for a bucket-level data key (BDK), keeps it
// for a short time (TTL), and seals each object's key (OEK) under it
// itself. Every object still has its own random OEK; only the sealing of
// that OEK moves from the KMS to the node.
//
// Benchmarks (internal/s3load) showed that the KMS round trip, whose audit
// record is committed durably before it answers, is what makes SSE-S3
// slower than plain objects at 1 MiB; with bucket keys the KMS is called
// once per bucket and TTL. The price, as on AWS: the KMS audit log shows
// one data-key operation per bucket and TTL instead of one per object, and
// disabling or rotating a key takes effect on a node only when its cached
// BDKs expire (at most TTL). The cache is off unless configured.
//
// # Envelope format
//
// A bucket-key object stores, where a KMS-sealed OEK would be, an
// envelope:
//
//	byte    0x42 ('B'), format version 1 (a kms/sealed blob starts 0x01)
//	uint16  BE length n of the sealed BDK
//	n bytes the sealed BDK: a kms/sealed blob made by the KMS's
//	        GenerateDataKey under the bucket's key with the bucket context
//	rest    the sealed OEK: a kms/sealed blob with use SSE-S3 or SSE-KMS,
//	        key id BucketKeyID, key version 0, sealed by the node with
//	        PRF = HMAC-SHA256(BDK) and the object context
//
// The bucket context binds the BDK to its bucket (it contains no object
// key, so one BDK serves many objects); the object context binds the OEK
// to its object, exactly as for KMS-sealed OEKs. A rewrap (key rotation)
// re-seals only the BDK part through the KMS: every object sharing a BDK
// shares that work.
//
// The metadata stores read the key id and version of the sealed BDK from
// the envelope in SQL (migration 0008_sse_kms_key_version), to count and
// list objects by root-key version: a new envelope version needs a
// migration that teaches them, or its objects are only reported by
// s3node.SealedKeyStore's CountUnattributed.
package bucketkey

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/s3kms/s3kms/kms/sealed"
)

// Version is the first byte of an envelope.
const Version = 0x42

// BucketKeyID is the key id written into the node-sealed OEK of an
// envelope. Its key version is always 0.
const BucketKeyID = "bucket-key"

// ErrMalformed is wrapped by Parse's errors.
var ErrMalformed = errors.New("bucketkey: malformed envelope")

// Envelope is a parsed envelope.
type Envelope struct {
	BucketKey []byte // the KMS-sealed BDK
	ObjectKey []byte // the node-sealed OEK
}

// IsEnvelope reports whether b is an envelope rather than a KMS-sealed
// OEK (by its first byte; Parse validates the rest).
func IsEnvelope(b []byte) bool { return len(b) > 0 && b[0] == Version }

// Marshal encodes e.
func (e Envelope) Marshal() ([]byte, error) {
	if len(e.BucketKey) == 0 || len(e.BucketKey) > 0xffff || len(e.ObjectKey) == 0 {
		return nil, errors.New("bucketkey: envelope parts empty or too long")
	}
	out := make([]byte, 0, 3+len(e.BucketKey)+len(e.ObjectKey))
	out = append(out, Version)
	out = binary.BigEndian.AppendUint16(out, uint16(len(e.BucketKey)))
	out = append(out, e.BucketKey...)
	return append(out, e.ObjectKey...), nil
}

// Parse decodes an envelope and checks that both parts are well-formed
// kms/sealed blobs. The parts alias b.
func Parse(b []byte) (Envelope, error) {
	if len(b) < 3 || b[0] != Version {
		return Envelope{}, fmt.Errorf("%w: bad header", ErrMalformed)
	}
	n := int(binary.BigEndian.Uint16(b[1:3]))
	if n == 0 || len(b) < 3+n+1 {
		return Envelope{}, fmt.Errorf("%w: bad length", ErrMalformed)
	}
	e := Envelope{BucketKey: b[3 : 3+n : 3+n], ObjectKey: b[3+n:]}
	if _, err := sealed.Parse(e.BucketKey); err != nil {
		return Envelope{}, fmt.Errorf("%w: bucket key: %v", ErrMalformed, err)
	}
	s, err := sealed.Parse(e.ObjectKey)
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: object key: %v", ErrMalformed, err)
	}
	if s.KeyID != BucketKeyID || s.KeyVersion != 0 || (s.Use != sealed.UseSSES3 && s.Use != sealed.UseSSEKMS) {
		return Envelope{}, fmt.Errorf("%w: object key is not sealed under a bucket key", ErrMalformed)
	}
	return e, nil
}
