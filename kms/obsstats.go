package kms

import (
	"context"
	"sync/atomic"
	"time"
)

// Protector calls the Service times, for metrics (api/metrics.go).
const (
	protectorOpenRoot = iota
	protectorGenerateRoot
	nProtectorCalls
)

var protectorCallNames = [nProtectorCalls]string{"OpenRoot", "GenerateRoot"}

// protectorCounters count the protector calls of a Service.
type protectorCounters struct {
	calls, errors, nanos [nProtectorCalls]atomic.Uint64
}

// ProtectorStat is the count, failures and total time of one kind of
// protector call since the Service started.
type ProtectorStat struct {
	Call     string // "OpenRoot" or "GenerateRoot"
	Calls    uint64
	Errors   uint64
	Duration time.Duration
}

// ProtectorStats reports the protector calls of the hot paths: OpenRoot
// (a root-cache miss) and GenerateRoot (key creation and rotation).
func (s *Service) ProtectorStats() []ProtectorStat {
	out := make([]ProtectorStat, nProtectorCalls)
	for i := range out {
		out[i] = ProtectorStat{Call: protectorCallNames[i], Calls: s.pstats.calls[i].Load(),
			Errors: s.pstats.errors[i].Load(), Duration: time.Duration(s.pstats.nanos[i].Load())}
	}
	return out
}

func (s *Service) observeProtector(call int, start time.Time, err error) {
	s.pstats.calls[call].Add(1)
	s.pstats.nanos[call].Add(uint64(time.Since(start)))
	if err != nil {
		s.pstats.errors[call].Add(1)
	}
}

// openRoot is protector.OpenRoot, counted.
func (s *Service) openRoot(ctx context.Context, wrapped []byte) (RootKey, error) {
	start := time.Now()
	rk, err := s.protector.OpenRoot(ctx, wrapped)
	s.observeProtector(protectorOpenRoot, start, err)
	return rk, err
}

// generateRoot is protector.GenerateRoot, counted.
func (s *Service) generateRoot(ctx context.Context) ([]byte, error) {
	start := time.Now()
	w, err := s.protector.GenerateRoot(ctx)
	s.observeProtector(protectorGenerateRoot, start, err)
	return w, err
}

// AuditStats are the audit group commit's counts since the Service
// started.
type AuditStats struct {
	Batches  uint64 // transactions written
	Records  uint64 // records in them
	Failures uint64 // transactions that failed
}

// AuditStats reports the audit group commit (ok false when the audit log
// cannot append batches, so every record is its own write).
func (s *Service) AuditStats() (AuditStats, bool) {
	g, ok := s.audit.(*groupAudit)
	if !ok {
		return AuditStats{}, false
	}
	return AuditStats{Batches: g.batches.Load(), Records: g.records.Load(), Failures: g.failures.Load()}, true
}
