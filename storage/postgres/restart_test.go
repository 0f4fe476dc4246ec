package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/s3kms/s3kms/internal/pgtest"
	"github.com/s3kms/s3kms/kms"
)

// While PostgreSQL is down, calls fail fast with EUnavailable (not a
// hang, not EInternal); once it is back, the same pool serves again.
func TestServerRestart(t *testing.T) {
	c := pgtest.New(t) // a cluster of our own: we stop it
	cfg, err := pgconn.ParseConfig(c.CreateDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	db := open(t, c.TCPDSN(cfg.Database)) // TCP: the production path
	if err := db.Migrate(bg(t)); err != nil {
		t.Fatal(err)
	}
	ks := db.KeyStore()
	k := kms.Key{ID: "k", Purpose: kms.PurposeNamed, State: kms.StateActive, Enabled: true, CurrentVersion: 1}
	if err := ks.CreateKey(bg(t), k, kms.KeyVersion{Version: 1, Wrapped: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	// Fill the pool with several connections, all of which the restart
	// will kill.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := ks.GetKey(bg(t), "k"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for i, call := range []func(ctx context.Context) error{
		func(ctx context.Context) error { _, err := ks.GetKey(ctx, "k"); return err },
		func(ctx context.Context) error { return ks.UpdateKey(ctx, k, nil) },
		db.Ping,
		func(ctx context.Context) error { _, err := ks.GetKey(ctx, "k"); return err },
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := call(ctx)
		cancel()
		if code := kms.ErrorCode(err); code != kms.EUnavailable {
			t.Fatalf("call %d with the server down: code %q, want %q (%v)", i, code, kms.EUnavailable, err)
		}
		// Failing because the server is gone, not because we gave up
		// waiting: the call did not hang.
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call %d hung until the deadline: %v", i, err)
		}
	}

	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := ks.GetKey(ctx, "k")
	if err != nil {
		t.Fatalf("first call after restart: %v", err)
	}
	if err := ks.UpdateKey(ctx, got, nil); err != nil {
		t.Fatalf("update after restart: %v", err)
	}
	if err := db.AuditLog().AppendAudit(ctx, kms.AuditEvent{Identity: "i", Operation: "op", Result: "ok"}); err != nil {
		t.Fatalf("audit after restart: %v", err)
	}
}
