package config

import (
	"strings"
	"testing"
)

// fuzzSecret is the value of every variable the fuzzed lookups know: no
// error may contain it (config errors name variables, never values).
const fuzzSecret = "s3cr3t-VALUE-must-not-leak"

func fuzzLookup(name string) (string, bool) {
	if strings.HasPrefix(name, "UNSET") {
		return "", false
	}
	return fuzzSecret, true
}

// FuzzExpand: ${NAME} expansion of configuration values. No panic; a
// value without "$" is unchanged; any string with every "$" doubled
// expands to itself; errors never contain a variable's value.
func FuzzExpand(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Expand(s, fuzzLookup)
		if err != nil {
			if strings.Contains(err.Error(), fuzzSecret) {
				t.Fatalf("%q: error leaks the value: %v", s, err)
			}
		} else if !strings.Contains(s, "$") && out != s {
			t.Fatalf("%q expanded to %q", s, out)
		}
		escaped := strings.ReplaceAll(s, "$", "$$")
		if back, err := Expand(escaped, fuzzLookup); err != nil || back != s {
			t.Fatalf("%q escaped as %q expands to %q, %v", s, escaped, back, err)
		}
	})
}

// FuzzDecode: configuration files (KMS with its policies, S3 node, and a
// policy file), as Load and LoadKMS decode them, then validate them. No
// panic; errors never contain a variable's value, nor the first 7 bytes
// YAML keeps of a long value (unless the file itself holds them).
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(what string, err error) {
			if err == nil {
				return
			}
			if leak := fuzzSecret[:7]; strings.Contains(err.Error(), leak) && !strings.Contains(string(data), leak) {
				t.Fatalf("%s: error leaks the value: %v", what, err)
			}
		}
		k := DefaultKMS()
		err := Decode(data, &k, fuzzLookup)
		check("kms", err)
		if err == nil {
			check("kms validate", k.Validate())
		}
		s := DefaultS3()
		err = Decode(data, &s, fuzzLookup)
		check("s3", err)
		if err == nil {
			check("s3 validate", s.Validate())
		}
		var pf struct {
			Policies []Policy `yaml:"policies"`
		}
		check("policy file", Decode(data, &pf, fuzzLookup))
	})
}
