package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpapi"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// Tokens of the fleet's ledger.
const (
	fleetAdmin  = "fleet-admin-token-0123456789"
	fleetClient = "fleet-client-token-0123456789"
)

var fleetT0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

// fleetLedger is `licledger serve` (Main) on a data directory, with an
// admin and a client token.
type fleetLedger struct {
	t    *testing.T
	m    *Main
	base string
}

func startFleetLedger(t *testing.T, dir string, clock *eventstoretest.Clock) *fleetLedger {
	t.Helper()
	tokens, err := httpapi.ParseTokens([]byte("admin:" + fleetAdmin + ",client:" + fleetClient))
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain()
	m.Config.DataDir = dir
	m.Config.HTTPAddr = "127.0.0.1:0"
	m.Config.Tokens = tokens
	m.Config.Now = clock.Now
	m.Config.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatalf("Main.Run: %v", err)
	}
	l := &fleetLedger{t: t, m: m, base: "http://" + m.Addr()}
	t.Cleanup(func() { l.m.Close() })
	return l
}

// send makes one request and returns the status and body.
func (l *fleetLedger) send(token, method, path string, body any) (int, []byte) {
	l.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			l.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, l.base+path, rd)
	if err != nil {
		l.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		l.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (l *fleetLedger) admin(want int, method, path string, body any) []byte {
	l.t.Helper()
	status, b := l.send(fleetAdmin, method, path, body)
	if status != want {
		l.t.Fatalf("%s %s: %d, want %d: %s", method, path, status, want, b)
	}
	return b
}

// outcome is "200", "201" or "409 too-many-instances" and the like.
func outcome(t *testing.T, status int, body []byte) string {
	t.Helper()
	if status < 400 {
		return fmt.Sprint(status)
	}
	var e httpapi.ErrorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return fmt.Sprintf("%d %s", status, e.Error.Reason)
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

func (in *simInstance) activate(l *fleetLedger, license string) string {
	l.t.Helper()
	status, b := l.send(fleetClient, "POST", "/v1/instances/activate", map[string]string{"license_key": license, "product_version": "5.2.0"})
	if status == http.StatusCreated {
		var a httpapi.ActivateResponse
		if err := json.Unmarshal(b, &a); err != nil {
			l.t.Fatal(err)
		}
		in.id, in.secret, in.plan, in.running = a.InstanceID, a.Secret, a.Plan.Name, true
	}
	return outcome(l.t, status, b)
}

func (in *simInstance) check(l *fleetLedger, license string) string {
	l.t.Helper()
	status, b := l.send(fleetClient, "POST", "/v1/instances/"+in.id+"/check",
		map[string]string{"license_key": license, "secret": in.secret, "product_version": "5.2.0"})
	if status == http.StatusOK {
		var r domain.InstanceCheckReply
		if err := json.Unmarshal(b, &r); err != nil {
			l.t.Fatal(err)
		}
		in.plan = r.Plan.Name
	} else {
		in.running = false
	}
	return outcome(l.t, status, b)
}

// A simulated fleet against the real server (Main: embedded JetStream,
// SQLite projections, HTTP with tokens) on a fake clock: instances
// activate up to the limit (R26), check in every 5 minutes (R27), get a
// plan change on their next check (R24), one loses its lease and another
// takes the freed seat (R27), and everything survives a restart with the
// same answers (R32) and a bounded log (design: check-in growth).
func TestFleetEndToEnd(t *testing.T) {
	dir := t.TempDir()
	clock := eventstoretest.NewClock(fleetT0)
	l := startFleetLedger(t, dir, clock)
	license := licenseKeyOf(t, l.admin(http.StatusCreated, "POST", "/v1/subscriptions", map[string]any{"id": "S-FLEET", "customer": "acme",
		"plan": map[string]any{"name": "team", "instances": 3}, "period": "annual", "lease_seconds": 3600}))

	fleet := make([]*simInstance, 5)
	for i := range fleet {
		fleet[i] = &simInstance{name: fmt.Sprintf("node-%d", i+1)}
	}
	// R26: three seats, five instances.
	var got []string
	for _, in := range fleet {
		got = append(got, in.activate(l, license))
	}
	if want := "201,201,201,409 too-many-instances,409 too-many-instances"; strings.Join(got, ",") != want {
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
			l.admin(http.StatusCreated, "PUT", "/v1/subscriptions/S-FLEET/plan", map[string]any{"plan": map[string]any{"name": "business", "instances": 4}})
		case 18: // 1h30: node-1 crashes and stops checking in
			fleet[0].running = false
		}
		for _, in := range fleet {
			switch {
			case in.running:
				if got := in.check(l, license); got != "200" {
					t.Fatalf("+%v %s check: %s", now.Sub(fleetT0), in.name, got)
				}
				lastCheck[in.name] = now
				if tick == 12 && in.plan == "business" {
					upgradedSeenBy = append(upgradedSeenBy, in.name)
				}
			case in != fleet[0]: // a waiting instance retries its activation
				switch got := in.activate(l, license); got {
				case "201":
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
	if got, want := fleet[0].check(l, license), "409 seat-released"; got != want {
		t.Errorf("node-1 back: %s, want %s", got, want)
	}
	if got, want := fleet[0].activate(l, license), "409 too-many-instances"; got != want {
		t.Errorf("node-1 re-activating: %s, want %s", got, want)
	}

	// Bounded growth: 1 created + 1 plan change + 5 activations + at most
	// one check-in per instance per lease/4 of running time.
	view := l.admin(http.StatusOK, "GET", "/v1/subscriptions/S-FLEET", nil)
	var doc domain.SubscriptionDoc
	if err := json.Unmarshal(view, &doc); err != nil {
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
	if err := l.m.Close(); err != nil {
		t.Fatal(err)
	}
	l = startFleetLedger(t, dir, clock)
	if after := l.admin(http.StatusOK, "GET", "/v1/subscriptions/S-FLEET", nil); !bytes.Equal(after, view) {
		t.Errorf("view after restart:\n%s\nbefore:\n%s", after, view)
	}
	for _, in := range fleet[1:] {
		if got := in.check(l, license); got != "200" {
			t.Errorf("%s after restart: %s", in.name, got)
		}
	}
}
