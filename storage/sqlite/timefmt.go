package sqlite

import (
	"fmt"
	"time"
)

// timeLayout is how times are stored: UTC, fixed width, nanoseconds. Fixed
// width (unlike RFC 3339 with trimmed fractions) makes string order time
// order, so SQL can compare stored times (deletion_date <= ?), and the
// nanoseconds make a round trip exact. Years 0001-9999 only.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// now is time.Now, for the few times the store itself sets.
var now = time.Now

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// formatTimePtr maps nil to SQL NULL.
func formatTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad stored time %q: %w", s, err)
	}
	return t, nil
}
