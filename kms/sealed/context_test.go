package sealed

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func TestEncodeContext(t *testing.T) {
	big := map[string]string{}
	for i := range MaxContextPairs {
		big[fmt.Sprintf("k%02d", i)] = "v"
	}
	tooMany := map[string]string{"extra": ""}
	for k, v := range big {
		tooMany[k] = v
	}
	// One pair whose encoding is exactly MaxContextBytes: 4 + 8 + 1 + len(v).
	exact := map[string]string{"k": strings.Repeat("v", MaxContextBytes-13)}
	over := map[string]string{"k": strings.Repeat("v", MaxContextBytes-12)}

	tests := []struct {
		name    string
		ctx     map[string]string
		want    string // hex
		wantLen int    // checked when want is empty
		wantErr bool
	}{
		{name: "nil", ctx: nil, want: "00000000"},
		{name: "empty", ctx: map[string]string{}, want: "00000000"},
		{name: "one pair", ctx: map[string]string{"bucket": "b1"},
			want: "00000001 00000006 6275636b6574 00000002 6231"},
		{name: "empty value", ctx: map[string]string{"k": ""}, want: "00000001 00000001 6b 00000000"},
		{name: "byte order, not case order", ctx: map[string]string{"a": "1", "B": "2", "ab": "3"},
			want: "00000003 00000001 42 00000001 32 00000001 61 00000001 31 00000002 6162 00000001 33"},
		{name: "non-UTF-8 bytes", ctx: map[string]string{"\xff": "\x00"}, want: "00000001 00000001 ff 00000001 00"},
		{name: "max pairs", ctx: big, wantLen: 4 + MaxContextPairs*(8+3+1)},
		{name: "too many pairs", ctx: tooMany, wantErr: true},
		{name: "exactly max bytes", ctx: exact, wantLen: MaxContextBytes},
		{name: "one byte over", ctx: over, wantErr: true},
		{name: "empty key", ctx: map[string]string{"": "v"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EncodeContext(tt.ctx)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("EncodeContext succeeded, want error")
				}
				return
			}
			if err != nil {
				t.Fatalf("EncodeContext: %v", err)
			}
			if tt.want != "" && !bytes.Equal(got, unhex(t, tt.want)) {
				t.Fatalf("EncodeContext = %x, want %s", got, tt.want)
			}
			if tt.want == "" && len(got) != tt.wantLen {
				t.Fatalf("len(EncodeContext) = %d, want %d", len(got), tt.wantLen)
			}
			m, err := DecodeContext(got)
			if err != nil {
				t.Fatalf("DecodeContext(EncodeContext(x)): %v", err)
			}
			if len(m) != len(tt.ctx) {
				t.Fatalf("round trip: %d pairs, want %d", len(m), len(tt.ctx))
			}
			for k, v := range tt.ctx {
				if m[k] != v {
					t.Fatalf("round trip: pair %q differs", k)
				}
			}
		})
	}
}

func TestEncodeContextErrorHidesValues(t *testing.T) {
	_, err := EncodeContext(map[string]string{"": "secret-value"})
	if err == nil || strings.Contains(err.Error(), "secret-value") {
		t.Fatalf("error %v must not quote the context", err)
	}
}

func TestDecodeContextRejects(t *testing.T) {
	tests := []struct{ name, hex string }{
		{"empty input", ""},
		{"short count", "000000"},
		{"too many pairs", "00000041"},
		{"count larger than pairs", "00000001"},
		{"truncated key length", "00000001 0000"},
		{"key length beyond input", "00000001 00000005 6b"},
		{"key length 2^32-1", "00000001 ffffffff 6b"},
		{"empty key", "00000001 00000000 00000000"},
		{"missing value", "00000001 00000001 6b"},
		{"value length beyond input", "00000001 00000001 6b 00000002 76"},
		{"unsorted keys", "00000002 00000001 62 00000000 00000001 61 00000000"},
		{"duplicate keys", "00000002 00000001 61 00000000 00000001 61 00000000"},
		{"trailing byte", "00000000 00"},
		{"trailing pair", "00000001 00000001 61 00000000 00000001 62 00000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := unhex(t, tt.hex)
			if _, err := DecodeContext(b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeContext(%x) error = %v, want ErrMalformed", b, err)
			}
		})
	}
	t.Run("longer than MaxContextBytes", func(t *testing.T) {
		b := append(unhex(t, "00000001 00000001 6b"), make([]byte, MaxContextBytes)...)
		n := len(b) - 13
		b[9], b[10], b[11], b[12] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		if _, err := DecodeContext(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("error = %v, want ErrMalformed", err)
		}
	})
}

func TestDecodeContextEmpty(t *testing.T) {
	m, err := DecodeContext([]byte{0, 0, 0, 0})
	if err != nil || m == nil || len(m) != 0 {
		t.Fatalf("DecodeContext(0) = %v, %v; want empty non-nil map", m, err)
	}
}
