package rows

import (
	"github.com/s3kms/s3kms/s3node"
)

// Columns of the S3 metadata tables. ObjectCols and UploadCols are read
// through the aliases o and u, in ScanObject's and ScanUpload's order;
// the *InsertCols lists are written in the matching *Args order.
const (
	ObjectCols = `o.id, o.key, o.version_id, o.is_current, o.delete_marker, o.size, o.stored_size,
	o.etag, o.last_modified, o.owner, o.content_type, o.content_encoding, o.content_disposition,
	o.content_language, o.cache_control, o.expires, o.user_metadata, o.tags, o.storage_class,
	o.checksums, o.checksum_type, o.blob_id, o.parts_count, o.sse_type, o.sse_sealed_key,
	o.sse_key_id, o.sse_key_version, o.sse_customer_key_md5, o.sse_format, o.sse_context, o.sse_bucket_key`
	ObjectInsertCols = `bucket_id, key, version_id, is_current, delete_marker, size, stored_size,
	etag, last_modified, owner, content_type, content_encoding, content_disposition,
	content_language, cache_control, expires, user_metadata, tags, storage_class,
	checksums, checksum_type, blob_id, parts_count, sse_type, sse_sealed_key,
	sse_key_id, sse_key_version, sse_customer_key_md5, sse_format, sse_context, sse_bucket_key`

	SegmentCols = `part_number, blob_id, part_offset, size, stored_size, etag, checksums`

	UploadCols = `u.seq, u.upload_id, u.key, u.initiated, u.owner, u.content_type, u.content_encoding,
	u.content_disposition, u.content_language, u.cache_control, u.expires, u.user_metadata, u.tags,
	u.storage_class, u.checksum_algorithm, u.checksum_type, u.sse_type, u.sse_sealed_key,
	u.sse_key_id, u.sse_key_version, u.sse_customer_key_md5, u.sse_format, u.sse_context, u.sse_bucket_key`
	UploadInsertCols = `upload_id, bucket_id, key, initiated, owner, content_type, content_encoding,
	content_disposition, content_language, cache_control, expires, user_metadata, tags,
	storage_class, checksum_algorithm, checksum_type, sse_type, sse_sealed_key,
	sse_key_id, sse_key_version, sse_customer_key_md5, sse_format, sse_context, sse_bucket_key`

	PartCols = `part_number, blob_id, size, stored_size, etag, checksums, last_modified`

	BucketCols = `id, name, owner, created_at, region, versioning, tags, encryption`
	UserCols   = `access_key_id, canonical_id, display_name, sealed_secret, created_at`
)

// sseCols holds the encryption columns, sse_type to sse_bucket_key (all
// nullable but the last).
type sseCols struct {
	typ, keyID, md5, format *string
	sealed, context         []byte
	version                 *int32
	bucketKey               bool
}

func (c *sseCols) dest() []any {
	return []any{&c.typ, &c.sealed, &c.keyID, &c.version, &c.md5, &c.format, &c.context, &c.bucketKey}
}

func (c *sseCols) info() (*s3node.EncryptionInfo, error) {
	if c.typ == nil {
		return nil, nil
	}
	e := &s3node.EncryptionInfo{Type: s3node.SSEType(*c.typ), SealedKey: NilIfEmpty(c.sealed), BucketKeyEnabled: c.bucketKey}
	if c.keyID != nil {
		e.KeyID = *c.keyID
	}
	if c.version != nil {
		e.KeyVersion = int(*c.version)
	}
	if c.md5 != nil {
		e.CustomerKeyMD5 = *c.md5
	}
	if c.format != nil {
		e.Format = *c.format
	}
	var err error
	e.Context, err = DecodeMap(c.context)
	return e, err
}

// SSEArgs are e's values for the encryption columns, sse_type to
// sse_bucket_key; nil is all NULL (and false).
func SSEArgs(e *s3node.EncryptionInfo, c Codec) []any {
	if e == nil {
		return []any{nil, nil, nil, nil, nil, nil, nil, false}
	}
	return []any{string(e.Type), NilIfEmpty(e.SealedKey), e.KeyID, e.KeyVersion, e.CustomerKeyMD5, e.Format, c.JSON(EncodeMap(e.Context)), e.BucketKeyEnabled}
}

// Map is m as a JSON map argument, NULL when empty.
func Map(m map[string]string, c Codec) any { return c.JSON(EncodeMap(m)) }

// ScanObject reads a row of ObjectCols; bucket is the bucket's name.
func ScanObject(row Scanner, bucket string, c Codec) (s3node.ObjectVersion, error) {
	var v s3node.ObjectVersion
	var meta, tags, sums []byte
	var blob *string
	var sse sseCols
	dest := []any{&v.Seq, &v.Key, &v.VersionID, &v.IsLatest, &v.DeleteMarker, &v.Size, &v.StoredSize,
		&v.ETag, c.ScanTime(&v.LastModified), &v.Owner, &v.ContentType, &v.ContentEncoding, &v.ContentDisposition,
		&v.ContentLanguage, &v.CacheControl, &v.Expires, &meta, &tags, &v.StorageClass,
		&sums, &v.ChecksumType, &blob, &v.PartsCount}
	if err := row.Scan(append(dest, sse.dest()...)...); err != nil {
		return v, err
	}
	v.Bucket = bucket
	v.LastModified = v.LastModified.UTC()
	if blob != nil {
		v.BlobID = *blob
	}
	var err error
	if v.UserMetadata, err = DecodeMap(meta); err != nil {
		return v, err
	}
	if v.Tags, err = DecodeMap(tags); err != nil {
		return v, err
	}
	if v.Checksums, err = DecodeMap(sums); err != nil {
		return v, err
	}
	v.Encryption, err = sse.info()
	return v, err
}

// ObjectArgs are the values for ObjectInsertCols of v as the current
// version.
func ObjectArgs(bucketID string, v s3node.ObjectVersion, c Codec) []any {
	var blob any
	if v.BlobID != "" {
		blob = v.BlobID
	}
	args := []any{bucketID, v.Key, v.VersionID, true, v.DeleteMarker, v.Size, v.StoredSize,
		v.ETag, c.Time(v.LastModified), v.Owner, v.ContentType, v.ContentEncoding, v.ContentDisposition,
		v.ContentLanguage, v.CacheControl, v.Expires, Map(v.UserMetadata, c), Map(v.Tags, c), v.StorageClass,
		Map(v.Checksums, c), v.ChecksumType, blob, len(v.Parts)}
	return append(args, SSEArgs(v.Encryption, c)...)
}

// SegmentArgs are the values for object_id and SegmentCols.
func SegmentArgs(objectID int64, p s3node.Segment, c Codec) []any {
	return []any{objectID, p.PartNumber, p.BlobID, p.Offset, p.Size, p.StoredSize, p.ETag, Map(p.Checksums, c)}
}

// ScanSegment reads a row of SegmentCols.
func ScanSegment(r Scanner) (s3node.Segment, error) {
	var p s3node.Segment
	var sums []byte
	if err := r.Scan(&p.PartNumber, &p.BlobID, &p.Offset, &p.Size, &p.StoredSize, &p.ETag, &sums); err != nil {
		return p, err
	}
	var err error
	p.Checksums, err = DecodeMap(sums)
	return p, err
}

// Upload is a multipart upload with its row's sequence number and bucket
// id.
type Upload struct {
	Seq      int64
	BucketID string
	s3node.MultipartUpload
}

// ScanUpload reads a row of UploadCols; bucket is the bucket's name.
func ScanUpload(row Scanner, bucket string, c Codec) (Upload, error) {
	var u Upload
	var meta, tags []byte
	var sse sseCols
	dest := []any{&u.Seq, &u.UploadID, &u.Key, c.ScanTime(&u.Initiated), &u.Owner, &u.ContentType, &u.ContentEncoding,
		&u.ContentDisposition, &u.ContentLanguage, &u.CacheControl, &u.Expires, &meta, &tags,
		&u.StorageClass, &u.ChecksumAlgorithm, &u.ChecksumType}
	if err := row.Scan(append(dest, sse.dest()...)...); err != nil {
		return u, err
	}
	u.Bucket = bucket
	u.Initiated = u.Initiated.UTC()
	var err error
	if u.UserMetadata, err = DecodeMap(meta); err != nil {
		return u, err
	}
	if u.Tags, err = DecodeMap(tags); err != nil {
		return u, err
	}
	u.Encryption, err = sse.info()
	return u, err
}

// UploadArgs are the values for UploadInsertCols.
func UploadArgs(bucketID string, u s3node.MultipartUpload, c Codec) []any {
	args := []any{u.UploadID, bucketID, u.Key, c.Time(u.Initiated), u.Owner, u.ContentType, u.ContentEncoding,
		u.ContentDisposition, u.ContentLanguage, u.CacheControl, u.Expires, Map(u.UserMetadata, c),
		Map(u.Tags, c), u.StorageClass, u.ChecksumAlgorithm, u.ChecksumType}
	return append(args, SSEArgs(u.Encryption, c)...)
}

// ScanPart reads a row of PartCols.
func ScanPart(r Scanner, c Codec) (s3node.Part, error) {
	var p s3node.Part
	var sums []byte
	if err := r.Scan(&p.PartNumber, &p.BlobID, &p.Size, &p.StoredSize, &p.ETag, &sums, c.ScanTime(&p.LastModified)); err != nil {
		return p, err
	}
	p.LastModified = p.LastModified.UTC()
	var err error
	p.Checksums, err = DecodeMap(sums)
	return p, err
}

// PartArgs are the values for upload_id and PartCols.
func PartArgs(uploadID string, p s3node.Part, c Codec) []any {
	return []any{uploadID, p.PartNumber, p.BlobID, p.Size, p.StoredSize, p.ETag, Map(p.Checksums, c), c.Time(p.LastModified)}
}

// ScanBucket reads a row of BucketCols.
func ScanBucket(row Scanner, c Codec) (s3node.Bucket, error) {
	var b s3node.Bucket
	var vs string
	var tags []byte
	if err := row.Scan(&b.ID, &b.Name, &b.Owner, c.ScanTime(&b.CreatedAt), &b.Region, &vs, &tags, &b.Encryption); err != nil {
		return b, err
	}
	b.CreatedAt = b.CreatedAt.UTC()
	b.Versioning = s3node.VersioningState(vs)
	b.Encryption = NilIfEmpty(b.Encryption)
	var err error
	b.Tags, err = DecodeMap(tags)
	return b, err
}

// BucketArgs are the values for BucketCols.
func BucketArgs(b s3node.Bucket, c Codec) []any {
	return []any{b.ID, b.Name, b.Owner, c.Time(b.CreatedAt), b.Region, string(b.Versioning), Map(b.Tags, c), NilIfEmpty(b.Encryption)}
}

// ScanUser reads a row of UserCols.
func ScanUser(row Scanner, c Codec) (s3node.User, error) {
	var u s3node.User
	if err := row.Scan(&u.AccessKeyID, &u.CanonicalID, &u.DisplayName, &u.SealedSecret, c.ScanTime(&u.CreatedAt)); err != nil {
		return u, err
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

// UserArgs are the values for UserCols.
func UserArgs(u s3node.User, c Codec) []any {
	secret := u.SealedSecret
	if secret == nil {
		secret = []byte{}
	}
	return []any{u.AccessKeyID, u.CanonicalID, u.DisplayName, secret, c.Time(u.CreatedAt)}
}
