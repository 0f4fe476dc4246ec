package kmip

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"

	"github.com/s3kms/s3kms/api"
	"github.com/s3kms/s3kms/api/apitest"
)

// testServer is a KMIP server over an apitest KMS on 127.0.0.1.
type testServer struct {
	env  *apitest.Env
	addr string
	srv  *Server
}

func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	env := apitest.New(t, apitest.Options{})
	cfg.Service = env.Service
	cfg.TLSConfig = api.NewTLSConfig(env.CA.Server(t).TLS, env.CA.Pool)
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testServer{env: env, addr: ln.Addr().String(), srv: srv}
}

// dial opens a TLS connection presenting the admin certificate.
func (ts *testServer) dial(t *testing.T) *tls.Conn {
	t.Helper()
	return ts.dialWith(t, ts.env.TLSConfig(ts.env.Admin))
}

func (ts *testServer) dialWith(t *testing.T, cfg *tls.Config) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", ts.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// testItem is a request batch item.
type testItem struct {
	op      kmip14.Operation
	id      []byte
	payload func(e *ttlv.Encoder)
}

type reqOpts struct {
	onError kmip14.BatchErrorContinuationOption // 0: not sent
	maxResp int32                               // 0: not sent
	count   int32                               // 0: len(items)
}

// encodeRequest builds a Request Message with kmip-go's encoder.
func encodeRequest(t testing.TB, v version, o reqOpts, items ...testItem) []byte {
	t.Helper()
	var buf bytes.Buffer
	e := ttlv.NewEncoder(&buf)
	err := e.EncodeStructure(kmip14.TagRequestMessage, func(e *ttlv.Encoder) error {
		_ = e.EncodeStructure(kmip14.TagRequestHeader, func(e *ttlv.Encoder) error {
			encodeVersion(e, v)
			if o.maxResp > 0 {
				e.EncodeInteger(kmip14.TagMaximumResponseSize, o.maxResp)
			}
			if o.onError != 0 {
				e.EncodeEnumeration(kmip14.TagBatchErrorContinuationOption, uint32(o.onError))
			}
			count := o.count
			if count == 0 {
				count = int32(len(items))
			}
			e.EncodeInteger(kmip14.TagBatchCount, count)
			return nil
		})
		for _, it := range items {
			_ = e.EncodeStructure(kmip14.TagBatchItem, func(e *ttlv.Encoder) error {
				e.EncodeEnumeration(kmip14.TagOperation, uint32(it.op))
				if it.id != nil {
					e.EncodeByteString(kmip14.TagUniqueBatchItemID, it.id)
				}
				return e.EncodeStructure(kmip14.TagRequestPayload, func(e *ttlv.Encoder) error {
					if it.payload != nil {
						it.payload(e)
					}
					return nil
				})
			})
		}
		return nil
	})
	if err == nil {
		err = e.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Decoded responses, through kmip-go's reflection decoder (independent of
// the server's own parser).
type respHeader struct {
	ProtocolVersion struct {
		ProtocolVersionMajor int32
		ProtocolVersionMinor int32
	}
	TimeStamp  time.Time
	BatchCount int32
	Extra      []any `ttlv:",any"`
}

type respItem struct {
	Operation         kmip14.Operation
	UniqueBatchItemID []byte
	ResultStatus      kmip14.ResultStatus
	ResultReason      kmip14.ResultReason
	ResultMessage     string
	ResponsePayload   ttlv.TTLV
	Extra             []any `ttlv:",any"`
}

type respMsg struct {
	ResponseHeader respHeader
	BatchItem      []respItem
}

func (r respMsg) version() version {
	return version{r.ResponseHeader.ProtocolVersion.ProtocolVersionMajor, r.ResponseHeader.ProtocolVersion.ProtocolVersionMinor}
}

func decodeResponse(t testing.TB, b []byte) respMsg {
	t.Helper()
	if ttlv.TTLV(b).Tag() != kmip14.TagResponseMessage {
		t.Fatalf("response tag = %s", ttlv.TTLV(b).Tag())
	}
	var m respMsg
	if err := ttlv.Unmarshal(b, &m); err != nil {
		t.Fatalf("decoding the response: %v", err)
	}
	if int(m.ResponseHeader.BatchCount) != len(m.BatchItem) {
		t.Fatalf("batch count %d, %d items", m.ResponseHeader.BatchCount, len(m.BatchItem))
	}
	if len(m.ResponseHeader.Extra) != 0 {
		t.Errorf("response header has extra fields: %v", m.ResponseHeader.Extra)
	}
	return m
}

// readResponse reads one TTLV message from c.
func readResponse(c net.Conn) ([]byte, error) {
	hdr := make([]byte, 8)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[4:])
	if n > 1<<20 {
		return nil, errors.New("response too large")
	}
	b := make([]byte, 8+int(n))
	copy(b, hdr)
	_, err := io.ReadFull(c, b[8:])
	return b, err
}

// roundTrip sends req on c and decodes the response.
func roundTrip(t *testing.T, c net.Conn, req []byte) respMsg {
	t.Helper()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	b, err := readResponse(c)
	if err != nil {
		t.Fatal(err)
	}
	return decodeResponse(t, b)
}

func queryPayload(fns ...kmip14.QueryFunction) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) {
		for _, f := range fns {
			e.EncodeEnumeration(kmip14.TagQueryFunction, uint32(f))
		}
	}
}

func versionsPayload(vs ...version) func(e *ttlv.Encoder) {
	return func(e *ttlv.Encoder) {
		for _, v := range vs {
			encodeVersion(e, v)
		}
	}
}

type versionsResp struct {
	ProtocolVersion []struct {
		ProtocolVersionMajor int32
		ProtocolVersionMinor int32
	}
}

func (r versionsResp) list() []version {
	var out []version
	for _, p := range r.ProtocolVersion {
		out = append(out, version{p.ProtocolVersionMajor, p.ProtocolVersionMinor})
	}
	return out
}

type queryResp struct {
	Operation            []kmip14.Operation
	ObjectType           []kmip14.ObjectType
	VendorIdentification string
	Extra                []any `ttlv:",any"`
}

func tlsClient(c net.Conn, cfg any) *tls.Conn { return tls.Client(c, cfg.(*tls.Config)) }
