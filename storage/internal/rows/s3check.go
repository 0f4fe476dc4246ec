package rows

import (
	"context"
	"strconv"

	"github.com/s3kms/s3kms/s3node"
)

// Invalid is an EInvalid/InvalidArgument error.
func Invalid(format string, args ...any) error {
	return s3node.Errorf(s3node.EInvalid, s3node.InvalidArgument, format, args...)
}

// CheckNames refuses names and keys the stores cannot hold.
func CheckNames(names ...string) error {
	for _, n := range names {
		if !s3node.ValidKey(n) {
			return Invalid("name or key is not valid UTF-8 of at most 1024 bytes")
		}
	}
	return nil
}

// NoSuchBucket is the error for a missing bucket.
func NoSuchBucket(name string) error {
	return s3node.Errorf(s3node.ENotFound, s3node.NoSuchBucket, "bucket %q not found", name)
}

// NoSuchUpload is the error for a missing upload.
func NoSuchUpload(id string) error {
	return s3node.Errorf(s3node.ENotFound, s3node.NoSuchUpload, "upload %q not found", id)
}

// NoSuchVersion is the error for a missing version of key.
func NoSuchVersion(key, versionID string) error {
	return s3node.Errorf(s3node.ENotFound, s3node.NoSuchVersion, "version %q of key %q not found", versionID, key)
}

// NoSuchObject is the error for a missing key (versionID "") or version.
func NoSuchObject(key, versionID string) error {
	if versionID == "" {
		return s3node.Errorf(s3node.ENotFound, s3node.NoSuchKey, "key %q not found", key)
	}
	return NoSuchVersion(key, versionID)
}

// NoSuchUser is the error for a missing user.
func NoSuchUser(accessKeyID string) error {
	return s3node.Errorf(s3node.ENotFound, s3node.NoSuchUser, "user %q not found", accessKeyID)
}

// BucketNotEmpty is DeleteBucket's error for a bucket in use.
func BucketNotEmpty(name string) error {
	return s3node.Errorf(s3node.EConflict, s3node.BucketNotEmpty, "bucket %q is not empty", name)
}

// CheckBucket validates CreateBucket's argument.
func CheckBucket(b s3node.Bucket) error {
	if b.ID == "" || b.Name == "" || !b.Versioning.Valid() {
		return Invalid("create bucket: id, name and a valid versioning state are required")
	}
	return CheckNames(b.Name, b.ID)
}

// CheckVersioning validates SetVersioning's arguments.
func CheckVersioning(name string, state s3node.VersioningState) error {
	if !state.Valid() {
		return s3node.Errorf(s3node.EInvalid, s3node.InvalidVersioning, "invalid versioning state %q", state)
	}
	return CheckNames(name)
}

// CheckVersioningChange refuses to make a versioned bucket unversioned.
func CheckVersioningChange(cur, state s3node.VersioningState) error {
	if state == s3node.Unversioned && cur != s3node.Unversioned {
		return s3node.Errorf(s3node.EInvalid, s3node.InvalidVersioning, "a versioned bucket cannot become unversioned")
	}
	return nil
}

// CheckUser validates CreateUser's argument.
func CheckUser(u s3node.User) error {
	if u.AccessKeyID == "" {
		return Invalid("create user: an access key id is required")
	}
	return CheckNames(u.AccessKeyID)
}

// CheckVersion validates PutObject's argument.
func CheckVersion(v s3node.ObjectVersion) error {
	if err := CheckNames(v.Bucket, v.Key); err != nil {
		return err
	}
	if v.Key == "" {
		return Invalid("an object key is required")
	}
	if v.DeleteMarker {
		return Invalid("a delete marker is written by DeleteObject")
	}
	if v.BlobID != "" && len(v.Parts) > 0 {
		return Invalid("an object is either one blob or a list of parts")
	}
	return nil
}

// CheckUpload validates CreateUpload's argument.
func CheckUpload(u s3node.MultipartUpload) error {
	if err := CheckNames(u.Bucket, u.Key, u.UploadID); err != nil {
		return err
	}
	if u.UploadID == "" || u.Key == "" {
		return Invalid("create upload: key and upload id are required")
	}
	return nil
}

// CheckPart validates PutPart's arguments.
func CheckPart(bucket, key, uploadID string, p s3node.Part) error {
	if err := CheckNames(bucket, key, uploadID); err != nil {
		return err
	}
	if p.PartNumber < 1 || p.PartNumber > 10000 || p.BlobID == "" {
		return Invalid("part number must be 1 to 10000, with a blob")
	}
	return nil
}

// CheckListParts validates ListParts' arguments.
func CheckListParts(bucket, key, uploadID string, o s3node.ListPartsOptions) error {
	if err := CheckNames(bucket, key, uploadID); err != nil {
		return err
	}
	if o.MaxParts < 0 || o.PartNumberMarker < 0 {
		return Invalid("max-parts and part-number-marker must not be negative")
	}
	return nil
}

func checkList(prefix, delimiter string, markers ...string) error {
	return CheckNames(append([]string{prefix, delimiter}, markers...)...)
}

// CheckListObjects validates ListObjects' arguments.
func CheckListObjects(bucket string, o s3node.ListObjectsOptions) error {
	if err := checkList(o.Prefix, o.Delimiter, o.After, bucket); err != nil {
		return err
	}
	if o.MaxKeys < 0 {
		return Invalid("max-keys must not be negative")
	}
	return nil
}

// CheckListVersions validates ListVersions' arguments.
func CheckListVersions(bucket string, o s3node.ListVersionsOptions) error {
	if err := checkList(o.Prefix, o.Delimiter, o.KeyMarker, o.VersionIDMarker, bucket); err != nil {
		return err
	}
	if o.MaxKeys < 0 {
		return Invalid("max-keys must not be negative")
	}
	if o.VersionIDMarker != "" && o.KeyMarker == "" {
		return Invalid("a version-id-marker needs a key-marker")
	}
	return nil
}

// CheckListUploads validates ListUploads' arguments.
func CheckListUploads(bucket string, o s3node.ListUploadsOptions) error {
	if err := checkList(o.Prefix, o.Delimiter, o.KeyMarker, o.UploadIDMarker, bucket); err != nil {
		return err
	}
	if o.MaxUploads < 0 {
		return Invalid("max-uploads must not be negative")
	}
	return nil
}

// KeyRange renders the key condition of a seek: from the cursor, below
// end. mark is the placeholder sign ("$" or "?") and n the next
// placeholder number.
func KeyRange(mark string, from s3node.Cursor, end string, n int, args []any) (string, []any) {
	op := ">"
	if from.Inclusive {
		op = ">="
	}
	cond := ` AND key ` + op + ` ` + mark + strconv.Itoa(n)
	args = append(args, from.Key)
	if end != "" {
		cond += ` AND key < ` + mark + strconv.Itoa(n+1)
		args = append(args, end)
	}
	return cond, args
}

// ListObjects walks current objects with seek and shapes the result.
func ListObjects(ctx context.Context, o s3node.ListObjectsOptions, seek s3node.SeekFunc[s3node.ObjectVersion]) (s3node.ListObjectsResult, error) {
	page, err := s3node.Walk(ctx, s3node.WalkParams{Prefix: o.Prefix, Delimiter: o.Delimiter,
		Start: s3node.Cursor{Key: o.After}, Max: o.MaxKeys},
		func(v s3node.ObjectVersion) string { return v.Key },
		func(v s3node.ObjectVersion) s3node.Cursor { return s3node.Cursor{Key: v.Key} }, seek)
	if err != nil {
		return s3node.ListObjectsResult{}, err
	}
	res := s3node.ListObjectsResult{Objects: page.Items, CommonPrefixes: page.CommonPrefixes, IsTruncated: page.Truncated}
	if page.Truncated {
		res.NextMarker = page.LastPrefix
		if res.NextMarker == "" {
			res.NextMarker = page.Items[len(page.Items)-1].Key
		}
	}
	return res, nil
}

// ListVersions walks versions from start with seek and shapes the result.
func ListVersions(ctx context.Context, o s3node.ListVersionsOptions, start s3node.Cursor, seek s3node.SeekFunc[s3node.ObjectVersion]) (s3node.ListVersionsResult, error) {
	page, err := s3node.Walk(ctx, s3node.WalkParams{Prefix: o.Prefix, Delimiter: o.Delimiter, Start: start, Max: o.MaxKeys},
		func(v s3node.ObjectVersion) string { return v.Key },
		func(v s3node.ObjectVersion) s3node.Cursor { return s3node.Cursor{Key: v.Key, Seq: v.Seq} }, seek)
	if err != nil {
		return s3node.ListVersionsResult{}, err
	}
	res := s3node.ListVersionsResult{Versions: page.Items, CommonPrefixes: page.CommonPrefixes, IsTruncated: page.Truncated}
	if page.Truncated {
		if page.LastPrefix != "" {
			res.NextKeyMarker = page.LastPrefix
		} else {
			last := page.Items[len(page.Items)-1]
			res.NextKeyMarker, res.NextVersionIDMarker = last.Key, last.VersionID
		}
	}
	return res, nil
}

// ListUploads walks uploads from start with seek and shapes the result.
func ListUploads(ctx context.Context, o s3node.ListUploadsOptions, start s3node.Cursor, seek s3node.SeekFunc[Upload]) (s3node.ListUploadsResult, error) {
	page, err := s3node.Walk(ctx, s3node.WalkParams{Prefix: o.Prefix, Delimiter: o.Delimiter, Start: start, Max: o.MaxUploads},
		func(u Upload) string { return u.Key },
		func(u Upload) s3node.Cursor { return s3node.Cursor{Key: u.Key, Seq: u.Seq} }, seek)
	if err != nil {
		return s3node.ListUploadsResult{}, err
	}
	res := s3node.ListUploadsResult{CommonPrefixes: page.CommonPrefixes, IsTruncated: page.Truncated}
	for _, u := range page.Items {
		res.Uploads = append(res.Uploads, u.MultipartUpload)
	}
	if page.Truncated {
		if page.LastPrefix != "" {
			res.NextKeyMarker = page.LastPrefix
		} else {
			last := res.Uploads[len(res.Uploads)-1]
			res.NextKeyMarker, res.NextUploadIDMarker = last.Key, last.UploadID
		}
	}
	return res, nil
}

// TrimParts cuts a ListParts result fetched with one extra row to max
// parts, marking it truncated.
func TrimParts(parts []s3node.Part, max int) s3node.ListPartsResult {
	res := s3node.ListPartsResult{Parts: parts}
	if len(res.Parts) > max {
		res.Parts, res.IsTruncated = res.Parts[:max], true
		if max > 0 {
			res.NextPartNumberMarker = res.Parts[max-1].PartNumber
		}
	}
	return res
}
