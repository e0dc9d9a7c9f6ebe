package eventstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// BenchmarkAppendMark measures what authorship marks cost an append: a
// marked store (as serve runs) against an unmarked one, each on its own
// embedded server, interleaved so the machine's load weighs on both:
//
//	go test -run '^$' -bench AppendMark ./eventstore/
//
// marked/unmarked is the ratio of their event rates (1.00: free).
func BenchmarkAppendMark(b *testing.B) {
	ctx := context.Background()
	marked := eventstoretest.MustOpenStore(b, withMark(mustLedgerKey(b)))
	plain := eventstoretest.MustOpenStore(b)
	for _, n := range []int{1, benchBatch} {
		b.Run(fmt.Sprintf("batch-%d", n), func(b *testing.B) {
			agg := platform(fmt.Sprintf("mark-%d", n))
			events := make([]domain.Event, n)
			for i := range events {
				events[i] = hostAdded(b, agg, fmt.Sprintf("h-%d", i))
			}
			var version uint64
			var durMarked, durPlain time.Duration
			appendTo := func(s *eventstore.Store) time.Duration {
				t0 := time.Now()
				if _, err := s.Append(ctx, agg, version, events...); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			for b.Loop() {
				durPlain += appendTo(plain)
				durMarked += appendTo(marked)
				version += uint64(n)
			}
			total := float64(b.N * n)
			b.ReportMetric(total/durMarked.Seconds(), "marked-events/s")
			b.ReportMetric(total/durPlain.Seconds(), "unmarked-events/s")
			b.ReportMetric(durPlain.Seconds()/durMarked.Seconds(), "marked/unmarked")
		})
	}
}
