package domain

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// srvPerpDo decides a perpetual command, fails on refusal, and folds.
func srvPerpDo(t *testing.T, s *PerpetualState, cmd PerpetualCommand, now time.Time) []Event {
	t.Helper()
	events, err := DecidePerpetual(s, cmd, now)
	if err != nil {
		t.Fatalf("DecidePerpetual(%T %+v): %v", cmd, cmd, err)
	}
	events = srvStamp(events, now)
	for _, e := range events {
		if err := EvolvePerpetual(s, e); err != nil {
			t.Fatalf("EvolvePerpetual(%s): %v", e.Type, err)
		}
	}
	return events
}

func srvPerpActivate(id, version string, released time.Time) InstanceActivate {
	return InstanceActivate{InstanceID: id, Secret: srvSecret + id, Version: version, ReleasedAt: released}
}

// R28: purchase gives one instance and one year of updates; each renewal
// adds a year, counted from the purchase so windows never drift.
func TestPerpetualPurchaseAndRenew(t *testing.T) {
	bought := time.Date(2028, 2, 29, 10, 0, 0, 0, time.UTC) // a leap day: the hardest anchor
	s := &PerpetualState{}
	srvPerpDo(t, s, PerpetualPurchase{ID: "P-1", Customer: "acme", Plan: InstancePlan{Name: "pe", Devices: 500}}, bought)
	if got, want := s.UpdatesUntil, time.Date(2029, 2, 28, 10, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("updates until %s, want %s", srvTimeText(got), srvTimeText(want))
	}
	wants := []time.Time{
		time.Date(2030, 2, 28, 10, 0, 0, 0, time.UTC),
		time.Date(2031, 2, 28, 10, 0, 0, 0, time.UTC),
		time.Date(2032, 2, 29, 10, 0, 0, 0, time.UTC), // back on the leap day
	}
	// Renewed late on purpose: the year is added to the window, not to now.
	for i, want := range wants {
		prev := s.UpdatesUntil
		events := srvPerpDo(t, s, PerpetualRenewUpdates{Reference: "inv"}, bought.AddDate(i+3, 0, 0))
		var d PerpetualUpdatesRenewed
		if err := json.Unmarshal(events[0].Data, &d); err != nil {
			t.Fatal(err)
		}
		if !d.UpdatesUntil.Equal(want) || !d.Previous.Equal(prev) || !s.UpdatesUntil.Equal(want) {
			t.Fatalf("renewal %d: %+v, want until %s after %s", i+1, d, srvTimeText(want), srvTimeText(prev))
		}
	}

	tests := []struct {
		name string
		cmd  PerpetualPurchase
		code string
	}{
		{"two instances", PerpetualPurchase{ID: "P-2", Plan: InstancePlan{Name: "pe", Instances: 2}}, EINVALID},
		{"bad id", PerpetualPurchase{ID: "P/2", Plan: InstancePlan{Name: "pe"}}, EINVALID},
		{"no plan", PerpetualPurchase{ID: "P-2"}, EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecidePerpetual(&PerpetualState{}, tt.cmd, bought)
			if got := ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q, want %q (%v)", got, tt.code, err)
			}
		})
	}
	_, err := DecidePerpetual(s, PerpetualPurchase{ID: "P-1", Plan: InstancePlan{Name: "pe"}}, bought)
	srvWantRefusal(t, err, ECONFLICT, ReasonPerpetualExists)
	_, err = DecidePerpetual(&PerpetualState{}, PerpetualRenewUpdates{}, bought)
	srvWantRefusal(t, err, ENOTFOUND, ReasonPerpetualUnknown)
}

// R28: any version released while updates were paid runs forever; a newer
// one is refused with version-not-covered while older ones keep working;
// one instance per license.
func TestPerpetualVersionWindow(t *testing.T) {
	bought := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	until := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	s := &PerpetualState{}
	srvPerpDo(t, s, PerpetualPurchase{ID: "P-1", Plan: InstancePlan{Name: "pe"}}, bought)

	tests := []struct {
		name     string
		released time.Time
		at       time.Time
		code     string
	}{
		{"version older than the purchase", bought.AddDate(-2, 0, 0), bought, ""},
		{"released inside the window", until.Add(-time.Second), bought.AddDate(1, 1, 0), ""},
		{"run ten years later", until.Add(-time.Second), bought.AddDate(10, 0, 0), ""},
		{"released at the window's end", until, until, EFORBIDDEN},
		{"released after", until.AddDate(0, 2, 0), until.AddDate(0, 3, 0), EFORBIDDEN},
		{"no release instant", time.Time{}, bought, EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply, _, err := PerpetualActivate(s, srvPerpActivate("i-1", "4.0", tt.released), tt.at)
			if got := ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q, want %q (%v)", got, tt.code, err)
			}
			if tt.code == EFORBIDDEN {
				srvWantRefusal(t, err, EFORBIDDEN, ReasonInstanceVersionNotCovered)
			}
			if tt.code == "" && (reply.UpdatesUntil != srvTimeText(until) || reply.InstanceLimit != 1) {
				t.Fatalf("reply = %+v", reply)
			}
		})
	}

	now := bought.AddDate(1, 2, 0)
	old := until.AddDate(0, -6, 0)
	srvPerpDo(t, s, srvPerpActivate("i-1", "4.0", old), now)
	// HA needs one perpetual license per instance.
	_, err := DecidePerpetual(s, srvPerpActivate("i-2", "4.0", old), now)
	srvWantRefusal(t, err, ECONFLICT, ReasonInstanceTooMany)

	// Upgrading past the window is refused, the old version keeps working.
	newer := until.AddDate(0, 1, 0)
	up := InstanceCheckIn{InstanceID: "i-1", Secret: srvSecret + "i-1", Version: "5.0", ReleasedAt: newer}
	_, err = DecidePerpetual(s, up, now.Add(time.Hour))
	srvWantRefusal(t, err, EFORBIDDEN, ReasonInstanceVersionNotCovered)
	srvPerpDo(t, s, srvCheck("i-1"), now.Add(2*time.Hour))

	// A renewal covers the newer version.
	srvPerpDo(t, s, PerpetualRenewUpdates{}, now.Add(3*time.Hour))
	srvPerpDo(t, s, up, now.Add(4*time.Hour))
	if in, _ := s.Instances.Find("i-1"); in.Version != "5.0" || !in.ReleasedAt.Equal(newer) {
		t.Fatalf("instance after upgrade = %+v", in)
	}
	up.ReleasedAt = time.Time{}
	up.Version = "5.1"
	_, err = DecidePerpetual(s, up, now.Add(5*time.Hour))
	if got, want := ErrorCode(err), EINVALID; got != want {
		t.Fatalf("new version without release instant: code %q, want %q", got, want)
	}
}

// EvolvePerpetual refuses malformed histories; Clone is deep.
func TestEvolvePerpetual(t *testing.T) {
	s := &PerpetualState{}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	srvPerpDo(t, s, PerpetualPurchase{ID: "P-1", Plan: InstancePlan{Name: "pe"}}, now)
	snap := s.Clone()
	srvPerpDo(t, s, srvPerpActivate("i-1", "1", now), now)
	if len(snap.Instances.List) != 0 {
		t.Fatal("folding into the state changed its clone")
	}
	for _, e := range []Event{
		{ID: "x", Type: EventSubscriptionRenewed, Subject: "perpetual/P-1", Time: now, Data: json.RawMessage(`{}`)},
		{ID: "x", Type: EventPerpetualUpdatesRenewed, Subject: "perpetual/P-1", Time: now, Data: json.RawMessage(`{"updates_until":"2020-01-01T00:00:00Z"}`)},
		{ID: "x", Type: EventPerpetualPurchased, Subject: "perpetual/P-2", Time: now, Data: json.RawMessage(`{}`)},
	} {
		before := s.Clone()
		if err := EvolvePerpetual(s, e); ErrorCode(err) != EINVALID {
			t.Errorf("%s: err = %v, want EINVALID", e.Type, err)
		}
		if !reflect.DeepEqual(before, s) {
			t.Errorf("%s: refused event changed the state", e.Type)
		}
	}
	doc, err := PerpetualView(s, now.AddDate(2, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if doc.UpdatesActive || doc.InstancesInUse != 0 || len(doc.Instances) != 1 || doc.Instances[0].Seat != "released" {
		t.Fatalf("view two years on = %+v", doc)
	}
}
