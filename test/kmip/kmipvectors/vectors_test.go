package kmipvectors

import (
	"path/filepath"
	"testing"
)

// wantPairs is the number of request/response pairs of each OASIS KMIP 1.4
// test case. CS-BC-M-GCM-3-14 holds 7 RequestMessage elements, 2 of them in
// an XML comment.
var wantPairs = map[string]int{
	"AX-M-1-14": 5, "AX-M-2-14": 8,
	"CS-BC-M-1-14": 4, "CS-BC-M-2-14": 4, "CS-BC-M-3-14": 5, "CS-BC-M-4-14": 4,
	"CS-BC-M-5-14": 4, "CS-BC-M-6-14": 5, "CS-BC-M-7-14": 5, "CS-BC-M-8-14": 5,
	"CS-BC-M-9-14": 5, "CS-BC-M-10-14": 5, "CS-BC-M-11-14": 7, "CS-BC-M-12-14": 6,
	"CS-BC-M-13-14": 6, "CS-BC-M-14-14": 5,
	"CS-BC-M-GCM-1-14": 11, "CS-BC-M-GCM-2-14": 115, "CS-BC-M-GCM-3-14": 5,
	"CS-RNG-M-1-14": 1, "OMOS-M-1-14": 2,
	"SASED-M-1-14": 1, "SASED-M-2-14": 2, "SASED-M-3-14": 5,
	"SKFF-M-1-14": 2, "SKFF-M-2-14": 2, "SKFF-M-3-14": 2, "SKFF-M-4-14": 2,
	"SKFF-M-5-14": 5, "SKFF-M-6-14": 5, "SKFF-M-7-14": 5, "SKFF-M-8-14": 5,
	"SKFF-M-9-14": 15, "SKFF-M-10-14": 15, "SKFF-M-11-14": 15, "SKFF-M-12-14": 15,
	"SKLC-M-1-14": 3, "SKLC-M-2-14": 8, "SKLC-M-3-14": 8,
	"TL-M-1-14": 1, "TL-M-2-14": 1, "TL-M-3-14": 5,
}

func TestParseAllVectors(t *testing.T) {
	cases, err := LoadDir(filepath.Join("testdata", "v1.4"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != len(wantPairs) {
		t.Errorf("%d test cases, want %d", len(cases), len(wantPairs))
	}
	total := 0
	for _, c := range cases {
		want, ok := wantPairs[c.Name]
		if !ok {
			t.Errorf("unexpected test case %s", c.Name)
		}
		if len(c.Pairs) != want {
			t.Errorf("%s: %d pairs, want %d", c.Name, len(c.Pairs), want)
		}
		for i, p := range c.Pairs {
			if got, want := len(p.Request.All("BatchItem")), len(p.Response.All("BatchItem")); got != want {
				t.Errorf("%s pair %d: %d request batch items, %d response batch items", c.Name, i, got, want)
			}
		}
		total += len(c.Pairs)
		t.Logf("%-18s %3d pairs  %v", c.Name, len(c.Pairs), c.Operations())
	}
	t.Logf("%d test cases, %d request/response pairs", len(cases), total)
}
