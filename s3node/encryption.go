package s3node

import (
	"encoding/json"
	"fmt"
)

// Values of EncryptionConfig.SSEAlgorithm (the S3 SSEAlgorithm enum this
// node serves).
const (
	AlgorithmAES256 = "AES256"  // SSE-S3
	AlgorithmKMS    = "aws:kms" // SSE-KMS
)

// Values of EncryptionConfig.BlockedEncryptionTypes.
const (
	BlockSSEC = "SSE-C" // refuse writes that use SSE-C
	BlockNone = "NONE"  // block nothing
)

// EncryptionConfig is a bucket's default-encryption configuration (S3
// PutBucketEncryption, one rule). It is kept in Bucket.Encryption as
// JSON (MarshalEncryptionConfig).
type EncryptionConfig struct {
	SSEAlgorithm     string   `json:"sse_algorithm"`           // AlgorithmAES256 or AlgorithmKMS
	KMSMasterKeyID   string   `json:"kms_key_id,omitempty"`    // only with AlgorithmKMS; "" = server default key
	BucketKeyEnabled bool     `json:"bucket_key_enabled"`      // echoed, meaningful with SSE-KMS
	BlockedTypes     []string `json:"blocked_types,omitempty"` // BlockSSEC and/or BlockNone
}

// BlocksSSEC reports whether the configuration refuses SSE-C writes.
func (c *EncryptionConfig) BlocksSSEC() bool {
	if c == nil {
		return false
	}
	for _, t := range c.BlockedTypes {
		if t == BlockSSEC {
			return true
		}
	}
	return false
}

// MarshalEncryptionConfig encodes c for Bucket.Encryption; nil encodes
// as nil (no configuration).
func MarshalEncryptionConfig(c *EncryptionConfig) []byte {
	if c == nil {
		return nil
	}
	b, _ := json.Marshal(c) // cannot fail: strings, bools and slices only
	return b
}

// ParseEncryptionConfig decodes Bucket.Encryption; nil or empty is no
// configuration (nil, nil).
func ParseEncryptionConfig(b []byte) (*EncryptionConfig, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var c EncryptionConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("s3node: stored bucket encryption configuration: %w", err)
	}
	return &c, nil
}
