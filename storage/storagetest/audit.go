package storagetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/s3kms/s3kms/kms"
)

func auditEvent(i int, identity, keyID string, ctx map[string]string) kms.AuditEvent {
	return kms.AuditEvent{
		Time:       t0.Add(time.Duration(i) * time.Second),
		Identity:   identity,
		Operation:  fmt.Sprintf("op-%d", i),
		KeyID:      keyID,
		KeyVersion: i,
		Result:     "ok",
		Context:    ctx,
		RequestID:  fmt.Sprintf("req-%d", i),
	}
}

// normEvents makes events comparable with reflect.DeepEqual; it keeps the
// nil-vs-empty distinction of Context.
func normEvents(es []kms.AuditEvent) []kms.AuditEvent {
	out := make([]kms.AuditEvent, len(es))
	for i, e := range es {
		e.Time = e.Time.UTC()
		out[i] = e
	}
	return out
}

// appendEvents appends es in order and returns them as the store lists
// them (newest first, ids assigned), checking ids and contents.
func appendEvents(t *testing.T, s Store, es []kms.AuditEvent) []kms.AuditEvent {
	t.Helper()
	ctx := t.Context()
	for _, e := range es {
		must(t, s.AppendAudit(ctx, e))
	}
	got, err := s.ListAudit(ctx, kms.AuditFilter{})
	must(t, err)
	if len(got) != len(es) {
		t.Fatalf("listed %d events, want %d", len(got), len(es))
	}
	for i, g := range got {
		if g.ID <= 0 || (i > 0 && g.ID >= got[i-1].ID) {
			t.Fatalf("ids not positive and decreasing: %+v", got)
		}
		want := es[len(es)-1-i] // newest first
		want.ID = g.ID
		if !reflect.DeepEqual(normEvents([]kms.AuditEvent{g}), normEvents([]kms.AuditEvent{want})) {
			t.Fatalf("event %d differs\n got: %+v\nwant: %+v", i, g, want)
		}
		if g.Time.Location() != time.UTC {
			t.Fatalf("event time not in UTC: %v", g.Time)
		}
	}
	return got
}

func sixEvents() []kms.AuditEvent {
	return []kms.AuditEvent{
		auditEvent(1, "id-a", "k1", map[string]string{"bucket": "b1", "key": "o/1"}),
		auditEvent(2, "id-b", "k1", nil),
		auditEvent(3, "id-a", "k2", map[string]string{}),
		auditEvent(4, "id-a", "", nil), // an operation on no key, e.g. a refused list
		auditEvent(5, "id-b", "k2", map[string]string{"unicode": "é✓", "quote": `"\`}),
		auditEvent(6, "id-a", "k1", nil),
	}
}

func testAuditAppendList(t *testing.T, s Store) {
	e := auditEvent(1, "id-a", "k1", map[string]string{"a": "b"})
	e.Result, e.Time = string(kms.EForbidden), t0.In(time.FixedZone("X", 3600))
	appendEvents(t, s, []kms.AuditEvent{e})
}

func testAuditFilters(t *testing.T, s Store) {
	all := appendEvents(t, s, sixEvents())
	match := func(f kms.AuditFilter) []kms.AuditEvent {
		var out []kms.AuditEvent
		for _, e := range all {
			if (f.KeyID == "" || e.KeyID == f.KeyID) && (f.Identity == "" || e.Identity == f.Identity) &&
				(f.Before == 0 || e.ID < f.Before) && (f.Limit <= 0 || len(out) < f.Limit) {
				out = append(out, e)
			}
		}
		return out
	}
	tests := []struct {
		name  string
		f     kms.AuditFilter
		count int
	}{
		{"all", kms.AuditFilter{}, 6},
		{"key", kms.AuditFilter{KeyID: "k1"}, 3},
		{"identity", kms.AuditFilter{Identity: "id-b"}, 2},
		{"key and identity", kms.AuditFilter{KeyID: "k1", Identity: "id-a"}, 2},
		{"unknown key", kms.AuditFilter{KeyID: "nope"}, 0},
		{"before", kms.AuditFilter{Before: all[2].ID}, 3},
		{"before oldest", kms.AuditFilter{Before: all[5].ID}, 0},
		{"limit", kms.AuditFilter{Limit: 2}, 2},
		{"everything", kms.AuditFilter{KeyID: "k2", Identity: "id-a", Before: all[0].ID, Limit: 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAudit(t.Context(), tt.f)
			must(t, err)
			want := match(tt.f)
			if len(want) != tt.count {
				t.Fatalf("test expects %d events, filter matches %d", tt.count, len(want))
			}
			if !reflect.DeepEqual(normEvents(got), normEvents(want)) {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func testAuditPaging(t *testing.T, s Store) {
	all := appendEvents(t, s, sixEvents())
	var got []kms.AuditEvent
	f := kms.AuditFilter{Limit: 4}
	for range len(all) + 1 {
		page, err := s.ListAudit(t.Context(), f)
		must(t, err)
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		f.Before = page[len(page)-1].ID
	}
	if !reflect.DeepEqual(normEvents(got), normEvents(all)) {
		t.Fatalf("paging gives %+v\nwant %+v", got, all)
	}
}

func testAuditContextNilEmpty(t *testing.T, s Store) {
	got := appendEvents(t, s, []kms.AuditEvent{
		auditEvent(1, "id", "k", nil),
		auditEvent(2, "id", "k", map[string]string{}),
		auditEvent(3, "id", "k", map[string]string{"": "", "k": ""}),
	})
	// appendEvents compared with DeepEqual, which tells nil from empty;
	// spell it out anyway.
	if got[2].Context != nil || got[1].Context == nil || len(got[1].Context) != 0 {
		t.Fatalf("nil/empty context not preserved: %#v, %#v", got[2].Context, got[1].Context)
	}
}

// The contract lets the caller set ID: it is stored as given, and an
// existing id is a conflict that leaves the first event alone.
func testAuditExplicitID(t *testing.T, s Store) {
	ctx := t.Context()
	e := auditEvent(1, "id-a", "k1", nil)
	e.ID = 1000
	must(t, s.AppendAudit(ctx, e))
	dup := auditEvent(2, "id-b", "k2", nil)
	dup.ID = 1000
	wantCode(t, s.AppendAudit(ctx, dup), kms.EConflict)
	got, err := s.ListAudit(ctx, kms.AuditFilter{})
	must(t, err)
	if !reflect.DeepEqual(normEvents(got), normEvents([]kms.AuditEvent{e})) {
		t.Fatalf("got %+v, want %+v", got, e)
	}
}

// testAuditBatch checks the optional group-commit ability: a batch lands
// in order with ids assigned, exactly like appending one by one.
func testAuditBatch(t *testing.T, s Store) {
	b, ok := s.(kms.AuditBatcher)
	if !ok {
		t.Fatal("store does not implement kms.AuditBatcher; both backends must")
	}
	es := sixEvents()
	must(t, b.AppendAuditBatch(t.Context(), es[:4]))
	must(t, b.AppendAuditBatch(t.Context(), es[4:]))
	got, err := s.ListAudit(t.Context(), kms.AuditFilter{})
	must(t, err)
	if len(got) != len(es) {
		t.Fatalf("listed %d events, want %d", len(got), len(es))
	}
	for i, g := range got {
		want := es[len(es)-1-i]
		want.ID = g.ID
		if i > 0 && g.ID >= got[i-1].ID {
			t.Fatalf("ids not decreasing: %+v", got)
		}
		if !reflect.DeepEqual(normEvents([]kms.AuditEvent{g}), normEvents([]kms.AuditEvent{want})) {
			t.Fatalf("event %d differs\n got: %+v\nwant: %+v", i, g, want)
		}
	}
}
