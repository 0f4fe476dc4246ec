package s3load

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The TTFB test is off by default:
//
//	go test ./internal/s3load -run TestTTFB -v -args -ttfb -ttfb.n=50
//
// It PUTs one 1 GiB object in mode none and one in mode sse-s3 (streamed
// from a deterministic generator, never held in memory), then times N
// ranged GETs of the single byte in the middle of each, alternating the
// two objects: the time from sending the request to the first Read of
// the body that returns data. It verifies every byte read. Target: the
// endpoint of TestLoad (in-process unless S3KMS_S3_ENDPOINT is set).
var (
	ttfb     = flag.Bool("ttfb", false, "run TestTTFB")
	ttfbN    = flag.Int("ttfb.n", 50, "ranged GETs per object of TestTTFB")
	ttfbSize = flag.String("ttfb.size", "1GiB", "object size of TestTTFB")
)

// genTable is the pattern of genReader: 1 MiB from a fixed seed.
var genTable = func() []byte {
	b := make([]byte, 1<<20)
	r := rand.NewChaCha8([32]byte{'s', '3', 'k', 'm', 's'})
	_, _ = r.Read(b)
	return b
}()

// genByte is the byte at offset off of every generated stream: the table
// rotated by one byte per MiB, so that no two MiB of a stream are alike.
func genByte(off int64) byte {
	return genTable[(off+off>>20)%int64(len(genTable))]
}

// genReader is a deterministic stream of size bytes (genByte) that is
// generated as it is read; it seeks, as the SDK needs to sign it.
type genReader struct{ off, size int64 }

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.size-g.off)]
	n := 0
	for n < len(p) {
		// Within one MiB block of the stream the table is read
		// sequentially from (off + block) mod len.
		blockEnd := (g.off>>20 + 1) << 20
		t := (g.off + g.off>>20) % int64(len(genTable))
		k := copy(p[n:min(len(p), n+int(blockEnd-g.off))], genTable[t:])
		n += k
		g.off += int64(k)
	}
	return n, nil
}

func (g *genReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += g.off
	case io.SeekEnd:
		offset += g.size
	}
	if offset < 0 {
		return 0, errors.New("genReader: negative position")
	}
	g.off = offset
	return offset, nil
}

func TestGenReader(t *testing.T) {
	const size = 3<<20 + 12345
	g := &genReader{size: size}
	got, err := io.ReadAll(io.LimitReader(g, size))
	if err != nil || len(got) != size {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	for _, off := range []int64{0, 1, 1<<20 - 1, 1 << 20, 1<<20 + 1, 2<<20 + 7, size - 1} {
		if got[off] != genByte(off) {
			t.Fatalf("byte %d: %x, want %x", off, got[off], genByte(off))
		}
	}
	if _, err := g.Seek(1<<20+5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := g.Read(b[:]); err != nil || b[0] != got[1<<20+5] {
		t.Fatalf("after seek: %x %v", b[0], err)
	}
}

func TestTTFB(t *testing.T) {
	if !*ttfb {
		t.Skip("TTFB test off: run with -args -ttfb")
	}
	size, err := parseSize(*ttfbSize)
	if err != nil || size < 2 {
		t.Fatalf("bad -ttfb.size: %v", err)
	}
	e := endpoint(t)
	cfg := config(e, "s3load-ttfb")
	cfg.Count = 1 // for check: the test issues its own requests
	if err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	c, err := cfg.client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := &run{cfg: cfg, c: c}
	if err := r.ensureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	mid := size / 2
	rng := fmt.Sprintf("bytes=%d-%d", mid, mid)
	modes := []Mode{ModeNone, ModeSSES3}
	for _, m := range modes {
		in := &s3.PutObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String("ttfb-" + string(m)),
			Body: &genReader{size: size}, ContentLength: aws.Int64(size)}
		if m == ModeSSES3 {
			in.ServerSideEncryption = types.ServerSideEncryptionAes256
		}
		t0 := time.Now()
		if _, err := c.PutObject(ctx, in); err != nil {
			t.Fatal(err)
		}
		t.Logf("PUT %s of %s in %v", m, *ttfbSize, time.Since(t0).Round(time.Millisecond))
		t.Cleanup(func() {
			_, _ = c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: in.Bucket, Key: in.Key})
		})
	}
	// One untimed GET of each first (connection, caches), then N timed
	// GETs of each, alternating.
	ds := map[Mode][]time.Duration{}
	var kms0 KMSCalls
	if cfg.KMSCalls != nil {
		kms0 = cfg.KMSCalls()
	}
	for i := -1; i < *ttfbN; i++ {
		for _, m := range modes {
			d, err := firstByte(ctx, c, cfg.Bucket, "ttfb-"+string(m), rng, genByte(mid))
			if err != nil {
				t.Fatalf("%s: %v", m, err)
			}
			if i >= 0 {
				ds[m] = append(ds[m], d)
			}
		}
	}
	p := map[Mode][2]time.Duration{}
	for _, m := range modes {
		slices.Sort(ds[m])
		p[m] = [2]time.Duration{percentile(ds[m], 50), percentile(ds[m], 99)}
		t.Logf("TTFB %-6s %s of %s: p50 %-9v p99 %-9v (n=%d)", m, rng, *ttfbSize, round(p[m][0]), round(p[m][1]), len(ds[m]))
	}
	t.Logf("TTFB ratio sse-s3/none: p50 %.2f p99 %.2f (latency: > 1 is slower)",
		float64(p[ModeSSES3][0])/float64(p[ModeNone][0]), float64(p[ModeSSES3][1])/float64(p[ModeNone][1]))
	if cfg.KMSCalls != nil {
		k := cfg.KMSCalls()
		t.Logf("KMS calls during the GETs: GenerateDataKey %d, Decrypt %d (%d sse-s3 GETs)",
			k.GenerateDataKey-kms0.GenerateDataKey, k.Decrypt-kms0.Decrypt, *ttfbN+1)
	}
}

// firstByte GETs range of key and returns the time until the first Read
// of the body returned data; it checks that the body is the byte want.
func firstByte(ctx context.Context, c *s3.Client, bucket, key, rng string, want byte) (time.Duration, error) {
	t0 := time.Now()
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String(rng)})
	if err != nil {
		return 0, err
	}
	defer out.Body.Close()
	var b [16]byte
	var d time.Duration
	n := 0
	for {
		k, err := out.Body.Read(b[n:])
		if k > 0 && n == 0 {
			d = time.Since(t0)
		}
		n += k
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if n != 1 || b[0] != want {
		return 0, fmt.Errorf("body %x, want the single byte %x", b[:n], want)
	}
	return d, nil
}
