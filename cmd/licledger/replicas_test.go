package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// twoReplicas runs two `serve` processes (the real Main, from serve's
// flags) on one 3-node JetStream cluster with a 3-replica stream, each
// with its own data directory and projections, sharing the ledger key as
// the README's deployment says they must. Both run on clock.
func twoReplicas(t *testing.T, clock *eventstoretest.Clock) (*eventstoretest.Cluster, [2]*testLedger) {
	t.Helper()
	c := eventstoretest.MustRunCluster(t, 3)
	key := filepath.Join(t.TempDir(), "ledger.key")
	var ls [2]*testLedger
	for i := range ls {
		// Each replica prefers another node first, as a deployment
		// listing the nodes in different orders would.
		urls := c.URLs()
		urls = append(urls[i:], urls[:i]...)
		ls[i] = mustRunMain(t, withClock(clock), withArgs("--nats", strings.Join(urls, ","), "--replicas", "3", "--ledger-key", key))
	}
	return c, ls
}

// A command answered by one replica is visible in the other's
// projections within a bounded time; the figure is logged (the test
// asserts the bound of eventually, not a tight time: the machine is
// shared). R32: both replicas' projections are a rebuild of the log.
func TestReplicasSeeEachOthersCommands(t *testing.T) {
	t.Parallel()
	clock := eventstoretest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	_, ls := twoReplicas(t, clock)
	ctx := t.Context()
	const commands = 20
	var took []time.Duration
	for i := range commands {
		from, to := ls[i%2], ls[1-i%2]
		id := fmt.Sprintf("p-%d", i)
		if _, err := from.API.RegisterPlatform(ctx, httpclient.RegisterRequest{ID: id, Nodes: []string{"mn-1"}}); err != nil {
			t.Fatalf("register %s: %v", id, err)
		}
		start := time.Now()
		eventually(t, id+" on the other replica", func() bool {
			return rawHTTP(t, "GET", to.URL+"/v1/platforms/"+id, "", nil).status == 200
		})
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("command on one replica visible on the other: p50 %v, max %v over %d commands",
		took[len(took)/2].Round(time.Microsecond), took[len(took)-1].Round(time.Microsecond), commands)
	verifyClean(t, ls[:]...)
}

// R26, R29 across replicas: activations racing for the last seats and
// redemptions racing for the last uses of a coupon, spread over two
// serve processes, never exceed their limits; the losers get the limit's
// refusal (or the concurrent-update refusal after the retries ran out),
// and both replicas then show the same use.
func TestReplicasHoldLimitsUnderRaces(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := eventstoretest.NewClock(t0)
	_, ls := twoReplicas(t, clock)
	ctx := t.Context()
	const seats, uses, racers = 3, 2, 12
	created, err := ls[0].API.CreateSubscription(ctx, httpclient.SubscriptionRequest{ID: "S-1", Customer: "acme",
		Plan: httpclient.InstancePlan{Name: "team", Instances: seats}, Period: "annual"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls[1].API.CreateCoupon(ctx, httpclient.CouponRequest{Code: "SPRING", Partner: "p-1", DiscountPercent: 10,
		RedemptionLimit: uses, ExpiresAt: t0.AddDate(1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	for i := range racers {
		if _, err := ls[i%2].API.CreateSubscription(ctx, httpclient.SubscriptionRequest{ID: fmt.Sprintf("S-R%d", i), Customer: "acme",
			Plan: httpclient.InstancePlan{Name: "team", Instances: 1}, Period: "annual"}); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	outcomes := map[string]map[string]int{"activate": {}, "redeem": {}}
	record := func(what string, err error) {
		out := "ok"
		if err != nil {
			e := apiErr(t, err)
			out = fmt.Sprintf("%d %s", e.Status, e.Reason)
		}
		mu.Lock()
		outcomes[what][out]++
		mu.Unlock()
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		api := ls[i%2].API
		wg.Go(func() {
			<-start
			_, err := api.Activate(ctx, httpclient.ActivateRequest{LicenseKey: created.LicenseKey, ProductVersion: "2.4.0"})
			record("activate", err)
		})
		wg.Go(func() {
			<-start
			_, err := api.RedeemCoupon(ctx, "SPRING", fmt.Sprintf("S-R%d", i))
			record("redeem", err)
		})
	}
	close(start)
	wg.Wait()
	t.Logf("outcomes across two replicas: %v", outcomes)

	for _, c := range []struct {
		what, limitReason string
		limit             int
	}{
		{"activate", domain.ReasonInstanceTooMany, seats},
		{"redeem", domain.ReasonCouponExhausted, uses},
	} {
		if got := outcomes[c.what]["ok"]; got != c.limit {
			t.Errorf("%s: %d succeeded, want the limit %d (%v)", c.what, got, c.limit, outcomes[c.what])
		}
		for out, n := range outcomes[c.what] {
			switch out {
			case "ok", "409 " + c.limitReason, "409 " + domain.ReasonConcurrentUpdate:
			default:
				t.Errorf("%s: %d racers got %s", c.what, n, out)
			}
		}
	}
	for i, l := range ls {
		sub, err := l.API.GetSubscription(ctx, "S-1", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if sub.InstancesInUse != seats {
			t.Errorf("replica %d: %d instances in use, want %d", i+1, sub.InstancesInUse, seats)
		}
		cp, err := l.API.GetCoupon(ctx, "SPRING", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(cp.Redemptions) != uses {
			t.Errorf("replica %d: coupon redeemed %d times, want %d", i+1, len(cp.Redemptions), uses)
		}
	}
	verifyClean(t, ls[:]...)
}

// verifyClean asks each ledger for GET /v1/projections/verify once its
// projections have caught up with the log, and fails unless every table
// equals a rebuild (R32).
func verifyClean(t *testing.T, ls ...*testLedger) {
	t.Helper()
	for i, l := range ls {
		waitReady(t, l.API)
		var rep struct {
			Seq   uint64
			Clean bool
		}
		decode(t, rawHTTP(t, "GET", l.URL+"/v1/projections/verify", "", nil).want(t, 200), &rep)
		if !rep.Clean || rep.Seq == 0 {
			t.Errorf("replica %d: projections verify at %d: clean %v", i+1, rep.Seq, rep.Clean)
		}
	}
}

// A replica added to a running deployment starts its projections from
// the snapshot another replica stored, tails the log from the snapshot's
// sequence, and ends up answering byte for byte like the replica that
// has run from the start (R32), with projections verify clean.
func TestNewReplicaStartsFromSnapshot(t *testing.T) {
	t.Parallel()
	clock := eventstoretest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	c, ls := twoReplicas(t, clock)
	ctx := t.Context()
	for i := range 6 {
		if _, err := ls[i%2].API.RegisterPlatform(ctx, httpclient.RegisterRequest{ID: fmt.Sprintf("p-%d", i), Nodes: []string{"mn-1"}}); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, ls[0].API)
	seq, err := ls[0].Snapshot(ctx)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	// The second replica finds the first's snapshot as recent as its own
	// state and stores none of its own.
	waitReady(t, ls[1].API)
	if again, err := ls[1].Snapshot(ctx); err != nil || again != seq {
		t.Errorf("second replica's snapshot: at %d, %v; want the stored one at %d", again, err, seq)
	}
	// The log moves on after the snapshot.
	if _, err := ls[1].API.AddNode(ctx, "p-0", "mn-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := ls[0].API.RegisterPlatform(ctx, httpclient.RegisterRequest{ID: "p-late", Nodes: []string{"mn-1"}}); err != nil {
		t.Fatal(err)
	}

	fresh := mustRunMain(t, withClock(clock), withArgs("--nats", c.URL(), "--replicas", "3", "--ledger-key", ls[0].Config.LedgerKeyPath))
	if fresh.Restored != seq {
		t.Errorf("new replica's projections started at %d, want the snapshot's %d", fresh.Restored, seq)
	}
	waitReady(t, ls[0].API)
	for _, q := range []string{"/v1/platforms/p-0", "/v1/platforms/p-late", "/v1/platforms/p-3/timeline"} {
		want := rawHTTP(t, "GET", ls[0].URL+q, "", nil).want(t, 200)
		if got := rawHTTP(t, "GET", fresh.URL+q, "", nil).want(t, 200); string(got) != string(want) {
			t.Errorf("GET %s on the new replica:\n%s\nwant (the first replica's)\n%s", q, got, want)
		}
	}
	verifyClean(t, fresh)
}

func TestParseSnapshotEvery(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		flag, nats string
		want       time.Duration
		err        bool
	}{
		{"", "", 0, false},
		{"", "nats://n1:4222", DefaultSnapshotEvery, false},
		{"0", "nats://n1:4222", 0, false},
		{"30m", "", 30 * time.Minute, false},
		{"-1h", "", 0, true},
		{"hourly", "", 0, true},
	} {
		got, err := parseSnapshotEvery(c.flag, c.nats)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("--snapshot-every %q with --nats %q: %v, %v; want %v, error %v", c.flag, c.nats, got, err, c.want, c.err)
		}
	}
}
