package lifecycle

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// throttled yields data at a rate that takes dur in all, counting what
// it yielded.
type throttled struct {
	data  []byte
	dur   time.Duration
	start time.Time
	sent  atomic.Int64
}

func (r *throttled) Read(p []byte) (int, error) {
	off := int(r.sent.Load())
	if off >= len(r.data) {
		return 0, io.EOF
	}
	if r.start.IsZero() {
		r.start = time.Now()
	}
	n := copy(p[:min(len(p), 64<<10)], r.data[off:])
	// Not before its share of dur.
	time.Sleep(time.Until(r.start.Add(r.dur * time.Duration(off+n) / time.Duration(len(r.data)))))
	r.sent.Add(int64(n))
	return n, nil
}

// result is how a slow request ended.
type result struct {
	status int
	etag   string
	body   []byte
	err    error
}

// TestGracefulShutdown starts a slow PUT (throttled body, HTTP/1.1 as
// aws-cli) and a slow GET (throttled reader, HTTP/2) on an S3 node, sends
// it SIGTERM, and checks that new connections are refused at once, that
// the two requests complete (or, past shutdown_timeout, are cut) and that
// the node exits 0 in time; a second SIGTERM stops at once. The KMS stops
// cleanly at the end.
func TestGracefulShutdown(t *testing.T) {
	const size = 24 << 20 // well above loopback socket buffers
	// One KMS; the S3 node restarts for each case.
	st := newStack(t, options{kms: map[string]any{"shutdown_delay": "2s"}})
	for _, tc := range []struct {
		name     string
		timeout  time.Duration // shutdown_timeout
		duration time.Duration // how long each slow request takes
		second   bool          // send a second SIGTERM
		complete bool          // the requests complete
		exitCode int
	}{
		{name: "requests finish", timeout: 30 * time.Second, duration: 4 * time.Second, complete: true},
		{name: "timeout cuts", timeout: 1 * time.Second, duration: 20 * time.Second},
		{name: "second signal", timeout: 60 * time.Second, duration: 20 * time.Second, second: true, exitCode: 130},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !st.s3.exited() {
				st.s3.signal(t, syscall.SIGTERM)
				st.s3.wait(t, 30*time.Second)
			}
			st.startS3(t, map[string]any{"shutdown_timeout": tc.timeout.String()})
			ctx := context.Background()
			h1, h2 := st.httpClient(false), st.httpClient(true)
			mustOK := func(resp *http.Response, err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("%s: %s", resp.Status, b)
				}
			}
			bucket := "/" + strings.ReplaceAll(tc.name, " ", "-")
			mustOK(st.s3Do(ctx, h1, "PUT", bucket, nil, 0))
			getData := make([]byte, size)
			_, _ = rand.Read(getData)
			mustOK(st.s3Do(ctx, h1, "PUT", bucket+"/get", bytes.NewReader(getData), size))

			const chunk = 256 << 10
			pause := tc.duration / (size / chunk)
			putData := make([]byte, size)
			_, _ = rand.Read(putData)
			body := &throttled{data: putData, dur: tc.duration}
			putc, getc := make(chan result, 1), make(chan result, 1)
			var getRead atomic.Int64
			go func() {
				resp, err := st.s3Do(ctx, h1, "PUT", bucket+"/put", body, size)
				if err != nil {
					putc <- result{err: err}
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				putc <- result{status: resp.StatusCode, etag: resp.Header.Get("ETag"), body: b, err: err}
			}()
			go func() {
				resp, err := st.s3Do(ctx, h2, "GET", bucket+"/get", nil, 0)
				if err != nil {
					getc <- result{err: err}
					return
				}
				defer resp.Body.Close()
				var got bytes.Buffer
				buf := make([]byte, chunk)
				for {
					time.Sleep(pause)
					n, err := io.ReadFull(resp.Body, buf)
					got.Write(buf[:n])
					getRead.Add(int64(n))
					if err != nil {
						if err == io.ErrUnexpectedEOF || err == io.EOF {
							err = nil
						}
						getc <- result{status: resp.StatusCode, body: got.Bytes(), err: err}
						return
					}
				}
			}()
			// Both requests are under way.
			for deadline := time.Now().Add(30 * time.Second); body.sent.Load() < 2*chunk || getRead.Load() < 2*chunk; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("requests did not start: put %d, get %d bytes", body.sent.Load(), getRead.Load())
				}
			}
			start := time.Now()
			st.s3.signal(t, syscall.SIGTERM)
			if tc.second {
				time.Sleep(200 * time.Millisecond)
				st.s3.signal(t, syscall.SIGTERM)
			}
			// New connections are refused while the requests run.
			for deadline := time.Now().Add(10 * time.Second); !refused(st.s3Addr); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the node still accepts connections after SIGTERM")
				}
			}
			code := st.s3.wait(t, tc.timeout+30*time.Second)
			stopped := time.Since(start)
			put, get := <-putc, <-getc
			if code != tc.exitCode {
				t.Errorf("exit code %d, want %d; log:\n%s", code, tc.exitCode, st.s3.logText())
			}
			t.Logf("exited %d after %v (shutdown_timeout %v); put: %d %v, %d bytes sent; get: %d %v, %d bytes read",
				code, stopped.Round(time.Millisecond), tc.timeout, put.status, put.err, body.sent.Load(), get.status, get.err, len(get.body))
			sum := md5.Sum(putData)
			putOK := put.err == nil && put.status == 200 && put.etag == fmt.Sprintf("%q", hex.EncodeToString(sum[:]))
			getOK := get.err == nil && get.status == 200 && bytes.Equal(get.body, getData)
			if putOK != tc.complete || getOK != tc.complete {
				t.Errorf("put complete %v (%d %s %v), get complete %v (%d, %d bytes, %v); want %v; log:\n%s",
					putOK, put.status, put.etag, put.err, getOK, get.status, len(get.body), get.err, tc.complete, st.s3.logText())
			}
			if tc.complete {
				if stopped > tc.timeout {
					t.Errorf("stopped after %v, beyond shutdown_timeout %v", stopped, tc.timeout)
				}
			}
			log := st.s3.logText()
			if !tc.second && tc.complete == strings.Contains(log, "shutdown_timeout passed") {
				t.Errorf("log says the timeout passed: %v, want %v:\n%s", !tc.complete, !tc.complete, log)
			}
		})
	}
	// The KMS: during shutdown_delay it still serves, but /readyz says
	// it is draining; then it exits 0.
	kc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: st.roots}}}
	get := func(path string) (int, string) {
		resp, err := kc.Get("https://" + st.kmsAddr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Errorf("kms /readyz before SIGTERM: %d %s", code, body)
	}
	st.kms.signal(t, syscall.SIGTERM)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, body := get("/readyz")
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kms /readyz while draining: %d %s; log:\n%s", code, body, st.kms.logText())
		}
	}
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("kms /healthz while draining: %d %s", code, body)
	}
	if code := st.kms.wait(t, 30*time.Second); code != 0 {
		t.Errorf("kms exit code %d; log:\n%s", code, st.kms.logText())
	}
}
