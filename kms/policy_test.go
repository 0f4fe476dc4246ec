package kms

import (
	"strings"
	"testing"
)

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pat, name string
		want      bool
	}{
		{"*", "anything/at/all", true},
		{"*", "", true},
		{"bucket/*", "bucket/abc", true},
		{"bucket/*", "bucket/", true},
		{"bucket/*", "bucketx/abc", false},
		{"bucket/*", "named/bucket/abc", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"*-prod", "app-prod", true},
		{"**", "x", true},
		{strings.Repeat("*a", 50), strings.Repeat("a", 100) + "b", false},
	}
	for _, tt := range tests {
		if got := MatchPattern(tt.pat, tt.name); got != tt.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", tt.pat, tt.name, got, tt.want)
		}
	}
}

func TestPolicy(t *testing.T) {
	admin := Identity(strings.Repeat("a", 64))
	node := Identity(strings.Repeat("b", 64))
	p, err := NewPolicy([]PolicyEntry{
		{Name: "admin", Identities: []Identity{admin}, Allow: []Rule{{Ops: []Op{OpAll}, Keys: []string{"*"}}}},
		{Name: "s3node", Identities: []Identity{node}, Allow: []Rule{{Ops: []Op{OpGenerate, OpDecrypt, OpRewrap}, Keys: []string{"bucket/*"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id   Identity
		op   Op
		key  string
		want bool
	}{
		{admin, OpCreate, "x", true},
		{admin, OpAudit, "", true},
		{node, OpGenerate, "bucket/1", true},
		{node, OpDecrypt, "bucket/1", true},
		{node, OpGenerate, "named/1", false},
		{node, OpCreate, "bucket/1", false},
		{node, OpRead, "", false},
		{Identity(strings.Repeat("c", 64)), OpRead, "x", false},
	}
	for _, tt := range tests {
		if got := p.Allowed(tt.id, tt.op, tt.key); got != tt.want {
			t.Errorf("Allowed(%.4s, %s, %q) = %v, want %v", tt.id, tt.op, tt.key, got, tt.want)
		}
	}
}

func TestNewPolicyErrors(t *testing.T) {
	good := Identity(strings.Repeat("a", 64))
	tests := []struct {
		name    string
		entries []PolicyEntry
		want    string
	}{
		{"no name", []PolicyEntry{{Identities: []Identity{good}}}, "name is empty"},
		{"bad identity", []PolicyEntry{{Name: "x", Identities: []Identity{"zz"}}}, "not a hex SHA-256"},
		{"unknown op", []PolicyEntry{{Name: "x", Allow: []Rule{{Ops: []Op{"fly"}, Keys: []string{"*"}}}}}, "unknown operation"},
		{"empty rule", []PolicyEntry{{Name: "x", Allow: []Rule{{}}}}, "needs ops and keys"},
		{"duplicate identity", []PolicyEntry{
			{Name: "x", Identities: []Identity{good}},
			{Name: "y", Identities: []Identity{good}},
		}, "in policies"},
	}
	for _, tt := range tests {
		if _, err := NewPolicy(tt.entries); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestValidKeyID(t *testing.T) {
	for id, want := range map[string]bool{
		"a": true, "bucket/0f3c": true, "app.prod:key-1_x": true,
		"": false, "/a": false, "a/": false, "a//b": false, "a b": false, "é": false,
		strings.Repeat("a", MaxKeyIDLen): true, strings.Repeat("a", MaxKeyIDLen+1): false,
	} {
		if got := ValidKeyID(id); got != want {
			t.Errorf("ValidKeyID(%q) = %v, want %v", id, got, want)
		}
	}
}
