// Package kmsclient is the Go client of the KMS HTTP API (package api): the
// data-key API used by S3 nodes and the admin REST API used by operators.
//
// A Client talks HTTPS with mutual TLS to one endpoint (a KMS node or a
// load balancer in front of several), or to several KMS nodes itself
// (NewMulti; see endpoints.go for how it picks one and fails over), over a
// pooled, keep-alive transport (HTTP/2 when the server offers it). Every
// error it returns is a
// *kms.Error carrying the server's code and caller-safe message; its Err
// is a *CallError with the HTTP details. Calls that are safe to repeat
// (generate, decrypt, rewrap, encrypt, get, list) are retried a bounded
// number of times, with jittered exponential backoff, when they fail in a
// way Retryable accepts; calls that change key state are never retried.
//
// Errors never contain key material or plaintext.
package kmsclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
)

// Defaults of a Client.
const (
	DefaultRetries     = 2
	DefaultBackoff     = 50 * time.Millisecond
	DefaultMaxBackoff  = 1 * time.Second
	DefaultCallTimeout = 30 * time.Second
	// maxResponse bounds the response bodies read (a batch rewrap answer
	// of kms.MaxBatch items is well below it).
	maxResponse = 32 << 20
)

// Client is a client of the KMS HTTP API. It is safe for concurrent use.
type Client struct {
	eps         []*endpoint
	rr          atomic.Uint64 // round-robin position among the endpoints
	downFor     time.Duration
	now         func() time.Time
	tlsFor      func(host string) *tls.Config
	hc          *http.Client
	retries     int
	backoff     time.Duration
	maxBackoff  time.Duration
	callTimeout time.Duration
	userAgent   string
	metrics     observer     // WithObserver; none by default
	log         *slog.Logger // nil: no logs
}

// Option configures a Client.
type Option func(*Client)

// WithRetries sets how many times a retryable call is repeated after its
// first failure (default 2; 0 disables retries).
func WithRetries(n int) Option {
	return func(c *Client) { c.retries = max(n, 0) }
}

// WithBackoff sets the first retry delay and its cap; the delay doubles
// after each attempt and is jittered (defaults 50 ms and 1 s).
func WithBackoff(first, limit time.Duration) Option {
	return func(c *Client) { c.backoff, c.maxBackoff = first, max(limit, first) }
}

// WithCallTimeout bounds each attempt of a call (default 30 s), on top of
// the caller's context. 0 means no bound besides the context.
func WithCallTimeout(d time.Duration) Option {
	return func(c *Client) { c.callTimeout = d }
}

// WithHTTPClient replaces the HTTP client (and so the transport and TLS
// configuration given to New).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// WithTLSConfigFunc gives each endpoint a TLS configuration of its own,
// tlsFor(the endpoint's host name), e.g. one whose certificate check names
// that host; each endpoint then has its own transport. It replaces the
// tlsCfg given to NewMulti; WithHTTPClient overrides it.
func WithTLSConfigFunc(tlsFor func(host string) *tls.Config) Option {
	return func(c *Client) { c.tlsFor = tlsFor }
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a client of the KMS at endpoint ("https://kms.example:8443"),
// authenticating with the client certificate in tlsCfg.
func New(endpoint string, tlsCfg *tls.Config, opts ...Option) (*Client, error) {
	return NewMulti([]string{endpoint}, tlsCfg, opts...)
}

// NewMulti returns a client of the KMS nodes at endpoints (at least one),
// all serving the same keys (one key store), authenticating with the
// client certificate in tlsCfg. Calls are spread over the endpoints in
// turn; one that fails is left alone for a while and the call goes to the
// next (endpoints.go).
func NewMulti(endpoints []string, tlsCfg *tls.Config, opts ...Option) (*Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("kmsclient: no endpoint")
	}
	eps := make([]*endpoint, 0, len(endpoints))
	for _, e := range endpoints {
		u, err := url.Parse(e)
		if err != nil {
			return nil, fmt.Errorf("kmsclient: invalid endpoint: %w", err)
		}
		if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
			return nil, fmt.Errorf("kmsclient: endpoint %q is not an http(s) URL", e)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = ""
		eps = append(eps, &endpoint{base: u})
	}
	c := &Client{
		eps:         eps,
		downFor:     DefaultDownFor,
		now:         time.Now,
		retries:     DefaultRetries,
		backoff:     DefaultBackoff,
		maxBackoff:  DefaultMaxBackoff,
		callTimeout: DefaultCallTimeout,
		userAgent:   "s3kms-kmsclient",
	}
	for _, o := range opts {
		o(c)
	}
	for _, ep := range c.eps {
		switch {
		case c.hc != nil:
			ep.hc = c.hc
		case c.tlsFor != nil:
			ep.hc = &http.Client{Transport: NewTransport(c.tlsFor(ep.base.Hostname()))}
		}
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: NewTransport(tlsCfg)}
		for _, ep := range c.eps {
			if ep.hc == nil {
				ep.hc = c.hc
			}
		}
	}
	return c, nil
}

// NewTransport returns the transport New uses: connections kept alive and
// reused (up to 64 idle per host, for HTTP/1.1; HTTP/2 multiplexes), with
// dial, handshake and response-header timeouts.
func NewTransport(tlsCfg *tls.Config) *http.Transport {
	if tlsCfg != nil {
		tlsCfg = tlsCfg.Clone()
	}
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       tlsCfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
}

// CloseIdleConnections closes the idle connections of the client's
// transport.
func (c *Client) CloseIdleConnections() {
	c.hc.CloseIdleConnections()
	for _, ep := range c.eps {
		ep.hc.CloseIdleConnections()
	}
}

// TLSConfigFromFiles returns a client TLS configuration trusting the CAs
// in caFile and presenting the certificate and key in certFile and
// keyFile (all PEM).
func TLSConfigFromFiles(caFile, certFile, keyFile string) (*tls.Config, error) {
	pemCAs, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("kmsclient: reading the CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCAs) {
		return nil, fmt.Errorf("kmsclient: no PEM certificate in %s", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("kmsclient: loading the client certificate: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      pool,
		Certificates: []tls.Certificate{cert},
	}, nil
}

// call describes one API call.
type call struct {
	name       string // client method, for errors
	method     string
	path       string // escaped path below the endpoint
	query      url.Values
	in         any // request body, or nil
	out        any // response body, or nil
	idempotent bool
}

// do performs cl, on another endpoint or again after a backoff when it is
// idempotent and the failure retryable, or when no connection could be
// made at all (mayFailOver).
func (c *Client) do(ctx context.Context, cl call) error {
	var body []byte
	if cl.in != nil {
		var err error
		if body, err = json.Marshal(cl.in); err != nil {
			return &kms.Error{Code: kms.EInvalid, Message: "cannot encode the request",
				Err: &CallError{Call: cl.name, Err: err}}
		}
		// The body may hold plaintext (Encrypt).
		defer clear(body)
	}
	start := time.Now()
	delay := c.backoff
	attempt := 0
	var err error // the last attempt's
	for round := 0; ; round++ {
		// One round tries each endpoint that is up once (or, when none
		// is, the one down the longest), without waiting in between.
		for _, ep := range c.order() {
			if attempt > 0 {
				c.metrics.retried(cl.name)
				c.logRetry(ctx, cl.name, attempt, err)
			}
			attempt++
			err = c.once(ctx, ep, cl, body)
			if err == nil {
				ep.up()
				c.metrics.observe(cl.name, nil, time.Since(start))
				return nil
			}
			if endpointFault(err) {
				ep.down(c.now().Add(c.downFor))
			}
			if !mayFailOver(err) || ctx.Err() != nil {
				c.metrics.observe(cl.name, err, time.Since(start))
				return err
			}
		}
		if round >= c.retries {
			c.metrics.observe(cl.name, err, time.Since(start))
			return err
		}
		// Full jitter: sleep a random time up to delay.
		d := time.Duration(rand.Int64N(int64(delay) + 1))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			c.metrics.observe(cl.name, err, time.Since(start))
			return err
		case <-t.C:
		}
		delay = min(2*delay, c.maxBackoff)
	}
}

// once performs one attempt of cl.
func (c *Client) once(ctx context.Context, ep *endpoint, cl call, body []byte) error {
	parent := ctx
	if c.callTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.callTimeout)
		defer cancel()
	}
	u := *ep.base
	u.RawPath = ep.base.EscapedPath() + cl.path
	u.Path, _ = url.PathUnescape(u.RawPath)
	u.RawQuery = cl.query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), rd)
	if err != nil {
		return &kms.Error{Code: kms.EInvalid, Message: "cannot build the request",
			Err: &CallError{Call: cl.name, Err: err}}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if id := kms.RequestIDFrom(ctx); id != "" {
		// The caller's request id (an S3 node's x-amz-request-id): the
		// KMS logs it, to follow one request across services.
		req.Header.Set("X-Request-Id", id)
	}
	resp, err := ep.hc.Do(req)
	if err != nil {
		return transportError(parent, cl, err)
	}
	defer resp.Body.Close()
	buf, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	// The response may hold a plaintext data key.
	defer clear(buf)
	ce := &CallError{
		Call: cl.name, StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id"),
		Idempotent: cl.idempotent,
	}
	if err != nil {
		ce.Err = err
		return &kms.Error{Code: kms.EUnavailable, Message: "reading the KMS response failed", Err: ce}
	}
	if len(buf) > maxResponse {
		return &kms.Error{Code: kms.EInternal, Message: "KMS response too large", Err: ce}
	}
	if resp.StatusCode >= 300 {
		return responseError(ce, buf)
	}
	if cl.out == nil {
		return nil
	}
	if err := json.Unmarshal(buf, cl.out); err != nil {
		ce.Err = err
		return &kms.Error{Code: kms.EInternal, Message: "malformed KMS response", Err: ce}
	}
	return nil
}

// transportError turns a failure to get a response into a *kms.Error.
// parent is the caller's context: when it has ended, retrying is
// pointless; when only the attempt's own timeout fired, the KMS node was
// too slow and another attempt may succeed, like after a dropped
// connection.
func transportError(parent context.Context, cl call, err error) error {
	ce := &CallError{Call: cl.name, Idempotent: cl.idempotent, Err: err}
	if ctxErr := parent.Err(); ctxErr != nil {
		ce.Err = fmt.Errorf("%w (%v)", ctxErr, err)
		return &kms.Error{Code: kms.EUnavailable, Message: "KMS call cancelled or timed out", Err: ce}
	}
	ce.Conn = true
	ce.Dial = isDialError(err)
	return &kms.Error{Code: kms.EUnavailable, Message: "cannot reach the KMS", Err: ce}
}

// responseError decodes an error response. The server's code and message
// are kept; a body that is not our JSON error (a proxy's page) is mapped
// by status code alone.
func responseError(ce *CallError, body []byte) error {
	var er wire.ErrorResponse
	if json.Unmarshal(body, &er) == nil && er.Error.Code != "" {
		if ce.RequestID == "" {
			ce.RequestID = er.Error.RequestID
		}
		code, ok := knownCodes[kms.Code(er.Error.Code)]
		if !ok {
			code = codeFromStatus(ce.StatusCode)
		}
		msg := er.Error.Message
		if msg == "" {
			msg = http.StatusText(ce.StatusCode)
		}
		return &kms.Error{Code: code, Message: msg, Err: ce}
	}
	return &kms.Error{
		Code:    codeFromStatus(ce.StatusCode),
		Message: fmt.Sprintf("KMS answered HTTP %d %s", ce.StatusCode, http.StatusText(ce.StatusCode)),
		Err:     ce,
	}
}

// knownCodes are the kms codes the server sends as JSON error codes.
var knownCodes = map[kms.Code]kms.Code{}

func init() {
	for _, c := range []kms.Code{
		kms.EInvalid, kms.ENotFound, kms.EConflict, kms.EForbidden, kms.EUnauthorized,
		kms.EDisabled, kms.EState, kms.EDestroyed, kms.EDecrypt, kms.EUnavailable,
		kms.ETooLarge, kms.EInternal, kms.ENotExportable,
	} {
		knownCodes[c] = c
	}
}

// codeFromStatus maps an HTTP status without a known JSON code.
func codeFromStatus(status int) kms.Code {
	switch status {
	case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusUnsupportedMediaType:
		return kms.EInvalid
	case http.StatusUnauthorized:
		return kms.EUnauthorized
	case http.StatusForbidden:
		return kms.EForbidden
	case http.StatusNotFound:
		return kms.ENotFound
	case http.StatusConflict:
		return kms.EConflict
	case http.StatusGone:
		return kms.EDestroyed
	case http.StatusRequestEntityTooLarge:
		return kms.ETooLarge
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusTooManyRequests:
		return kms.EUnavailable
	}
	return kms.EInternal
}

// CallError is the cause (kms.Error.Err) of every error a Client returns:
// which call failed and how, for logs and retry decisions. It never holds
// key material.
type CallError struct {
	// Call is the client method, e.g. "GenerateDataKey".
	Call string
	// StatusCode is the HTTP status, 0 if no response arrived.
	StatusCode int
	// RequestID is the server's request id (X-Request-Id), if any.
	RequestID string
	// Conn is true when no response arrived because of a network failure
	// (dial, TLS handshake, reset connection, response-header or per-call
	// timeout), but not when the caller's context ended.
	Conn bool
	// Dial is true when no connection could be made (refused, unreachable,
	// dial timeout): the request never left, so even a call that is not
	// idempotent may go to another endpoint.
	Dial bool
	// Idempotent is true when the call may be repeated safely.
	Idempotent bool
	// Err is the underlying transport or decoding error, if any.
	Err error
}

func (e *CallError) Error() string {
	var b strings.Builder
	b.WriteString("kmsclient: ")
	b.WriteString(e.Call)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request id %s)", e.RequestID)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *CallError) Unwrap() error { return e.Err }

// SafeToRetry reports whether repeating the call may succeed and cannot
// do harm: the call is idempotent and the failure transient (connection
// failure, or HTTP 502, 503 or 504).
func (e *CallError) SafeToRetry() bool {
	if !e.Idempotent {
		return false
	}
	switch e.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case 0:
		return e.Conn
	}
	return false
}

// Retryable reports whether err, returned by a Client call, is worth
// retrying: the call is idempotent (decrypt, rewrap, generate, encrypt,
// get, list) and it failed with EUnavailable, a connection error, or HTTP
// 502, 503 or 504. Calls that change key state (create, rotate, enable, …)
// are never retryable. The client already retries such errors itself
// (WithRetries); Retryable lets callers decide about further attempts.
func Retryable(err error) bool {
	var ce *CallError
	if !errors.As(err, &ce) {
		return false
	}
	return ce.SafeToRetry()
}

// keyPath returns the escaped path of key id, with a "/"-separated suffix.
func keyPath(id string, suffix string) string {
	p := "/v1/keys/" + url.PathEscape(id)
	if suffix != "" {
		p += "/" + suffix
	}
	return p
}
