package kmip

import (
	"testing"
	"time"

	"github.com/s3kms/s3kms/kms"
)

func TestStreamTable(t *testing.T) {
	var st streamTable
	now := time.Unix(1e9, 0)
	var first []byte
	for i := range maxStreams {
		cv, err := st.put(now, nil, &stream{identity: "a", data: []byte{1}})
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		if i == 0 {
			first = cv
		}
	}
	if _, err := st.put(now, nil, &stream{identity: "a"}); err == nil {
		t.Error("more than maxStreams streams")
	}
	for _, tc := range []struct {
		name     string
		identity string
		ok       bool
	}{
		{"other identity", "b", false},
		{"owner", "a", true},
		{"taken", "a", false},
	} {
		if _, ok := st.take(now, first, kms.Identity(tc.identity)); ok != tc.ok {
			t.Errorf("%s: take = %v", tc.name, ok)
		}
	}
	// Expired streams are refused and evicted by the next put.
	cv, _ := st.put(now, nil, &stream{identity: "a"})
	if _, ok := st.take(now.Add(streamTTL+time.Second), cv, "a"); ok {
		t.Error("expired stream taken")
	}
	if _, err := st.put(now.Add(streamTTL+time.Second), nil, &stream{identity: "a"}); err != nil || len(st.m) != 1 {
		t.Errorf("expired streams not evicted: %d left, %v", len(st.m), err)
	}
}
