package kms

import (
	"context"
	"sync"
	"sync/atomic"
)

// AuditBatcher is an optional ability of an AuditLog: appending several
// events in one transaction. When the configured AuditLog has it, the
// Service commits the audit records of concurrent operations together
// (group commit), so that one fsync serves many requests while every
// operation still returns only after its own record is durable.
type AuditBatcher interface {
	// AppendAuditBatch records events in order, all or none. The store
	// assigns the IDs.
	AppendAuditBatch(ctx context.Context, events []AuditEvent) error
}

// maxAuditBatch bounds one group commit.
const maxAuditBatch = 256

// groupAudit turns concurrent AppendAudit calls into batches. The first
// caller to find no flush in progress becomes the leader: it writes
// everything queued, then whatever queued meanwhile, until the queue is
// empty. Followers wait for the outcome of the batch holding their event.
type groupAudit struct {
	AuditLog
	batch AuditBatcher

	mu       sync.Mutex
	pending  []*auditReq
	flushing bool

	// For Service.AuditStats.
	batches, records, failures atomic.Uint64
}

type auditReq struct {
	e    AuditEvent
	done chan error
}

func newGroupAudit(l AuditLog) AuditLog {
	b, ok := l.(AuditBatcher)
	if !ok {
		return l
	}
	return &groupAudit{AuditLog: l, batch: b}
}

func (g *groupAudit) AppendAudit(ctx context.Context, e AuditEvent) error {
	r := &auditReq{e: e, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if g.flushing {
		g.mu.Unlock()
		select {
		case err := <-r.done:
			return err
		case <-ctx.Done():
			// The record may still be written by the leader: an audit
			// trail may hold more than was acknowledged, never less.
			return Wrap(EUnavailable, ctx.Err(), "audit log unavailable")
		}
	}
	g.flushing = true
	for len(g.pending) > 0 {
		n := min(len(g.pending), maxAuditBatch)
		batch := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.mu.Unlock()
		events := make([]AuditEvent, len(batch))
		for i, b := range batch {
			events[i] = b.e
		}
		err := g.batch.AppendAuditBatch(ctx, events)
		g.batches.Add(1)
		g.records.Add(uint64(len(events)))
		if err != nil {
			g.failures.Add(1)
		}
		for _, b := range batch {
			b.done <- err
		}
		g.mu.Lock()
	}
	g.flushing = false
	g.mu.Unlock()
	return <-r.done
}
