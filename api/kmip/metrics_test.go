package kmip

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/gemalto/kmip-go/kmip14"
	"github.com/prometheus/client_golang/prometheus"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMetricsAndAccessLog serves a batch of items that succeed and fail
// and checks the per-operation counts (unknown operations as "other"),
// the latency histogram and the access lines with connection id and
// batch item index.
func TestMetricsAndAccessLog(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs lockedBuffer
	ts := startServer(t, Config{Registerer: reg, AccessLog: true, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	c := ts.dial(t)
	query := testItem{op: kmip14.OperationQuery, payload: queryPayload(kmip14.QueryFunctionQueryOperations)}
	roundTrip(t, c, encodeRequest(t, version{1, 4}, reqOpts{}, query, query, testItem{op: kmip14.OperationSign}))
	roundTrip(t, c, encodeRequest(t, version{1, 4}, reqOpts{}, testItem{op: 0x7777}))
	roundTrip(t, c, encodeRequest(t, version{1, 4}, reqOpts{}, testItem{op: kmip14.OperationQuery}))

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetValue())
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				got[key] = m.Counter.GetValue()
			case m.Histogram != nil:
				got[key] = float64(m.Histogram.GetSampleCount())
			case m.Gauge != nil:
				got[key] = m.Gauge.GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		"s3kms_kmip_operations_total{Query,success}":               2,
		"s3kms_kmip_operations_total{Query,InvalidField}":          1,
		"s3kms_kmip_operations_total{other,OperationNotSupported}": 2,
		"s3kms_kmip_operation_duration_seconds{Query}":             3,
		"s3kms_kmip_connections_open{}":                            1,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v (all: %v)", key, got[key], want, got)
		}
	}
	var lines int
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"msg":"kmip access"`) {
			lines++
			for _, f := range []string{`"conn_id":"`, `"batch_item":`, `"identity":"`, `"operation":"`, `"result":"`, `"duration":`} {
				if !strings.Contains(l, f) {
					t.Errorf("access line without %s: %s", f, l)
				}
			}
		}
	}
	if lines != 5 {
		t.Errorf("%d kmip access lines, want 5:\n%s", lines, logs.String())
	}
}
