package kmip

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"
)

func TestDiscoverVersions(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	all := supportedVersions
	tests := []struct {
		name string
		v    version
		ask  []version
		id   []byte
		want []version
	}{
		{"1.2 all", version{1, 2}, nil, nil, all},
		{"1.4 all with id", version{1, 4}, nil, []byte{7}, all},
		{"2.0 all", version{2, 0}, nil, []byte("abc"), all},
		{"1.2 intersect", version{1, 2}, []version{{1, 1}, {3, 0}, {1, 2}}, nil, []version{{1, 2}, {1, 1}}},
		{"2.0 none in common", version{2, 0}, []version{{3, 1}}, nil, nil},
		{"unsupported 2.1 still discovers", version{2, 1}, nil, nil, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := roundTrip(t, c, encodeRequest(t, tt.v, reqOpts{},
				testItem{op: kmip14.OperationDiscoverVersions, id: tt.id, payload: versionsPayload(tt.ask...)}))
			if m.version() != tt.v {
				t.Errorf("response version %s, want %s", m.version(), tt.v)
			}
			it := m.BatchItem[0]
			if it.ResultStatus != kmip14.ResultStatusSuccess || it.Operation != kmip14.OperationDiscoverVersions {
				t.Fatalf("item = %+v", it)
			}
			if string(it.UniqueBatchItemID) != string(tt.id) || (tt.id == nil) != (it.UniqueBatchItemID == nil) {
				t.Errorf("batch item id = %q, want %q", it.UniqueBatchItemID, tt.id)
			}
			var p versionsResp
			if err := ttlv.Unmarshal(it.ResponsePayload, &p); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.list(), tt.want) {
				t.Errorf("versions = %v, want %v", p.list(), tt.want)
			}
		})
	}
}

func TestQuery(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	for _, v := range []version{{1, 0}, {1, 2}, {1, 4}, {2, 0}} {
		t.Run(v.String(), func(t *testing.T) {
			m := roundTrip(t, c, encodeRequest(t, v, reqOpts{}, testItem{op: kmip14.OperationQuery,
				payload: queryPayload(kmip14.QueryFunctionQueryOperations, kmip14.QueryFunctionQueryObjects,
					kmip14.QueryFunctionQueryServerInformation, kmip14.QueryFunctionQueryExtensionMap)}))
			if m.version() != v {
				t.Errorf("response version %s", m.version())
			}
			it := m.BatchItem[0]
			if it.ResultStatus != kmip14.ResultStatusSuccess {
				t.Fatalf("item = %+v", it)
			}
			var p queryResp
			if err := ttlv.Unmarshal(it.ResponsePayload, &p); err != nil {
				t.Fatal(err)
			}
			wantOps := []kmip14.Operation{kmip14.OperationCreate, kmip14.OperationRegister, kmip14.OperationReKey,
				kmip14.OperationLocate, kmip14.OperationCheck, kmip14.OperationGet, kmip14.OperationGetAttributes,
				kmip14.OperationGetAttributeList, kmip14.OperationAddAttribute, kmip14.OperationModifyAttribute,
				kmip14.OperationDeleteAttribute, kmip14.OperationActivate, kmip14.OperationRevoke,
				kmip14.OperationDestroy, kmip14.OperationQuery, kmip14.OperationDiscoverVersions,
				kmip14.OperationEncrypt, kmip14.OperationDecrypt, kmip14.OperationMAC,
				kmip14.OperationMACVerify, kmip14.OperationRNGRetrieve}
			if !slices.Equal(p.Operation, wantOps) || p.VendorIdentification != "s3kms" || len(p.Extra) != 0 ||
				!slices.Equal(p.ObjectType, objectTypes) {
				t.Errorf("query payload = %+v", p)
			}
		})
	}
}

func TestItemFailures(t *testing.T) {
	ts := startServer(t, Config{})
	admin := ts.dial(t)
	stranger := ts.dialWith(t, ts.env.TLSConfig(ts.env.Stranger))
	query := testItem{op: kmip14.OperationQuery, payload: queryPayload(kmip14.QueryFunctionQueryOperations)}
	tests := []struct {
		name   string
		conn   net.Conn
		v      version
		item   testItem
		reason kmip14.ResultReason
	}{
		{"unknown operation", admin, version{1, 4}, testItem{op: kmip14.OperationSign, id: []byte{1}}, kmip14.ResultReasonOperationNotSupported},
		{"certify not supported", admin, version{1, 4}, testItem{op: kmip14.OperationCertify, payload: func(e *ttlv.Encoder) {
			e.EncodeTextString(kmip14.TagUniqueIdentifier, "00000000-0000-4000-8000-000000000000")
		}}, kmip14.ResultReasonOperationNotSupported},
		{"unassigned operation", admin, version{1, 2}, testItem{op: 0x7777}, kmip14.ResultReasonOperationNotSupported},
		{"unsupported version", admin, version{3, 0}, query, kmip14.ResultReasonInvalidMessage},
		{"unsupported minor", admin, version{1, 5}, query, kmip14.ResultReasonInvalidMessage},
		{"query without function", admin, version{1, 4}, testItem{op: kmip14.OperationQuery}, kmip14.ResultReasonInvalidField},
		{"identity not in policy", stranger, version{1, 4}, query, kmip14.ResultReasonAuthenticationNotSuccessful},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := roundTrip(t, tt.conn, encodeRequest(t, tt.v, reqOpts{}, tt.item))
			it := m.BatchItem[0]
			if it.ResultStatus != kmip14.ResultStatusOperationFailed || it.ResultReason != tt.reason || it.ResultMessage == "" {
				t.Errorf("item = %+v, want reason %s", it, tt.reason)
			}
			if it.Operation != tt.item.op || string(it.UniqueBatchItemID) != string(tt.item.id) {
				t.Errorf("operation/id not echoed: %+v", it)
			}
			if it.ResponsePayload != nil {
				t.Errorf("failed item has a payload")
			}
		})
	}
	// The stranger may still discover versions.
	m := roundTrip(t, stranger, encodeRequest(t, version{1, 2}, reqOpts{}, testItem{op: kmip14.OperationDiscoverVersions}))
	if m.BatchItem[0].ResultStatus != kmip14.ResultStatusSuccess {
		t.Errorf("stranger discover versions = %+v", m.BatchItem[0])
	}
}

func TestBatchErrorContinuation(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	items := []testItem{
		{op: kmip14.OperationQuery, id: []byte{1}, payload: queryPayload(kmip14.QueryFunctionQueryServerInformation)},
		{op: kmip14.OperationGet, id: []byte{2}},
		{op: kmip14.OperationDiscoverVersions, id: []byte{3}},
	}
	ok, fail := kmip14.ResultStatusSuccess, kmip14.ResultStatusOperationFailed
	tests := []struct {
		name   string
		opt    kmip14.BatchErrorContinuationOption
		want   []kmip14.ResultStatus
		noteRe string
	}{
		{"continue", kmip14.BatchErrorContinuationOptionContinue, []kmip14.ResultStatus{ok, fail, ok}, ""},
		{"stop", kmip14.BatchErrorContinuationOptionStop, []kmip14.ResultStatus{ok, fail}, ""},
		{"default is stop", 0, []kmip14.ResultStatus{ok, fail}, ""},
		// Query has no side effect: undone trivially.
		{"undo", kmip14.BatchErrorContinuationOptionUndo, []kmip14.ResultStatus{kmip14.ResultStatusOperationUndone, fail}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := roundTrip(t, c, encodeRequest(t, version{1, 4}, reqOpts{onError: tt.opt}, items...))
			var got []kmip14.ResultStatus
			for i, it := range m.BatchItem {
				got = append(got, it.ResultStatus)
				if it.UniqueBatchItemID[0] != byte(i+1) {
					t.Errorf("item %d id = %v", i, it.UniqueBatchItemID)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("statuses = %v, want %v", got, tt.want)
			}
			if !strings.Contains(m.BatchItem[1].ResultMessage, tt.noteRe) {
				t.Errorf("message = %q", m.BatchItem[1].ResultMessage)
			}
		})
	}
}

func TestMaximumResponseSize(t *testing.T) {
	ts := startServer(t, Config{})
	c := ts.dial(t)
	m := roundTrip(t, c, encodeRequest(t, version{1, 4}, reqOpts{maxResp: 64},
		testItem{op: kmip14.OperationDiscoverVersions}))
	if it := m.BatchItem[0]; it.ResultReason != kmip14.ResultReasonResponseTooLarge {
		t.Errorf("item = %+v", it)
	}
}

// TestInvalidMessages sends requests that do not decode. Those framed
// correctly get Invalid Message and the connection stays usable; those
// that cannot be framed get Invalid Message (or nothing) and a close. In
// every case the server still serves a new connection.
func TestInvalidMessages(t *testing.T) {
	ts := startServer(t, Config{MaxMessageSize: 1 << 20})
	garbage := make([]byte, 4096)
	_, _ = rand.Read(garbage)
	garbage[0] = 0x13                                              // not a KMIP tag
	huge := []byte{0x42, 0x00, 0x78, 0x01, 0x40, 0x00, 0x00, 0x00} // Request Message, 1 GiB
	good := encodeRequest(t, version{1, 4}, reqOpts{}, testItem{op: kmip14.OperationDiscoverVersions})
	badCount := encodeRequest(t, version{1, 4}, reqOpts{count: 5}, testItem{op: kmip14.OperationDiscoverVersions})
	brokenBody := append([]byte{0x42, 0x00, 0x78, 0x01, 0, 0, 0, 16}, garbage[:16]...)
	tests := []struct {
		name   string
		req    []byte
		closes bool
	}{
		{"1 GiB length header", huge, true},
		{"random garbage", garbage, true},
		{"wrong batch count", badCount, false},
		{"garbage inside a framed message", brokenBody, false},
		{"truncated then closed", good[:len(good)-8], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dial(t)
			if _, err := c.Write(tt.req); err != nil {
				t.Fatal(err)
			}
			if tt.name == "truncated then closed" {
				_ = c.CloseWrite()
				if _, err := readResponse(c); err == nil {
					t.Fatal("a response to a truncated message")
				}
			} else {
				b, err := readResponse(c)
				if err != nil {
					t.Fatalf("no response: %v", err)
				}
				it := decodeResponse(t, b).BatchItem[0]
				if it.ResultStatus != kmip14.ResultStatusOperationFailed || it.ResultReason != kmip14.ResultReasonInvalidMessage || it.ResultMessage == "" {
					t.Errorf("item = %+v", it)
				}
			}
			if tt.closes {
				if _, err := readResponse(c); err == nil || isTimeout(err) {
					t.Errorf("connection not closed: %v", err)
				}
			} else {
				m := roundTrip(t, c, good)
				if m.BatchItem[0].ResultStatus != kmip14.ResultStatusSuccess {
					t.Errorf("next request on the same connection: %+v", m.BatchItem[0])
				}
			}
			m := roundTrip(t, ts.dial(t), good)
			if m.BatchItem[0].ResultStatus != kmip14.ResultStatusSuccess {
				t.Errorf("new connection: %+v", m.BatchItem[0])
			}
		})
	}
}

func TestHandshakeRequiresClientCertificate(t *testing.T) {
	ts := startServer(t, Config{})
	for name, cfg := range map[string]func() any{
		"no certificate":      func() any { return ts.env.NoCertTLSConfig() },
		"foreign certificate": func() any { return ts.env.TLSConfig(ts.env.Foreign) },
	} {
		t.Run(name, func(t *testing.T) {
			raw, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
			c := tlsClient(raw, cfg())
			// With TLS 1.3 the client learns of the refusal on its first
			// read; with 1.2 during the handshake.
			if err := c.Handshake(); err == nil {
				_, _ = c.Write(encodeRequest(t, version{1, 4}, reqOpts{}, testItem{op: kmip14.OperationDiscoverVersions}))
				if _, err := readResponse(c); err == nil {
					t.Fatal("the server answered a client without a valid certificate")
				}
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, Config{IdleTimeout: 100 * time.Millisecond})
	c := ts.dial(t)
	roundTrip(t, c, encodeRequest(t, version{1, 4}, reqOpts{}, testItem{op: kmip14.OperationDiscoverVersions}))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	if _, err := c.Read(b[:]); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection: read = %v, want EOF", err)
	}
}

func TestSlowMessageTimesOut(t *testing.T) {
	ts := startServer(t, Config{ReadTimeout: 100 * time.Millisecond})
	c := ts.dial(t)
	req := encodeRequest(t, version{1, 4}, reqOpts{}, testItem{op: kmip14.OperationDiscoverVersions})
	if _, err := c.Write(req[:12]); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := readResponse(c); !errors.Is(err, io.EOF) {
		t.Errorf("stalled message: read = %v, want EOF", err)
	}
}

func TestNestingIsBounded(t *testing.T) {
	// A chain of nested Structures: kmip-go's Valid would take 2^depth
	// steps on it; ours refuses it beyond maxDepth.
	depth := 200
	b := make([]byte, 8*depth)
	for i := range depth {
		binary.BigEndian.PutUint32(b[8*i:], 0x42007801)
		binary.BigEndian.PutUint32(b[8*i+4:], uint32(8*(depth-i-1)))
	}
	h := newHandler(nil, nil)
	resp := h.handleMessage(t.Context(), session{}, b)
	if it := decodeResponse(t, resp).BatchItem[0]; it.ResultReason != kmip14.ResultReasonInvalidMessage {
		t.Errorf("item = %+v", it)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestBatchItemsAreBounded: a request of many small items whose results
// are large (RNG Retrieve: 48 bytes asking for 64 KiB) is refused whole
// beyond maxBatchItems, and served up to it.
func TestBatchItemsAreBounded(t *testing.T) {
	ts := startServer(t, Config{})
	rng := testItem{op: kmip14.OperationRNGRetrieve, payload: func(e *ttlv.Encoder) {
		e.EncodeInteger(kmip14.TagDataLength, 16)
	}}
	for _, tt := range []struct {
		items int
		want  kmip14.ResultStatus
	}{
		{maxBatchItems, kmip14.ResultStatusSuccess},
		{maxBatchItems + 1, kmip14.ResultStatusOperationFailed},
		{20000, kmip14.ResultStatusOperationFailed},
	} {
		items := make([]testItem, tt.items)
		for i := range items {
			items[i] = rng
		}
		m := roundTrip(t, ts.dial(t), encodeRequest(t, version{1, 4}, reqOpts{}, items...))
		it := m.BatchItem[0]
		if it.ResultStatus != tt.want {
			t.Errorf("%d items: first item = %+v", tt.items, it)
		}
		if tt.want == kmip14.ResultStatusOperationFailed && (len(m.BatchItem) != 1 || it.ResultReason != kmip14.ResultReasonInvalidMessage) {
			t.Errorf("%d items: %d items answered, first %+v", tt.items, len(m.BatchItem), it)
		}
		if tt.want == kmip14.ResultStatusSuccess && len(m.BatchItem) != tt.items {
			t.Errorf("%d items: %d answered", tt.items, len(m.BatchItem))
		}
	}
}
