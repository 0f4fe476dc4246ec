package s3node

import (
	"strings"
	"time"
)

// MultipartUpload is an upload in progress. Its fields other than the ids
// and Initiated become the object's when the upload completes.
type MultipartUpload struct {
	Bucket    string
	Key       string
	UploadID  string // NewID
	Initiated time.Time
	Owner     string

	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	Expires            string
	UserMetadata       map[string]string
	Tags               map[string]string
	StorageClass       string
	ChecksumAlgorithm  string
	ChecksumType       string
	// Encryption holds the upload's sealed object key; each part is
	// encrypted under a key derived from it and the part number.
	Encryption *EncryptionInfo
}

// Part is one uploaded part.
type Part struct {
	PartNumber   int // 1..10000
	BlobID       string
	Size         int64 // plaintext
	StoredSize   int64
	ETag         string
	Checksums    map[string]string
	LastModified time.Time
}

// CompletePart is one entry of a CompleteMultipartUpload request.
type CompletePart struct {
	PartNumber int
	ETag       string
}

// CompleteRequest completes an upload.
type CompleteRequest struct {
	Bucket, Key, UploadID string
	Parts                 []CompletePart // ascending part numbers
	// MinPartSize is the smallest size allowed for every part but the
	// last (S3: 5 MiB); 0 disables the check.
	MinPartSize int64
	// Object carries the fields the caller computes: ETag, LastModified,
	// Checksums, ChecksumType. Metadata, owner and encryption come from
	// the upload; Parts, PartsCount, Size and StoredSize from the parts.
	Object ObjectVersion
}

// ListUploadsOptions selects multipart uploads, ordered by key, then by
// creation (oldest first).
type ListUploadsOptions struct {
	Prefix, Delimiter string
	KeyMarker         string
	UploadIDMarker    string // with KeyMarker: continue after this upload of KeyMarker
	MaxUploads        int
}

// ListUploadsResult is a page of uploads.
type ListUploadsResult struct {
	Uploads            []MultipartUpload
	CommonPrefixes     []string
	IsTruncated        bool
	NextKeyMarker      string
	NextUploadIDMarker string
}

// ListPartsOptions selects the parts of an upload with numbers greater
// than PartNumberMarker.
type ListPartsOptions struct {
	PartNumberMarker int
	MaxParts         int
}

// ListPartsResult is a page of parts in part-number order.
type ListPartsResult struct {
	Parts                []Part
	IsTruncated          bool
	NextPartNumberMarker int
}

// AssembleUpload checks a CompleteMultipartUpload request against the
// upload's stored parts and builds the object version it creates: the
// upload's metadata, r.Object's computed fields, and one Segment per
// listed part with its plaintext offset. unused lists the blobs of the
// parts the request leaves out. Stores call it inside their transaction.
//
// Errors: EInvalid/InvalidPartOrder for no parts or numbers not strictly
// ascending, InvalidPart for a part not uploaded or whose ETag differs
// (quotes ignored), EntityTooSmall for a part but the last smaller than
// r.MinPartSize.
func AssembleUpload(u MultipartUpload, stored []Part, r CompleteRequest) (v ObjectVersion, unused []string, err error) {
	if len(r.Parts) == 0 {
		return v, nil, Errorf(EInvalid, InvalidPartOrder, "a multipart upload needs at least one part")
	}
	byNumber := make(map[int]Part, len(stored))
	for _, p := range stored {
		byNumber[p.PartNumber] = p
	}
	v = r.Object
	v.Bucket, v.Key, v.Owner = u.Bucket, u.Key, u.Owner
	v.ContentType, v.ContentEncoding, v.ContentDisposition = u.ContentType, u.ContentEncoding, u.ContentDisposition
	v.ContentLanguage, v.CacheControl, v.Expires = u.ContentLanguage, u.CacheControl, u.Expires
	v.UserMetadata, v.Tags, v.StorageClass = u.UserMetadata, u.Tags, u.StorageClass
	v.Encryption = u.Encryption
	v.BlobID, v.DeleteMarker, v.Size, v.StoredSize = "", false, 0, 0
	v.Parts = make([]Segment, 0, len(r.Parts))
	used := make(map[int]bool, len(r.Parts))
	for i, cp := range r.Parts {
		if i > 0 && cp.PartNumber <= r.Parts[i-1].PartNumber {
			return ObjectVersion{}, nil, Errorf(EInvalid, InvalidPartOrder, "part numbers must be in ascending order")
		}
		p, ok := byNumber[cp.PartNumber]
		if !ok || strings.Trim(p.ETag, `"`) != strings.Trim(cp.ETag, `"`) {
			return ObjectVersion{}, nil, Errorf(EInvalid, InvalidPart, "part %d was not uploaded or its ETag differs", cp.PartNumber)
		}
		if i < len(r.Parts)-1 && p.Size < r.MinPartSize {
			return ObjectVersion{}, nil, Errorf(EInvalid, EntityTooSmall, "part %d is smaller than the minimum part size", cp.PartNumber)
		}
		used[p.PartNumber] = true
		v.Parts = append(v.Parts, Segment{PartNumber: p.PartNumber, BlobID: p.BlobID, Offset: v.Size,
			Size: p.Size, StoredSize: p.StoredSize, ETag: p.ETag, Checksums: p.Checksums})
		v.Size += p.Size
		v.StoredSize += p.StoredSize
	}
	v.PartsCount = len(v.Parts)
	for _, p := range stored {
		if !used[p.PartNumber] {
			unused = append(unused, p.BlobID)
		}
	}
	return v, unused, nil
}
