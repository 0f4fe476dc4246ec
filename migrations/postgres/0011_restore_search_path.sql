-- pg_restore (and psql on a plain pg_dump) loads data with search_path
-- set to pg_catalog only. The generated columns kms_key_id and
-- kms_key_version of s3_objects and s3_uploads (0008) are computed while
-- COPY loads the rows, by functions that call s3_sealed_kms_offset
-- without a schema: the restore of any S3 metadata database holding an
-- SSE-S3 or SSE-KMS object failed with "function
-- s3_sealed_kms_offset(text, bytea) does not exist"
-- (test/backup TestRestoreDrill). The two functions now carry the
-- search_path they were created under (the schema of the s3kms tables);
-- s3_sealed_kms_offset calls only built-in functions.
ALTER FUNCTION s3_sealed_kms_key_id(text, bytea) SET search_path FROM CURRENT;
ALTER FUNCTION s3_sealed_kms_key_version(text, bytea) SET search_path FROM CURRENT;
