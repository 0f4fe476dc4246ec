package main

import (
	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/kms/kmsclient"
)

// kmsClientOptions are the client options of an S3 node's kms section:
// its timeouts (zero keeps the client's defaults).
func kmsClientOptions(c config.KMSClient) []kmsclient.Option {
	var opts []kmsclient.Option
	if c.CallTimeout > 0 {
		opts = append(opts, kmsclient.WithCallTimeout(c.CallTimeout))
	}
	if c.DownFor > 0 {
		opts = append(opts, kmsclient.WithDownFor(c.DownFor))
	}
	return opts
}
