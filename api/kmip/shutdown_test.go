package kmip

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
)

// busyConns counts the connections answering a message.
func (s *Server) busyConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, busy := range s.conns {
		if busy {
			n++
		}
	}
	return n
}

// TestGracefulShutdown: Shutdown closes idle connections and the
// listener at once, lets a message under way be answered, then closes
// its connection; a connection still busy when the context ends is cut.
func TestGracefulShutdown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		answer  bool // the message under way is answered
	}{
		{"message finishes", 10 * time.Second, true},
		{"timeout cuts", 200 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, Config{ReadTimeout: 30 * time.Second})
			idle, busy := ts.dial(t), ts.dial(t)
			// Both connections are up (handshake done) before Shutdown.
			roundTrip(t, idle, encodeRequest(t, version{1, 4}, reqOpts{}, testItem{op: kmip14.OperationQuery,
				payload: queryPayload(kmip14.QueryFunctionQueryServerInformation)}))
			req := encodeRequest(t, version{1, 4}, reqOpts{}, testItem{op: kmip14.OperationQuery,
				payload: queryPayload(kmip14.QueryFunctionQueryServerInformation)})
			waitBusy := func(n int) {
				t.Helper()
				for deadline := time.Now().Add(10 * time.Second); ts.srv.busyConns() != n; time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("never %d busy connections", n)
					}
				}
			}
			waitBusy(0) // the idle connection's answer is written
			// Half a message: busy until the rest comes.
			if _, err := busy.Write(req[:len(req)/2]); err != nil {
				t.Fatal(err)
			}
			waitBusy(1)
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- ts.srv.Shutdown(ctx) }()
			// The idle connection is closed, new ones are refused.
			if _, err := readResponse(idle); err == nil {
				t.Error("idle connection still open")
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				c, err := tls.Dial("tcp", ts.addr, ts.env.TLSConfig(ts.env.Admin))
				if err != nil {
					break
				}
				c.Close()
				if time.Now().After(deadline) {
					t.Fatal("new connections still accepted")
				}
			}
			if !tc.answer {
				// Let the timeout pass before the rest is sent.
				if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Shutdown = %v, want the deadline", err)
				}
			}
			_, werr := busy.Write(req[len(req)/2:])
			b, rerr := readResponse(busy)
			if tc.answer {
				if werr != nil || rerr != nil {
					t.Fatalf("message under way: write %v, read %v", werr, rerr)
				}
				if m := decodeResponse(t, b); m.BatchItem[0].ResultStatus != kmip14.ResultStatusSuccess {
					t.Errorf("item = %+v", m.BatchItem[0])
				}
				if err := <-done; err != nil {
					t.Errorf("Shutdown = %v", err)
				}
				// Then the connection is closed.
				if _, err := busy.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isClosed(err) {
					t.Errorf("after the answer: %v, want closed", err)
				}
			} else if rerr == nil {
				t.Error("a message past the timeout was answered")
			}
		})
	}
}

func isClosed(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}
