package sigv4

import (
	"crypto/sha1"
	"crypto/sha256"
	"hash"
	"hash/crc32"
	"hash/crc64"
)

// crc64NVMEPoly is the CRC-64/NVME polynomial 0xad93d23594c93659 in the
// bit-reversed form hash/crc64 expects. Check value: CRC64NVME("123456789")
// = 0xae8b14860a799888 (checked in checksum_test.go, and equal to the
// constant the AWS SDKs use).
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

var (
	crc32cTable    = crc32.MakeTable(crc32.Castagnoli)
	crc64NVMETable = crc64.MakeTable(crc64NVMEPoly)
)

// checksumAlgo describes one x-amz-checksum-* algorithm.
type checksumAlgo struct {
	header string // x-amz-checksum-crc32, ...
	name   string // CRC32, ... (as in AWS messages and x-amz-checksum-algorithm)
	size   int    // digest size in bytes
	newFn  func() hash.Hash
}

var checksumAlgos = []checksumAlgo{
	{"x-amz-checksum-crc32", "CRC32", 4, func() hash.Hash { return crc32.NewIEEE() }},
	{"x-amz-checksum-crc32c", "CRC32C", 4, func() hash.Hash { return crc32.New(crc32cTable) }},
	{"x-amz-checksum-crc64nvme", "CRC64NVME", 8, func() hash.Hash { return crc64.New(crc64NVMETable) }},
	{"x-amz-checksum-sha1", "SHA1", 20, sha1.New},
	{"x-amz-checksum-sha256", "SHA256", 32, sha256.New},
}

// checksumByHeader finds an algorithm by its lower-case header name.
func checksumByHeader(h string) (checksumAlgo, bool) {
	for _, a := range checksumAlgos {
		if a.header == h {
			return a, true
		}
	}
	return checksumAlgo{}, false
}

// NewChecksum returns a hash for the x-amz-checksum-* header name h (lower
// case, e.g. "x-amz-checksum-crc64nvme"), its AWS algorithm name and true,
// or false if h is not a known checksum header. The digest of the returned
// hash, base64-encoded (standard encoding), is the header value.
func NewChecksum(h string) (hash.Hash, string, bool) {
	a, ok := checksumByHeader(h)
	if !ok {
		return nil, "", false
	}
	return a.newFn(), a.name, true
}
