package domain

import (
	"fmt"
	"time"
)

// ExplainSeats is the item of a subscription's explanation about its
// seats as a whole (SubscriptionExplain with no instance).
const ExplainSeats = "seats"

// SubscriptionExplain explains a subscription's seats at instant at, for a
// state folded from the events up to at: with instance "" whether a new
// instance would get a seat (R23, R25, R26), else whether that instance
// holds one (R27). An instance the subscription never activated is
// ENOTFOUND instance-unknown.
func SubscriptionExplain(s *SubscriptionState, at time.Time, instance string) (Explanation, error) {
	if !s.Created() {
		return Explanation{}, Reasonf(ENOTFOUND, ReasonSubscriptionUnknown, "no such subscription")
	}
	at = at.UTC()
	x := Explanation{Subscription: s.ID, At: at, Item: ExplainSeats, Rules: []string{}}
	status := s.Status(at)
	p := s.prov
	var blocked string // why no instance may check in at all, "" if none
	var blockedBy []EventRef
	switch status {
	case SubscriptionStatusCanceled:
		blocked, blockedBy = fmt.Sprintf("the subscription was canceled on %s", instant(s.CanceledAt)), refs(p.canceled)
	case SubscriptionStatusExpired:
		blocked, blockedBy = fmt.Sprintf("its period ended on %s and no renewal extends it", instant(s.PeriodEnd)), refs(p.period)
	}
	// R28 Decision (fallback): a canceled or expired subscription with a
	// perpetual fallback has its checks answered from the fallback, for
	// one instance (the oldest holder) and the versions its update window
	// covers, which the fallback's own state decides.
	fallback := ""
	if blocked != "" && s.Fallback != "" {
		fallback = fmt.Sprintf("%s, so its instances are answered from its perpetual fallback %s: one instance, the oldest holder, for the versions the fallback's update window covers",
			blocked, s.Fallback)
		blockedBy = append(blockedBy, refs(p.fallback)...)
	}
	if instance == "" {
		inUse, limit := s.Instances.HeldCount(at, s.Lease), s.InstanceLimit()
		limitText := fmt.Sprintf("the limit is %d: plan %s's %d plus %d added", limit, s.Plan.Name, srvPlanInstances(s.Plan), s.AddedInstances)
		decided := refs(append([]string{p.plan}, p.added...)...)
		switch {
		case fallback != "" && inUse >= 1:
			x.Reason = ReasonInstanceTooMany
			x.say(fmt.Sprintf("no seat for a new instance: %s; %d instance(s) hold a seat", fallback, inUse), blockedBy, "R23", "R26", "R28")
		case fallback != "":
			x.Entitled = true
			x.say("a new instance gets a seat: "+fallback+"; none holds a seat", blockedBy, "R23", "R28")
		case blocked != "":
			x.Reason = status
			x.say("no seat: "+blocked, blockedBy, "R23")
		case inUse >= limit:
			x.Reason = ReasonInstanceTooMany
			x.say(fmt.Sprintf("no seat for a new instance: %d of %d seats are held; %s", inUse, limit, limitText), decided, "R25", "R26")
		default:
			x.Entitled = true
			text := fmt.Sprintf("a new instance gets a seat: %d of %d seats are held; %s", inUse, limit, limitText)
			if status == SubscriptionStatusPastDue {
				text += fmt.Sprintf("; past due since %s, it keeps working until its period ends on %s", instant(s.PastDueSince), instant(s.PeriodEnd))
				decided = append(decided, refs(p.pastDue, p.period)...)
			}
			x.say(text, refs(eventIDs(decided)...), "R23", "R25", "R26")
		}
		return x, nil
	}
	in, ok := s.Instances.Find(instance)
	if !ok {
		return Explanation{}, Reasonf(ENOTFOUND, ReasonInstanceUnknown, "no instance %q in subscription %s", instance, s.ID)
	}
	x.Item = instance
	expires := in.SeatExpiresAt(s.Lease)
	switch {
	case !in.DeactivatedAt.IsZero():
		x.Reason = in.seatState(at, s.Lease)
		x.say(fmt.Sprintf("instance %s gave up its seat on %s (deactivated by %s)", instance, instant(in.DeactivatedAt), in.DeactivatedBy),
			refs(in.DeactivatedEvent), "R27")
	case !at.Before(expires):
		x.Reason = in.seatState(at, s.Lease)
		x.say(fmt.Sprintf("instance %s's seat was released on %s: no check-in recorded since %s, within the lease of %s", instance,
			instant(expires), instant(in.LastCheckIn), s.Lease), refs(in.CheckInEvent), "R27")
	case fallback != "" && s.Instances.heldBefore(s.Instances.index[instance], at, s.Lease) >= 1:
		x.Reason = ReasonInstanceTooMany
		x.say(fmt.Sprintf("instance %s holds its seat until %s, but %s, and %d older instance(s) hold a seat", instance, instant(expires), fallback,
			s.Instances.heldBefore(s.Instances.index[instance], at, s.Lease)), append(refs(in.ActivatedEvent), blockedBy...), "R23", "R26", "R28")
	case fallback != "":
		x.Entitled = true
		x.say(fmt.Sprintf("instance %s holds a seat until %s: %s, and it is the oldest holder", instance, instant(expires), fallback),
			append(refs(in.ActivatedEvent, in.CheckInEvent), blockedBy...), "R23", "R27", "R28")
	case blocked != "":
		x.Reason = status
		x.say(fmt.Sprintf("instance %s holds its seat until %s, but its checks are refused: %s", instance, instant(expires), blocked),
			append(refs(in.CheckInEvent), blockedBy...), "R23", "R27")
	default:
		x.Entitled = true
		x.say(fmt.Sprintf("instance %s holds a seat until %s: its last check-in at %s plus the lease of %s", instance, instant(expires),
			instant(in.LastCheckIn), s.Lease), refs(in.ActivatedEvent, in.CheckInEvent), "R26", "R27")
	}
	return x, nil
}
