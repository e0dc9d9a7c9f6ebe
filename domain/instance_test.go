package domain

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// R26: activation with license key (the aggregate) and product version
// replies with the instance id, the plan and the seat; the log keeps only
// the secret's hash; a retry is harmless; beyond the limit it is refused.
func TestInstanceActivate(t *testing.T) {
	s := srvNewSub(t, 2)
	now := srvT0.Add(time.Minute)
	cmd := InstanceActivate{InstanceID: "i-1", Secret: "a-very-secret-token-1", Version: "3.6.0"}
	reply, events, err := SubscriptionActivate(s, cmd, now)
	if err != nil {
		t.Fatal(err)
	}
	want := InstanceCheckReply{
		License: "subscription/S-1", Instance: "i-1", Status: SubscriptionStatusActive,
		Plan: s.Plan, InstanceLimit: 2, Version: "3.6.0", PeriodEnd: "2026-02-28T09:00:00Z",
		LeaseSeconds: 86400, SeatExpiresAt: "2026-02-01T15:01:00Z", // lease + lease/4
	}
	if reply != want {
		t.Fatalf("reply\n got %+v\nwant %+v", reply, want)
	}
	if len(events) != 1 || events[0].Type != EventInstanceActivated {
		t.Fatalf("events = %v", srvTypes(events))
	}
	if strings.Contains(string(events[0].Data), cmd.Secret) {
		t.Fatalf("the secret reached the log: %s", events[0].Data)
	}
	var d InstanceActivated
	if err := json.Unmarshal(events[0].Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.SecretSHA256 != HashSecret(cmd.Secret) || d.Instance != "i-1" || d.Version != "3.6.0" {
		t.Fatalf("activated data = %+v", d)
	}
	srvSubDo(t, s, cmd, now)

	t.Run("retry is idempotent", func(t *testing.T) {
		again, events, err := SubscriptionActivate(s, cmd, now.Add(time.Second))
		if err != nil || len(events) != 0 || again != reply {
			t.Fatalf("retry: %v, %v, %+v", err, srvTypes(events), again)
		}
	})

	tests := []struct {
		name         string
		cmd          InstanceActivate
		at           time.Time
		code, reason string
	}{
		{"reused id, other secret", InstanceActivate{InstanceID: "i-1", Secret: "another-secret-token", Version: "3.6.0"}, now, ECONFLICT, ReasonInstanceExists},
		{"short secret", InstanceActivate{InstanceID: "i-2", Secret: "short", Version: "3.6.0"}, now, EINVALID, ""},
		{"bad instance id", InstanceActivate{InstanceID: "i 2", Secret: srvSecret, Version: "3.6.0"}, now, EINVALID, ReasonInvalidID},
		{"no version", InstanceActivate{InstanceID: "i-2", Secret: srvSecret}, now, EINVALID, ReasonInvalidVersion},
		{"expired subscription", srvActivate("i-2"), s.PeriodEnd, ECONFLICT, ReasonSubscriptionNotActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecideSubscription(s, tt.cmd, tt.at)
			srvWantRefusal(t, err, tt.code, tt.reason)
		})
	}

	t.Run("beyond the limit", func(t *testing.T) {
		c := s.Clone()
		srvSubDo(t, c, srvActivate("i-2"), now)
		_, err := DecideSubscription(c, srvActivate("i-3"), now)
		srvWantRefusal(t, err, ECONFLICT, ReasonInstanceTooMany)
	})
	t.Run("canceled subscription", func(t *testing.T) {
		c := s.Clone()
		srvSubDo(t, c, SubscriptionCancel{}, now)
		_, err := DecideSubscription(c, srvActivate("i-2"), now)
		srvWantRefusal(t, err, ECONFLICT, ReasonSubscriptionNotActive)
	})
}

// R27: a check succeeds while the subscription is valid and the instance
// holds its seat; each refusal has its reason.
func TestInstanceCheckRefusals(t *testing.T) {
	base := srvNewSub(t, 2)
	srvSubDo(t, base, srvActivate("i-1"), srvT0.Add(time.Minute))
	srvSubDo(t, base, srvActivate("i-2"), srvT0.Add(2*time.Minute))
	lapse := srvT0.Add(time.Minute + base.Lease + base.Lease/InstanceCheckInRecordDivisor)

	// A history holding more leases than its limit cannot be decided, but
	// events are facts and may come from elsewhere (an older writer, an
	// import): the oldest seats keep working.
	overfull := base.Clone()
	over, _ := NewEvent("subscription/S-1", EventSubscriptionPlanChanged, SubscriptionPlanChanged{Plan: InstancePlan{Name: "solo", Instances: 1}})
	if err := EvolveSubscription(overfull, srvStamp([]Event{over}, srvT0.Add(3*time.Minute))[0]); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name         string
		state        func(t *testing.T) *SubscriptionState
		cmd          InstanceCheckIn
		at           time.Time
		code, reason string
	}{
		{"holds its seat", nil, srvCheck("i-1"), srvT0.Add(time.Hour), "", ""},
		{"unknown instance", nil, srvCheck("i-9"), srvT0.Add(time.Hour), ENOTFOUND, ReasonInstanceUnknown},
		{"bad secret", nil, InstanceCheckIn{InstanceID: "i-1", Secret: srvSecret + "i-2"}, srvT0.Add(time.Hour), EUNAUTHORIZED, ReasonInstanceBadSecret},
		{"no secret", nil, InstanceCheckIn{InstanceID: "i-1"}, srvT0.Add(time.Hour), EUNAUTHORIZED, ReasonInstanceBadSecret},
		{"expired subscription", nil, srvCheck("i-1"), base.PeriodEnd, ECONFLICT, ReasonSubscriptionNotActive},
		{"past due still works", func(t *testing.T) *SubscriptionState {
			c := base.Clone()
			srvSubDo(t, c, SubscriptionMarkPastDue{}, srvT0.Add(time.Hour))
			return c
		}, srvCheck("i-1"), srvT0.Add(2 * time.Hour), "", ""},
		{"canceled subscription", func(t *testing.T) *SubscriptionState {
			c := base.Clone()
			srvSubDo(t, c, SubscriptionCancel{}, srvT0.Add(time.Hour))
			return c
		}, srvCheck("i-1"), srvT0.Add(2 * time.Hour), ECONFLICT, ReasonSubscriptionNotActive},
		{"lease lapsed", nil, srvCheck("i-1"), lapse, ECONFLICT, ReasonInstanceSeatReleased},
		{"just before the lease lapses", nil, srvCheck("i-1"), lapse.Add(-time.Nanosecond), "", ""},
		{"deactivated", func(t *testing.T) *SubscriptionState {
			c := base.Clone()
			srvSubDo(t, c, InstanceDeactivate{InstanceID: "i-1", ByAdmin: true}, srvT0.Add(time.Hour))
			return c
		}, srvCheck("i-1"), srvT0.Add(2 * time.Hour), ECONFLICT, ReasonInstanceSeatReleased},
		{"over the limit: oldest keeps its seat", func(*testing.T) *SubscriptionState { return overfull }, srvCheck("i-1"), srvT0.Add(time.Hour), "", ""},
		{"over the limit: newest is refused", func(*testing.T) *SubscriptionState { return overfull }, srvCheck("i-2"), srvT0.Add(time.Hour), ECONFLICT, ReasonInstanceTooMany},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			if tt.state != nil {
				s = tt.state(t)
			}
			reply, _, err := SubscriptionCheck(s, tt.cmd, tt.at)
			if tt.code != "" {
				srvWantRefusal(t, err, tt.code, tt.reason)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if reply.Plan != s.Plan || reply.Instance != tt.cmd.InstanceID {
				t.Fatalf("reply = %+v", reply)
			}
		})
	}
}

// R27 and the design's log-growth bound: however often an instance checks
// in, at most InstanceCheckInRecordDivisor check-ins are recorded per lease
// period, and a client that checks at least once per lease never loses its
// seat — the seat is never released sooner than a lease after the last
// real check-in.
func TestInstanceCheckInLogGrowth(t *testing.T) {
	for _, every := range []time.Duration{30 * time.Second, 5 * time.Minute, time.Hour, 7 * time.Hour, 23 * time.Hour} {
		s := srvNewSub(t, 1)
		start := srvT0.Add(time.Minute)
		srvSubDo(t, s, srvActivate("i-1"), start)
		days := 3
		recorded := 0
		for now := start.Add(every); now.Before(start.Add(time.Duration(days) * 24 * time.Hour)); now = now.Add(every) {
			recorded += len(srvSubDo(t, s, srvCheck("i-1"), now))
		}
		if limit := days * InstanceCheckInRecordDivisor; recorded > limit {
			t.Errorf("checking every %v for %d days recorded %d check-ins, bound %d", every, days, recorded, limit)
		}
		if every <= s.Lease/InstanceCheckInRecordDivisor && recorded < days*InstanceCheckInRecordDivisor-1 {
			t.Errorf("checking every %v recorded only %d check-ins in %d days; the lease would lapse", every, recorded, days)
		}
	}

	// Random gaps up to one lease: every check succeeds.
	rng := rand.New(rand.NewPCG(3, 4))
	s := srvNewSub(t, 1)
	srvSubDo(t, s, SubscriptionChangePlan{Plan: InstancePlan{Name: "p", Instances: 1}}, srvT0)
	now := srvT0
	srvSubDo(t, s, srvActivate("i-1"), now)
	for i := 0; i < 500; i++ {
		now = now.Add(time.Duration(1 + rng.Int64N(int64(s.Lease))))
		if !now.Before(s.PeriodEnd.Add(-s.Lease)) {
			srvSubDo(t, s, SubscriptionRenew{}, now) // gaps ≤ lease: still before the period end
		}
		if _, _, err := SubscriptionCheck(s, srvCheck("i-1"), now); err != nil {
			t.Fatalf("check %d, at most a lease after the previous one: %v", i, err)
		}
		srvSubDo(t, s, srvCheck("i-1"), now)
	}
}

// R27: a check that reports a new product version is recorded at once.
func TestInstanceCheckInNewVersion(t *testing.T) {
	s := srvNewSub(t, 1)
	srvSubDo(t, s, srvActivate("i-1"), srvT0.Add(time.Minute))
	c := srvCheck("i-1")
	c.Version = "3.7.0"
	events := srvSubDo(t, s, c, srvT0.Add(2*time.Minute))
	if len(events) != 1 {
		t.Fatalf("version change recorded %v, want one check-in", srvTypes(events))
	}
	if in, _ := s.Instances.Find("i-1"); in.Version != "3.7.0" {
		t.Fatalf("version = %q after check-in", in.Version)
	}
	if events := srvSubDo(t, s, c, srvT0.Add(3*time.Minute)); len(events) != 0 {
		t.Fatalf("same version again recorded %v", srvTypes(events))
	}
}

// R25: deactivation frees a seat at once; a client must prove its secret.
func TestInstanceDeactivate(t *testing.T) {
	s := srvNewSub(t, 1)
	srvSubDo(t, s, srvActivate("i-1"), srvT0.Add(time.Minute))
	tests := []struct {
		name         string
		cmd          InstanceDeactivate
		code, reason string
	}{
		{"bad secret", InstanceDeactivate{InstanceID: "i-1", Secret: "nope"}, EUNAUTHORIZED, ReasonInstanceBadSecret},
		{"unknown", InstanceDeactivate{InstanceID: "i-7", ByAdmin: true}, ENOTFOUND, ReasonInstanceUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecideSubscription(s, tt.cmd, srvT0.Add(time.Hour))
			srvWantRefusal(t, err, tt.code, tt.reason)
		})
	}
	events := srvSubDo(t, s, InstanceDeactivate{InstanceID: "i-1", Secret: srvSecret + "i-1"}, srvT0.Add(time.Hour))
	var d InstanceDeactivated
	if err := json.Unmarshal(events[0].Data, &d); err != nil || d.By != "client" {
		t.Fatalf("deactivated data = %s (%v)", events[0].Data, err)
	}
	if got := len(s.Instances.Held(srvT0.Add(time.Hour), s.Lease)); got != 0 {
		t.Fatalf("held after deactivation = %d", got)
	}
	if events := srvSubDo(t, s, InstanceDeactivate{InstanceID: "i-1", ByAdmin: true}, srvT0.Add(2*time.Hour)); len(events) != 0 {
		t.Fatalf("second deactivation recorded %v", srvTypes(events))
	}
}
