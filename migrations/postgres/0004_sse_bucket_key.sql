-- SSE-KMS "bucket key" flag of an object version or upload
-- (x-amz-server-side-encryption-bucket-key-enabled): echoed on reads.
ALTER TABLE s3_objects ADD COLUMN sse_bucket_key boolean NOT NULL DEFAULT false;
ALTER TABLE s3_uploads ADD COLUMN sse_bucket_key boolean NOT NULL DEFAULT false;
