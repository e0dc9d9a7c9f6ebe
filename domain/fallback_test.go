package domain

import (
	"testing"
	"time"
)

// R28 Decision (fallback): once the subscription is canceled, its instances
// are answered from the attached perpetual license: a version released in
// the fallback's update window keeps running (the answer names the
// fallback, with its plan and seat count), a newer one is refused
// version-not-covered, and the seat limit becomes the fallback's (one: the
// oldest holder keeps it). Without a fallback a canceled subscription
// refuses every check.
func TestSubscriptionFallback(t *testing.T) {
	t.Parallel()
	s := srvNewSub(t, 2)
	p := &PerpetualState{}
	srvPerpDo(t, p, PerpetualPurchase{ID: "P-1", Plan: InstancePlan{Name: "perpetual-basic"}}, srvT0)
	now := srvT0.Add(time.Hour)
	old := srvActivate("i-old")
	old.ReleasedAt = srvT0.Add(-24 * time.Hour)
	srvSubDo(t, s, old, now)
	srvSubDo(t, s, srvActivate("i-new"), now) // released_at unknown: only a check's own can cover it
	srvSubDo(t, s, SubscriptionAttachFallback{Fallback: p}, now)
	if got := s.Fallback; got != "perpetual/P-1" {
		t.Fatalf("Fallback = %q, want perpetual/P-1", got)
	}
	// While the subscription is valid its own rules decide.
	if got := s.NeedsFallback(now); got != "" {
		t.Errorf("NeedsFallback while active = %q, want none", got)
	}
	srvSubDo(t, s, SubscriptionCancel{}, now)
	at := now.Add(time.Minute)
	if got := s.NeedsFallback(at); got != "perpetual/P-1" {
		t.Fatalf("NeedsFallback after cancel = %q, want perpetual/P-1", got)
	}

	newer := srvCheck("i-old") // upgraded past the fallback's window
	newer.Version, newer.ReleasedAt = "9.0.0", p.UpdatesUntil.Add(time.Hour)
	tests := []struct {
		name       string
		fb         *PerpetualState
		cmd        InstanceCheckIn
		wantReason string
	}{
		{"covered version answers from the fallback", p, srvCheck("i-old"), ""},
		{"newer version is not covered", p, newer, ReasonInstanceVersionNotCovered},
		{"without the fallback read, not active", nil, srvCheck("i-old"), ReasonSubscriptionNotActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply, _, err := SubscriptionCheckWith(s, tt.fb, tt.cmd, at)
			if got := ErrorReason(err); got != tt.wantReason {
				t.Fatalf("reason %q (%v), want %q", got, err, tt.wantReason)
			}
			if tt.wantReason != "" {
				return
			}
			if reply.Fallback != "perpetual/P-1" || reply.Plan.Name != "perpetual-basic" || reply.InstanceLimit != 1 || reply.Status != SubscriptionStatusCanceled {
				t.Errorf("reply %+v, want fallback perpetual/P-1, its plan, limit 1, status canceled", reply)
			}
		})
	}
	// The seat count is the fallback's: the second holder, even covered,
	// is over the limit of one.
	second := srvCheck("i-new")
	second.ReleasedAt = srvT0.Add(-time.Hour)
	if _, _, err := SubscriptionCheckWith(s, p, second, at); ErrorReason(err) != ReasonInstanceTooMany {
		t.Errorf("second instance on the fallback: %v, want %s", err, ReasonInstanceTooMany)
	}

	srvSubDo(t, s, SubscriptionDetachFallback{}, at)
	if _, err := DecideSubscription(s, SubscriptionDetachFallback{}, at); ErrorReason(err) != ReasonFallbackNotAttached {
		t.Errorf("detach twice: %v, want %s", err, ReasonFallbackNotAttached)
	}
	if _, _, err := SubscriptionCheckWith(s, p, srvCheck("i-old"), at); ErrorReason(err) != ReasonSubscriptionNotActive {
		t.Errorf("after detach: %v, want %s", err, ReasonSubscriptionNotActive)
	}
}

// R28 Decision (fallback): attaching needs a purchased perpetual license.
func TestAttachFallbackRefusals(t *testing.T) {
	t.Parallel()
	s := srvNewSub(t, 1)
	if _, err := DecideSubscription(s, SubscriptionAttachFallback{Fallback: &PerpetualState{}}, srvT0); ErrorReason(err) != ReasonPerpetualUnknown {
		t.Errorf("attach an unknown perpetual: %v, want %s", err, ReasonPerpetualUnknown)
	}
}
