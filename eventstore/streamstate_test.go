package eventstore_test

import (
	"testing"

	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// StreamState names the stream leader and its followers as the cluster
// itself knows them.
func TestStreamState(t *testing.T) {
	t.Parallel()
	c := eventstoretest.MustRunCluster(t, 3)
	s := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(c.URL()),
		eventstoretest.WithConfig(func(cfg *eventstore.Config) { cfg.Replicas = 3 }))
	recs := mustAppend(t, s, platform("acme"), 0, hostAdded(t, platform("acme"), "h-1"))
	c.WaitStreamCurrent(eventstore.DefaultStream)
	leader := c.Server(c.StreamLeader(eventstore.DefaultStream)).Name()

	st, err := s.StreamState(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Connected || st.Connection != "CONNECTED" {
		t.Errorf("connection %s (connected %v), want CONNECTED", st.Connection, st.Connected)
	}
	if st.Leader != leader {
		t.Errorf("leader %q, want %q", st.Leader, leader)
	}
	if got, want := len(st.Replicas), 2; got != want {
		t.Fatalf("%d followers, want %d: %+v", got, want, st.Replicas)
	}
	for _, r := range st.Replicas {
		if r.Name == leader || !r.Current || r.Offline {
			t.Errorf("follower %+v: want a current, online follower other than the leader", r)
		}
	}
	if st.LastSeq != recs[0].Seq {
		t.Errorf("last sequence %d, want %d", st.LastSeq, recs[0].Seq)
	}
}
