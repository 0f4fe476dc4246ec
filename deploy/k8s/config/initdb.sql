-- Run once by the postgres image on an empty data directory: the S3
-- nodes' database (the KMS's, "kms", is POSTGRES_DB).
CREATE DATABASE s3 OWNER s3kms;
