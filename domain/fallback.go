package domain

import "time"

// Perpetual fallback (R28 Decision (fallback)). A perpetual license may be
// attached to a subscription as its fallback: seed 004's "perpetual
// fallback license lets you use a specific version of the software without
// a valid subscription". While the subscription is active or past due it
// decides as always (R27). Once it is canceled or expired, its instances
// are answered from the fallback: a version the fallback's update window
// covers keeps running, the answer naming the fallback; a newer one is
// refused version-not-covered; and the seat limit is the fallback's (one
// instance: the oldest holder keeps it).
//
// The instances stay in the subscription's aggregate (their secrets and
// leases are recorded there), so the subscription's expected version still
// guards its seats. The fallback's window is read when a check is decided:
// a renewal of the fallback's updates after the attachment counts.

// SubscriptionAttachFallback attaches a perpetual license (as it stands
// now, read by the caller) as the subscription's fallback, replacing any
// earlier one.
type SubscriptionAttachFallback struct{ Fallback *PerpetualState }

// SubscriptionDetachFallback removes the fallback.
type SubscriptionDetachFallback struct{}

func (SubscriptionAttachFallback) subscriptionCommand() {}
func (SubscriptionDetachFallback) subscriptionCommand() {}

// NeedsFallback returns the fallback's subject when a decision at now must
// be made from it (the subscription is canceled or expired and has one),
// else "". The caller reads that perpetual license and decides with
// SubscriptionCheckWith / SubscriptionActivateWith.
func (s *SubscriptionState) NeedsFallback(now time.Time) string {
	if s.Fallback == "" || s.requireValid(now.UTC()) == nil {
		return ""
	}
	return s.Fallback
}

func (s *SubscriptionState) evolveFallback(e Event) error {
	switch e.Type {
	case EventSubscriptionFallbackAttached:
		var d SubscriptionFallbackAttached
		if err := srvDecode(e, &d); err != nil {
			return err
		}
		if agg, err := ParseAggregate(d.Perpetual); err != nil || agg.Kind != KindPerpetual {
			return Errorf(EINVALID, "event %s: fallback %q is not a perpetual license", e.ID, d.Perpetual)
		}
		s.Fallback, s.prov.fallback = d.Perpetual, e.ID
	default:
		s.Fallback, s.prov.fallback = "", ""
	}
	return nil
}

func (s *SubscriptionState) decideAttachFallback(c SubscriptionAttachFallback, now time.Time) ([]Event, error) {
	if c.Fallback == nil || !c.Fallback.Created() {
		return nil, Reasonf(ENOTFOUND, ReasonPerpetualUnknown, "no such perpetual license to attach as fallback")
	}
	if !s.CanceledAt.IsZero() {
		return nil, s.notActive(now)
	}
	if s.Fallback == c.Fallback.Subject() {
		return nil, nil
	}
	return srvEvents(s.Subject(), EventSubscriptionFallbackAttached,
		SubscriptionFallbackAttached{Perpetual: c.Fallback.Subject(), UpdatesUntil: c.Fallback.UpdatesUntil})
}

func (s *SubscriptionState) decideDetachFallback() ([]Event, error) {
	if s.Fallback == "" {
		return nil, Reasonf(ECONFLICT, ReasonFallbackNotAttached, "subscription %s has no perpetual fallback", s.ID)
	}
	return srvEvents(s.Subject(), EventSubscriptionFallbackDetached, SubscriptionFallbackDetached{Perpetual: s.Fallback})
}

// rulesAt returns the seat rules a decision at now follows, and the
// fallback they come from (nil when the subscription's own apply). A
// subscription that needs its fallback but was given none (or another)
// decides by its own rules: it refuses as not active.
func (s *SubscriptionState) rulesAt(now time.Time, fb *PerpetualState) (seatRules, *PerpetualState) {
	r := s.seatRules()
	need := s.NeedsFallback(now)
	if need == "" || fb == nil || !fb.Created() || fb.Subject() != need {
		return r, nil
	}
	r.limit = 1 // the fallback's seat count (R28: one instance)
	r.valid = func(time.Time) error { return nil }
	r.covers = fb.covers
	r.needReleased = true
	return r, fb
}

func (s *SubscriptionState) replyWith(in InstanceSeat, now time.Time, fb *PerpetualState) InstanceCheckReply {
	r := s.reply(in, now)
	if fb != nil {
		r.Plan, r.InstanceLimit, r.Fallback = fb.Plan, 1, fb.Subject()
		r.UpdatesUntil = srvTimeText(fb.UpdatesUntil)
	}
	return r
}
