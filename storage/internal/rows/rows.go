// Package rows holds what the PostgreSQL and SQLite stores share about
// their rows: column lists, how a row becomes a domain value and back,
// argument validation and the listing glue around s3node.Walk. SQL text,
// placeholders, transactions and locking stay in each backend.
//
// Scan functions take a Scanner, which pgx.Row, pgx.CollectableRow,
// *sql.Row and *sql.Rows all satisfy; the few values a backend stores
// differently (times, JSON documents) go through its Codec.
package rows

import (
	"encoding/json"
	"fmt"
	"time"
)

// Scanner is what the drivers' rows have in common.
type Scanner interface{ Scan(dest ...any) error }

// Codec is how a backend stores the values whose column types differ
// between backends.
type Codec interface {
	// ScanTime returns a Scan destination for a NOT NULL time column that
	// stores the value in *t.
	ScanTime(t *time.Time) any
	// ScanNullTime is ScanTime for a nullable column: NULL stores nil.
	ScanNullTime(t **time.Time) any
	// Time is t as a query argument.
	Time(t time.Time) any
	// NullTime is t as a query argument, nil as NULL.
	NullTime(t *time.Time) any
	// JSON is a JSON document as a query argument, nil as NULL.
	JSON(doc []byte) any
}

// UTC returns t in UTC: pgx returns timestamptz in the local zone.
func UTC(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// EncodeMap returns m as JSON, or nil (NULL) when empty.
func EncodeMap(m map[string]string) []byte {
	if len(m) == 0 {
		return nil
	}
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return b
}

// DecodeMap reverses EncodeMap; an empty map comes back nil.
func DecodeMap(b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("bad stored map: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// NilIfEmpty maps an empty slice to nil (NULL).
func NilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// ScanPrefix scans a leading column into First, the rest into the
// caller's destinations.
type ScanPrefix struct {
	Row   Scanner
	First any
}

// Scan implements Scanner.
func (s ScanPrefix) Scan(dest ...any) error { return s.Row.Scan(append([]any{s.First}, dest...)...) }

// ScanString scans a single text column.
func ScanString(r Scanner) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}
