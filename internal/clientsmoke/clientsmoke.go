// Package clientsmoke runs third-party S3 clients against an in-process
// S3 node: the boto3 script in testdata/ (python3 with boto3) and rclone
// (Debian package rclone). The clients are required: a missing one fails
// the tests with an install hint, never skips them.
//
// The node is started by internal/s3test over HTTPS on 127.0.0.1 with a
// CA bundle in a temporary file, and the clients get the same environment
// `s3kms dev` writes to dev.env (AWS_ENDPOINT_URL, AWS_CA_BUNDLE, ...).
// The package has tests only.
package clientsmoke
