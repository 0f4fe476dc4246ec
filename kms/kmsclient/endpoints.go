package kmsclient

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"time"
)

// Several endpoints (NewMulti). The KMS nodes behind them share one key
// store, so any of them answers any call the same way; the client spreads
// calls over them in turn (round robin) and fails over:
//
//   - An endpoint that fails a call with a connection error (refused,
//     reset, TLS failure, no response within the call timeout) or HTTP
//     502, 503 or 504 is marked down for WithDownFor (default 5 s): calls
//     skip it meanwhile. When the mark ends, one call (the first to come)
//     tries it again while the others keep skipping it; if it fails, it
//     is marked down again. When every endpoint is down, the one marked
//     down first is tried all the same, so a call never fails without
//     trying.
//   - A call that is idempotent (data keys, decrypt, rewrap, encrypt,
//     reads) and fails that way goes to the next endpoint at once. Once
//     every endpoint has failed it, the round repeats after a backoff, up
//     to WithRetries more rounds.
//   - A call that changes state (create, rotate, enable, …) goes to the
//     next endpoint only when no connection could be made at all (the
//     request never left): after a reset or a timeout it may have been
//     applied, so its error is returned.
//
// A dead node thus costs one failed attempt per call in flight when it
// dies, plus one attempt every WithDownFor: a refused connection fails at
// once; a node that accepts but does not answer costs up to the call
// timeout (WithCallTimeout), the transport's response-header timeout
// (30 s) or the dial timeout (5 s), whichever is first.

// DefaultDownFor is how long an endpoint that failed is skipped.
const DefaultDownFor = 5 * time.Second

// WithDownFor sets how long an endpoint that failed is skipped (default
// DefaultDownFor; at least 1 ms).
func WithDownFor(d time.Duration) Option {
	return func(c *Client) { c.downFor = max(d, time.Millisecond) }
}

// endpoint is one KMS node (or load balancer).
type endpoint struct {
	base      *url.URL
	hc        *http.Client
	downUntil atomic.Int64 // unix nanoseconds; 0: up
}

func (e *endpoint) down(until time.Time) { e.downUntil.Store(until.UnixNano()) }

func (e *endpoint) up() {
	if e.downUntil.Load() != 0 {
		e.downUntil.Store(0)
	}
}

// state reports whether a call may use e at now: e is up, or its down
// mark has ended and this call is the one that tries it again (probe; the
// mark is renewed for the other calls meanwhile).
func (e *endpoint) state(now time.Time, downFor time.Duration) (usable, probe bool) {
	d := e.downUntil.Load()
	if d == 0 {
		return true, false
	}
	if now.UnixNano() < d {
		return false, false
	}
	ok := e.downUntil.CompareAndSwap(d, now.Add(downFor).UnixNano())
	return ok, ok
}

// Endpoints returns the client's endpoints, in the order given.
func (c *Client) Endpoints() []string {
	out := make([]string, len(c.eps))
	for i, e := range c.eps {
		out[i] = e.base.String()
	}
	return out
}

// order returns the endpoints one round of a call tries: one whose down
// mark has just ended, if this call claimed it, then those up from the
// next round-robin position on; or, if none is up, the one whose down
// mark ends first.
func (c *Client) order() []*endpoint {
	if len(c.eps) == 1 {
		return c.eps
	}
	now := c.now()
	start := int(c.rr.Add(1) % uint64(len(c.eps)))
	out := make([]*endpoint, 0, len(c.eps))
	for i := range c.eps {
		e := c.eps[(start+i)%len(c.eps)]
		switch usable, probe := e.state(now, c.downFor); {
		case probe:
			// The call that claimed the probe makes it first.
			out = slices.Insert(out, 0, e)
		case usable:
			out = append(out, e)
		}
	}
	if len(out) > 0 {
		return out
	}
	first := slices.MinFunc(c.eps, func(a, b *endpoint) int {
		return int(min(max(a.downUntil.Load()-b.downUntil.Load(), -1), 1))
	})
	return []*endpoint{first}
}

// endpointFault reports whether err says the endpoint, rather than the
// request, is at fault: no answer, or HTTP 502, 503 or 504.
func endpointFault(err error) bool {
	var ce *CallError
	if !errors.As(err, &ce) {
		return false
	}
	switch ce.StatusCode {
	case 0:
		return ce.Conn
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// mayFailOver reports whether the call that failed with err may be sent
// again, to another endpoint or after a backoff: it is retryable, or its
// request never left.
func mayFailOver(err error) bool {
	var ce *CallError
	return errors.As(err, &ce) && (ce.SafeToRetry() || ce.Dial)
}

// isDialError reports whether err is a failure to connect (before any
// byte of the request was sent).
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
