package rotation

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// writerOps counts the operations of the concurrent writers.
type writerOps struct {
	Put, Delete, DeleteVersion, Copy, Get int
}

func (o *writerOps) add(p writerOps) {
	o.Put += p.Put
	o.Delete += p.Delete
	o.DeleteVersion += p.DeleteVersion
	o.Copy += p.Copy
	o.Get += p.Get
}

func (o writerOps) String() string {
	return fmt.Sprintf("%d PUT, %d DELETE (marker), %d DELETE of a version, %d COPY, %d verified GET",
		o.Put, o.Delete, o.DeleteVersion, o.Copy, o.Get)
}

// latest is what a plain GET of a writer's key must return.
type latest struct {
	Sum     [sha256.Size]byte
	Size    int64
	Deleted bool // the latest version is a delete marker
	// History is the last operations on the key, for the failure message.
	History []string
}

// record notes op on key in m, keeping the last few operations.
func record(m map[string]latest, key string, l latest, op string) {
	h := append(m[key].History, op)
	if len(h) > 6 {
		h = h[len(h)-6:]
	}
	l.History = h
	m[key] = l
}

// owner returns which of n writers owns key: a key (all its versions) is
// written by one writer only, so each key's history is sequential and
// its final state known.
func owner(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// runWriters runs n writers against the data set until ctx ends: PUTs of
// new versions (SSE-S3 and SSE-KMS) on their own keys and on keys of the
// data set, DELETEs that leave a delete marker, DELETEs of data set
// versions, COPYs of data set objects, and GETs verified against the
// data set. Written versions join d.Objects, deleted ones are marked; the
// latest state of the writers' own keys is returned for verifyLatest. Any
// failed operation ends the writers with an error.
func (d *dataset) runWriters(ctx context.Context, c *s3.Client, n int) (map[string]latest, writerOps, error) {
	owned := make([][]int, n)
	for i, o := range d.Objects {
		if !o.Deleted {
			w := owner(o.Key, n)
			owned[w] = append(owned[w], i)
		}
	}
	var (
		mu    sync.Mutex
		added []object
		last  = map[string]latest{}
		ops   writerOps
		errs  = make([]error, n)
		wg    sync.WaitGroup
	)
	for w := range n {
		wg.Go(func() {
			var mine []object
			var my writerOps
			mylast := map[string]latest{}
			defer func() {
				mu.Lock()
				added = append(added, mine...)
				for k, v := range mylast {
					last[k] = v
				}
				ops.add(my)
				mu.Unlock()
			}()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			pick := func() (int, bool) { // a live data set object of this writer
				for range 10 {
					if len(owned[w]) == 0 {
						return 0, false
					}
					i := owned[w][rng.IntN(len(owned[w]))]
					if !d.Objects[i].Deleted {
						return i, true
					}
				}
				return 0, false
			}
			// ctx ends the loop, never an operation: one cut off in
			// flight may or may not have taken effect, and the ledger
			// must know which.
			octx := context.WithoutCancel(ctx)
			for ctx.Err() == nil {
				own := fmt.Sprintf("writers/w%d/k%d", w, rng.IntN(8))
				var err error
				switch op := rng.IntN(10); {
				case op < 4: // PUT a new version
					key := own
					if i, ok := pick(); ok && op%2 == 0 && d.Objects[i].SSE != sseC {
						key = d.Objects[i].Key
					}
					sse := sseS3
					if op == 3 {
						sse = sseKMS
					}
					var o object
					if o, err = d.put(octx, c, key, sse, body(smallSize(rng.IntN(5000)))); err == nil {
						mine = append(mine, o)
						record(mylast, key, latest{Sum: o.Sum, Size: o.Size}, fmt.Sprintf("PUT %s %x", o.VersionID, o.Sum[:4]))
						my.Put++
					}
				case op == 4: // DELETE: a delete marker on top
					var out *s3.DeleteObjectOutput
					if out, err = c.DeleteObject(octx, &s3.DeleteObjectInput{Bucket: &d.Bucket, Key: &own}); err == nil {
						record(mylast, own, latest{Deleted: true}, "DELETE marker "+aws.ToString(out.VersionId))
						my.Delete++
					}
				case op == 5: // DELETE one version of the data set
					i, ok := pick()
					if !ok || strings.HasPrefix(d.Objects[i].Key, "writers/") {
						continue
					}
					o := d.Objects[i]
					if _, err = c.DeleteObject(octx, &s3.DeleteObjectInput{Bucket: &d.Bucket, Key: &o.Key, VersionId: &o.VersionID}); err == nil {
						d.Objects[i].Deleted = true
						delete(mylast, o.Key) // its latest is now an older version
						my.DeleteVersion++
					}
				case op < 8: // COPY a data set version to an own key, SSE-S3
					i, ok := pick()
					if !ok || d.Objects[i].SSE == sseC {
						continue
					}
					src := d.Objects[i]
					in := &s3.CopyObjectInput{Bucket: &d.Bucket, Key: &own,
						CopySource:           aws.String(d.Bucket + "/" + url.PathEscape(src.Key) + "?versionId=" + url.QueryEscape(src.VersionID)),
						ServerSideEncryption: types.ServerSideEncryptionAes256}
					var out *s3.CopyObjectOutput
					if out, err = c.CopyObject(octx, in); err == nil {
						o := object{Key: own, VersionID: aws.ToString(out.VersionId), SSE: sseS3, Size: src.Size, Sum: src.Sum}
						mine = append(mine, o)
						record(mylast, own, latest{Sum: o.Sum, Size: o.Size}, fmt.Sprintf("COPY %s %x", o.VersionID, o.Sum[:4]))
						my.Copy++
					}
				default: // GET a data set version
					i, ok := pick()
					if !ok {
						continue
					}
					o := d.Objects[i]
					var sum [sha256.Size]byte
					var size int64
					if sum, size, err = d.get(octx, c, o.Key, o.VersionID, o.SSE); err == nil {
						if sum != o.Sum || size != o.Size {
							err = fmt.Errorf("get %s version %s: body differs from what was written", o.Key, o.VersionID)
						}
						my.Get++
					}
				}
				if err != nil {
					errs[w] = fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	d.Objects = append(d.Objects, added...)
	return last, ops, errors.Join(errs...)
}

// verifyLatest checks a plain GET of each key: the body last written, or
// 404 after a delete marker. A failure names the key's last operations
// and the versions the bucket lists for it.
func (d *dataset) verifyLatest(ctx context.Context, c *s3.Client, last map[string]latest) []string {
	var bad []string
	for key, want := range last {
		sum, n, err := d.get(ctx, c, key, "", "")
		var msg string
		switch {
		case want.Deleted && httpStatus(err) != http.StatusNotFound:
			msg = fmt.Sprintf("deleted last, but GET: %v (%d bytes %x)", err, n, sum[:4])
		case want.Deleted:
		case err != nil:
			msg = err.Error()
		case sum != want.Sum || n != want.Size:
			msg = fmt.Sprintf("latest body (%x) is not the one written last", sum[:4])
		}
		if msg != "" {
			bad = append(bad, fmt.Sprintf("%s: %s; last operations: %s; listed versions: %s", key, msg, strings.Join(want.History, ", "), d.listVersions(ctx, c, key)))
		}
	}
	return bad
}

// listVersions describes the versions and delete markers of key, newest
// first as the bucket lists them.
func (d *dataset) listVersions(ctx context.Context, c *s3.Client, key string) string {
	out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &d.Bucket, Prefix: &key})
	if err != nil {
		return err.Error()
	}
	var vs []string
	for _, v := range out.Versions {
		if aws.ToString(v.Key) == key {
			vs = append(vs, fmt.Sprintf("%s latest=%v %v", aws.ToString(v.VersionId), aws.ToBool(v.IsLatest), aws.ToTime(v.LastModified).Format("15:04:05.000")))
		}
	}
	for _, m := range out.DeleteMarkers {
		if aws.ToString(m.Key) == key {
			vs = append(vs, fmt.Sprintf("marker %s latest=%v %v", aws.ToString(m.VersionId), aws.ToBool(m.IsLatest), aws.ToTime(m.LastModified).Format("15:04:05.000")))
		}
	}
	return strings.Join(vs, "; ")
}
