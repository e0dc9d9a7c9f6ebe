package eventstore_test

import (
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// A 3-replica ledger outlives its stream leader: appends go on once the
// survivors elect a new one (a retry with the same event ids is stored
// once), nothing acknowledged is lost, and the old leader, restarted,
// catches up and serves the same history.
func TestClusterLosesItsStreamLeader(t *testing.T) {
	t.Parallel()
	c := eventstoretest.MustRunCluster(t, 3)
	replicas := eventstoretest.WithConfig(func(cfg *eventstore.Config) { cfg.Replicas = 3 })
	s := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(c.URL()), replicas)
	agg := platform("acme")
	withID := func(id, host string) domain.Event {
		e := hostAdded(t, agg, host)
		e.ID = id
		return e
	}
	mustAppend(t, s, agg, 0, withID("01J00000000000000000000001", "h-1"))

	leader := c.StreamLeader(eventstore.DefaultStream)
	c.Kill(leader)
	if now := c.StreamLeader(eventstore.DefaultStream); now == leader {
		t.Fatalf("node %d still leads after being killed", leader)
	}
	// While the client reconnects an append may time out, stored or not:
	// the caller retries it with the same ids, as Append documents.
	second := []domain.Event{withID("01J00000000000000000000002", "h-2"), withID("01J00000000000000000000003", "h-3")}
	ctx := testCtx(t)
	for {
		_, err := s.Append(ctx, agg, 1, second...)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no append succeeded after losing the stream leader: %v", err)
		}
		t.Logf("append while electing a new stream leader: %v", err)
		time.Sleep(100 * time.Millisecond) // polls the cluster's recovery; no test clock involved
	}
	if got := len(mustLoad(t, s, agg)); got != 3 {
		t.Fatalf("after the leader died Load = %d events, want 3", got)
	}

	c.Restart(leader)
	c.WaitStreamCurrent(eventstore.DefaultStream)
	old := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(c.NodeURL(leader)), replicas)
	got := mustLoad(t, old, agg)
	if len(got) != 3 {
		t.Fatalf("the restarted node serves %d events, want 3", len(got))
	}
	for i, r := range got {
		if want := uint64(i + 1); r.Event.AggregateVersion != want {
			t.Fatalf("event %d has version %d", i+1, r.Event.AggregateVersion)
		}
	}
	if rep := mustVerify(t, old); !rep.OK() {
		t.Fatalf("Verify after the failover: %+v", rep.Problems)
	}
}
