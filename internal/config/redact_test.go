package config

import (
	"strings"
	"testing"
)

// TestDecodeErrorsNameVariables: a variable expanded into a field of the
// wrong type is named in the error, its value is not (in full or in the
// shortened form of YAML's type errors).
func TestDecodeErrorsNameVariables(t *testing.T) {
	lookup := func(name string) (string, bool) {
		return map[string]string{"LONG": "hunter2-long-secret", "SHORT": "hunter2", "N": "12"}[name], true
	}
	for _, tc := range []struct {
		yaml, want string
		leaks      []string
	}{
		{"cache:\n  ttl: ${LONG}\n", "${LONG}", []string{"hunter2"}},
		{"cache:\n  ttl: ${SHORT}\n", "${SHORT}", []string{"hunter2"}},
		{"cache: {size: \"x-${LONG}\"}\n", "x-${LONG}", []string{"hunter2", "x-hunte"}},
		{"deletion: {min_days: \"${N}x\"}\n", "${N}x", []string{"12x"}},
	} {
		k := DefaultKMS()
		err := Decode([]byte(tc.yaml), &k, lookup)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v does not name %s", tc.yaml, err, tc.want)
			continue
		}
		for _, l := range tc.leaks {
			if strings.Contains(err.Error(), l) {
				t.Errorf("%q: error %v contains %q", tc.yaml, err, l)
			}
		}
	}
}
