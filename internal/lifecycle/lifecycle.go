// Package lifecycle holds what the KMS and the S3 node share to stop
// gracefully: the signal handling (the first SIGTERM or SIGINT starts a
// graceful stop, a second one forces it), a draining flag for readiness
// checks and a bounded graceful stop of HTTP servers.
//
// A stop goes: readiness says draining (Drain.SetDraining), the service
// keeps serving for shutdown_delay so that load balancers notice, then
// stops accepting and waits up to shutdown_timeout for requests in flight
// (ShutdownHTTP), cuts what is left, stops background work and closes
// databases and HSM sessions.
package lifecycle

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
)

// ErrDraining is the readiness error of a service that is stopping.
var ErrDraining = errors.New("the service is shutting down (draining)")

// Drain is a service's draining flag. The zero value is not draining.
type Drain struct{ on atomic.Bool }

// SetDraining sets the flag.
func (d *Drain) SetDraining(v bool) { d.on.Store(v) }

// Draining reports the flag.
func (d *Drain) Draining() bool { return d.on.Load() }

// Ready wraps a readiness check: while draining it fails with
// ErrDraining, otherwise it is next (nil next: ready).
func (d *Drain) Ready(next func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if d.Draining() {
			return ErrDraining
		}
		if next == nil {
			return nil
		}
		return next(ctx)
	}
}

// Handler wraps h so that, while draining, responses carry
// "Connection: close": keep-alive clients then open their next
// connection elsewhere (through the load balancer).
func (d *Drain) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.Draining() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// ShutdownHTTP stops the servers: they stop accepting at once and their
// requests in flight finish, until ctx ends; then the connections left
// are closed, cutting those requests. forced reports that.
func ShutdownHTTP(ctx context.Context, servers ...*http.Server) (forced bool) {
	var wg sync.WaitGroup
	var cut atomic.Bool
	for _, s := range servers {
		if s == nil {
			continue
		}
		wg.Go(func() {
			if err := s.Shutdown(ctx); err != nil {
				cut.Store(true)
				_ = s.Close()
			}
		})
	}
	wg.Wait()
	return cut.Load()
}

// NotifyContext returns a context cancelled by the first SIGTERM or
// SIGINT. A second signal calls force (which should exit the process).
// stop releases the signals.
func NotifyContext(parent context.Context, force func(os.Signal)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-ch:
			force(s)
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel()
		})
	}
}
