//go:build unix

package tlsreload

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

func TestSIGHUPReloads(t *testing.T) {
	ca := newCA(t, "test CA")
	f := newFiles(t)
	writePair(t, f, issue(t, ca, "a", []string{"localhost"}, false), rename)
	r, err := New(Config{Name: "test", CertFile: f.cert, KeyFile: f.key, Interval: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Until Run subscribes, a SIGHUP would end the test process.
	sink := make(chan os.Signal, 1)
	signal.Notify(sink, syscall.SIGHUP)
	defer signal.Stop(sink)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	b := issue(t, ca, "b", []string{"localhost"}, false)
	writePair(t, f, b, rename)
	deadline := time.Now().Add(10 * time.Second)
	for serial(*r.Certificate()).Cmp(serial(b)) != 0 {
		// Run may not have subscribed yet: signal until it reloads.
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload the certificate")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
