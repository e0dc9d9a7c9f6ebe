package projections

import (
	"math/rand/v2"
	"testing"
	"time"
)

// R32: ts is part of every projection's bytes; the hand-written formatter
// must agree with time.Format on the layout, whatever the instant and zone.
func TestTSMatchesFormat(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("X", -7*3600-30*60)
	tests := []time.Time{
		{},
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1, 2, 3, 4, 5, 6, 7, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 1, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 1, 1, 0, 0, 500, zone),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		tests = append(tests, time.Unix(r.Int64N(400*365*86400)-100*365*86400, r.Int64N(1e9)).In(zone))
	}
	for _, tm := range tests {
		got, want := ts(tm), tm.UTC().Format(timeLayout)
		if got != want {
			t.Errorf("ts(%v) = %q, want %q", tm, got, want)
		}
	}
}
