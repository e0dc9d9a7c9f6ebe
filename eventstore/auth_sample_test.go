package eventstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// deploy/nats-server.conf, the sample for an external server, grants the
// ledger and its readers exactly the package's permissions, and works:
// the ledger creates its stream and appends with its password, the
// readers only read, and the ledger itself cannot delete the stream.
func TestSampleServerConfig(t *testing.T) {
	// t.Setenv: the sample takes its passwords from the environment.
	const ledgerPassword = "ledger-password-0123456789"
	t.Setenv("LICLEDGER_NATS_LEDGER_PASSWORD", ledgerPassword)
	t.Setenv("LICLEDGER_NATS_AUDITOR_PASSWORD", auditorPassword)
	t.Setenv("LICLEDGER_NATS_BILLING_PASSWORD", billingPassword)
	opts, err := server.ProcessConfigFile("../deploy/nats-server.conf")
	if err != nil {
		t.Fatalf("sample config: %v", err)
	}
	sampleUsers(t, opts)
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	url := startSample(t, opts).ClientURL()

	ledger := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url), eventstoretest.Mutable(), eventstoretest.WithConfig(func(c *eventstore.Config) {
		c.Credentials = eventstore.Credentials{User: eventstore.LedgerUser, Password: ledgerPassword}
	}))
	agg := platform("acme")
	mustAppend(t, ledger, agg, 0, hostAdded(t, agg, "h-1"))
	for _, u := range []struct{ name, password string }{{"auditor", auditorPassword}, {"billing", billingPassword}} {
		t.Run(u.name, func(t *testing.T) { checkReader(t, url, ledger, agg, nats.UserInfo(u.name, u.password)) })
	}
	t.Run("the ledger cannot delete its stream", func(t *testing.T) {
		c := mustDial(t, url, nats.UserInfo(eventstore.LedgerUser, ledgerPassword))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.js.DeleteStream(ctx, eventstore.DefaultStream)
		c.wantViolation(t, "$JS.API.STREAM.DELETE."+eventstore.DefaultStream)
	})
	// Checkpoints too: signed, kept and listed with the ledger's user.
	t.Run("the ledger keeps signed checkpoints", func(t *testing.T) {
		k := mustLedgerKey(t)
		marked := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url), withMark(k), eventstoretest.WithConfig(func(c *eventstore.Config) {
			c.Credentials = eventstore.Credentials{User: eventstore.LedgerUser, Password: ledgerPassword}
		}))
		cp := mustWriteCheckpoint(t, marked, k)
		if got, err := marked.LatestCheckpoint(testCtx(t)); err != nil || got.Signature != cp.Signature {
			t.Errorf("latest checkpoint with the ledger's user: %+v, %v", got, err)
		}
	})
	// Snapshots go through the ledger's own permissions: stored, replaced
	// (which purges the old chunks) and fetched back whole.
	t.Run("the ledger keeps projection snapshots", func(t *testing.T) {
		ctx := testCtx(t)
		for i, body := range []string{"first snapshot", strings.Repeat("second snapshot ", 1<<14)} {
			meta := map[string]string{"seq": strconv.Itoa(i + 1)}
			if err := ledger.PutSnapshot(ctx, "projections", meta, strings.NewReader(body)); err != nil {
				t.Fatalf("put snapshot %d: %v", i+1, err)
			}
			var got bytes.Buffer
			gotMeta, err := ledger.GetSnapshot(ctx, "projections", &got)
			if err != nil {
				t.Fatalf("get snapshot %d: %v", i+1, err)
			}
			if got.String() != body || gotMeta["seq"] != meta["seq"] {
				t.Errorf("snapshot %d: got %d bytes, seq %q; want %d bytes, seq %q", i+1, got.Len(), gotMeta["seq"], len(body), meta["seq"])
			}
		}
		// A user without the bucket's subjects (a server configured before
		// snapshots, or a reader) gets an error, after the lookup's own
		// deadline rather than a transfer's: serve then builds from the log.
		auditor := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url), eventstoretest.WithConfig(func(c *eventstore.Config) {
			c.ReadOnly, c.LoadTimeout = true, time.Second
			c.Credentials = eventstore.Credentials{User: "auditor", Password: auditorPassword}
		}))
		start := time.Now()
		if _, err := auditor.GetSnapshot(ctx, "projections", io.Discard); err == nil {
			t.Error("a reader fetched a snapshot without the bucket's permissions")
		} else {
			t.Logf("a reader's fetch: %v after %v", err, time.Since(start).Round(time.Millisecond))
		}
	})
	if _, err := dial(t, url); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("connect without credentials: %v, want %v", err, nats.ErrAuthorization)
	}
}

// sampleUsers checks that a sample configuration grants the ledger and
// its readers exactly the package's permissions.
func sampleUsers(t *testing.T, opts *server.Options) {
	t.Helper()
	want := map[string]*server.Permissions{
		eventstore.LedgerUser: eventstore.WriterPermissions(eventstore.DefaultStream),
		"auditor":             eventstore.ReaderPermissions(eventstore.DefaultStream),
		"billing":             eventstore.ReaderPermissions(eventstore.DefaultStream),
	}
	if len(opts.Users) != len(want) {
		t.Fatalf("sample config has %d users, want %d", len(opts.Users), len(want))
	}
	for _, u := range opts.Users {
		w, ok := want[u.Username]
		if !ok {
			t.Fatalf("sample config has an unexpected user %q", u.Username)
		}
		samePerms(t, u.Username+" publish allow", u.Permissions.Publish.Allow, w.Publish.Allow)
		samePerms(t, u.Username+" publish deny", u.Permissions.Publish.Deny, w.Publish.Deny)
		samePerms(t, u.Username+" subscribe allow", u.Permissions.Subscribe.Allow, w.Subscribe.Allow)
		if u.Permissions.Subscribe.Deny != nil || u.Permissions.Response != nil {
			t.Errorf("%s: unexpected permissions %+v", u.Username, u.Permissions)
		}
	}
}

// startSample starts a server from a sample configuration (its addresses
// already moved to loopback), storing in a temporary directory, shut
// down when the test ends.
func startSample(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.StoreDir = t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return srv
}

func samePerms(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// deploy/cluster/nats-node.conf, each node of the 3-node deployment,
// names the node and its routes from the environment, grants the users
// of nats-auth.conf exactly the package's permissions, and forms a
// cluster the ledger runs on with Replicas 3: it appends, and keeps and
// fetches projection snapshots, with its password. (Ports are moved to
// loopback here; the file's own are the compose network's.)
func TestSampleClusterConfig(t *testing.T) {
	const ledgerPassword = "ledger-password-0123456789"
	t.Setenv("LICLEDGER_NATS_LEDGER_PASSWORD", ledgerPassword)
	t.Setenv("LICLEDGER_NATS_AUDITOR_PASSWORD", auditorPassword)
	t.Setenv("LICLEDGER_NATS_BILLING_PASSWORD", billingPassword)
	t.Setenv("NATS_STORE_DIR", t.TempDir())
	routePorts := loopbackPorts(t, 3)
	for i, p := range routePorts {
		t.Setenv(fmt.Sprintf("NATS_ROUTE_%d", i+1), fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	var urls []string
	var servers []*server.Server
	for i := range 3 {
		t.Setenv("NATS_SERVER_NAME", fmt.Sprintf("n%d", i+1))
		opts, err := server.ProcessConfigFile("../deploy/cluster/nats-node.conf")
		if err != nil {
			t.Fatalf("cluster node config: %v", err)
		}
		if opts.ServerName != fmt.Sprintf("n%d", i+1) || opts.Cluster.Name != "licledger" || len(opts.Routes) != 3 || !opts.JetStream {
			t.Fatalf("node %d: server %q, cluster %q, %d routes, JetStream %v; want n%d in cluster licledger with 3 routes and JetStream",
				i+1, opts.ServerName, opts.Cluster.Name, len(opts.Routes), opts.JetStream, i+1)
		}
		sampleUsers(t, opts)
		opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", server.RANDOM_PORT, 0
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", routePorts[i]
		srv := startSample(t, opts)
		urls = append(urls, srv.ClientURL())
		servers = append(servers, srv)
	}
	// The cluster has formed once a meta leader counts every node.
	deadline := time.Now().Add(30 * time.Second)
	for !slices.ContainsFunc(servers, func(s *server.Server) bool { return s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == 3 }) {
		if time.Now().After(deadline) {
			t.Fatal("the three nodes formed no JetStream cluster within 30s")
		}
		time.Sleep(20 * time.Millisecond) // polls the servers' own convergence
	}
	ledger := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(strings.Join(urls, ",")), eventstoretest.WithConfig(func(c *eventstore.Config) {
		c.Credentials = eventstore.Credentials{User: eventstore.LedgerUser, Password: ledgerPassword}
		c.Replicas = 3
	}))
	agg := platform("acme")
	mustAppend(t, ledger, agg, 0, hostAdded(t, agg, "h-1"))
	ctx := testCtx(t)
	if err := ledger.PutSnapshot(ctx, "projections", map[string]string{"seq": "1"}, strings.NewReader("snapshot")); err != nil {
		t.Fatalf("put snapshot: %v", err)
	}
	var got bytes.Buffer
	if _, err := ledger.GetSnapshot(ctx, "projections", &got); err != nil || got.String() != "snapshot" {
		t.Fatalf("get snapshot: %q, %v", got.String(), err)
	}
}

// loopbackPorts finds n distinct free loopback TCP ports.
func loopbackPorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
