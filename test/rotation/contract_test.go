package rotation

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/storage/postgres"
	"github.com/s3kms/s3kms/storage/sqlite"
)

// The rotation contract (issue 7) as these tests use it. The JSON of the
// job and key commands is read by field name with a few accepted
// spellings (jobFields, countFields), so that the tests do not pin one
// slice's choice of names; the lead aligns them here after the merge.

// rotateHasBucket reports whether `s3kms admin key rotate --help` offers
// --bucket: the sign that the rotation slices are merged. Until then the
// end-to-end tests skip, saying so.
func rotateHasBucket(t testing.TB, bin string) bool {
	t.Helper()
	st := &stack{bin: bin, dir: t.TempDir()}
	out, err := st.cli("key", "rotate", "--help")
	if err != nil {
		t.Fatalf("s3kms admin key rotate --help: %v", err)
	}
	return strings.Contains(out, "--bucket")
}

// requireCommand fails the test, naming the command, unless `s3kms PATH
// --help` documents that command with each of flags.
func requireCommand(t testing.TB, st *stack, path string, flags ...string) {
	t.Helper()
	out, err := st.run(append(strings.Fields(path), "--help")...)
	// Cobra answers --help on an unknown sub-command with its parent's
	// help: the usage line tells them apart.
	if err != nil || !strings.Contains(out, "s3kms "+path) {
		t.Fatalf("the rotation contract's command `s3kms %s` is missing (--help: %v)", path, err)
	}
	for _, f := range flags {
		if !strings.Contains(out, f) {
			t.Fatalf("the rotation contract's command `s3kms %s` lacks the flag %s", path, f)
		}
	}
}

// job is the status of a rewrap job as `admin job list|show --json` print
// it.
type job struct {
	ID          string
	State       string
	Done, Total int64
	Raw         map[string]any
}

// Accepted spellings of the job fields.
var jobFields = map[string][]string{
	"id":    {"id", "job_id", "ID"},
	"state": {"state", "status", "State"},
	"done":  {"done", "objects_done", "processed", "Done"},
	"total": {"total", "objects_total", "Total"},
}

// field returns the first of names present in m, looking one level into
// nested objects (e.g. "progress") too.
func field(m map[string]any, names []string) (any, bool) {
	for _, n := range names {
		if v, ok := m[n]; ok {
			return v, true
		}
	}
	for _, v := range m {
		if sub, ok := v.(map[string]any); ok {
			if v, ok := field(sub, names); ok {
				return v, true
			}
		}
	}
	return nil, false
}

func asString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func asInt(v any) int64 {
	switch v := v.(type) {
	case float64:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

// parseJob reads one job object.
func parseJob(m map[string]any) (job, error) {
	j := job{Raw: m}
	id, ok := field(m, jobFields["id"])
	if !ok {
		return j, fmt.Errorf("job without an id field (%v): %v", jobFields["id"], m)
	}
	j.ID = asString(id)
	st, _ := field(m, jobFields["state"])
	j.State = strings.ToLower(asString(st))
	d, _ := field(m, jobFields["done"])
	tot, _ := field(m, jobFields["total"])
	j.Done, j.Total = asInt(d), asInt(tot)
	return j, nil
}

// parseJobs reads the output of `admin job list --json`: an array of
// jobs, or an object holding one under "jobs" (or "items").
func parseJobs(b []byte) ([]job, error) {
	var arr []map[string]any
	if err := json.Unmarshal(b, &arr); err != nil {
		var obj map[string]json.RawMessage
		if err2 := json.Unmarshal(b, &obj); err2 != nil {
			return nil, fmt.Errorf("job list is not JSON: %v\n%s", err, b)
		}
		raw, ok := obj["jobs"]
		if !ok {
			raw = obj["items"]
		}
		if err := json.Unmarshal(raw, &arr); err != nil {
			return nil, fmt.Errorf("job list has no jobs array: %s", b)
		}
	}
	var jobs []job
	for _, m := range arr {
		j, err := parseJob(m)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// parseJobShow reads the output of `admin job show ID --json`: a job, or
// an object holding one under "job".
func parseJobShow(b []byte) (job, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return job{}, fmt.Errorf("job show is not JSON: %v\n%s", err, b)
	}
	if inner, ok := m["job"].(map[string]any); ok {
		m = inner
	}
	return parseJob(m)
}

// finished reports whether the job's state is final, and whether it
// succeeded.
func (j job) finished() (final, ok bool) {
	switch j.State {
	case "done", "succeeded", "success", "completed", "complete", "finished":
		return true, true
	case "failed", "error", "canceled", "cancelled", "aborted":
		return true, false
	}
	return false, false
}

// Accepted spellings of the per-version count in `admin key show --json`.
var countFields = []string{"sealed", "sealed_objects", "objects", "object_versions", "count", "sealed_count"}

// versionCounts reads, from `admin key show --json`, how many object
// versions (plus uploads, when shown apart) each key version has sealed
// under it; versions without a count field are left out.
func versionCounts(b []byte) (map[int]int64, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("key show is not JSON: %v\n%s", err, b)
	}
	if inner, ok := m["key"].(map[string]any); ok {
		m = inner
	}
	counts := map[int]int64{}
	// Counts in the versions, or in a list of their own ("sealed":
	// [{version, objects, uploads}]) that leaves out versions without
	// any, which then count 0.
	vs, _ := m["versions"].([]any)
	sealed, separate := m["sealed"].([]any)
	if separate {
		for _, v := range vs {
			if vm, ok := v.(map[string]any); ok {
				num, _ := field(vm, []string{"version", "Version"})
				counts[int(asInt(num))] = 0
			}
		}
		vs = sealed
	}
	for _, v := range vs {
		vm, ok := v.(map[string]any)
		if !ok {
			continue
		}
		num, _ := field(vm, []string{"version", "Version"})
		c, ok := field(vm, countFields)
		if !ok {
			continue
		}
		n := asInt(c)
		if u, ok := field(vm, []string{"uploads", "sealed_uploads"}); ok {
			n += asInt(u)
		}
		counts[int(asInt(num))] = n
	}
	return counts, nil
}

// versionStates reads each key version's state from `admin key show
// --json`.
func versionStates(b []byte) (map[int]string, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("key show is not JSON: %v\n%s", err, b)
	}
	if inner, ok := m["key"].(map[string]any); ok {
		m = inner
	}
	vs, _ := m["versions"].([]any)
	states := map[int]string{}
	for _, v := range vs {
		if vm, ok := v.(map[string]any); ok {
			num, _ := field(vm, []string{"version", "Version"})
			st, _ := field(vm, []string{"state", "State"})
			states[int(asInt(num))] = asString(st)
		}
	}
	return states, nil
}

// jobDuration returns how long the job ran, from its started_at and
// finished_at fields (RFC 3339), if it shows them.
func jobDuration(j job) (time.Duration, bool) {
	s, _ := j.Raw["started_at"].(string)
	f, _ := j.Raw["finished_at"].(string)
	start, err1 := time.Parse(time.RFC3339Nano, s)
	end, err2 := time.Parse(time.RFC3339Nano, f)
	if err1 != nil || err2 != nil || start.IsZero() || !end.After(start) {
		return 0, false
	}
	return end.Sub(start), true
}

// metaStore opens the S3 node's metadata store read by the tests: the
// proof that no sealed key depends on an old version is read from the
// database itself (s3node.SealedKeyStore), not only from the CLI.
func metaStore(t testing.TB, c config.Store) s3node.MetadataStore {
	t.Helper()
	ctx := context.Background()
	switch c.Driver {
	case "postgres":
		db, err := postgres.Open(ctx, c.DSN)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		return db.S3Store()
	case "sqlite":
		db, err := sqlite.Open(ctx, c.Path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db.S3Store()
	}
	t.Fatalf("unknown store driver %q", c.Driver)
	return nil
}

// bucketKeyID returns the KMS key id of bucket's root key.
func bucketKeyID(t testing.TB, meta s3node.MetadataStore, bucket string) string {
	t.Helper()
	b, err := meta.GetBucket(context.Background(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	return kms.BucketKeyID(b.ID)
}

// sealedBelow returns how many object versions and uploads have a sealed
// key depending on a version of keyID below version, and the counts.
func sealedBelow(t testing.TB, meta s3node.MetadataStore, keyID string, version int) (int64, []s3node.SealedCount) {
	t.Helper()
	counts, err := meta.CountSealed(context.Background(), keyID)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, c := range counts {
		if c.Version < version {
			n += c.Objects + c.Uploads
		}
	}
	return n, counts
}

// waitJob polls `admin job show ID --config` until the job ends and
// returns its last status. It fails the test when the job makes no
// progress for stall, and calls each (if not nil) after every poll.
func waitJob(t testing.TB, st *stack, id string, stall time.Duration, each func(job)) job {
	t.Helper()
	var last job
	progressed := time.Now()
	for {
		out, err := st.cli("job", "show", id, "--config", st.s3Config, "--json")
		if err != nil {
			t.Fatalf("admin job show: %v", err)
		}
		j, err := parseJobShow([]byte(out))
		if err != nil {
			t.Fatal(err)
		}
		if j.Done != last.Done || j.State != last.State {
			progressed = time.Now()
		}
		last = j
		if each != nil {
			each(j)
		}
		if final, _ := j.finished(); final {
			return j
		}
		if time.Since(progressed) > stall {
			t.Fatalf("job %s made no progress for %v: %+v\nS3 node log:\n%s", id, stall, j.Raw, st.node().logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// newestJob returns the job for keyID of `admin job list --config
// --json` not in before (by id), failing the test unless there is one.
// Jobs that name another key (field key_id) are left out; of several
// (the node's sweeper may have started one too), the newest wins.
func newestJob(t testing.TB, st *stack, keyID string, before map[string]bool) job {
	t.Helper()
	out, err := st.cli("job", "list", "--config", st.s3Config, "--json")
	if err != nil {
		t.Fatalf("admin job list: %v", err)
	}
	jobs, err := parseJobs([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	var fresh []job
	for _, j := range jobs {
		if k, ok := j.Raw["key_id"].(string); !before[j.ID] && (!ok || k == keyID) {
			fresh = append(fresh, j)
		}
	}
	if len(fresh) == 0 {
		t.Fatalf("admin job list: no new job for %s after `admin key rotate`:\n%s", keyID, out)
	}
	if len(fresh) > 1 {
		t.Logf("admin job list: %d new jobs for %s, following the newest", len(fresh), keyID)
	}
	return newest(fresh)
}

// newest returns the job with the highest id (numeric ids compared as
// numbers), or the first listed when ids are not numbers.
func newest(jobs []job) job {
	best := jobs[0]
	for _, j := range jobs[1:] {
		a, err1 := strconv.ParseInt(j.ID, 10, 64)
		b, err2 := strconv.ParseInt(best.ID, 10, 64)
		if err1 == nil && err2 == nil && a > b {
			best = j
		}
	}
	return best
}

// jobIDs returns the ids of the jobs `admin job list` shows now.
func jobIDs(t testing.TB, st *stack) map[string]bool {
	t.Helper()
	out, err := st.cli("job", "list", "--config", st.s3Config, "--json")
	if err != nil {
		t.Fatalf("admin job list: %v", err)
	}
	jobs, err := parseJobs([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, j := range jobs {
		ids[j.ID] = true
	}
	return ids
}
