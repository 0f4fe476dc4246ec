package main

import (
	"context"

	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/kmsclient"
)

// s3Admin is what admin commands that act on an S3 node's data open from
// its configuration file (--config): the node's configuration, its
// metadata database and a KMS client with the node's identity.
type s3Admin struct {
	cfg config.S3
	db  *database
	kms *kmsclient.Client
}

// openS3Admin loads the S3 node configuration at path and opens its
// database (applying migrations) and KMS client. Close releases them.
func openS3Admin(ctx context.Context, path string) (*s3Admin, error) {
	cfg, err := config.LoadS3(path)
	if err != nil {
		return nil, err
	}
	kc, err := newKMSClient(cfg.KMS)
	if err != nil {
		return nil, err
	}
	db, err := openDatabase(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	return &s3Admin{cfg: cfg, db: db, kms: kc}, nil
}

// Close closes the database.
func (a *s3Admin) Close() { a.db.Close() }

// bucketKeyID returns the KMS id of the root key of the bucket named
// name ("bucket/<internal id>").
func (a *s3Admin) bucketKeyID(ctx context.Context, name string) (string, error) {
	b, err := a.db.meta.GetBucket(ctx, name)
	if err != nil {
		return "", err
	}
	return kms.BucketKeyID(b.ID), nil
}
