-- PostgreSQL only (its generated-column functions get a search_path so
-- that pg_restore can load s3_objects and s3_uploads); nothing to do on
-- SQLite, which keeps the schema version in step.
SELECT 1;
