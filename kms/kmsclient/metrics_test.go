package kmsclient_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/kmsclient"
	"github.com/s3kms/s3kms/kms/kmsclient/clientmetrics"
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

// TestMetricsAndRequestID checks the call, retry and duration metrics,
// the X-Request-Id header taken from the context, and the retry log
// line carrying that id.
func TestMetricsAndRequestID(t *testing.T) {
	f := newFake(t, fakeResponse{503, unavailable}, fakeResponse{200, generated}, fakeResponse{404, notFound})
	var ids []string
	var mu sync.Mutex
	inner := f.Config.Handler
	f.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get("X-Request-Id"))
		mu.Unlock()
		inner.ServeHTTP(w, r)
	})
	reg := prometheus.NewRegistry()
	m, err := clientmetrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	c := f.client(t, kmsclient.WithObserver(m), kmsclient.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	ctx := kms.WithRequestID(context.Background(), "S3REQ0001")
	if _, err := c.GenerateDataKey(ctx, "bucket/b", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GenerateDataKey(context.Background(), "bucket/b", nil); kms.ErrorCode(err) != kms.ENotFound {
		t.Fatalf("second call: %v", err)
	}
	mu.Lock()
	if strings.Join(ids, ",") != "S3REQ0001,S3REQ0001," {
		t.Errorf("X-Request-Id headers sent: %q", ids)
	}
	mu.Unlock()
	if !strings.Contains(logs.String(), "request_id=S3REQ0001") || !strings.Contains(logs.String(), "call=GenerateDataKey") {
		t.Errorf("retry log: %s", logs.String())
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			var ls []string
			for _, lp := range mt.GetLabel() {
				ls = append(ls, lp.GetValue())
			}
			k := mf.GetName() + "{" + strings.Join(ls, ",") + "}"
			switch {
			case mt.Counter != nil:
				got[k] = mt.Counter.GetValue()
			case mt.Histogram != nil:
				got[k] = float64(mt.Histogram.GetSampleCount())
			}
		}
	}
	for k, want := range map[string]float64{
		"s3kms_kmsclient_calls_total{GenerateDataKey,ok}":        1,
		"s3kms_kmsclient_calls_total{GenerateDataKey,not_found}": 1,
		"s3kms_kmsclient_retries_total{GenerateDataKey}":         1,
		"s3kms_kmsclient_call_duration_seconds{GenerateDataKey}": 2,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v (all %v)", k, got[k], want, got)
		}
	}
}
