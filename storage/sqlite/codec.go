package sqlite

import (
	"fmt"
	"time"
)

// codec is how rows.Codec values are stored here: times as text (see
// timeLayout), JSON documents as text.
type codec struct{}

func (codec) ScanTime(t *time.Time) any      { return textTime{t} }
func (codec) ScanNullTime(t **time.Time) any { return nullTextTime{t} }
func (codec) Time(t time.Time) any           { return formatTime(t) }
func (codec) NullTime(t *time.Time) any      { return formatTimePtr(t) }

func (codec) JSON(doc []byte) any {
	if doc == nil {
		return nil
	}
	return string(doc)
}

// textTime scans a NOT NULL time column stored by formatTime.
type textTime struct{ t *time.Time }

func (d textTime) Scan(src any) error {
	s, err := timeText(src)
	if err != nil {
		return err
	}
	*d.t, err = parseTime(s)
	return err
}

// nullTextTime scans a nullable time column stored by formatTimePtr.
type nullTextTime struct{ t **time.Time }

func (d nullTextTime) Scan(src any) error {
	if src == nil {
		*d.t = nil
		return nil
	}
	s, err := timeText(src)
	if err != nil {
		return err
	}
	t, err := parseTime(s)
	if err != nil {
		return err
	}
	*d.t = &t
	return nil
}

func timeText(src any) (string, error) {
	switch v := src.(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	}
	return "", fmt.Errorf("bad stored time: %T", src)
}
