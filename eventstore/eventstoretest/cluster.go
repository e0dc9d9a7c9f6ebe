package eventstoretest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// globalAccount is the account every client lands in on a server without
// authorization; JetStream's per-stream lookups are by account.
const globalAccount = "$G"

// clusterWait bounds every wait on the cluster (forming, electing leaders,
// a node coming back): far above what a healthy loopback cluster needs,
// well below the package's test timeout.
const clusterWait = 30 * time.Second

// Cluster is a real JetStream cluster of in-process nats-servers, routed
// over loopback, each with its own temporary store directory: what a
// ledger with Replicas 3 runs on in production, minus the network.
// Nodes are numbered 0..Size()-1. Safe for concurrent use.
type Cluster struct {
	t    testing.TB
	name string

	mu    sync.Mutex
	opts  []*server.Options
	nodes []*server.Server // nil while a node is killed
}

// MustRunCluster starts an n-node JetStream cluster on loopback and waits
// until it has a meta leader that knows every node, so a stream with up to
// n replicas can be created at once. Each node keeps its client and route
// ports for the whole test, so URL stays valid across Kill and Restart.
// The cluster shuts down when the test ends.
func MustRunCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("MustRunCluster: %d nodes", n)
	}
	name := fmt.Sprintf("licledger-%d", clusterSeq.Add(1))
	var lastErr error
	// The ports are reserved by binding and releasing them, so another
	// process may take one before a node binds it; then start again on
	// fresh ports.
	for range 3 {
		c := &Cluster{t: t, name: name}
		if lastErr = c.start(n); lastErr == nil {
			t.Cleanup(c.shutdown)
			c.waitFormed(n)
			return c
		}
		c.shutdown()
	}
	t.Fatalf("start a %d-node JetStream cluster: %v", n, lastErr)
	return nil
}

// clusterSeq tells the clusters of one test binary apart.
var clusterSeq atomic.Int64

func (c *Cluster) start(n int) error {
	ports, err := freePorts(2 * n)
	if err != nil {
		return err
	}
	clientPorts, routePorts := ports[:n], ports[n:]
	routes := make([]string, n)
	for i, p := range routePorts {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	for i := range n {
		c.opts = append(c.opts, &server.Options{
			ServerName: fmt.Sprintf("%s-n%d", c.name, i),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			JetStream:  true,
			StoreDir:   c.t.TempDir(),
			// Memory is only for the consumers' state here; the ledger
			// streams are file storage.
			JetStreamMaxMemory: 64 << 20,
			NoSigs:             true,
			NoLog:              true,
			Cluster: server.ClusterOpts{
				Name: c.name,
				Host: "127.0.0.1",
				Port: routePorts[i],
			},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
		})
	}
	c.nodes = make([]*server.Server, n)
	for i := range n {
		if err := c.startNode(i); err != nil {
			return err
		}
	}
	return nil
}

// startNode starts node i from its options; c.mu need not be held during
// startup, only for recording the server.
func (c *Cluster) startNode(i int) error {
	opts := *c.opts[i] // NewServer keeps and changes the struct it is given
	srv, err := server.NewServer(&opts)
	if err != nil {
		return fmt.Errorf("configure node %d: %w", i, err)
	}
	srv.Start()
	if !srv.ReadyForConnections(clusterWait) {
		srv.Shutdown()
		return fmt.Errorf("node %d did not listen on client port %d and route port %d within %s", i, c.opts[i].Port, c.opts[i].Cluster.Port, clusterWait)
	}
	c.mu.Lock()
	c.nodes[i] = srv
	c.mu.Unlock()
	return nil
}

// freePorts finds n distinct free loopback TCP ports.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve a port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (c *Cluster) shutdown() {
	c.mu.Lock()
	nodes := c.nodes
	c.nodes = make([]*server.Server, len(nodes))
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range nodes {
		if s == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Shutdown()
			s.WaitForShutdown()
		}()
	}
	wg.Wait()
}

// waitFormed waits until the running nodes agree on a meta leader that
// counts want peers.
func (c *Cluster) waitFormed(want int) {
	c.t.Helper()
	c.waitFor("a meta leader that knows every node", func() bool {
		l := c.metaLeader()
		return l != nil && len(l.JetStreamClusterPeers()) >= want
	})
}

// waitFor polls cond until it holds, failing the test after clusterWait.
// Polling is the only way to learn when another goroutine's (the
// servers') state has converged; it never stands in for the test's clock.
func (c *Cluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(clusterWait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster %s: no %s within %s", c.name, what, clusterWait)
		}
		<-tick.C
	}
}

func (c *Cluster) running() []*server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*server.Server, 0, len(c.nodes))
	for _, s := range c.nodes {
		if s != nil && s.Running() {
			out = append(out, s)
		}
	}
	return out
}

func (c *Cluster) metaLeader() *server.Server {
	for _, s := range c.running() {
		if s.JetStreamIsLeader() {
			return s
		}
	}
	return nil
}

// Size is the number of nodes, running or killed.
func (c *Cluster) Size() int { return len(c.opts) }

// URLs returns every node's client URL, killed nodes included.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.opts))
	for i, o := range c.opts {
		out[i] = fmt.Sprintf("nats://127.0.0.1:%d", o.Port)
	}
	return out
}

// URL returns the nodes' client URLs comma-separated, as Config.URL (and
// `--nats`) take them: a client connects to any node and fails over to
// the others.
func (c *Cluster) URL() string { return strings.Join(c.URLs(), ",") }

// NodeURL returns node i's client URL alone, to pin a client to one node.
func (c *Cluster) NodeURL(i int) string { return c.URLs()[i] }

// Server returns node i's running server, or nil while it is killed.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// StreamLeader waits until some running node leads the stream and
// returns its index.
func (c *Cluster) StreamLeader(stream string) int {
	c.t.Helper()
	leader := -1
	c.waitFor("leader of stream "+stream, func() bool {
		leader = c.streamLeader(stream)
		return leader >= 0
	})
	return leader
}

func (c *Cluster) streamLeader(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.nodes {
		if s != nil && s.Running() && s.JetStreamIsStreamLeader(globalAccount, stream) {
			return i
		}
	}
	return -1
}

// WaitStreamCurrent waits until every running node's replica of the
// stream has caught up with its leader.
func (c *Cluster) WaitStreamCurrent(stream string) {
	c.t.Helper()
	c.waitFor("current replicas of stream "+stream, func() bool {
		for _, s := range c.running() {
			if !s.JetStreamIsStreamCurrent(globalAccount, stream) {
				return false
			}
		}
		return true
	})
}

// Kill shuts node i down, as a crash or a stop would, keeping its store
// directory for Restart. Killing a killed node is a no-op.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	c.mu.Lock()
	s := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if s == nil {
		return
	}
	s.Shutdown()
	s.WaitForShutdown()
}

// Restart starts killed node i again on its ports and store directory
// and waits until the cluster has a meta leader again. Its streams then
// catch up on their own; WaitStreamCurrent waits for that.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.Server(i) != nil {
		c.t.Fatalf("cluster %s: restart of node %d, which is running", c.name, i)
	}
	if err := c.startNode(i); err != nil {
		c.t.Fatalf("cluster %s: restart node %d: %v", c.name, i, err)
	}
	c.waitFor("meta leader after restarting node", func() bool {
		return c.metaLeader() != nil && c.Server(i).JetStreamIsCurrent()
	})
}

// KillAll kills every node: NATS stopped entirely.
func (c *Cluster) KillAll() {
	c.t.Helper()
	for i := range c.Size() {
		c.Kill(i)
	}
}

// RestartAll starts every killed node again (Restart one by one would wait
// for a meta leader that a minority cannot elect) and waits until the
// cluster has a meta leader again that every node follows.
func (c *Cluster) RestartAll() {
	c.t.Helper()
	for i := range c.Size() {
		if c.Server(i) != nil {
			continue
		}
		if err := c.startNode(i); err != nil {
			c.t.Fatalf("cluster %s: restart node %d: %v", c.name, i, err)
		}
	}
	c.waitFor("meta leader after restarting every node", func() bool {
		if c.metaLeader() == nil {
			return false
		}
		for _, s := range c.running() {
			if !s.JetStreamIsCurrent() {
				return false
			}
		}
		return true
	})
}
