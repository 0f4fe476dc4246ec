package migrations

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func names(t *testing.T, fsys fs.FS) []string {
	t.Helper()
	files, err := Files(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if strings.TrimSpace(f.SQL) == "" {
			t.Errorf("%s is empty", f.Name)
		}
		out = append(out, f.Name)
	}
	return out
}

// Both backends must describe the same schema versions: a name means the
// same change on either.
func TestBackendsHaveSameFiles(t *testing.T) {
	pg, lite := names(t, Postgres), names(t, SQLite)
	if len(pg) == 0 {
		t.Fatal("no PostgreSQL migrations embedded")
	}
	if !slices.Equal(pg, lite) {
		t.Fatalf("PostgreSQL migrations %v differ from SQLite migrations %v", pg, lite)
	}
}

func TestFilesOrderAndValidation(t *testing.T) {
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		want    []string
		wantErr string
	}{
		{
			name: "sorted by name",
			fsys: fstest.MapFS{
				"0010_c.sql": {Data: []byte("x")},
				"0002_b.sql": {Data: []byte("x")},
				"0001_a.sql": {Data: []byte("x")},
				"README.md":  {Data: []byte("ignored")},
			},
			want: []string{"0001_a.sql", "0002_b.sql", "0010_c.sql"},
		},
		{
			name:    "bad name",
			fsys:    fstest.MapFS{"1_a.sql": {Data: []byte("x")}},
			wantErr: "bad file name",
		},
		{
			name: "duplicate number",
			fsys: fstest.MapFS{
				"0001_a.sql": {Data: []byte("x")},
				"0001_b.sql": {Data: []byte("x")},
			},
			wantErr: "share number",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := Files(tt.fsys)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range files {
				got = append(got, f.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
