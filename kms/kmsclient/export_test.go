package kmsclient

import "time"

// SetClock replaces the clock that times down marks (tests only).
func SetClock(c *Client, now func() time.Time) { c.now = now }
