package kmip

import (
	"crypto/rand"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/gemalto/kmip-go/ttlv"
)

// The KMIP load test is off by default:
//
//	go test ./api/kmip -run TestLoad -v -args -load=5s [-conc=1,8] [-ops=create,get,encrypt]
var (
	loadDuration = flag.Duration("load", 0, "run TestLoad for this long per operation and connection count (0: skip)")
	loadConc     = flag.String("conc", "1,8", "connection counts of TestLoad, comma-separated; one client goroutine per connection")
	loadOps      = flag.String("ops", "create,get,encrypt", "operations of TestLoad, comma-separated: create, get, encrypt")
	loadSize     = flag.Int("size", 1024, "bytes of plaintext per Encrypt in TestLoad")
)

// TestLoad is a small KMIP load tool. For each operation and connection
// count it opens that many mutual-TLS connections to a KMIP server over a
// real KMS (SQLite, software protector, durable audit log), sends one
// request at a time per connection for -load, checks every response's
// Result Status, and prints throughput and latency percentiles. It asserts
// nothing about timing.
func TestLoad(t *testing.T) {
	if *loadDuration <= 0 {
		t.Skip("load test off; enable with -args -load=5s")
	}
	var concs []int
	for _, c := range strings.Split(*loadConc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			t.Fatalf("bad -conc %q", *loadConc)
		}
		concs = append(concs, n)
	}
	ts := startServer(t, Config{})
	setup := ts.dial(t)
	v := version{1, 4}
	// One Active AES-256 key serves Get and Encrypt.
	m := roundTrip(t, setup, encodeRequest(t, v, reqOpts{}, testItem{op: kmip14.OperationCreate, payload: createAESPayload}))
	if m.BatchItem[0].ResultStatus != kmip14.ResultStatusSuccess {
		t.Fatalf("Create: %s: %s", m.BatchItem[0].ResultReason, m.BatchItem[0].ResultMessage)
	}
	var created struct{ UniqueIdentifier string }
	if err := ttlv.Unmarshal(m.BatchItem[0].ResponsePayload, &created); err != nil {
		t.Fatal(err)
	}
	id := created.UniqueIdentifier
	m = roundTrip(t, setup, encodeRequest(t, v, reqOpts{}, testItem{op: kmip14.OperationActivate, payload: func(e *ttlv.Encoder) {
		e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
	}}))
	if m.BatchItem[0].ResultStatus != kmip14.ResultStatusSuccess {
		t.Fatalf("Activate: %s: %s", m.BatchItem[0].ResultReason, m.BatchItem[0].ResultMessage)
	}
	data := make([]byte, *loadSize)
	_, _ = rand.Read(data)
	requests := map[string][]byte{
		"create": encodeRequest(t, v, reqOpts{}, testItem{op: kmip14.OperationCreate, payload: createAESPayload}),
		"get": encodeRequest(t, v, reqOpts{}, testItem{op: kmip14.OperationGet, payload: func(e *ttlv.Encoder) {
			e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
		}}),
		"encrypt": encodeRequest(t, v, reqOpts{}, testItem{op: kmip14.OperationEncrypt, payload: func(e *ttlv.Encoder) {
			e.EncodeTextString(kmip14.TagUniqueIdentifier, id)
			_ = e.EncodeStructure(kmip14.TagCryptographicParameters, func(e *ttlv.Encoder) error {
				e.EncodeEnumeration(kmip14.TagBlockCipherMode, uint32(kmip14.BlockCipherModeGCM))
				return nil
			})
			e.EncodeByteString(kmip14.TagData, data)
		}}),
	}
	t.Logf("%-8s %5s %10s %10s %10s %10s %7s", "op", "conns", "ops", "ops/s", "p50", "p99", "errors")
	for _, name := range strings.Split(*loadOps, ",") {
		req, ok := requests[strings.TrimSpace(name)]
		if !ok {
			t.Fatalf("unknown operation %q in -ops", name)
		}
		for _, conc := range concs {
			loadRun(t, ts, name, req, conc)
		}
	}
}

// loadRun sends req over conc connections for -load and logs the figures.
func loadRun(t *testing.T, ts *testServer, name string, req []byte, conc int) {
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      atomic.Int64
		firstErr  sync.Once
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(*loadDuration)
	start := time.Now()
	for range conc {
		c := ts.dial(t)
		wg.Go(func() {
			local := make([]time.Duration, 0, 1024)
			for time.Now().Before(deadline) {
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				t0 := time.Now()
				if _, err := c.Write(req); err != nil {
					t.Errorf("%s: write: %v", name, err)
					return
				}
				b, err := readResponse(c)
				if err != nil {
					t.Errorf("%s: read: %v", name, err)
					return
				}
				var m respMsg
				if err := ttlv.Unmarshal(b, &m); err != nil || len(m.BatchItem) != 1 {
					t.Errorf("%s: undecodable response: %v", name, err)
					return
				}
				if it := m.BatchItem[0]; it.ResultStatus != kmip14.ResultStatusSuccess {
					errs.Add(1)
					firstErr.Do(func() { t.Logf("%s: first error: %s: %s", name, it.ResultReason, it.ResultMessage) })
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	t.Logf("%-8s %5d %10d %10.0f %10s %10s %7d", name, conc, len(latencies),
		float64(len(latencies))/elapsed.Seconds(), pct(latencies, 50), pct(latencies, 99), errs.Load())
}

// createAESPayload is a Create of an AES-256 key usable for Encrypt and
// Decrypt.
func createAESPayload(e *ttlv.Encoder) {
	e.EncodeEnumeration(kmip14.TagObjectType, uint32(kmip14.ObjectTypeSymmetricKey))
	_ = e.EncodeStructure(kmip14.TagTemplateAttribute, func(e *ttlv.Encoder) error {
		attr := func(name string, value func(e *ttlv.Encoder)) {
			_ = e.EncodeStructure(kmip14.TagAttribute, func(e *ttlv.Encoder) error {
				e.EncodeTextString(kmip14.TagAttributeName, name)
				value(e)
				return nil
			})
		}
		attr("Cryptographic Algorithm", func(e *ttlv.Encoder) {
			e.EncodeEnumeration(kmip14.TagAttributeValue, uint32(kmip14.CryptographicAlgorithmAES))
		})
		attr("Cryptographic Length", func(e *ttlv.Encoder) { e.EncodeInteger(kmip14.TagAttributeValue, 256) })
		attr("Cryptographic Usage Mask", func(e *ttlv.Encoder) {
			e.EncodeInteger(kmip14.TagAttributeValue, int32(kmip14.CryptographicUsageMaskEncrypt|kmip14.CryptographicUsageMaskDecrypt))
		})
		return nil
	})
}

// pct returns the p-th percentile of sorted latencies.
func pct(sorted []time.Duration, p int) string {
	if len(sorted) == 0 {
		return "-"
	}
	d := sorted[(len(sorted)-1)*p/100]
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
