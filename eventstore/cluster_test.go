package eventstore_test

import (
	"fmt"
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

// No stale refusal after a node returns: a second process, connected
// only to a node that was down while the first registered aggregates,
// runs commands on them the moment the node is back. None is refused as
// missing (issue 13: 404 platform-not-registered 0.6s after a node
// rejoined), and every command decides on the history the first process
// had acknowledged. With nats-server 2.15 a returning replica answers
// direct gets only once caught up, so this passes without the
// Executor's leader confirmation of refusals too; it guards the
// scenario, the confirmation makes it hold by construction.
func TestNoStaleRefusalAfterANodeReturns(t *testing.T) {
	t.Parallel()
	c := eventstoretest.MustRunCluster(t, 3)
	replicas := eventstoretest.WithConfig(func(cfg *eventstore.Config) { cfg.Replicas = 3; cfg.LoadTimeout = time.Second })
	a := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(c.URL()), replicas)
	xa := eventstore.NewExecutor(a, hostsKind(), eventstore.ExecutorConfig{})
	mustAppend(t, a, platform("warm"), 0, hostAdded(t, platform("warm"), "h"))
	leader := c.StreamLeader(eventstore.DefaultStream)
	follower := (leader + 1) % 3
	b := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(c.NodeURL(follower)), replicas)
	xb := eventstore.NewExecutor(b, hostsKind(), eventstore.ExecutorConfig{})
	for round := range 3 {
		c.Kill(follower)
		n := 30
		for i := range n {
			id := fmt.Sprintf("p-%d-%d", round, i)
			agg := platform(id)
			if _, err := xa.Execute(testCtx(t), eventstore.Command[*hosts]{ID: id, Creates: true, Decide: func(*hosts, time.Time) ([]domain.Event, error) {
				return []domain.Event{hostAdded(t, agg, "h-1")}, nil
			}}); err != nil {
				t.Fatal(err)
			}
		}
		c.Restart(follower)
		for i := range n {
			id := fmt.Sprintf("p-%d-%d", round, i)
			agg := platform(id)
			res, err := xb.Execute(testCtx(t), eventstore.Command[*hosts]{ID: id, Decide: func(*hosts, time.Time) ([]domain.Event, error) {
				return []domain.Event{hostAdded(t, agg, "h-2")}, nil
			}})
			if err != nil {
				t.Errorf("round %d: command on %s right after its node returned: %v", round, id, err)
				continue
			}
			if got := res.State.names; len(got) != 2 || got[0] != "h-1" {
				t.Errorf("round %d: %s decided on hosts %v, want h-1 then h-2", round, id, got)
			}
		}
	}
}
