package kmip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3kms/s3kms/kms"
)

// Defaults of Config.
const (
	// DefaultMaxMessageSize caps a request. KMIP requests of the profiles
	// we serve are a few KiB; 1 MiB leaves room for Register and Encrypt
	// of large data while bounding what one connection can make us hold.
	DefaultMaxMessageSize = 1 << 20
	// DefaultIdleTimeout closes a connection that sends nothing between
	// requests for that long.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultReadTimeout bounds reading one message once its first byte
	// arrived, and the TLS handshake.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds writing one response.
	DefaultWriteTimeout = 30 * time.Second
)

// Config configures a Server.
type Config struct {
	// Service is the KMS. Required: its policy says which client
	// identities are known.
	Service *kms.Service
	// TLSConfig holds the server certificate and the client CAs (as
	// api.TLSConfig builds it). Required. The server uses a copy that
	// requires and verifies a client certificate and TLS 1.2 or later.
	TLSConfig *tls.Config
	// Logger receives connection failures and unexpected errors, never
	// request contents. Defaults to discarding.
	Logger *slog.Logger
	// Registerer receives the KMIP metrics (metrics.go). nil: none.
	Registerer prometheus.Registerer
	// AccessLog logs every batch item served (message "kmip access").
	AccessLog bool
	// Limits; zero means the default above.
	MaxMessageSize int
	IdleTimeout    time.Duration
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
}

// Server serves KMIP over TLS.
type Server struct {
	svc     *kms.Service
	tls     *tls.Config
	log     *slog.Logger
	h       *handler
	maxMsg  int
	idle    time.Duration
	read    time.Duration
	write   time.Duration
	mu      sync.Mutex
	conns   map[net.Conn]bool // value: busy answering a message
	lns     map[net.Listener]struct{}
	wg      sync.WaitGroup
	closing bool
}

// NewServer returns a KMIP server over cfg.Service.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Service == nil {
		return nil, errors.New("kmip: Config.Service is required")
	}
	if cfg.TLSConfig == nil {
		return nil, errors.New("kmip: Config.TLSConfig is required")
	}
	t := cfg.TLSConfig.Clone()
	t.ClientAuth = tls.RequireAndVerifyClientCert
	t.MinVersion = max(t.MinVersion, tls.VersionTLS12)
	if get := t.GetConfigForClient; get != nil {
		// A configuration that changes per handshake (reloaded client
		// CAs, internal/tlsreload) must still require a client
		// certificate.
		t.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := get(hello)
			if c == nil || err != nil {
				return c, err
			}
			c = c.Clone()
			c.ClientAuth = tls.RequireAndVerifyClientCert
			c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
			return c, nil
		}
	}
	s := &Server{
		svc: cfg.Service, tls: t, log: cfg.Logger,
		maxMsg: orDefault(cfg.MaxMessageSize, DefaultMaxMessageSize),
		idle:   orDefault(cfg.IdleTimeout, DefaultIdleTimeout),
		read:   orDefault(cfg.ReadTimeout, DefaultReadTimeout),
		write:  orDefault(cfg.WriteTimeout, DefaultWriteTimeout),
		conns:  map[net.Conn]bool{},
		lns:    map[net.Listener]struct{}{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.h = newHandler(s.svc, s.log)
	s.h.accessLog = cfg.AccessLog
	if cfg.Registerer != nil {
		m, err := newMetrics(cfg.Registerer)
		if err != nil {
			return nil, fmt.Errorf("kmip: registering metrics: %w", err)
		}
		s.h.metrics = m
	}
	return s, nil
}

func orDefault[T int | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// Serve accepts connections on ln until ctx ends, then closes ln and every
// connection, waits for their goroutines and returns nil. Any other
// listener failure is returned.
//
// Shutdown stops it gracefully instead.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	defer func() {
		if ctx.Err() == nil && s.isClosing() {
			// Shutdown: it closes the connections as they finish.
			s.wg.Wait()
			return
		}
		s.shutdown()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || s.isClosing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("kmip: %w", err)
		}
		if !s.track(c) {
			_ = c.Close()
			return nil
		}
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.serveConn(ctx, c)
		}()
	}
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = false
	s.wg.Add(1)
	return true
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// setBusy marks c as answering a message or not. Marking it idle reports
// false when the server is shutting down: the connection should close.
func (s *Server) setBusy(c net.Conn, busy bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; ok {
		s.conns[c] = busy
	}
	return busy || !s.closing
}

// Shutdown stops the server gracefully: it closes the listeners and the
// idle connections, lets every connection busy with a message (a request
// and its batch items) answer it and then closes it, and waits for that
// until ctx ends, when it closes the connections left and returns
// ctx.Err(). Serve returns nil once every connection is closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.lns {
		_ = ln.Close()
	}
	for c, busy := range s.conns {
		if !busy {
			_ = c.Close()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.shutdown()
		<-done
		return ctx.Err()
	}
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// shutdown closes every connection and waits for their goroutines.
func (s *Server) shutdown() {
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// serveConn runs the TLS handshake, derives the caller's identity from its
// verified certificate, then answers one request after the other until
// the client closes, goes idle or sends bytes that cannot be framed.
func (s *Server) serveConn(ctx context.Context, raw net.Conn) {
	remote := raw.RemoteAddr().String()
	connID := newConnID()
	s.h.metrics.connOpened()
	defer s.h.metrics.connClosed()
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("kmip: panic on a connection", "remote", remote, "conn_id", connID,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	defer raw.Close()
	c := tls.Server(raw, s.tls)
	_ = c.SetDeadline(time.Now().Add(s.read))
	if err := c.HandshakeContext(ctx); err != nil {
		s.log.Warn("kmip: TLS handshake failed", "remote", remote, "conn_id", connID, "err", err)
		return
	}
	_ = c.SetDeadline(time.Time{})
	state := c.ConnectionState()
	if len(state.PeerCertificates) == 0 || len(state.VerifiedChains) == 0 {
		return // RequireAndVerifyClientCert makes this unreachable
	}
	id := kms.IdentityOf(state.PeerCertificates[0])
	_, known := s.svc.Policy().Known(id)
	sess := session{identity: id, known: known, connID: connID}
	s.log.Debug("kmip: connection open", "remote", remote, "conn_id", connID, "identity", id)
	cctx := kms.WithIdentity(ctx, id)
	for {
		msg, resp, err := s.readMessage(raw, c)
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				s.log.Debug("kmip: connection closed", "remote", remote, "conn_id", connID, "identity", id, "err", err)
			}
			return
		}
		if resp == nil {
			resp = s.h.handleMessage(cctx, sess, msg)
			// The request may hold key material (Register) or data to
			// encrypt; nothing refers to it once answered.
			clear(msg)
		}
		_ = c.SetWriteDeadline(time.Now().Add(s.write))
		_, err = c.Write(resp)
		// The response may hold key material (Get) or plaintext.
		clear(resp)
		if err != nil || !s.setBusy(raw, false) {
			return
		}
		if msg == nil {
			// The stream could not be framed: we answered, now close.
			// Closing with unread input makes TCP send a reset, which
			// may destroy the response before the client reads it; so
			// end our side first and drain a bounded amount briefly.
			_ = c.CloseWrite()
			if tc, ok := raw.(interface{ CloseWrite() error }); ok {
				_ = tc.CloseWrite()
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			_, _ = io.CopyN(io.Discard, c, int64(s.maxMsg))
			return
		}
	}
}

// readMessage reads one request. The first byte may take the idle
// timeout, the rest of the message the read timeout. The 8-byte TTLV
// header is checked before the body is allocated: a header that is not a
// Request Message Structure, or that announces more than the size cap,
// gets an Invalid Message response (resp, with msg nil) and the
// connection is then closed, since the stream cannot be resynchronised.
//
// From its first byte, the message keeps raw busy (setBusy) until
// answered.
func (s *Server) readMessage(raw, c net.Conn) (msg, resp []byte, err error) {
	var hdr [headerLen]byte
	_ = c.SetReadDeadline(time.Now().Add(s.idle))
	if _, err := io.ReadFull(c, hdr[:1]); err != nil {
		return nil, nil, err
	}
	s.setBusy(raw, true)
	_ = c.SetReadDeadline(time.Now().Add(s.read))
	if _, err := io.ReadFull(c, hdr[1:]); err != nil {
		return nil, nil, err
	}
	t := ttlv.TTLV(hdr[:])
	if t.Tag() != kmip14.TagRequestMessage || t.Type() != ttlv.TypeStructure {
		return nil, s.h.messageError(fallbackVersion, invalidMessage("the message is not a Request Message structure")), nil
	}
	n := t.Len()
	if n > s.maxMsg-headerLen {
		return nil, s.h.messageError(fallbackVersion,
			invalidMessage("the message announces %d bytes; the limit is %d", n+headerLen, s.maxMsg)), nil
	}
	msg = make([]byte, headerLen+n)
	copy(msg, hdr[:])
	if _, err := io.ReadFull(c, msg[headerLen:]); err != nil {
		return nil, nil, err
	}
	return msg, nil, nil
}
