package lifecycle

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestDrain(t *testing.T) {
	down := errors.New("store down")
	for _, tc := range []struct {
		name     string
		draining bool
		next     func(context.Context) error
		want     error
		close    bool
	}{
		{"ready", false, func(context.Context) error { return nil }, nil, false},
		{"nil check", false, nil, nil, false},
		{"not ready", false, func(context.Context) error { return down }, down, false},
		{"draining", true, func(context.Context) error { return nil }, ErrDraining, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d Drain
			d.SetDraining(tc.draining)
			if err := d.Ready(tc.next)(context.Background()); !errors.Is(err, tc.want) {
				t.Errorf("Ready = %v, want %v", err, tc.want)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: d.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))}
			go srv.Serve(ln)
			defer srv.Close()
			resp, err := http.Get("http://" + ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.Close != tc.close {
				t.Errorf("Connection: close = %v, want %v", resp.Close, tc.close)
			}
		})
	}
}

// TestShutdownHTTP: a request in flight finishes when it can within the
// context, and is cut when it cannot.
func TestShutdownHTTP(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		forced  bool
	}{
		{"drained", 10 * time.Second, false},
		{"cut", 100 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release, started := make(chan struct{}), make(chan struct{})
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				select {
				case <-release:
				case <-r.Context().Done():
				}
				_, _ = io.WriteString(w, "done")
			})}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(ln)
			type result struct {
				body string
				err  error
			}
			got := make(chan result, 1)
			go func() {
				resp, err := http.Get("http://" + ln.Addr().String())
				if err != nil {
					got <- result{err: err}
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				got <- result{string(b), err}
			}()
			<-started
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			done := make(chan bool, 1)
			go func() { done <- ShutdownHTTP(ctx, srv, nil) }()
			if !tc.forced {
				// New connections are refused while the request runs.
				for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
					c, err := net.Dial("tcp", ln.Addr().String())
					if err != nil {
						break
					}
					c.Close()
					if time.Now().After(deadline) {
						t.Fatal("still accepting")
					}
				}
				close(release)
			}
			if forced := <-done; forced != tc.forced {
				t.Errorf("forced = %v, want %v", forced, tc.forced)
			}
			r := <-got
			if ok := r.err == nil && r.body == "done"; ok == tc.forced {
				t.Errorf("request: %q, %v (forced %v)", r.body, r.err, tc.forced)
			}
		})
	}
}
