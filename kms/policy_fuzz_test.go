package kms

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzPolicy: key patterns and identities of policy files. MatchPattern
// agrees with the regular expression the pattern stands for ("*" is
// ".*", everything else literal) and is linear enough not to hang on
// hostile patterns; NewPolicy accepts a rule only with known operations,
// and an identity only as a hex SHA-256.
func FuzzPolicy(f *testing.F) {
	f.Fuzz(func(t *testing.T, pattern, name, op, identity string) {
		if len(pattern) > 64 || len(name) > 256 {
			return // the regexp reference is the slow part
		}
		// regexp works on runes: compare on valid UTF-8 only, where
		// rune and byte matching agree.
		if utf8.ValidString(pattern) && utf8.ValidString(name) {
			parts := strings.Split(pattern, "*")
			for i, p := range parts {
				parts[i] = regexp.QuoteMeta(p)
			}
			re := regexp.MustCompile(`(?s)\A` + strings.Join(parts, ".*") + `\z`)
			if want, got := re.MatchString(name), MatchPattern(pattern, name); got != want {
				t.Fatalf("MatchPattern(%q, %q) = %v, regexp says %v", pattern, name, got, want)
			}
		} else if m := MatchPattern(pattern, name); !strings.Contains(pattern, "*") && m != (pattern == name) {
			t.Fatalf("MatchPattern(%q, %q) = %v without a star", pattern, name, m)
		}
		p, err := NewPolicy([]PolicyEntry{{Name: "p", Identities: []Identity{Identity(identity)},
			Allow: []Rule{{Ops: []Op{Op(op)}, Keys: []string{pattern}}}}})
		if err != nil {
			return
		}
		id := Identity(strings.ToLower(identity))
		if !knownOps[Op(op)] || pattern == "" || !id.Valid() {
			t.Fatalf("accepted op %q, pattern %q, identity %q", op, pattern, identity)
		}
		if name != "" && p.Allowed(id, Op(op), name) != MatchPattern(pattern, name) {
			t.Fatalf("Allowed(%q, %q) disagrees with MatchPattern(%q)", op, name, pattern)
		}
	})
}
