package kmsclient_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3kms/s3kms/api/apitest"
	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/kmsclient"
)

// pair is two real KMS nodes on one key store (apitest.Env.Peer) with a
// bucket key, and a multi-endpoint client builder.
type pair struct {
	a, b *apitest.Env
	key  string
}

func newPair(t *testing.T) *pair {
	t.Helper()
	a := apitest.New(t, apitest.Options{})
	p := &pair{a: a, b: a.Peer(t, apitest.Options{}), key: "bucket/failover"}
	if _, err := a.Client(t, a.Admin).CreateKey(context.Background(),
		wire.CreateKeyRequest{ID: p.key, Purpose: string(kms.PurposeBucketRoot)}); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsConfig trusts the pair's CA and the certificates of extra test
// servers (fakes standing for a broken node), presenting cert.
func (p *pair) tlsConfig(cert apitest.Cert, extra ...*httptest.Server) *tls.Config {
	cfg := p.a.TLSConfig(cert)
	cfg.RootCAs = p.a.CA.Pool.Clone()
	for _, s := range extra {
		cfg.RootCAs.AddCert(s.Certificate())
	}
	return cfg
}

func (p *pair) client(t *testing.T, cert apitest.Cert, endpoints []string, extra []*httptest.Server, opts ...kmsclient.Option) *kmsclient.Client {
	t.Helper()
	opts = append([]kmsclient.Option{kmsclient.WithBackoff(time.Millisecond, 2*time.Millisecond)}, opts...)
	c, err := kmsclient.NewMulti(endpoints, p.tlsConfig(cert, extra...), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// ops counts the data-key operations a node served (root-cache lookups:
// one per generate or decrypt).
func ops(e *apitest.Env) uint64 {
	h, m := e.Service.CacheStats()
	return h + m
}

// hangServer accepts requests and answers none (it drops the connection
// when the test ends); it counts them.
func hangServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	release := make(chan struct{})
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		// Never an answer: drop the connection.
		panic(http.ErrAbortHandler)
	}))
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(func() { close(release); s.Close() })
	return s, &n
}

// TestFailoverTwoNodes runs a client of two real KMS nodes on one store
// through the ways a node can fail, checking where calls go.
func TestFailoverTwoNodes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, p *pair)
	}{
		{"both up: calls spread over both, keys open on either", func(t *testing.T, p *pair) {
			c := p.client(t, p.a.S3Node, []string{p.a.URL, p.b.URL}, nil)
			for i := range 20 {
				dk := generate(t, c, p.key, i)
				// Each node opens what the other sealed.
				for _, e := range []*apitest.Env{p.a, p.b} {
					one := p.client(t, p.a.S3Node, []string{e.URL}, nil)
					got, err := one.Decrypt(ctx, dk.Sealed, objCtx(i))
					if err != nil || !bytes.Equal(got.Plaintext, dk.Plaintext) {
						t.Fatalf("decrypt on %s: %v", e.URL, err)
					}
				}
			}
			if a, b := ops(p.a), ops(p.b); a < 20 || b < 20 {
				t.Errorf("operations per node %d and %d: the client did not spread its calls", a, b)
			}
		}},
		{"a TLS configuration per endpoint (WithTLSConfigFunc)", func(t *testing.T, p *pair) {
			var mu sync.Mutex
			var hosts []string
			c, err := kmsclient.NewMulti([]string{p.a.URL, p.b.URL}, nil, kmsclient.WithTLSConfigFunc(func(host string) *tls.Config {
				mu.Lock()
				defer mu.Unlock()
				hosts = append(hosts, host)
				return p.tlsConfig(p.a.S3Node)
			}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.CloseIdleConnections)
			for i := range 4 {
				generate(t, c, p.key, i)
			}
			if len(hosts) != 2 || hosts[0] != "127.0.0.1" || hosts[1] != "127.0.0.1" {
				t.Errorf("TLS configurations asked for %q, want one per endpoint", hosts)
			}
			if a, b := ops(p.a), ops(p.b); a == 0 || b == 0 {
				t.Errorf("operations per node %d and %d: both endpoints should have served", a, b)
			}
		}},
		{"one node stopped: every call succeeds on the other", func(t *testing.T, p *pair) {
			c := p.client(t, p.a.S3Node, []string{p.a.URL, p.b.URL}, nil)
			dk := generate(t, c, p.key, 0)
			p.a.HTTP.Close()
			before := ops(p.b)
			for i := range 20 {
				if _, err := c.Decrypt(ctx, dk.Sealed, objCtx(0)); err != nil {
					t.Fatalf("decrypt %d with node A stopped: %v", i, err)
				}
				generate(t, c, p.key, i)
			}
			if got := ops(p.b) - before; got != 40 {
				t.Errorf("node B served %d operations, want 40", got)
			}
		}},
		{"state change goes to the other node when the first refuses connections", func(t *testing.T, p *pair) {
			c := p.client(t, p.a.Admin, []string{p.a.URL, p.b.URL}, nil)
			p.a.HTTP.Close()
			for range 4 {
				if _, err := c.RotateKey(ctx, p.key); err != nil {
					t.Fatalf("rotate with node A stopped: %v", err)
				}
			}
			k, err := c.GetKey(ctx, p.key)
			if err != nil || k.CurrentVersion != 5 {
				t.Fatalf("after 4 rotations: version %d, %v", k.CurrentVersion, err)
			}
		}},
		{"hung node: one timeout, then skipped while down", func(t *testing.T, p *pair) {
			hang, n := hangServer(t)
			c := p.client(t, p.a.S3Node, []string{hang.URL, p.b.URL}, []*httptest.Server{hang},
				kmsclient.WithCallTimeout(time.Second), kmsclient.WithDownFor(time.Hour))
			for i := range 10 {
				generate(t, c, p.key, i)
			}
			if got := n.Load(); got != 1 {
				t.Errorf("the hung node got %d requests, want 1 (then marked down)", got)
			}
		}},
		{"hung node is tried again once its down mark ends", func(t *testing.T, p *pair) {
			hang, n := hangServer(t)
			c := p.client(t, p.a.S3Node, []string{hang.URL, p.b.URL}, []*httptest.Server{hang},
				kmsclient.WithCallTimeout(500*time.Millisecond), kmsclient.WithDownFor(10*time.Millisecond))
			for i := range 4 {
				generate(t, c, p.key, i)
				time.Sleep(20 * time.Millisecond)
			}
			if got := n.Load(); got < 2 {
				t.Errorf("the hung node got %d requests, want it tried again after its down mark", got)
			}
		}},
		{"when the down mark ends, one call of many tries the failing node", func(t *testing.T, p *pair) {
			bad := newFake(t, fakeResponse{503, unavailable})
			c := p.client(t, p.a.S3Node, []string{bad.URL, p.b.URL}, []*httptest.Server{bad.Server},
				kmsclient.WithDownFor(time.Minute))
			var clock atomic.Int64
			clock.Store(time.Now().UnixNano())
			kmsclient.SetClock(c, func() time.Time { return time.Unix(0, clock.Load()) })
			for i := 0; bad.calls.Load() == 0; i++ {
				generate(t, c, p.key, i)
			}
			clock.Add(int64(2 * time.Minute))
			var wg sync.WaitGroup
			for i := range 10 {
				wg.Add(1)
				go func() { defer wg.Done(); generate(t, c, p.key, i) }()
			}
			wg.Wait()
			if got := bad.calls.Load(); got != 2 {
				t.Errorf("the failing node got %d requests, want 2 (one more after its down mark)", got)
			}
		}},
		{"503 node: failover, the other node answers", func(t *testing.T, p *pair) {
			bad := newFake(t, fakeResponse{503, unavailable})
			c := p.client(t, p.a.S3Node, []string{bad.URL, p.b.URL}, []*httptest.Server{bad.Server},
				kmsclient.WithDownFor(time.Hour))
			for i := range 5 {
				generate(t, c, p.key, i)
			}
			if got := bad.calls.Load(); got != 1 {
				t.Errorf("the failing node got %d requests, want 1", got)
			}
		}},
		{"state change is not resent after a hung attempt", func(t *testing.T, p *pair) {
			hang, n := hangServer(t)
			c := p.client(t, p.a.Admin, []string{hang.URL, p.b.URL}, []*httptest.Server{hang},
				kmsclient.WithCallTimeout(500*time.Millisecond))
			// Round robin: make sure the hung node is asked first.
			var err error
			for range 2 {
				if _, err = c.RotateKey(ctx, p.key); err != nil {
					break
				}
			}
			// (The attempt may time out before its request reaches the
			// hung node on a loaded machine: then it was asked 0 times.)
			if kms.ErrorCode(err) != kms.EUnavailable || n.Load() > 1 {
				t.Fatalf("rotate: %v, hung node asked %d times; want unavailable after one", err, n.Load())
			}
			k, _ := p.b.Client(t, p.b.Admin).GetKey(ctx, p.key)
			if k.CurrentVersion != 2 {
				t.Errorf("version %d after one good rotation, want 2: the failed one was resent", k.CurrentVersion)
			}
		}},
		{"request errors are not failed over", func(t *testing.T, p *pair) {
			if _, err := p.a.Client(t, p.a.Admin).DisableKey(ctx, p.key); err != nil {
				t.Fatal(err)
			}
			c := p.client(t, p.a.S3Node, []string{p.a.URL, p.b.URL}, nil)
			for range 4 {
				before := ops(p.a) + ops(p.b)
				_, err := c.GenerateDataKey(ctx, p.key, objCtx(0))
				if kms.ErrorCode(err) != kms.EDisabled {
					t.Fatalf("generate with a disabled key: %v", err)
				}
				if kmsclient.Retryable(err) || ops(p.a)+ops(p.b) != before {
					t.Fatalf("a disabled key reached the root cache or was retried")
				}
			}
		}},
		{"every node down: EUnavailable, each tried", func(t *testing.T, p *pair) {
			c := p.client(t, p.a.S3Node, []string{p.a.URL, p.b.URL}, nil, kmsclient.WithRetries(1))
			p.a.HTTP.Close()
			p.b.HTTP.Close()
			_, err := c.GenerateDataKey(ctx, p.key, objCtx(0))
			var ce *kmsclient.CallError
			if kms.ErrorCode(err) != kms.EUnavailable || !errors.As(err, &ce) || !ce.Dial {
				t.Fatalf("both nodes down: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newPair(t))
		})
	}
}

func TestNewMultiEndpoints(t *testing.T) {
	tests := []struct {
		name      string
		endpoints []string
		ok        bool
	}{
		{"none", nil, false},
		{"one", []string{"https://a:1"}, true},
		{"two", []string{"https://a:1", "https://b:2/"}, true},
		{"one bad", []string{"https://a:1", "b:2"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := kmsclient.NewMulti(tt.endpoints, nil)
			if (err == nil) != tt.ok {
				t.Fatalf("NewMulti(%q): %v", tt.endpoints, err)
			}
			if err == nil && len(c.Endpoints()) != len(tt.endpoints) {
				t.Errorf("Endpoints() = %q", c.Endpoints())
			}
		})
	}
}

func generate(t *testing.T, c *kmsclient.Client, key string, i int) kms.DataKey {
	t.Helper()
	dk, err := c.GenerateDataKey(context.Background(), key, objCtx(i))
	if err != nil {
		t.Fatalf("generate %d: %v", i, err)
	}
	return dk
}

func objCtx(i int) map[string]string {
	return map[string]string{"bucket": "b", "key": string(rune('a' + i%26))}
}
