package rotation

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/internal/s3load"
)

// TestParseJobs reads the job list in the shapes and field spellings the
// tests accept.
func TestParseJobs(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []job
		err      bool
	}{
		{"array", `[{"id":"j1","state":"running","done":5,"total":10}]`, []job{{ID: "j1", State: "running", Done: 5, Total: 10}}, false},
		{"wrapped numeric id", `{"jobs":[{"job_id":7,"status":"Done","objects_done":10,"objects_total":10}]}`, []job{{ID: "7", State: "done", Done: 10, Total: 10}}, false},
		{"nested progress", `[{"id":"j2","state":"pending","progress":{"done":0,"total":3}}]`, []job{{ID: "j2", State: "pending", Total: 3}}, false},
		{"empty", `[]`, nil, false},
		{"null", `null`, nil, false},
		{"no id", `[{"state":"running"}]`, nil, true},
		{"text", `JOB STATE`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseJobs([]byte(tc.in))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			for i := range got {
				got[i].Raw = nil
			}
			if !tc.err && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNewest(t *testing.T) {
	for _, tc := range []struct {
		ids  []string
		want string
	}{
		{[]string{"9", "10", "2"}, "10"}, {[]string{"12", "11"}, "12"}, {[]string{"b", "a"}, "b"},
	} {
		var jobs []job
		for _, id := range tc.ids {
			jobs = append(jobs, job{ID: id})
		}
		if got := newest(jobs).ID; got != tc.want {
			t.Errorf("newest(%v) = %s, want %s", tc.ids, got, tc.want)
		}
	}
}

func TestJobFinished(t *testing.T) {
	for _, tc := range []struct {
		state     string
		final, ok bool
	}{
		{"running", false, false}, {"pending", false, false}, {"done", true, true},
		{"succeeded", true, true}, {"failed", true, false}, {"canceled", true, false},
	} {
		if final, ok := (job{State: tc.state}).finished(); final != tc.final || ok != tc.ok {
			t.Errorf("%s: finished() = %v, %v", tc.state, final, ok)
		}
	}
	j, err := parseJobShow([]byte(`{"job":{"id":"x","state":"done","done":2,"total":2}}`))
	if err != nil || j.ID != "x" || j.Done != 2 {
		t.Fatalf("parseJobShow: %+v %v", j, err)
	}
}

// TestVersionCounts reads the per-version counts of `admin key show
// --json`; versions without a count are left out.
func TestVersionCounts(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[int]int64
	}{
		{"objects and uploads", `{"id":"bucket/x","versions":[{"version":1,"state":"active","objects":0,"uploads":0},{"version":2,"objects":12,"uploads":1}]}`, map[int]int64{1: 0, 2: 13}},
		{"wrapped sealed", `{"key":{"versions":[{"version":1,"sealed":3}]}}`, map[int]int64{1: 3}},
		{"no counts", `{"versions":[{"version":1,"state":"active"}]}`, map[int]int64{}},
		{"sealed list", `{"versions":[{"version":1},{"version":2},{"version":3}],"sealed":[{"version":3,"objects":13546,"uploads":2},{"version":2,"objects":1}]}`, map[int]int64{1: 0, 2: 1, 3: 13548}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := versionCounts([]byte(tc.in))
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}

// TestPlanFor checks that a data set of n has n SSE-S3 object versions
// of every kind.
func TestPlanFor(t *testing.T) {
	for _, n := range []int{200, 300, 10000, 100000} {
		p := planFor(n)
		if got := p.Single + p.Versioned*p.Versions + p.Multipart; got != n || p.Single <= 0 || p.Versioned <= 0 || p.Multipart < 2 {
			t.Errorf("planFor(%d) = %+v: %d SSE-S3 versions", n, p, got)
		}
		if p.total() != n+p.SSEC+p.SSEKMS {
			t.Errorf("planFor(%d).total() = %d", n, p.total())
		}
	}
}

// TestOwner spreads keys over writers, always the same way.
func TestOwner(t *testing.T) {
	seen := map[int]bool{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"} {
		w := owner(k, 4)
		if w < 0 || w >= 4 || owner(k, 4) != w {
			t.Fatalf("owner(%q) = %d", k, w)
		}
		seen[w] = true
	}
	if len(seen) < 3 {
		t.Errorf("12 keys went to %d of 4 writers", len(seen))
	}
}

// TestFigures renders the figures with a ratio of the p99s.
func TestFigures(t *testing.T) {
	idle := s3load.Result{Get: s3load.Stats{Ops: 100, OpsPerSec: 50, P50: 2 * time.Millisecond, P99: 4 * time.Millisecond}}
	busy := s3load.Result{Get: s3load.Stats{Ops: 80, OpsPerSec: 40, P50: 3 * time.Millisecond, P99: 6 * time.Millisecond}}
	out := figures(1000, job{Total: 1000}, 2*time.Second, idle, busy, 4)
	for _, want := range []string{"1000 object versions in 2s", "= 500 object versions/s", "p50 1.50, p99 1.50", "during job"} {
		if !strings.Contains(out, want) {
			t.Errorf("figures lack %q:\n%s", want, out)
		}
	}
}

func TestVersionStatesAndJobDuration(t *testing.T) {
	states, err := versionStates([]byte(`{"versions":[{"version":1,"state":"destroyed"},{"version":2,"state":"active"}]}`))
	if err != nil || !reflect.DeepEqual(states, map[int]string{1: "destroyed", 2: "active"}) {
		t.Fatalf("versionStates = %v, %v", states, err)
	}
	for _, tc := range []struct {
		raw  map[string]any
		want time.Duration
		ok   bool
	}{
		{map[string]any{"started_at": "2026-11-23T16:00:00Z", "finished_at": "2026-11-23T16:00:02.5Z"}, 2500 * time.Millisecond, true},
		{map[string]any{"started_at": "0001-01-01T00:00:00Z", "finished_at": "2026-11-23T16:00:02Z"}, 0, false},
		{map[string]any{"started_at": "2026-11-23T16:00:00Z"}, 0, false},
	} {
		if d, ok := jobDuration(job{Raw: tc.raw}); d != tc.want || ok != tc.ok {
			t.Errorf("jobDuration(%v) = %v, %v", tc.raw, d, ok)
		}
	}
}

// TestS3YAML sets fields by dotted path, new or existing (TestHarness
// checks that s3 serve loads the result).
func TestS3YAML(t *testing.T) {
	cfg := config.DefaultS3()
	out := s3YAML(t, cfg, map[string]any{"region": "eu-west-3", "log.level": "warn", "extra.sub.n": 5})
	var m map[string]any
	if err := yaml.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	if m["region"] != "eu-west-3" || m["log"].(map[string]any)["level"] != "warn" ||
		m["extra"].(map[string]any)["sub"].(map[string]any)["n"] != 5 {
		t.Fatalf("s3YAML:\n%s", out)
	}
}
