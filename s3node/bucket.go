package s3node

import "time"

// VersioningState is a bucket's versioning state. The zero value is
// Unversioned: a bucket that has never had versioning enabled.
type VersioningState string

// Versioning states. A bucket can go from Unversioned to Enabled, and
// between Enabled and Suspended; never back to Unversioned.
const (
	Unversioned VersioningState = ""
	Enabled     VersioningState = "Enabled"
	Suspended   VersioningState = "Suspended"
)

// Valid reports whether s is one of the three states.
func (s VersioningState) Valid() bool {
	return s == Unversioned || s == Enabled || s == Suspended
}

// Bucket is a bucket's metadata.
type Bucket struct {
	// ID is the bucket's internal, random, immutable id (NewID). The KMS
	// root key of the bucket is derived from it, not from the name, so a
	// bucket re-created under the same name never shares keys.
	ID         string
	Name       string // unique
	Owner      string // canonical id of the owning user
	CreatedAt  time.Time
	Region     string // location constraint; "" for the default region
	Versioning VersioningState
	Tags       map[string]string // nil when there are none
	// Encryption is the bucket's default-encryption configuration as the
	// S3 layer serialises it (JSON); nil when none is set. The store keeps
	// it as opaque bytes.
	Encryption []byte
}

// User is an S3 user with one access key. The secret key is sealed by the
// KMS before it reaches the store: the store never sees it in clear.
type User struct {
	AccessKeyID  string
	CanonicalID  string // owner id used in buckets and objects
	DisplayName  string
	SealedSecret []byte
	CreatedAt    time.Time
}
