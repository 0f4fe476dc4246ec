package postgres

import "time"

// codec is how rows.Codec values are stored here: timestamptz (pgx scans
// and binds time.Time) and jsonb (bound as JSON text in a []byte).
type codec struct{}

func (codec) ScanTime(t *time.Time) any      { return t }
func (codec) ScanNullTime(t **time.Time) any { return t }
func (codec) Time(t time.Time) any           { return t }
func (codec) NullTime(t *time.Time) any      { return t }
func (codec) JSON(doc []byte) any            { return doc }
