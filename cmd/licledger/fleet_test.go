package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// Tokens of the fleet's ledger.
const (
	fleetAdmin  = "fleet-admin-token-0123456789"
	fleetClient = "fleet-client-token-0123456789"
)

var fleetT0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

// fleetServe is how the fleet's ledger serves: on clock, with an admin
// and a client token.
func fleetServe(clock *eventstoretest.Clock) []mainOption {
	return []mainOption{withClock(clock), withToken("admin", fleetAdmin), withToken("client", fleetClient)}
}

// outcome is "ok" or the refusal: "409 too-many-instances" and the like.
func outcome(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return "ok"
	}
	e := apiErr(t, err)
	return fmt.Sprintf("%d %s", e.Status, e.Reason)
}

// simInstance is one simulated product instance: it activates, keeps its
// id and secret, and checks in while it runs.
type simInstance struct {
	name    string
	id      string
	secret  string
	plan    string
	running bool
}

func (in *simInstance) activate(t *testing.T, c *httpclient.Client, license string) string {
	t.Helper()
	a, err := c.Activate(t.Context(), httpclient.ActivateRequest{LicenseKey: license, ProductVersion: "5.2.0"})
	if err == nil {
		in.id, in.secret, in.plan, in.running = a.InstanceID, a.Secret, a.Plan.Name, true
	}
	return outcome(t, err)
}

func (in *simInstance) check(t *testing.T, c *httpclient.Client, license string) string {
	t.Helper()
	r, err := c.Check(t.Context(), in.id, httpclient.CheckRequest{LicenseKey: license, Secret: in.secret, ProductVersion: "5.2.0"})
	if err == nil {
		in.plan = r.Plan.Name
	} else {
		in.running = false
	}
	return outcome(t, err)
}

// A simulated fleet against the real server (Main: embedded JetStream,
// SQLite projections, HTTP with tokens) on a fake clock: instances
// activate up to the limit (R26), check in every 5 minutes (R27), get a
// plan change on their next check (R24), one loses its lease and another
// takes the freed seat (R27), and everything survives a restart with the
// same answers (R32) and a bounded log (design: check-in growth).
func TestFleetEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := eventstoretest.NewClock(fleetT0)
	l := mustRunMain(t, fleetServe(clock)...)
	c := l.client(t, fleetClient)
	created, err := l.API.CreateSubscription(ctx, httpclient.SubscriptionRequest{ID: "S-FLEET", Customer: "acme",
		Plan: httpclient.InstancePlan{Name: "team", Instances: 3}, Period: "annual", LeaseSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	license := created.LicenseKey

	fleet := make([]*simInstance, 5)
	for i := range fleet {
		fleet[i] = &simInstance{name: fmt.Sprintf("node-%d", i+1)}
	}
	// R26: three seats, five instances.
	var got []string
	for _, in := range fleet {
		got = append(got, in.activate(t, c, license))
	}
	if want := "ok,ok,ok,409 too-many-instances,409 too-many-instances"; strings.Join(got, ",") != want {
		t.Fatalf("activations: %s, want %s", strings.Join(got, ","), want)
	}

	// Every 5 simulated minutes for 4 hours, every running instance checks
	// in and every waiting one tries to activate.
	var upgradedSeenBy []string
	lastCheck := map[string]time.Time{}
	activatedAt := map[string]time.Time{}
	for tick := 1; tick <= 48; tick++ {
		now := fleetT0.Add(time.Duration(tick) * 5 * time.Minute)
		clock.Set(now)
		switch tick {
		case 12: // 1h: the admin upgrades to 4 instances (R24, R25)
			if res, err := l.API.ChangePlan(ctx, "S-FLEET", httpclient.InstancePlan{Name: "business", Instances: 4}); err != nil || len(res.Events) != 1 {
				t.Fatalf("plan change: %v %+v, want one event", err, res)
			}
		case 18: // 1h30: node-1 crashes and stops checking in
			fleet[0].running = false
		}
		for _, in := range fleet {
			switch {
			case in.running:
				if got := in.check(t, c, license); got != "ok" {
					t.Fatalf("+%v %s check: %s", now.Sub(fleetT0), in.name, got)
				}
				lastCheck[in.name] = now
				if tick == 12 && in.plan == "business" {
					upgradedSeenBy = append(upgradedSeenBy, in.name)
				}
			case in != fleet[0]: // a waiting instance retries its activation
				switch got := in.activate(t, c, license); got {
				case "ok":
					activatedAt[in.name] = now
				case "409 too-many-instances":
				default:
					t.Fatalf("+%v %s activate: %s", now.Sub(fleetT0), in.name, got)
				}
			}
		}
	}
	// R24: the upgrade reached every running instance on its next check.
	if got, want := strings.Join(upgradedSeenBy, ","), "node-1,node-2,node-3"; got != want {
		t.Errorf("instances that saw the upgrade at once: %s, want %s", got, want)
	}
	// R25: node-4 got the added seat on the tick of the upgrade.
	if got, want := activatedAt["node-4"], fleetT0.Add(time.Hour); !got.Equal(want) {
		t.Errorf("node-4 got the fourth seat at +%v, want +1h", got.Sub(fleetT0))
	}
	// R27: node-5 got node-1's seat only after node-1's lease lapsed: not
	// before a full lease after node-1's last check, and at most lease/4
	// (recording slack) plus one tick later.
	crash, takenAt := lastCheck["node-1"], activatedAt["node-5"]
	if takenAt.IsZero() || takenAt.Before(crash.Add(time.Hour)) || takenAt.After(crash.Add(time.Hour+15*time.Minute+5*time.Minute)) {
		t.Errorf("node-5 took the seat at +%v; node-1 last checked in at +%v with a 1h lease", takenAt.Sub(fleetT0), crash.Sub(fleetT0))
	}
	// node-1 comes back: its seat is gone, and every seat is taken.
	if got, want := fleet[0].check(t, c, license), "409 seat-released"; got != want {
		t.Errorf("node-1 back: %s, want %s", got, want)
	}
	if got, want := fleet[0].activate(t, c, license), "409 too-many-instances"; got != want {
		t.Errorf("node-1 re-activating: %s, want %s", got, want)
	}

	// Bounded growth: 1 created + 1 plan change + 5 activations + at most
	// one check-in per instance per lease/4 of running time.
	doc, err := l.API.GetSubscription(ctx, "S-FLEET", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	checkIns := int(doc.Version) - 2 - 5
	if bound := 4 * 4 * 4; checkIns > bound || checkIns < 1 {
		t.Errorf("%d check-ins recorded for ~180 checks over 4h (lease 1h); want 1..%d", checkIns, bound)
	}
	if got, want := doc.InstancesInUse, 4; got != want {
		t.Errorf("%d instances in use, want %d", got, want)
	}

	// Restart on the same data: the same answers from the log alone (R32),
	// and the running instances keep their seats with the same secrets.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustRunMain(t, append(fleetServe(clock), withDataDir(l.Dir))...)
	c = l.client(t, fleetClient)
	if after, err := l.API.GetSubscription(ctx, "S-FLEET", time.Time{}); err != nil || !reflect.DeepEqual(after, doc) {
		t.Errorf("view after restart (%v):\n%+v\nbefore:\n%+v", err, after, doc)
	}
	for _, in := range fleet[1:] {
		if got := in.check(t, c, license); got != "ok" {
			t.Errorf("%s after restart: %s", in.name, got)
		}
	}
}
