package httpapi

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// twoProcesses returns two API servers on one JetStream stream, each with
// its own event store connection and state cache, like two licledger
// processes sharing a NATS server.
func twoProcesses(t *testing.T) (*licEnv, *licEnv) {
	t.Helper()
	url := eventstoretest.MustRunJetStream(t)
	a := newLicEnv(t, func(c *Config) {
		c.Store = eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url), eventstoretest.WithClock(c.Now))
	})
	a.store = a.api.cfg.Store
	b := newServerOn(t, a, eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url), eventstoretest.WithClock(a.clock.Now)))
	return a, b
}

// R26: instances racing for the last seats never over-allocate, whether
// they race inside one process (queued on the aggregate's lock) or across
// two (kept apart by the expected version alone: the loser of each race
// gets a conflict, re-reads and decides again).
func TestConcurrentActivationsNeverOverAllocate(t *testing.T) {
	t.Parallel()
	const limit, racers = 5, 40
	for _, processes := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d processes", processes), func(t *testing.T) {
			var servers []*licEnv
			if processes == 1 {
				servers = []*licEnv{newLicEnv(t)}
			} else {
				a, b := twoProcesses(t)
				servers = []*licEnv{a, b}
			}
			license := servers[0].subscription("S-1", limit, time.Hour)
			var wg sync.WaitGroup
			var mu sync.Mutex
			outcomes := map[string]int{}
			start := make(chan struct{})
			for i := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					r := servers[i%processes].call("POST", "/v1/instances/activate", clientToken, ActivateRequest{LicenseKey: license, ProductVersion: "2.4.0"})
					mu.Lock()
					outcomes[refusal(t, r)]++
					mu.Unlock()
				}()
			}
			close(start)
			wg.Wait()
			t.Logf("outcomes: %v", outcomes)
			if got, want := outcomes["201"], limit; got != want {
				t.Errorf("%d activations succeeded, want %d (outcomes %v)", got, want, outcomes)
			}
			for outcome, n := range outcomes {
				switch outcome {
				case "201", "409 conflict/too-many-instances", "409 conflict/concurrent-update":
				default:
					t.Errorf("%d racers got %s", n, outcome)
				}
			}
			if got, want := countType(servers[0].events("subscription/S-1"), domain.EventInstanceActivated), limit; got != want {
				t.Errorf("%d activations recorded, want %d", got, want)
			}
			for i, s := range servers {
				var doc domain.SubscriptionDoc
				decodeInto(t, s.admin(http.StatusOK, "GET", "/v1/subscriptions/S-1", nil).body, &doc)
				if got, want := doc.InstancesInUse, limit; got != want {
					t.Errorf("process %d: %d instances in use, want %d", i+1, got, want)
				}
			}
		})
	}
}

// The state cache never answers from a history another process has moved
// on from: every answer is validated against the aggregate's version in
// the store. R24 (a plan change reaches the next check) and R23 (a
// canceled subscription stops its instances) through another process.
func TestCacheFollowsOtherProcesses(t *testing.T) {
	t.Parallel()
	a, b := twoProcesses(t)
	license := a.subscription("S-1", 2, time.Hour)
	in := a.activate(license, "2.4.0")
	var reply domain.InstanceCheckReply
	decodeInto(t, a.checkIn(in, "").body, &reply) // cached in process a now
	if got, want := reply.Plan.Name, "team"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
	b.admin(http.StatusCreated, "PUT", "/v1/subscriptions/S-1/plan", PlanRequest{Plan: plan("business", 5)})
	decodeInto(t, a.checkIn(in, "").body, &reply)
	if got, want := reply.Plan.Name, "business"; got != want {
		t.Errorf("process a answers plan %s after process b changed it, want %s", got, want)
	}
	b.admin(http.StatusCreated, "POST", "/v1/subscriptions/S-1/cancel", nil)
	if got, want := refusal(t, a.checkIn(in, "")), "409 conflict/subscription-not-active"; got != want {
		t.Errorf("process a after process b canceled: %s, want %s", got, want)
	}
	// And the other way round: a's activations are seen by b's view.
	var doc domain.SubscriptionDoc
	decodeInto(t, b.admin(http.StatusOK, "GET", "/v1/subscriptions/S-1", nil).body, &doc)
	if got, want := len(doc.Instances), 1; got != want || doc.Status != "canceled" {
		t.Errorf("process b sees %d instances, status %s; want %d, canceled", got, doc.Status, want)
	}
}
