package blobfs

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"
)

// TestSweepSparesWritesInFlight checks that a sweep (another node's, on a
// shared directory: here a second Store on the same directory) never
// removes the temp file of an upload in flight, however old it looks, and
// that the upload then commits; a temp file whose writer is gone (closed
// without commit, as after a crash) is removed.
func TestSweepSparesWritesInFlight(t *testing.T) {
	ctx := context.Background()
	isRef := func(context.Context, string) (bool, error) { return false, nil }
	tests := []struct {
		name      string
		crash     bool // the writer's file is closed, as by its process dying
		wantTemps int
	}{
		{"upload in flight, paused longer than the grace", false, 0},
		{"writer crashed", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			nodeA, err := New(dir)
			if err != nil {
				t.Fatal(err)
			}
			nodeB, err := New(dir)
			if err != nil {
				t.Fatal(err)
			}
			w, err := nodeB.Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("first half, ")); err != nil {
				t.Fatal(err)
			}
			tmp := w.(*writer).f.Name()
			if tt.crash {
				w.(*writer).f.Close()
			}
			age(t, tmp, 2*time.Hour)
			st, err := nodeA.Sweep(ctx, isRef, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if st.Temps != tt.wantTemps {
				t.Fatalf("swept %d temp files, want %d", st.Temps, tt.wantTemps)
			}
			if tt.crash {
				return
			}
			if _, err := w.Write([]byte("second half")); err != nil {
				t.Fatal(err)
			}
			id, err := w.Commit(ctx)
			if err != nil {
				t.Fatalf("commit after the other node's sweep: %v", err)
			}
			b, err := nodeA.Open(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			got, _ := io.ReadAll(b)
			if !bytes.Equal(got, []byte("first half, second half")) {
				t.Errorf("read %q", got)
			}
		})
	}
}
