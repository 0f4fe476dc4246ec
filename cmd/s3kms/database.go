package main

import (
	"context"
	"fmt"

	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/storage/postgres"
	"github.com/s3kms/s3kms/storage/sqlite"
)

// database is an opened, migrated store with the views each service uses:
// the KMS its key store and audit log, the S3 node its metadata, users and
// blob index.
type database struct {
	keys  kms.KeyStore
	audit kms.AuditLog
	meta  s3node.MetadataStore
	users s3node.UserStore
	index s3node.BlobIndex
	ping  func(context.Context) error
	close func()
}

// Close closes the database.
func (d *database) Close() { d.close() }

// openDatabase opens the configured store and applies its migrations.
func openDatabase(ctx context.Context, c config.Store) (*database, error) {
	switch c.Driver {
	case "postgres":
		db, err := postgres.Open(ctx, c.DSN)
		if err != nil {
			return nil, err
		}
		if err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, err
		}
		st := db.S3Store()
		return &database{keys: db.KeyStore(), audit: db.AuditLog(), meta: st, users: st, index: st, ping: db.Ping, close: db.Close}, nil
	case "sqlite":
		db, err := sqlite.Open(ctx, c.Path)
		if err != nil {
			return nil, err
		}
		if err := db.Migrate(ctx); err != nil {
			_ = db.Close()
			return nil, err
		}
		st := db.S3Store()
		return &database{keys: db.KeyStore(), audit: db.AuditLog(), meta: st, users: st, index: st, ping: db.Ping, close: func() { _ = db.Close() }}, nil
	}
	return nil, fmt.Errorf("unknown store driver %q", c.Driver)
}
