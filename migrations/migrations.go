// Package migrations holds the database schema of s3kms as numbered SQL
// files, one directory per backend, embedded into the binary.
//
// Files are named NNNN_description.sql and are applied in name order, each
// in its own transaction together with the row that records its name in
// schema_migrations (see storage/postgres and storage/sqlite, which own the
// code that applies them). Migrations are forward-only: a file, once
// released, is never edited or removed; a change is a new file. Both
// backends keep the same file names so that a schema version means the same
// thing on either.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Postgres holds the PostgreSQL migrations at its root.
var Postgres fs.FS = mustSub("postgres")

// SQLite holds the SQLite migrations at its root.
var SQLite fs.FS = mustSub("sqlite")

func mustSub(dir string) fs.FS {
	sub, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // only if the embed pattern above and dir disagree
	}
	return sub
}

// File is one migration.
type File struct {
	Name string // file name, e.g. "0001_kms_keys.sql"; recorded once applied
	SQL  string
}

var namePattern = regexp.MustCompile(`^[0-9]{4}_[a-z0-9_]+\.sql$`)

// Files returns the migrations at the root of fsys in the order they must
// be applied. It fails on a .sql file whose name does not follow the
// NNNN_description.sql pattern or whose number is used twice, so that a
// misnamed file is caught instead of being applied out of order.
func Files(fsys fs.FS) ([]File, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]File, 0, len(names))
	seen := make(map[string]string, len(names))
	for _, name := range names {
		if !namePattern.MatchString(name) {
			return nil, fmt.Errorf("migrations: bad file name %q: want NNNN_description.sql", name)
		}
		num := name[:4]
		if prev, ok := seen[num]; ok {
			return nil, fmt.Errorf("migrations: %q and %q share number %s", prev, name, num)
		}
		seen[num] = name
		b, err := fs.ReadFile(fsys, path.Clean(name))
		if err != nil {
			return nil, err
		}
		out = append(out, File{Name: name, SQL: string(b)})
	}
	return out, nil
}
