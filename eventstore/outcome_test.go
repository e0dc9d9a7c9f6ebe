package eventstore_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// A write that reached the server but whose acknowledgement did not come
// back answers outcome-unknown, naming the event ids; once it has landed,
// a retry with the same ids returns the stored records and appends nothing.
func TestAppendOutcomeUnknownRetriedWithSameIDs(t *testing.T) {
	t.Parallel()
	proxy := eventstoretest.MustRunProxy(t, eventstoretest.MustRunJetStream(t))
	s := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(proxy.URL()))
	agg := platform("acme")
	mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1")) // caches the head: the next Append only publishes

	ev := hostAdded(t, agg, "h-2")
	ev.ID = "evt-unconfirmed-1"
	proxy.Freeze()
	ctx, cancel := context.WithTimeout(testCtx(t), 500*time.Millisecond)
	_, err := s.Append(ctx, agg, 1, ev)
	cancel()
	proxy.Thaw() // the held publish now reaches the server and is stored

	wantCode(t, err, domain.EUNAVAILABLE, domain.ReasonOutcomeUnknown)
	if msg := domain.ErrorMessage(err); !strings.Contains(msg, ev.ID) {
		t.Errorf("message %q does not name event id %s", msg, ev.ID)
	}

	deadline := time.Now().Add(10 * time.Second)
	for len(mustLoad(t, s, agg)) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	recs, err := s.Append(testCtx(t), agg, 1, ev)
	if err != nil {
		t.Fatalf("retry with the same event id: %v", err)
	}
	if got, want := len(recs), 1; got != want || recs[0].Event.ID != ev.ID {
		t.Fatalf("retry returned %+v, want the one stored event %s", recs, ev.ID)
	}
	if got, want := len(mustLoad(t, s, agg)), 2; got != want {
		t.Errorf("history holds %d events, want %d: the write landed once", got, want)
	}
}

// A command whose write went unacknowledged (outcome-unknown) is retried
// with the same Idempotency-Key: once the first write has landed, the
// retry finds the key in the aggregate's events and replays its result,
// deciding and appending nothing.
func TestExecuteOutcomeUnknownRetriedWithSameKey(t *testing.T) {
	t.Parallel()
	proxy := eventstoretest.MustRunProxy(t, eventstoretest.MustRunJetStream(t))
	s := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(proxy.URL()))
	x := eventstore.NewExecutor(s, hostsKind(), eventstore.ExecutorConfig{})
	agg := platform("acme")
	var calls atomic.Int32
	_, err := x.Execute(testCtx(t), eventstore.Command[*hosts]{ID: "acme", Creates: true, Decide: addHost(t, agg, "h-1", &calls)})
	mustDo(t, err)

	var decided atomic.Int32
	cmd := eventstore.Command[*hosts]{ID: "acme", IdempotencyKey: "req-unconfirmed", Decide: func(*hosts, time.Time) ([]domain.Event, error) {
		if decided.Add(1) == 2 {
			// The locked attempt has read its state: hold what it
			// publishes, so the write reaches the server after its
			// caller gave up waiting.
			proxy.Freeze()
		}
		return []domain.Event{hostAdded(t, agg, "h-2")}, nil
	}}
	ctx, cancel := context.WithTimeout(testCtx(t), time.Second)
	_, err = x.Execute(ctx, cmd)
	cancel()
	proxy.Thaw()
	wantCode(t, err, domain.EUNAVAILABLE, domain.ReasonOutcomeUnknown)

	deadline := time.Now().Add(10 * time.Second)
	for len(mustLoad(t, s, agg)) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	before := decided.Load()
	res, err := x.Execute(testCtx(t), cmd)
	mustDo(t, err)
	if !res.Replayed || len(res.Records) != 1 || res.Records[0].Event.IdempotencyKey != "req-unconfirmed" {
		t.Fatalf("retry = %+v, want the stored write replayed", res)
	}
	if got := decided.Load() - before; got != 0 {
		t.Errorf("decide ran %d times on the retry, want 0", got)
	}
	if got, want := len(mustLoad(t, s, agg)), 2; got != want {
		t.Errorf("history holds %d events, want %d: the write landed once", got, want)
	}
}
