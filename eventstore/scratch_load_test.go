package eventstore_test

import (
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

func TestScratchLoad(t *testing.T) {
	s := eventstoretest.MustOpenStore(t)
	agg := platform("acme")
	evs := make([]domain.Event, 200)
	for i := range evs {
		evs[i] = hostAdded(t, agg, "h")
	}
	mustAppend(t, s, agg, 0, evs...)
	start := time.Now()
	for range 20 {
		mustLoad(t, s, agg)
	}
	t.Logf("load 200: %v", time.Since(start)/20)
	start = time.Now()
	for i := range 50 {
		mustAppend(t, s, agg, uint64(200+i), hostAdded(t, agg, "h"))
	}
	t.Logf("append: %v", time.Since(start)/50)
	start = time.Now()
	for range 50 {
		s.LastSeq(testCtx(t))
	}
	t.Logf("lastseq: %v", time.Since(start)/50)
}
