package eventstore

import "context"

// StreamState is how the store's connection and the stream's replicas
// are, for operators (metrics): whether this process is connected, which
// server leads the stream, and whether each replica has caught up with
// the leader.
type StreamState struct {
	// Connection is the NATS connection's state: CONNECTED,
	// RECONNECTING, DISCONNECTED, CLOSED, ...
	Connection string
	Connected  bool
	// Leader is the name of the server leading the stream; "" while the
	// stream has no leader (an election) or when it could not be asked.
	Leader string
	// Replicas are the stream's followers (the leader is current by
	// definition and not listed), empty on a single server.
	Replicas []ReplicaState
	// LastSeq is the stream's last sequence, 0 for an empty stream.
	LastSeq uint64
}

// ReplicaState is one follower of the stream.
type ReplicaState struct {
	Name    string
	Current bool   // has every message the leader has
	Offline bool   // not seen recently by the leader
	Lag     uint64 // messages behind the leader
}

// StreamState asks the stream for its cluster state (one request). The
// connection's state is filled in even when the request fails, which it
// does while disconnected: that is when an operator needs it most.
func (s *Store) StreamState(ctx context.Context) (StreamState, error) {
	st := StreamState{Connection: s.nc.Status().String(), Connected: s.nc.IsConnected()}
	info, err := s.stream.Info(ctx)
	if err != nil {
		return st, translate(err, "stream info")
	}
	st.LastSeq = info.State.LastSeq
	if c := info.Cluster; c != nil {
		st.Leader = c.Leader
		for _, p := range c.Replicas {
			if p != nil {
				st.Replicas = append(st.Replicas, ReplicaState{Name: p.Name, Current: p.Current, Offline: p.Offline, Lag: p.Lag})
			}
		}
	}
	return st, nil
}
