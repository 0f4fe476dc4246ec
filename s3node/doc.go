// Package s3node is the domain of the S3 node: buckets, object versions,
// multipart uploads and users, the error codes the rest of the node
// speaks, and the interfaces it consumes for persistence.
//
// Metadata lives behind MetadataStore (BucketStore, ObjectStore,
// MultipartStore, UserStore, BlobIndex), implemented by storage/postgres
// and storage/sqlite and checked by storage/storagetest.ExerciseS3Store.
// Object data lives behind DataStore, implemented on a local directory by
// storage/blobfs.
//
// # Writing an object
//
// Data first, metadata second: the handler streams the body into
// DataStore.Create's writer and commits it (temp file, fsync, rename to an
// immutable blob id, fsync of the directory), then calls PutObject, whose
// one transaction inserts the version and makes it current. A crash in
// between leaves a blob that no metadata references; the data store's
// sweeper removes such blobs once they are older than a grace period
// longer than any upload takes to commit its metadata.
//
// A blob id is referenced by at most one row: one object version, or one
// multipart part, or one segment of a completed multipart object (which
// takes over its part's blob). Every store method that drops a row returns
// the blob ids that became unreferenced, exactly once, so that the caller
// can delete them from the data store. Blobs are never rewritten, so a
// reader that has opened a blob reads a whole object even if the key is
// overwritten meanwhile; the last PutObject to commit wins.
//
// # Versions
//
// A bucket is Unversioned, Enabled or Suspended (VersioningState). Each
// key has at most one current version. In an unversioned or suspended
// bucket a write uses the version id "null" (NullVersionID) and replaces
// any existing null version; in an enabled bucket every write gets a new
// random version id and older versions stay. Deleting without a version id
// removes the null version in an unversioned bucket and adds a delete
// marker otherwise (a "null" one in a suspended bucket). Versions of a key
// are ordered by Seq, assigned by the store in commit order.
//
// # Listing
//
// Keys are compared as bytes (UTF-8 binary order, as S3). Listing with a
// delimiter does not read every key below a common prefix: Walk emits the
// prefix and seeks directly past it (see Successor), so each common prefix
// costs one indexed query whatever the number of keys under it.
package s3node
