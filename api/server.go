package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
)

// Config configures a Server.
type Config struct {
	// Service is the KMS. Required.
	Service *kms.Service
	// Logger receives request failures (5xx causes, panics). Never key
	// material. Defaults to discarding.
	Logger *slog.Logger
	// Registry receives the server's metrics and is served on /metrics.
	// Nil means a new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// Ready reports whether the server can serve (GET /readyz). Defaults
	// to Service.Ready. It runs under a 2 s deadline.
	Ready func(ctx context.Context) error
	// Checks are further readiness checks (e.g. the protector's), run
	// with Ready and reported by name in the /readyz body.
	Checks []ReadyCheck
	// AccessLog writes one "access" line per request to Logger.
	AccessLog bool
	// Draining, if set, makes GET /readyz answer 503 "draining" whenever
	// it reports true (the lifecycle's drain flag), as SetDraining does.
	Draining func() bool
}

// Server serves the KMS HTTP API.
type Server struct {
	svc       *kms.Service
	log       *slog.Logger
	ready     func(ctx context.Context) error
	checks    []ReadyCheck
	accessLog bool
	draining  atomic.Bool
	// drainingFrom is Config.Draining, or nil.
	drainingFrom func() bool
	registry     *prometheus.Registry
	metrics      *metrics
	router       *chi.Mux
}

// NewServer builds the HTTP API over cfg.Service.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Service == nil {
		return nil, errors.New("api: Config.Service is required")
	}
	s := &Server{svc: cfg.Service, log: cfg.Logger, ready: cfg.Ready, registry: cfg.Registry,
		checks: cfg.Checks, accessLog: cfg.AccessLog, drainingFrom: cfg.Draining}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.ready == nil {
		s.ready = cfg.Service.Ready
	}
	if s.registry == nil {
		s.registry = newDefaultRegistry()
	}
	m, err := newMetrics(s.registry, s.svc)
	if err != nil {
		return nil, fmt.Errorf("api: registering metrics: %w", err)
	}
	s.metrics = m

	r := chi.NewRouter()
	r.Use(s.requestID)
	for _, rt := range routes() {
		r.Method(rt.method, rt.pattern, s.wrap(rt))
	}
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)
	s.router = r
	return s, nil
}

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return s.router }

// requestID gives every request a random id, in its context (for audit
// records and logs) and in the X-Request-Id response header. It is the
// outermost middleware, so that 404s and 405s carry one too.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		ctx := withClientRequestID(kms.WithRequestID(r.Context(), id), r)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// wrap turns a route into an http.Handler: authentication, body limit,
// timeout, panic recovery, response or error writing, audit of refused
// requests and metrics, in that order.
func (s *Server) wrap(rt route) http.Handler {
	label := rt.method + " " + rt.pattern
	var raw http.Handler
	if rt.raw != nil {
		raw = rt.raw(s)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in handler", "route", label, "request_id", kms.RequestIDFrom(r.Context()),
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if sw.status == 0 {
					s.writeError(sw, r, label, kms.Errorf(kms.EInternal, "internal error"))
				}
			}
			d := time.Since(start)
			s.metrics.observe(label, sw.status, d)
			s.logAccess(r, label, sw.status, d)
		}()
		if rt.timeout > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), rt.timeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		if rt.maxBody > 0 {
			// On the server's own writer, so that it closes the connection
			// after an oversized body instead of draining it.
			r.Body = http.MaxBytesReader(w, r.Body, rt.maxBody)
		}
		if raw != nil {
			raw.ServeHTTP(sw, r)
			return
		}
		s.serve(sw, r, rt, label)
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, rt route, label string) {
	if rt.auth {
		id, err := s.authenticate(r)
		if id != "" {
			r = r.WithContext(kms.WithIdentity(r.Context(), id))
		}
		if err != nil {
			s.svc.RecordDenied(r.Context(), rt.op, auditKeyID(r), err)
			s.writeError(w, r, label, err)
			return
		}
	}
	resp, err := rt.handle(s, r)
	if err != nil {
		if ie, ok := isInputError(err); ok {
			keyID := ie.keyID
			if keyID == "" {
				keyID = auditKeyID(r)
			}
			s.svc.RecordDenied(r.Context(), rt.op, keyID, ie.err)
		}
		s.writeError(w, r, label, err)
		return
	}
	status := rt.status
	if status == 0 {
		status = http.StatusOK
	}
	s.writeJSON(w, r, label, status, resp)
}

// wiper is a response holding plaintext key material, wiped once written.
type wiper interface{ Wipe() }

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, label string, status int, v any) {
	if wp, ok := v.(wiper); ok {
		defer wp.Wipe()
	}
	b, err := json.Marshal(v)
	defer clear(b)
	if err != nil {
		s.writeError(w, r, label, kms.Wrap(kms.EInternal, err, "encoding the response"))
		return
	}
	setJSONHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte{'\n'})
}

// authenticate returns the caller's identity from its verified client
// certificate. The identity is returned along with an error when the
// certificate is fine but not named in the policy, so that the audit
// record says who was refused.
func (s *Server) authenticate(r *http.Request) (kms.Identity, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", &inputError{err: kms.Errorf(kms.EUnauthorized, "a TLS client certificate is required")}
	}
	if len(r.TLS.VerifiedChains) == 0 {
		return "", &inputError{err: kms.Errorf(kms.EUnauthorized, "the TLS client certificate is not verified")}
	}
	id := kms.IdentityOf(r.TLS.PeerCertificates[0])
	if _, known := s.svc.Policy().Known(id); !known {
		return id, &inputError{err: kms.Errorf(kms.EUnauthorized, "client identity %s is not in the policy", id)}
	}
	return id, nil
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status := s.writeError(w, r, "", kms.Errorf(kms.ENotFound, "no such route"))
	s.metrics.observe("unmatched", status, time.Since(start))
	s.logAccess(r, "unmatched", status, time.Since(start))
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if s.router.Match(chi.NewRouteContext(), m, routingPath(r)) {
			allow = append(allow, m)
		}
	}
	for _, m := range allow {
		w.Header().Add("Allow", m)
	}
	status := writeErrorBody(w, http.StatusMethodNotAllowed, wire.Error{
		Code:      wire.CodeMethodNotAllowed,
		Message:   fmt.Sprintf("method %s is not allowed here", r.Method),
		RequestID: kms.RequestIDFrom(r.Context()),
	})
	s.metrics.observe("unmatched", status, time.Since(start))
	s.logAccess(r, "unmatched", status, time.Since(start))
}

// routingPath is the path chi routes on.
func routingPath(r *http.Request) string {
	if r.URL.RawPath != "" {
		return r.URL.RawPath
	}
	return r.URL.Path
}

// statusWriter records the status written, for metrics and to know
// whether a panic happened before the response started.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
