package kms

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
)

// batchLog is an AuditBatcher whose first batch blocks until released, so
// that the events of concurrent callers must queue up behind it.
type batchLog struct {
	AuditLog
	mu      sync.Mutex
	batches [][]AuditEvent
	gate    chan struct{}
	fail    error
}

func (b *batchLog) AppendAudit(context.Context, AuditEvent) error {
	return errors.New("AppendAudit must not be called when batching")
}

func (b *batchLog) AppendAuditBatch(_ context.Context, es []AuditEvent) error {
	b.mu.Lock()
	first := len(b.batches) == 0
	b.batches = append(b.batches, es)
	b.mu.Unlock()
	if first {
		<-b.gate
	}
	return b.fail
}

func TestGroupAuditBatches(t *testing.T) {
	for _, fail := range []error{nil, Errorf(EUnavailable, "down")} {
		log := &batchLog{gate: make(chan struct{}), fail: fail}
		g := newGroupAudit(log)
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		wg.Add(1)
		go func() { defer wg.Done(); errs <- g.AppendAudit(context.Background(), AuditEvent{Operation: "leader"}) }()
		for {
			log.mu.Lock()
			n := len(log.batches)
			log.mu.Unlock()
			if n == 1 {
				break
			}
			runtime.Gosched()
		}
		for range 9 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- g.AppendAudit(context.Background(), AuditEvent{Operation: "follower"})
			}()
		}
		// Wait until the nine followers are queued, then release the leader.
		for {
			gg := g.(*groupAudit)
			gg.mu.Lock()
			n := len(gg.pending)
			gg.mu.Unlock()
			if n == 9 {
				break
			}
			runtime.Gosched()
		}
		close(log.gate)
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, fail) && err != fail {
				t.Errorf("AppendAudit = %v, want %v", err, fail)
			}
		}
		if len(log.batches) != 2 || len(log.batches[0]) != 1 || len(log.batches[1]) != 9 {
			sizes := []int{}
			for _, b := range log.batches {
				sizes = append(sizes, len(b))
			}
			t.Errorf("batch sizes = %v, want [1 9]", sizes)
		}
	}
}
