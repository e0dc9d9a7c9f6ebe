package eventstore_test

import (
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

func TestScratchGetBatch(t *testing.T) {
	s := eventstoretest.MustOpenStore(t)
	agg := platform("acme")
	evs := make([]domain.Event, 200)
	for i := range evs {
		evs[i] = hostAdded(t, agg, "h")
	}
	mustAppend(t, s, agg, 0, evs...)
	for _, n := range []int{1, 10, 100, 200, 1000} {
		start := time.Now()
		it, err := jetstreamext.GetBatch(testCtx(t), s.JetStream(), "LEDGER", n, jetstreamext.GetBatchSeq(1), jetstreamext.GetBatchSubject("ledger.platform.acme"))
		if err != nil {
			t.Fatal(err)
		}
		c := 0
		var first time.Duration
		for m, err := range it {
			if err != nil {
				t.Fatal(err)
			}
			if c == 0 {
				first = time.Since(start)
			}
			c++
			_ = m
		}
		t.Logf("batch %d: got %d in %v (first after %v)", n, c, time.Since(start), first)
	}
}
