package rewrap

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestLimiterBoundsRate checks the token bucket's long-run rate.
func TestLimiterBoundsRate(t *testing.T) {
	for _, tc := range []struct {
		rate         float64
		burst, pages int
		page         int
	}{
		{rate: 1000, burst: 50, pages: 10, page: 50},
		{rate: 200, burst: 10, pages: 5, page: 10},
	} {
		t.Run(fmt.Sprint(tc.rate), func(t *testing.T) {
			l := newLimiter(tc.rate, tc.burst, time.Now)
			start := time.Now()
			for range tc.pages {
				if err := l.wait(context.Background(), tc.page); err != nil {
					t.Fatal(err)
				}
			}
			rows := float64(tc.pages * tc.page)
			minimum := time.Duration((rows - float64(tc.burst)) / tc.rate * float64(time.Second))
			if got := time.Since(start); got < minimum-5*time.Millisecond || got > minimum*3+200*time.Millisecond {
				t.Fatalf("%v rows at %v/s took %v, want about %v", rows, tc.rate, got, minimum)
			}
		})
	}
}
