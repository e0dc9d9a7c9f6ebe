package domain

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// R23: a subscription has a plan, a period and a period end; create
// validates them and computes the end from the period.
func TestSubscriptionCreate(t *testing.T) {
	plan := InstancePlan{Name: "startup", Instances: 2, Devices: 100, Assets: 100}
	tests := []struct {
		name          string
		cmd           SubscriptionCreate
		wantCode      string
		wantPeriodEnd time.Time
		wantLease     int64
		wantInstances int
	}{
		{"monthly clamps to February's end", SubscriptionCreate{ID: "S-1", Plan: plan, Period: SubscriptionMonthly},
			"", time.Date(2026, 2, 28, 9, 0, 0, 0, time.UTC), 86400, 2},
		{"annual", SubscriptionCreate{ID: "S-1", Plan: plan, Period: SubscriptionAnnual, Lease: 2 * time.Hour},
			"", time.Date(2027, 1, 31, 9, 0, 0, 0, time.UTC), 7200, 2},
		{"plan without instances covers one (R25)", SubscriptionCreate{ID: "S-1", Plan: InstancePlan{Name: "p"}, Period: SubscriptionMonthly},
			"", time.Date(2026, 2, 28, 9, 0, 0, 0, time.UTC), 86400, 1},
		{"bad id", SubscriptionCreate{ID: "S.1", Plan: plan, Period: SubscriptionMonthly}, EINVALID, time.Time{}, 0, 0},
		{"bad period", SubscriptionCreate{ID: "S-1", Plan: plan, Period: "weekly"}, EINVALID, time.Time{}, 0, 0},
		{"no plan name", SubscriptionCreate{ID: "S-1", Plan: InstancePlan{Instances: 1}, Period: SubscriptionMonthly}, EINVALID, time.Time{}, 0, 0},
		{"negative limit", SubscriptionCreate{ID: "S-1", Plan: InstancePlan{Name: "p", Devices: -1}, Period: SubscriptionMonthly}, EINVALID, time.Time{}, 0, 0},
		{"lease too short", SubscriptionCreate{ID: "S-1", Plan: plan, Period: SubscriptionMonthly, Lease: time.Second}, EINVALID, time.Time{}, 0, 0},
		{"lease not whole seconds", SubscriptionCreate{ID: "S-1", Plan: plan, Period: SubscriptionMonthly, Lease: time.Hour + 1}, EINVALID, time.Time{}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := DecideSubscription(&SubscriptionState{}, tt.cmd, srvT0)
			if got := ErrorCode(err); got != tt.wantCode {
				t.Fatalf("code = %q, want %q (%v)", got, tt.wantCode, err)
			}
			if tt.wantCode != "" {
				return
			}
			if got, want := srvTypes(events), []string{EventSubscriptionCreated}; !slices.Equal(got, want) {
				t.Fatalf("events = %v, want %v", got, want)
			}
			if got, want := events[0].Subject, "subscription/S-1"; got != want {
				t.Errorf("subject = %q, want %q", got, want)
			}
			var d SubscriptionCreated
			if err := json.Unmarshal(events[0].Data, &d); err != nil {
				t.Fatal(err)
			}
			if !d.PeriodStart.Equal(srvT0) || !d.PeriodEnd.Equal(tt.wantPeriodEnd) {
				t.Errorf("period = %s..%s, want %s..%s", d.PeriodStart, d.PeriodEnd, srvT0, tt.wantPeriodEnd)
			}
			if got, want := d.LeaseSeconds, tt.wantLease; got != want {
				t.Errorf("lease = %d, want %d", got, want)
			}
			if got, want := d.Plan.Instances, tt.wantInstances; got != want {
				t.Errorf("plan instances = %d, want %d", got, want)
			}
		})
	}

	t.Run("twice", func(t *testing.T) {
		s := srvNewSub(t, 1)
		_, err := DecideSubscription(s, SubscriptionCreate{ID: "S-1", Plan: plan, Period: SubscriptionMonthly}, srvT0)
		srvWantRefusal(t, err, ECONFLICT, ReasonSubscriptionExists)
	})
	t.Run("command before create", func(t *testing.T) {
		_, err := DecideSubscription(&SubscriptionState{}, SubscriptionRenew{}, srvT0)
		srvWantRefusal(t, err, ENOTFOUND, ReasonSubscriptionUnknown)
	})
}

// R23: status is active, past_due, canceled or expired; expired is derived
// from the period end and the instant asked about.
func TestSubscriptionStatus(t *testing.T) {
	end := time.Date(2026, 2, 28, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		steps []SubscriptionCommand // decided one hour apart from srvT0 + 1h
		at    time.Time
		want  string
	}{
		{"new", nil, srvT0, SubscriptionStatusActive},
		{"just before period end", nil, end.Add(-time.Nanosecond), SubscriptionStatusActive},
		{"at period end", nil, end, SubscriptionStatusExpired},
		{"past due", []SubscriptionCommand{SubscriptionMarkPastDue{}}, srvT0.Add(2 * time.Hour), SubscriptionStatusPastDue},
		{"past due then expired", []SubscriptionCommand{SubscriptionMarkPastDue{}}, end, SubscriptionStatusExpired},
		{"renewal clears past due", []SubscriptionCommand{SubscriptionMarkPastDue{}, SubscriptionRenew{}}, end, SubscriptionStatusActive},
		{"canceled", []SubscriptionCommand{SubscriptionCancel{}}, srvT0.Add(2 * time.Hour), SubscriptionStatusCanceled},
		{"canceled wins over expired", []SubscriptionCommand{SubscriptionCancel{}}, end.AddDate(1, 0, 0), SubscriptionStatusCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := srvNewSub(t, 1)
			for i, c := range tt.steps {
				srvSubDo(t, s, c, srvT0.Add(time.Duration(i+1)*time.Hour))
			}
			if got := s.Status(tt.at); got != tt.want {
				t.Fatalf("Status(%s) = %q, want %q", srvTimeText(tt.at), got, tt.want)
			}
		})
	}
}

// R23: renewal extends the period end by one period, keeping the anchor
// day; an expired subscription restarts at the renewal; a canceled one
// cannot be renewed.
func TestSubscriptionRenew(t *testing.T) {
	s := srvNewSub(t, 1)
	wants := []time.Time{
		time.Date(2026, 3, 31, 9, 0, 0, 0, time.UTC), // not Mar 28: counted from Jan 31
		time.Date(2026, 4, 30, 9, 0, 0, 0, time.UTC),
		time.Date(2026, 5, 31, 9, 0, 0, 0, time.UTC),
	}
	for i, want := range wants {
		prevEnd := s.PeriodEnd
		srvSubDo(t, s, SubscriptionRenew{Reference: "inv"}, srvT0.Add(time.Duration(i+1)*time.Hour))
		if !s.PeriodStart.Equal(prevEnd) || !s.PeriodEnd.Equal(want) {
			t.Fatalf("renewal %d: period %s..%s, want %s..%s", i+1, srvTimeText(s.PeriodStart), srvTimeText(s.PeriodEnd), srvTimeText(prevEnd), srvTimeText(want))
		}
	}

	lapsed := time.Date(2026, 7, 10, 12, 0, 0, 0, time.UTC)
	if got, want := s.Status(lapsed), SubscriptionStatusExpired; got != want {
		t.Fatalf("status = %q, want %q", got, want)
	}
	srvSubDo(t, s, SubscriptionRenew{}, lapsed)
	if !s.PeriodStart.Equal(lapsed) || !s.PeriodEnd.Equal(time.Date(2026, 8, 10, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("renewal after expiry: period %s..%s, want a fresh month from %s", srvTimeText(s.PeriodStart), srvTimeText(s.PeriodEnd), srvTimeText(lapsed))
	}

	srvSubDo(t, s, SubscriptionCancel{Reason: "customer left"}, lapsed.Add(time.Hour))
	_, err := DecideSubscription(s, SubscriptionRenew{}, lapsed.Add(2*time.Hour))
	srvWantRefusal(t, err, ECONFLICT, ReasonSubscriptionNotActive)
	if events := srvSubDo(t, s, SubscriptionCancel{}, lapsed.Add(3*time.Hour)); len(events) != 0 {
		t.Errorf("second cancel = %v, want no events", srvTypes(events))
	}
}

// R24: upgrades and downgrades take effect at once; the next check returns
// the new plan; a downgrade below the instances in use is refused.
func TestSubscriptionChangePlan(t *testing.T) {
	small := InstancePlan{Name: "startup", Instances: 1, Devices: 10, Assets: 10}
	big := InstancePlan{Name: "business", Instances: 3, Devices: 1000, Assets: 1000}

	s := srvNewSub(t, 1)
	srvSubDo(t, s, srvActivate("i-1"), srvT0.Add(time.Minute))
	srvSubDo(t, s, SubscriptionChangePlan{Plan: big}, srvT0.Add(time.Hour)) // upgrade
	reply, events, err := SubscriptionCheck(s, srvCheck("i-1"), srvT0.Add(time.Hour+time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reply.Plan, big; got != want {
		t.Fatalf("check after upgrade: plan %+v, want %+v (no restart, no reactivation)", got, want)
	}
	if len(events) != 0 {
		t.Errorf("check an hour after activation recorded %v; want nothing", srvTypes(events))
	}
	srvSubDo(t, s, srvActivate("i-2"), srvT0.Add(2*time.Hour))
	srvSubDo(t, s, srvActivate("i-3"), srvT0.Add(2*time.Hour))

	tests := []struct {
		name       string
		plan       InstancePlan
		added      int
		at         time.Time
		wantReason string // "" = accepted
	}{
		{"downgrade below seats held", small, 0, srvT0.Add(3 * time.Hour), ReasonSubscriptionBelowInUse},
		{"downgrade covered by added instances", small, 2, srvT0.Add(3 * time.Hour), ""},
		{"downgrade once leases lapsed", small, 0, srvT0.Add(2*time.Hour + 30*time.Hour), ""},
		{"same plan is a no-op", big, 0, srvT0.Add(3 * time.Hour), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := s.Clone()
			if tt.added > 0 {
				srvSubDo(t, c, SubscriptionAddInstances{Count: tt.added}, tt.at.Add(-time.Minute))
			}
			events, err := DecideSubscription(c, SubscriptionChangePlan{Plan: tt.plan}, tt.at)
			if tt.wantReason != "" {
				srvWantRefusal(t, err, ECONFLICT, tt.wantReason)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.plan == c.Plan {
				if len(events) != 0 {
					t.Fatalf("unchanged plan recorded %v", srvTypes(events))
				}
				return
			}
			var d SubscriptionPlanChanged
			if err := json.Unmarshal(events[0].Data, &d); err != nil {
				t.Fatal(err)
			}
			if d.Plan != tt.plan || d.Previous != big || d.InstanceLimit != tt.plan.Instances+tt.added {
				t.Fatalf("plan_changed = %+v", d)
			}
		})
	}

	t.Run("expired subscription", func(t *testing.T) {
		_, err := DecideSubscription(s, SubscriptionChangePlan{Plan: small}, s.PeriodEnd)
		srvWantRefusal(t, err, ECONFLICT, ReasonSubscriptionNotActive)
	})
}

// R25: one instance by default, more can be added, and the limit is on
// instances holding a seat at the same time (floating).
func TestSubscriptionInstancesFloat(t *testing.T) {
	s := srvNewSub(t, 0)
	if got, want := s.InstanceLimit(), 1; got != want {
		t.Fatalf("default limit = %d, want %d", got, want)
	}
	srvSubDo(t, s, srvActivate("i-1"), srvT0.Add(time.Minute))
	_, err := DecideSubscription(s, srvActivate("i-2"), srvT0.Add(2*time.Minute))
	srvWantRefusal(t, err, ECONFLICT, ReasonInstanceTooMany)

	events := srvSubDo(t, s, SubscriptionAddInstances{Count: 2}, srvT0.Add(3*time.Minute))
	var d SubscriptionInstancesAdded
	if err := json.Unmarshal(events[0].Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.Count != 2 || d.InstanceLimit != 3 {
		t.Fatalf("instances_added = %+v, want count 2, limit 3", d)
	}
	srvSubDo(t, s, srvActivate("i-2"), srvT0.Add(4*time.Minute))
	srvSubDo(t, s, srvActivate("i-3"), srvT0.Add(4*time.Minute))
	_, err = DecideSubscription(s, srvActivate("i-4"), srvT0.Add(5*time.Minute))
	srvWantRefusal(t, err, ECONFLICT, ReasonInstanceTooMany)

	// Floating: a seat freed by deactivation is reusable at once, by any
	// instance on any machine.
	srvSubDo(t, s, InstanceDeactivate{InstanceID: "i-1", Secret: srvSecret + "i-1"}, srvT0.Add(6*time.Minute))
	srvSubDo(t, s, srvActivate("i-4"), srvT0.Add(7*time.Minute))

	// Floating: a lapsed lease frees its seat without any event.
	later := srvT0.Add(4*time.Minute + s.Lease + s.Lease/InstanceCheckInRecordDivisor)
	srvSubDo(t, s, srvCheck("i-4"), later.Add(-time.Hour))
	srvSubDo(t, s, srvActivate("i-5"), later)
	srvSubDo(t, s, srvActivate("i-6"), later)
	if got, want := len(s.Instances.Held(later, s.Lease)), 3; got != want {
		t.Fatalf("held = %d, want %d", got, want)
	}

	for _, bad := range []int{0, -1, 10001} {
		_, err := DecideSubscription(s, SubscriptionAddInstances{Count: bad}, later)
		if got, want := ErrorCode(err), EINVALID; got != want {
			t.Errorf("add %d: code %q, want %q", bad, got, want)
		}
	}
}

// EvolveSubscription refuses malformed histories and leaves the state as it
// was.
func TestEvolveSubscriptionRejects(t *testing.T) {
	created := srvStamp(srvSubDo(t, &SubscriptionState{}, SubscriptionCreate{ID: "S-1", Plan: InstancePlan{Name: "p"}, Period: SubscriptionMonthly}, srvT0), srvT0)[0]
	mk := func(typ, subject, data string, version uint64) Event {
		return Event{ID: "e", Type: typ, Subject: subject, Time: srvT0.Add(time.Hour), AggregateVersion: version, Data: json.RawMessage(data)}
	}
	tests := []struct {
		name string
		e    Event
	}{
		{"unknown type", mk("subscription.frozen", "subscription/S-1", `{}`, 0)},
		{"platform event", mk(EventHostAdded, "subscription/S-1", `{}`, 0)},
		{"other subscription", mk(EventSubscriptionCanceled, "subscription/S-2", `{}`, 0)},
		{"other aggregate kind", mk(EventSubscriptionCanceled, "coupon/S-1", `{}`, 0)},
		{"version gap", mk(EventSubscriptionCanceled, "subscription/S-1", `{}`, 5)},
		{"second create", created},
		{"bad data", mk(EventSubscriptionRenewed, "subscription/S-1", `{"period_start":1}`, 0)},
		{"empty renewal period", mk(EventSubscriptionRenewed, "subscription/S-1", `{"period_start":"2026-03-01T00:00:00Z","period_end":"2026-03-01T00:00:00Z"}`, 0)},
		{"check-in of unknown instance", mk(EventInstanceCheckedIn, "subscription/S-1", `{"instance":"nope"}`, 0)},
		{"activation without hash", mk(EventInstanceActivated, "subscription/S-1", `{"instance":"i-1","version":"1"}`, 0)},
		{"activation without time", Event{ID: "e", Type: EventInstanceActivated, Subject: "subscription/S-1",
			Data: json.RawMessage(`{"instance":"i-1","version":"1","secret_sha256":"` + HashSecret(srvSecret) + `"}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &SubscriptionState{}
			if err := EvolveSubscription(s, created); err != nil {
				t.Fatal(err)
			}
			before := s.Clone()
			err := EvolveSubscription(s, tt.e)
			if got, want := ErrorCode(err), EINVALID; got != want {
				t.Fatalf("code = %q, want %q (%v)", got, want, err)
			}
			if !reflect.DeepEqual(s, before) {
				t.Fatalf("refused event changed the state")
			}
		})
	}
	t.Run("event before create", func(t *testing.T) {
		err := EvolveSubscription(&SubscriptionState{}, mk(EventSubscriptionRenewed, "subscription/S-1", `{}`, 0))
		if got, want := ErrorCode(err), EINVALID; got != want {
			t.Fatalf("code = %q, want %q", got, want)
		}
	})
}

// R32: folding a history from scratch and folding it from a cloned
// snapshot taken at any point give the same state, and folding into the
// clone leaves the snapshot untouched.
func TestSubscriptionFoldResumesFromClone(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		script := make([]byte, 300)
		for i := range script {
			script[i] = byte(rng.UintN(256))
		}
		history := srvRunScript(t, script).history
		if len(history) < 5 {
			t.Fatalf("seed %d: script produced only %d events", seed, len(history))
		}
		full, err := FoldSubscription(history)
		if err != nil {
			t.Fatal(err)
		}
		for _, mid := range []int{1, len(history) / 3, len(history) / 2, len(history) - 1} {
			snap, err := FoldSubscription(history[:mid])
			if err != nil {
				t.Fatal(err)
			}
			frozen, _ := json.Marshal(srvSubSnapshot(snap))
			resumed := snap.Clone()
			for _, e := range history[mid:] {
				if err := EvolveSubscription(resumed, e); err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(resumed, full) {
				t.Fatalf("seed %d mid %d: resumed fold differs from fold from scratch", seed, mid)
			}
			if after, _ := json.Marshal(srvSubSnapshot(snap)); string(after) != string(frozen) {
				t.Fatalf("seed %d mid %d: folding into the clone changed the snapshot", seed, mid)
			}
			at := history[len(history)-1].Time
			a, _ := SubscriptionView(full, at)
			b, _ := SubscriptionView(resumed, at)
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if string(ja) != string(jb) {
				t.Fatalf("seed %d mid %d: views differ:\n%s\n%s", seed, mid, ja, jb)
			}
		}
	}
}

// srvSubSnapshot exposes every field of a state, instances included, for
// comparison.
func srvSubSnapshot(s *SubscriptionState) any {
	return struct {
		S    SubscriptionState
		Seat []InstanceSeat
	}{*s, s.Instances.List}
}
