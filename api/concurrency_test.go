package api_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/api/wire"
)

// TestConcurrentDataKeys runs generate and decrypt from 8 goroutines over
// one shared client (run it with -race).
func TestConcurrentDataKeys(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	ctx := context.Background()
	if _, err := e.Client(t, e.Admin).CreateKey(ctx, wire.CreateKeyRequest{ID: "bucket/c", Purpose: "bucket-root"}); err != nil {
		t.Fatal(err)
	}
	c := e.Client(t, e.S3Node)
	const workers, rounds = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				ec := map[string]string{"bucket": "c", "key": fmt.Sprintf("w%d/o%d", w, i)}
				dk, err := c.GenerateDataKey(ctx, "bucket/c", ec)
				if err != nil {
					errs <- err
					return
				}
				got, err := c.Decrypt(ctx, dk.Sealed, ec)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got.Plaintext, dk.Plaintext) {
					errs <- fmt.Errorf("worker %d round %d: decrypted another key", w, i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
