package kmipvectors

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gemalto/kmip-go/ttlv"
)

// MaxResponse caps the length a response header may announce.
const MaxResponse = 16 << 20

// Conn is a KMIP client connection: one TTLV request, one TTLV response.
type Conn struct {
	c       net.Conn
	Timeout time.Duration // per round trip; 30s if zero
}

// Dial opens a TLS connection to a KMIP server. cfg should carry the client
// certificate and the CA that signed the server's certificate.
func Dial(ctx context.Context, addr string, cfg *tls.Config) (*Conn, error) {
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c}, nil
}

// NewConn wraps an established connection (TLS, or a pipe in tests).
func NewConn(c net.Conn) *Conn { return &Conn{c: c} }

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// RoundTrip sends one message and reads one back.
func (c *Conn) RoundTrip(req ttlv.TTLV) (ttlv.TTLV, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	if err := c.c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	if _, err := c.c.Write(req[:req.FullLen()]); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	return ReadMessage(c.c)
}

// ReadMessage reads one TTLV item, refusing lengths over MaxResponse.
func ReadMessage(r io.Reader) (ttlv.TTLV, error) {
	hdr := make([]byte, 8)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[4:])
	if n > MaxResponse {
		return nil, fmt.Errorf("message announces %d bytes (cap %d)", n, MaxResponse)
	}
	msg := make([]byte, 8+int(n))
	copy(msg, hdr)
	if _, err := io.ReadFull(r, msg[8:]); err != nil {
		return nil, fmt.Errorf("read body of %d bytes: %w", n, err)
	}
	t := ttlv.TTLV(msg)
	if err := t.Valid(); err != nil {
		return nil, fmt.Errorf("invalid TTLV: %w", err)
	}
	return t, nil
}

// QueryOperations asks the server which operations it supports (Query with
// Query Operations, at KMIP 1.4) and returns their names as the test cases
// spell them ("Create", "GetAttributes").
func QueryOperations(c *Conn) (map[string]bool, error) {
	req := &Node{Tag: "RequestMessage", Children: []*Node{
		{Tag: "RequestHeader", Children: []*Node{
			{Tag: "ProtocolVersion", Children: []*Node{
				{Tag: "ProtocolVersionMajor", Type: "Integer", Value: "1"},
				{Tag: "ProtocolVersionMinor", Type: "Integer", Value: "4"},
			}},
			{Tag: "BatchCount", Type: "Integer", Value: "1"},
		}},
		{Tag: "BatchItem", Children: []*Node{
			{Tag: "Operation", Type: "Enumeration", Value: "Query"},
			{Tag: "RequestPayload", Children: []*Node{
				{Tag: "QueryFunction", Type: "Enumeration", Value: "QueryOperations"},
			}},
		}},
	}}
	t, err := Encode(req, sampleValue)
	if err != nil {
		return nil, err
	}
	resp, err := c.RoundTrip(t)
	if err != nil {
		return nil, err
	}
	bi := find(resp.ValueStructure(), "BatchItem")
	if bi == nil {
		return nil, fmt.Errorf("query response has no batch item: %s", resp)
	}
	if st := find(bi.ValueStructure(), "ResultStatus"); st == nil || enumName(st) != "Success" {
		return nil, fmt.Errorf("query operations failed: %s", resp)
	}
	ops := map[string]bool{}
	if p := find(bi.ValueStructure(), "ResponsePayload"); p != nil {
		for c := p.ValueStructure(); c != nil; c = c.Next() {
			if tagName(c.Tag()) == "Operation" {
				ops[enumName(c)] = true
			}
		}
	}
	return ops, nil
}

// find returns the first item with the tag among first and its siblings.
func find(first ttlv.TTLV, tag string) ttlv.TTLV {
	for c := first; c != nil; c = c.Next() {
		if tagName(c.Tag()) == tag {
			return c
		}
	}
	return nil
}

// enumName is an enumeration's value as the test cases spell it
// ("OperationNotSupported"), or its hex form if kmip-go has no name for it.
func enumName(t ttlv.TTLV) string {
	if t.Type() != ttlv.TypeEnumeration {
		return fmt.Sprint(t.Value())
	}
	return ttlv.DefaultRegistry.FormatEnum(t.Tag(), uint32(t.ValueEnumeration()))
}
