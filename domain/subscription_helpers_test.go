package domain

import (
	"errors"
	"testing"
	"time"
)

// Helpers shared by the license-server tests (subscription, instance,
// perpetual, coupon). Names carry a srv prefix: package domain is shared
// with the platform half and its tests.

// srvT0 is a month's last day on purpose: period arithmetic must clamp.
var srvT0 = time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)

const srvSecret = "secret-0123456789abcdef"

// srvStamp does what the event store does to decided events that matters
// to the rules: it stamps the append time.
func srvStamp(events []Event, now time.Time) []Event {
	out := make([]Event, len(events))
	for i, e := range events {
		e.Time = now
		out[i] = e
	}
	return out
}

// srvSubDo decides cmd at now, fails the test on a refusal, and folds the
// stamped events into s.
func srvSubDo(t *testing.T, s *SubscriptionState, cmd SubscriptionCommand, now time.Time) []Event {
	t.Helper()
	events, err := DecideSubscription(s, cmd, now)
	if err != nil {
		t.Fatalf("DecideSubscription(%T %+v) at %s: %v", cmd, cmd, srvTimeText(now), err)
	}
	events = srvStamp(events, now)
	for _, e := range events {
		if err := EvolveSubscription(s, e); err != nil {
			t.Fatalf("EvolveSubscription(%s): %v", e.Type, err)
		}
	}
	return events
}

// srvWantRefusal checks that err is a *Error with the given code and reason.
func srvWantRefusal(t *testing.T, err error, code, reason string) {
	t.Helper()
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want *domain.Error %s/%s", err, err, code, reason)
	}
	if got, want := de.Code+"/"+de.Reason, code+"/"+reason; got != want {
		t.Fatalf("refusal = %s, want %s (%v)", got, want, err)
	}
}

// srvTypes lists the types of events.
func srvTypes(events []Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Type)
	}
	return out
}

// srvNewSub creates subscription S-1 at srvT0 with the given plan instances.
func srvNewSub(t *testing.T, instances int) *SubscriptionState {
	t.Helper()
	s := &SubscriptionState{}
	srvSubDo(t, s, SubscriptionCreate{ID: "S-1", Customer: "acme", Period: SubscriptionMonthly,
		Plan: InstancePlan{Name: "prototype", Instances: instances, Devices: 50, Assets: 50}}, srvT0)
	return s
}

func srvActivate(id string) InstanceActivate {
	return InstanceActivate{InstanceID: id, Secret: srvSecret + id, Version: "3.6.0"}
}

func srvCheck(id string) InstanceCheckIn {
	return InstanceCheckIn{InstanceID: id, Secret: srvSecret + id}
}
