package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/rewrap"
)

// ExerciseRewrapJobs checks a rewrap.JobStore: one active job per key,
// claims by lease, takeover after expiry, and saves refused once the lease
// is lost.
func ExerciseRewrapJobs(t *testing.T, newStore func(t *testing.T) rewrap.JobStore) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	const lease = time.Minute
	wantCode := func(t *testing.T, what string, err error, code s3node.Code) {
		t.Helper()
		if s3node.ErrorCode(err) != code {
			t.Fatalf("%s: error %v, want code %s", what, err, code)
		}
	}

	t.Run("CreateRaisesTarget", func(t *testing.T) {
		s := newStore(t)
		for _, tc := range []struct {
			key         string
			target      int
			wantCreated bool
			wantTarget  int
		}{
			{"bucket/a", 2, true, 2},
			{"bucket/a", 3, false, 3},
			{"bucket/a", 2, false, 3}, // never lowered
			{"app", 5, true, 5},
		} {
			j, created, err := s.CreateJob(ctx, tc.key, tc.target, 10, t0)
			if err != nil {
				t.Fatal(err)
			}
			if created != tc.wantCreated || j.TargetVersion != tc.wantTarget || j.State != rewrap.Pending ||
				j.KeyID != tc.key || j.Kind != rewrap.KindRewrap || j.Total != 10 || !j.CreatedAt.Equal(t0) {
				t.Fatalf("CreateJob(%s, %d) = %+v, created %v; want created %v, target %d", tc.key, tc.target, j, created, tc.wantCreated, tc.wantTarget)
			}
		}
		jobs, err := s.ListJobs(ctx, 10)
		if err != nil || len(jobs) != 2 || jobs[0].KeyID != "app" || jobs[1].KeyID != "bucket/a" {
			t.Fatalf("ListJobs = %+v, %v; want app, bucket/a", jobs, err)
		}
		_, err = s.GetJob(ctx, jobs[0].ID+100)
		wantCode(t, "GetJob unknown", err, s3node.ENotFound)
	})

	t.Run("ClaimLeaseTakeover", func(t *testing.T) {
		s := newStore(t)
		first, _, err := s.CreateJob(ctx, "bucket/a", 2, 3, t0)
		if err != nil {
			t.Fatal(err)
		}
		second, _, err := s.CreateJob(ctx, "bucket/b", 2, 3, t0)
		if err != nil {
			t.Fatal(err)
		}
		j, err := s.ClaimJob(ctx, "node1", t0, lease)
		if err != nil || j.ID != first.ID || j.State != rewrap.Running || j.LeaseOwner != "node1" ||
			!j.LeaseExpires.Equal(t0.Add(lease)) || !j.StartedAt.Equal(t0) {
			t.Fatalf("first claim = %+v, %v", j, err)
		}
		j2, err := s.ClaimJob(ctx, "node2", t0.Add(time.Second), lease)
		if err != nil || j2.ID != second.ID {
			t.Fatalf("second claim = %+v, %v; want job %d", j2, err, second.ID)
		}
		_, err = s.ClaimJob(ctx, "node3", t0.Add(2*time.Second), lease)
		wantCode(t, "claim with every job leased", err, s3node.ENotFound)

		// node1 saves progress and renews its lease.
		j.Done, j.Skipped, j.Pass, j.Cursor = 2, 1, 1, rewrap.Cursor{Kind: "object", Version: 1, ID: 42}
		target, err := s.SaveJob(ctx, j, t0.Add(30*time.Second), lease)
		if err != nil || target != 2 {
			t.Fatalf("SaveJob = %d, %v", target, err)
		}
		// Not expired at t0+60s thanks to the renewal; expired at t0+91s.
		_, err = s.ClaimJob(ctx, "node3", t0.Add(60*time.Second), lease)
		wantCode(t, "claim before any lease expired", err, s3node.ENotFound)
		// node2's lease expires first, then node1's: takeovers in job order.
		taken, err := s.ClaimJob(ctx, "node3", t0.Add(91*time.Second), lease)
		if err != nil || taken.ID != first.ID || taken.LeaseOwner != "node3" || taken.Done != 2 ||
			taken.Cursor != j.Cursor || !taken.StartedAt.Equal(t0) {
			t.Fatalf("takeover = %+v, %v; want job %d resumed at its cursor", taken, err, first.ID)
		}
		_, err = s.SaveJob(ctx, j, t0.Add(92*time.Second), lease)
		wantCode(t, "save after lease lost", err, s3node.EConflict)

		// A raised target reaches the worker through SaveJob.
		if _, created, err := s.CreateJob(ctx, "bucket/a", 4, 0, t0.Add(93*time.Second)); err != nil || created {
			t.Fatalf("CreateJob on active job: created %v, %v", created, err)
		}
		taken.Done = 3
		if target, err = s.SaveJob(ctx, taken, t0.Add(94*time.Second), lease); err != nil || target != 4 {
			t.Fatalf("SaveJob after raise = %d, %v; want 4", target, err)
		}
		taken.State = rewrap.Done
		if _, err = s.SaveJob(ctx, taken, t0.Add(95*time.Second), lease); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetJob(ctx, taken.ID)
		if err != nil || got.State != rewrap.Done || got.Done != 3 || !got.FinishedAt.Equal(t0.Add(95*time.Second)) || !got.LeaseExpires.IsZero() {
			t.Fatalf("finished job = %+v, %v", got, err)
		}
		_, err = s.SaveJob(ctx, taken, t0.Add(96*time.Second), lease)
		wantCode(t, "save after done", err, s3node.EConflict)
		_, err = s.SaveJob(ctx, rewrap.Job{ID: taken.ID + 100, LeaseOwner: "x", State: rewrap.Running}, t0, lease)
		wantCode(t, "save unknown job", err, s3node.ENotFound)

		// A finished job leaves room for a new one.
		if nj, created, err := s.CreateJob(ctx, "bucket/a", 5, 1, t0.Add(97*time.Second)); err != nil || !created || nj.ID == taken.ID {
			t.Fatalf("CreateJob after done = %+v, created %v, %v", nj, created, err)
		}
	})
}
