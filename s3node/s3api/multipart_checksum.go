package s3api

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/sigv4"
)

// crcParams describes a reflected CRC (initial value and final XOR all
// ones) by its width and reversed polynomial.
type crcParams struct {
	width int
	poly  uint64
}

// fullObjectCRCs are the algorithms whose part checksums combine into the
// checksum of the whole object (FULL_OBJECT).
var fullObjectCRCs = map[string]crcParams{
	"CRC32":     {32, 0xEDB88320},
	"CRC32C":    {32, 0x82F63B78},
	"CRC64NVME": {64, 0x9A6C9329AC4BC9B5},
}

// mulmod multiplies two polynomials modulo the CRC polynomial, in the
// reflected representation (zlib's multmodp).
func (c crcParams) mulmod(a, b uint64) uint64 {
	m := uint64(1) << (c.width - 1)
	var p uint64
	for {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		m >>= 1
		if b&1 != 0 {
			b = b>>1 ^ c.poly
		} else {
			b >>= 1
		}
	}
	return p
}

// shift returns x^(8n) modulo the polynomial.
func (c crcParams) shift(n int64) uint64 {
	p := uint64(1) << (c.width - 1) // x^0
	x := uint64(1) << (c.width - 2) // x^1
	for k := 0; k < 3; k++ {        // x^8
		x = c.mulmod(x, x)
	}
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			p = c.mulmod(x, p)
		}
		x = c.mulmod(x, x)
	}
	return p
}

// combine returns the CRC of A||B from crc(A), crc(B) and len(B).
func (c crcParams) combine(crcA, crcB uint64, lenB int64) uint64 {
	return c.mulmod(c.shift(lenB), crcA) ^ crcB
}

func (c crcParams) decode(s string) (uint64, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != c.width/8 {
		return 0, false
	}
	if c.width == 32 {
		return uint64(binary.BigEndian.Uint32(b)), true
	}
	return binary.BigEndian.Uint64(b), true
}

func (c crcParams) encode(v uint64) string {
	if c.width == 32 {
		return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, uint32(v)))
	}
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, v))
}

// checksumOrder is the order in which algorithms are tried when the
// upload did not name one.
var checksumOrder = []string{"CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"}

// objectChecksum computes a completed upload's checksum from its parts'
// (in object order): with the upload's algorithm and type when it named
// them, else with the first algorithm every part has, COMPOSITE
// ("base64(checksum of the binary part checksums)-N") except CRC64NVME,
// which is FULL_OBJECT (the CRC of the whole data, combined from the
// parts'). ok is false when the parts do not allow it.
func objectChecksum(u s3node.MultipartUpload, parts []s3node.Part) (alg, value, typ string, ok bool) {
	algs := checksumOrder
	if u.ChecksumAlgorithm != "" {
		algs = []string{u.ChecksumAlgorithm}
	}
	for _, alg := range algs {
		typ := u.ChecksumType
		if typ == "" {
			typ = s3node.ChecksumComposite
			if alg == "CRC64NVME" {
				typ = s3node.ChecksumFullObject
			}
		}
		if v, ok := combineChecksums(alg, typ, parts); ok {
			return alg, v, typ, true
		}
	}
	return "", "", "", false
}

func combineChecksums(alg, typ string, parts []s3node.Part) (string, bool) {
	if len(parts) == 0 {
		return "", false
	}
	if typ == s3node.ChecksumFullObject {
		c, ok := fullObjectCRCs[alg]
		if !ok {
			return "", false
		}
		var crc uint64
		for i, p := range parts {
			v, ok := c.decode(p.Checksums[alg])
			if !ok {
				return "", false
			}
			if i == 0 {
				crc = v
			} else {
				crc = c.combine(crc, v, p.Size)
			}
		}
		return c.encode(crc), true
	}
	h, _, ok := sigv4.NewChecksum("x-amz-checksum-" + strings.ToLower(alg))
	if !ok || alg == "CRC64NVME" {
		return "", false
	}
	for _, p := range parts {
		raw, err := base64.StdEncoding.DecodeString(p.Checksums[alg])
		if err != nil || len(raw) == 0 {
			return "", false
		}
		h.Write(raw)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts)), true
}
