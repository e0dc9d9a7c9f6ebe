package eventstore_test

import (
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/nats-io/nats.go/jetstream"
)

func TestScratchOrdered(t *testing.T) {
	s := eventstoretest.MustOpenStore(t)
	agg := platform("acme")
	evs := make([]domain.Event, 200)
	for i := range evs {
		evs[i] = hostAdded(t, agg, "h")
	}
	mustAppend(t, s, agg, 0, evs...)
	mustAppend(t, s, platform("b"), 0, hostAdded(t, platform("b"), "h"))
	for range 5 {
		start := time.Now()
		cons, err := s.JetStream().OrderedConsumer(testCtx(t), "LEDGER", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"ledger.platform.acme"}})
		if err != nil {
			t.Fatal(err)
		}
		created := time.Since(start)
		b, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		c := 0
		for m := range b.Messages() {
			c++
			md, _ := m.Metadata()
			if md.NumPending == 0 {
				break
			}
		}
		got := time.Since(start)
		s.JetStream().DeleteConsumer(testCtx(t), "LEDGER", cons.CachedInfo().Name)
		t.Logf("ordered fetch: %d in %v (created %v, deleted at %v)", c, got, created, time.Since(start))
	}
}
