package projections

import (
	"context"
	"testing"
	"time"
)

// BenchmarkPlatformViewAsOf measures the platform view with its license
// inventory (what GET /v1/platforms/{id}/licenses reads) for a platform of
// 1000 events: live ("now", the live database) and pinned to a past
// position (a scratch database built from the history's prefix, every
// query of it). It reports milliseconds per view and the pinned view's
// cost as a multiple of the live one's.
//
//	go test -run '^$' -bench PlatformViewAsOf -benchtime 20x ./projections/
func BenchmarkPlatformViewAsOf(b *testing.B) {
	l := benchLog(b, 1000)
	db := openDB(b, "live.db")
	catchUp(b, db, l.store)
	q := NewQueries(db)
	ctx := context.Background()
	far := t0.AddDate(10, 0, 0)
	view := func(b *testing.B, seq uint64, live bool) time.Duration {
		start := time.Now()
		for b.Loop() {
			snap, err := q.PlatformSnapshot(ctx, "p00000", far, seq, live, b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := snap.Queries.DB().GetPlatform(ctx, "p00000"); err != nil {
				b.Fatal(err)
			}
			if _, _, err := snap.Queries.DB().LicensesSeq(ctx, "p00000"); err != nil {
				b.Fatal(err)
			}
			snap.Close()
		}
		per := time.Since(start) / time.Duration(b.N)
		b.ReportMetric(float64(per.Microseconds())/1000, "ms/view")
		return per
	}
	var live time.Duration
	b.Run("live", func(b *testing.B) { live = view(b, 0, true) })
	b.Run("as-of", func(b *testing.B) {
		per := view(b, l.lastSeq()/2, false)
		if live > 0 {
			b.ReportMetric(float64(per)/float64(live), "x-live")
		}
	})
}
