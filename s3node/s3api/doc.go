// Package s3api is the S3 node's HTTP server: an S3-compatible handler
// with AWS S3 as the reference for behaviour, status codes and XML shapes.
//
// # Request flow
//
// Every request goes through Server.ServeHTTP:
//
//  1. a request id (x-amz-request-id) and host id (x-amz-id-2) are chosen
//     and set on every response, errors included; a panic becomes
//     InternalError;
//  2. the request is authenticated with sigv4.Verify (an anonymous request
//     is AccessDenied); the access key's user comes from Config.Users;
//  3. the target is parsed: path-style (/bucket/key) or virtual-hosted-style
//     (Host bucket.Domain[:port], path = key);
//  4. the one route table (routeTable in router.go) maps method, target kind
//     (service, bucket, object) and sub-resource (?location, ?uploads, …)
//     to a handler. A sub-resource known to S3 but not served yet answers
//     NotImplemented; a method the resource does not support answers
//     MethodNotAllowed;
//  5. for bucket and object routes the bucket is loaded and its owner
//     compared with the caller (AccessDenied otherwise);
//  6. the handler returns (*response, error). One function (Server.finish)
//     writes every response: headers, XML document or streamed body; every
//     error goes through toS3Error, the one mapping from s3node domain
//     errors and sigv4 errors to s3err codes, and is rendered by s3err.Write.
//
// # Bodies
//
// Request bodies are only read through sigv4.Result.Body, which verifies
// the payload hash, streaming chunk signatures and checksum trailers as it
// streams; an object is committed to the data store only after that reader
// returned io.EOF. Object data is never buffered whole: PutObject streams
// into a DataStore.BlobWriter, GetObject streams from the blobs, reading a
// range through io.ReaderAt.
//
// # Versions and tags
//
// The x-amz-version-id header is never sent for a bucket that was never
// versioned; once versioning was enabled, the null version is named
// "null". A versionId parameter must be "null" or a version id as
// s3node.NewVersionID makes them (InvalidArgument otherwise). Reading a
// delete marker answers NoSuchKey (current) or MethodNotAllowed (named by
// its id) with x-amz-delete-marker. Deleting a version that does not exist
// succeeds, as deleting a missing key does.
//
// # Multipart uploads
//
// UploadPart streams its body through the same verified path as
// PutObject (writeBody). UploadPartCopy (UploadPart with
// x-amz-copy-source, object_copy_part.go) streams the source, or its
// x-amz-copy-source-range, through GetObject's reader into the part's new
// blob, as CopyObject does. CompleteMultipartUpload never copies data: the
// object keeps its parts as segments (s3node.AssembleUpload), its ETag is
// the MD5 of the parts' binary MD5s suffixed "-N". Parts that all carry
// a checksum give the object one (multipart_checksum.go): COMPOSITE for
// CRC32, CRC32C, SHA1, SHA256 (the default), FULL_OBJECT for CRC32,
// CRC32C, CRC64NVME (combined from the parts' CRCs, never re-reading
// data). GetObject and HeadObject with ?partNumber read one
// segment (an object not uploaded in parts has a single part).
//
// # Server-side encryption (encryption.go)
//
// The behaviour reference is SSE-SPEC.md (decision table D1–D9). A write
// (PutObject, POST, CopyObject destination, CreateMultipartUpload)
// decides its mode from its headers, else from the bucket's default
// (bucket_encryption.go), else from Config.EncryptByDefault (planWrite).
// Its object key (OEK, s3node/objcrypt) comes from the KMS (KeyService:
// GenerateDataKey under the bucket's root key "bucket/<bucket id>" for
// SSE-S3, under the named key for SSE-KMS) or, for SSE-C, is fresh and
// sealed by the node itself under the customer's key (objcrypt.SealCustomer);
// the customer key never leaves the request. Every sealed OEK is bound to
// the context {"s3kms:bucket": bucket id, "s3kms:key": object key} plus
// the client's SSE-KMS context, so it opens for no other object. Data is
// encrypted as it streams (objcrypt.NewWriter; multipart parts with keys
// derived from the OEK and the part number); MD5, checksums and sizes are
// of the plaintext. SSE-S3 and plain ETags are the MD5; SSE-C and SSE-KMS
// ETags are derived from the OEK (objcrypt.ETag).
//
// Reads resolve the version, the part number, then the SSE headers
// (readKey: R1–R6), then preconditions and the range; the KMS is asked for
// the OEK (Decrypt) only when a body is sent, and only the 64 KiB packages
// a range needs are decrypted. SSE-C requests on plain HTTP are refused
// before authentication unless a trusted proxy vouches for HTTPS
// (Config.TrustedProxies) or Config.AllowSSECOverHTTP is set. KMS errors
// become the S3 errors of SSE-SPEC §5.2 (kmsError); an unreachable KMS is
// 503 for encrypted objects only.
//
// # Not yet served
//
// ACLs, bucket policies and object lock have their routes in the table
// and answer NotImplemented until their handlers land.
package s3api
