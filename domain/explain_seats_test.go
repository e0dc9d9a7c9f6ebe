package domain

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Seats explained: whether a new instance gets a seat, whether an
// instance holds one, in words, with the rules and the deciding events.
func TestSubscriptionExplain(t *testing.T) {
	n := 0
	do := func(t *testing.T, s *SubscriptionState, cmd SubscriptionCommand, at time.Time) string {
		t.Helper()
		events, err := DecideSubscription(s, cmd, at)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range srvStamp(events, at) {
			n++
			e.ID = fmt.Sprintf("ev-%d", n)
			if err := EvolveSubscription(s, e); err != nil {
				t.Fatal(err)
			}
		}
		return fmt.Sprintf("ev-%d", n)
	}
	lease := 24 * time.Hour
	tests := []struct {
		name     string
		build    func(t *testing.T, s *SubscriptionState) []string // the events the answer must name
		at       time.Time
		instance string
		entitled bool
		reason   string
		because  string
		rule     string
	}{
		{"R25 R26 a free seat", func(t *testing.T, s *SubscriptionState) []string {
			return []string{do(t, s, SubscriptionAddInstances{Count: 1}, srvT0.Add(time.Minute))}
		}, srvT0.Add(time.Hour), "", true, "", "1 of 3 seats are held; the limit is 3: plan prototype's 2 plus 1 added", "R25"},
		{"R26 every seat held", func(t *testing.T, s *SubscriptionState) []string {
			do(t, s, srvActivate("i-2"), srvT0.Add(time.Minute))
			return nil
		}, srvT0.Add(time.Hour), "", false, ReasonInstanceTooMany, "no seat for a new instance: 2 of 2 seats are held", "R26"},
		{"R23 canceled", func(t *testing.T, s *SubscriptionState) []string {
			return []string{do(t, s, SubscriptionCancel{}, srvT0.Add(time.Minute))}
		}, srvT0.Add(time.Hour), "", false, SubscriptionStatusCanceled, "no seat: the subscription was canceled on", "R23"},
		{"R27 the instance holds its seat", func(t *testing.T, s *SubscriptionState) []string {
			return []string{do(t, s, srvCheck("i-1"), srvT0.Add(time.Hour))}
		}, srvT0.Add(2 * time.Hour), "i-1", true, "", "its last check-in at 2026", "R27"},
		{"R27 the lease lapsed", func(t *testing.T, s *SubscriptionState) []string { return nil },
			srvT0.Add(3 * lease), "i-1", false, "released", "seat was released on", "R27"},
		{"R27 deactivated", func(t *testing.T, s *SubscriptionState) []string {
			return []string{do(t, s, InstanceDeactivate{InstanceID: "i-1", ByAdmin: true}, srvT0.Add(time.Hour))}
		}, srvT0.Add(2 * time.Hour), "i-1", false, "deactivated", "gave up its seat", "R27"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &SubscriptionState{}
			do(t, s, SubscriptionCreate{ID: "S-1", Period: SubscriptionMonthly, Plan: InstancePlan{Name: "prototype", Instances: 2}}, srvT0)
			do(t, s, srvActivate("i-1"), srvT0)
			want := tt.build(t, s)
			x, err := SubscriptionExplain(s, tt.at, tt.instance)
			if err != nil {
				t.Fatal(err)
			}
			if x.Entitled != tt.entitled || x.Reason != tt.reason || !strings.Contains(x.Because, tt.because) || !slices.Contains(x.Rules, tt.rule) {
				t.Errorf("got entitled=%v reason=%q rules=%v because %q\nwant entitled=%v reason=%q %s, saying %q",
					x.Entitled, x.Reason, x.Rules, x.Because, tt.entitled, tt.reason, tt.rule, tt.because)
			}
			for _, id := range want {
				if !slices.Contains(x.DecidedBy, EventRef{ID: id}) {
					t.Errorf("decided by %v, want %s among them", x.DecidedBy, id)
				}
			}
		})
	}
	s := &SubscriptionState{}
	do(t, s, SubscriptionCreate{ID: "S-1", Period: SubscriptionMonthly, Plan: InstancePlan{Name: "p", Instances: 1}}, srvT0)
	if _, err := SubscriptionExplain(s, srvT0, "i-9"); ErrorReason(err) != ReasonInstanceUnknown {
		t.Errorf("unknown instance: %v", err)
	}
}

// R28 Decision (fallback): a canceled subscription with a perpetual
// fallback answers its instances' checks from the fallback (one instance,
// the oldest holder). The explanation must say so, not that the checks
// are refused, and name the event that attached the fallback.
func TestSubscriptionExplainWithFallback(t *testing.T) {
	n := 0
	do := func(s *SubscriptionState, cmd SubscriptionCommand, at time.Time) string {
		t.Helper()
		events, err := DecideSubscription(s, cmd, at)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range srvStamp(events, at) {
			n++
			e.ID = fmt.Sprintf("ev-%d", n)
			if err := EvolveSubscription(s, e); err != nil {
				t.Fatal(err)
			}
		}
		return fmt.Sprintf("ev-%d", n)
	}
	s := &SubscriptionState{}
	do(s, SubscriptionCreate{ID: "S-1", Period: SubscriptionMonthly, Plan: InstancePlan{Name: "prototype", Instances: 2}}, srvT0)
	p := &PerpetualState{}
	srvPerpDo(t, p, PerpetualPurchase{ID: "P-1", Plan: InstancePlan{Name: "perpetual-basic"}}, srvT0)
	now := srvT0.Add(time.Hour)
	do(s, srvActivate("i-old"), now)
	do(s, srvActivate("i-new"), now)
	attached := do(s, SubscriptionAttachFallback{Fallback: p}, now)
	do(s, SubscriptionCancel{}, now)
	at := now.Add(time.Minute)
	tests := []struct {
		instance string
		entitled bool
		reason   string
	}{
		{"i-old", true, ""},
		{"i-new", false, ReasonInstanceTooMany},
		{"", false, ReasonInstanceTooMany},
	}
	for _, tt := range tests {
		x, err := SubscriptionExplain(s, at, tt.instance)
		if err != nil {
			t.Fatal(err)
		}
		if x.Entitled != tt.entitled || x.Reason != tt.reason || !strings.Contains(x.Because, "perpetual/P-1") ||
			strings.Contains(x.Because, "refused") || !slices.Contains(x.Rules, "R28") {
			t.Errorf("%q: entitled=%v reason=%q rules=%v because %q\nwant entitled=%v reason=%q R28, answered from perpetual/P-1",
				tt.instance, x.Entitled, x.Reason, x.Rules, x.Because, tt.entitled, tt.reason)
		}
		if !slices.Contains(x.DecidedBy, EventRef{ID: attached}) {
			t.Errorf("%q: decided by %v, want the attachment %q among them", tt.instance, x.DecidedBy, attached)
		}
	}
}
