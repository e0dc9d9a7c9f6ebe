package eventstore_test

import (
	"testing"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

func BenchmarkScratchLoad(b *testing.B) {
	s := eventstoretest.MustOpenStore(b)
	agg := platform("acme")
	evs := make([]domain.Event, 200)
	for i := range evs {
		evs[i] = hostAdded(b, agg, "h")
	}
	mustAppend(b, s, agg, 0, evs...)
	for b.Loop() {
		mustLoad(b, s, agg)
	}
}
