package domain

import (
	"slices"
	"time"
)

// The subscription aggregate (R23–R27): subject "subscription/<id>". It owns
// the plan, the billing period and the instances' seats, so one expected
// version guards the seat limit and the plan together.
//
// A handler is a few lines:
//
//	s, _ := FoldSubscription(history)           // events of subscription/<id>
//	events, err := DecideSubscription(s, cmd, now)
//	if err != nil { /* *Error: Code + Reason */ }
//	store.Append(ctx, agg, s.Version, events...) // conflict → fold and decide again

// SubscriptionCommand is a command on a subscription: one of
// SubscriptionCreate, SubscriptionChangePlan, SubscriptionAddInstances,
// SubscriptionRenew, SubscriptionMarkPastDue, SubscriptionCancel,
// InstanceActivate, InstanceCheckIn, InstanceDeactivate.
type SubscriptionCommand interface{ subscriptionCommand() }

// SubscriptionCreate opens a subscription; its first period starts at the
// decision instant. Lease 0 means InstanceDefaultLease.
type SubscriptionCreate struct {
	ID       string
	Customer string
	Plan     InstancePlan
	Period   string // SubscriptionMonthly or SubscriptionAnnual
	Lease    time.Duration
	// LicenseKeySHA256 is the hash of the license key issued with it
	// (HashSecret of the key's secret; the key itself never enters the log).
	LicenseKeySHA256 string
}

// SubscriptionChangePlan upgrades or downgrades at once (R24). Instances
// added with SubscriptionAddInstances stay on top of the new plan's own.
type SubscriptionChangePlan struct{ Plan InstancePlan }

// SubscriptionAddInstances raises the instance limit by Count (R25).
type SubscriptionAddInstances struct{ Count int }

// SubscriptionRenew extends the period end by one period. Reference is the
// billing system's payment or invoice id, recorded for reconciliation.
type SubscriptionRenew struct{ Reference string }

// SubscriptionMarkPastDue records a failed payment.
type SubscriptionMarkPastDue struct{ Reference string }

// SubscriptionCancel ends the subscription at once; it cannot be undone.
type SubscriptionCancel struct{ Reason string }

func (SubscriptionCreate) subscriptionCommand()       {}
func (SubscriptionChangePlan) subscriptionCommand()   {}
func (SubscriptionAddInstances) subscriptionCommand() {}
func (SubscriptionRenew) subscriptionCommand()        {}
func (SubscriptionMarkPastDue) subscriptionCommand()  {}
func (SubscriptionCancel) subscriptionCommand()       {}

// SubscriptionState is a subscription folded from its history. The zero
// value is a subscription not yet created. It is not safe for concurrent
// mutation; Clone gives an independent copy.
type SubscriptionState struct {
	ID       string // empty until subscription.created
	Version  uint64 // events folded: the expected version of the next append
	Customer string
	Plan     InstancePlan
	Period   string

	CreatedAt time.Time
	// Consecutive periods are counted from an anchor so that renewals land
	// on the anchor's day of month (Jan 31 → Feb 28 → Mar 31), never drift.
	PeriodAnchor time.Time
	PeriodCount  int
	PeriodStart  time.Time
	PeriodEnd    time.Time

	AddedInstances int
	Lease          time.Duration
	PastDueSince   time.Time // zero unless past due; a renewal clears it
	CanceledAt     time.Time // zero unless canceled
	Instances      InstanceSeats
	Keys           LicenseKeys
	// Fallback is the perpetual license attached as the fallback
	// ("perpetual/<id>"), "" for none (R28 Decision (fallback)).
	Fallback string
	// Provenance: the events that decided the seats (SubscriptionExplain).
	prov subscriptionProvenance
}

// subscriptionProvenance names, by id, the latest event that set each
// fact the seats depend on; added lists every instances_added.
type subscriptionProvenance struct {
	created, plan, period, pastDue, canceled string
	fallback                                 string // the attachment of the fallback now attached
	added                                    []string
}

// Created reports whether subscription.created has been folded.
func (s *SubscriptionState) Created() bool { return s.ID != "" }

// Subject is the aggregate subject, "subscription/<id>".
func (s *SubscriptionState) Subject() string {
	return Aggregate{Kind: KindSubscription, ID: s.ID}.String()
}

// InstanceLimit is how many instances may hold a seat at once (R25): the
// plan's own (at least one) plus those added.
func (s *SubscriptionState) InstanceLimit() int {
	return srvPlanInstances(s.Plan) + s.AddedInstances
}

// Status is the subscription's status at instant at (R23). Canceled wins;
// expired is derived: at or after the period end. A past-due subscription
// keeps working until its period end (Decision: payment retries get the
// rest of the paid period), and reports past_due so the product can warn.
func (s *SubscriptionState) Status(at time.Time) string {
	switch {
	case !s.Created():
		return ""
	case !s.CanceledAt.IsZero():
		return SubscriptionStatusCanceled
	case !at.Before(s.PeriodEnd):
		return SubscriptionStatusExpired
	case !s.PastDueSince.IsZero():
		return SubscriptionStatusPastDue
	default:
		return SubscriptionStatusActive
	}
}

// Clone returns a deep copy: folding more events into it leaves s untouched.
func (s *SubscriptionState) Clone() *SubscriptionState {
	c := *s
	c.Instances = s.Instances.clone()
	c.Keys = s.Keys.clone()
	c.prov.added = slices.Clone(s.prov.added)
	return &c
}

// FoldSubscription folds a subscription's history (its events in log order)
// from scratch.
func FoldSubscription(events []Event) (*SubscriptionState, error) {
	s := &SubscriptionState{}
	for _, e := range events {
		if err := EvolveSubscription(s, e); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SubscriptionAsOf folds, in order, the events of subscription/<id> from a
// log (other aggregates' events are passed over) up to and including the
// instant at; a zero at folds them all. It is "as of T" (R32). Errors are
// EvolveSubscription's, and ENOTFOUND when the log holds no event of the
// subscription.
func SubscriptionAsOf(events []Event, id string, at time.Time) (*SubscriptionState, error) {
	s := &SubscriptionState{}
	subject := Aggregate{Kind: KindSubscription, ID: id}.String()
	if err := srvAsOf(events, subject, at, func(e Event) error { return EvolveSubscription(s, e) }); err != nil {
		return nil, err
	}
	return s, nil
}

// EvolveSubscription applies one event of the subscription's history. Events
// are facts: it checks they are well-formed and in order, not that the
// decision was right. Unknown types, foreign subjects, events out of order or
// before subscription.created are EINVALID, and then s is unchanged.
func EvolveSubscription(s *SubscriptionState, e Event) error {
	if s == nil {
		return Errorf(EINTERNAL, "evolve subscription: nil state")
	}
	agg, err := ParseAggregate(e.Subject)
	if err != nil {
		return err
	}
	if agg.Kind != KindSubscription || (s.Created() && agg.ID != s.ID) {
		return Errorf(EINVALID, "event %s is for %s, not subscription %s", e.ID, e.Subject, s.ID)
	}
	if e.AggregateVersion != 0 && e.AggregateVersion != s.Version+1 {
		return Errorf(EINVALID, "event %s has aggregate version %d, want %d", e.ID, e.AggregateVersion, s.Version+1)
	}
	if e.Type != EventSubscriptionCreated && !s.Created() {
		return Errorf(EINVALID, "event %s (%s) comes before subscription.created", e.ID, e.Type)
	}
	at := e.Time.UTC()
	switch e.Type {
	case EventSubscriptionCreated:
		if s.Created() {
			return Errorf(EINVALID, "event %s: subscription %s created twice", e.ID, s.ID)
		}
		var d SubscriptionCreated
		if err := srvDecode(e, &d); err != nil {
			return err
		}
		lease, err := srvLease(d.LeaseSeconds)
		if err != nil {
			return Errorf(EINVALID, "event %s: %s", e.ID, ErrorMessage(err))
		}
		if err := srvCheckPeriod(e, d.Period, d.PeriodStart, d.PeriodEnd); err != nil {
			return err
		}
		s.ID, s.Customer, s.Plan, s.Period, s.Lease, s.CreatedAt = agg.ID, d.Customer, d.Plan, d.Period, lease, at
		s.PeriodAnchor, s.PeriodCount = d.PeriodStart.UTC(), 1
		s.PeriodStart, s.PeriodEnd = d.PeriodStart.UTC(), d.PeriodEnd.UTC()
		s.Keys.Current = d.LicenseKeySHA256
		s.prov.created, s.prov.plan, s.prov.period = e.ID, e.ID, e.ID
	case EventSubscriptionPlanChanged:
		var d SubscriptionPlanChanged
		if err := srvDecode(e, &d); err != nil {
			return err
		}
		s.Plan, s.prov.plan = d.Plan, e.ID
	case EventSubscriptionInstancesAdded:
		var d SubscriptionInstancesAdded
		if err := srvDecode(e, &d); err != nil {
			return err
		}
		if d.Count < 1 {
			return Errorf(EINVALID, "event %s: instances_added count %d", e.ID, d.Count)
		}
		s.AddedInstances += d.Count
		s.prov.added = append(s.prov.added, e.ID)
	case EventSubscriptionRenewed:
		var d SubscriptionRenewed
		if err := srvDecode(e, &d); err != nil {
			return err
		}
		if err := srvCheckPeriod(e, s.Period, d.PeriodStart, d.PeriodEnd); err != nil {
			return err
		}
		if d.PeriodStart.Equal(s.PeriodEnd) {
			s.PeriodCount++
		} else {
			s.PeriodAnchor, s.PeriodCount = d.PeriodStart.UTC(), 1
		}
		s.PeriodStart, s.PeriodEnd = d.PeriodStart.UTC(), d.PeriodEnd.UTC()
		s.PastDueSince = time.Time{}
		s.prov.period, s.prov.pastDue = e.ID, ""
	case EventSubscriptionPastDue:
		if s.PastDueSince.IsZero() {
			s.PastDueSince, s.prov.pastDue = at, e.ID
		}
	case EventSubscriptionCanceled:
		if s.CanceledAt.IsZero() {
			s.CanceledAt, s.prov.canceled = at, e.ID
		}
	case EventInstanceActivated, EventInstanceCheckedIn, EventInstanceDeactivated:
		if err := s.Instances.evolve(e); err != nil {
			return err
		}
	case EventLicenseKeyIssued, EventLicenseKeyRevoked:
		if _, err := s.Keys.evolve(e); err != nil {
			return err
		}
	case EventSubscriptionFallbackAttached, EventSubscriptionFallbackDetached:
		if err := s.evolveFallback(e); err != nil {
			return err
		}
	default:
		return Errorf(EINVALID, "event %s: unknown subscription event type %q", e.ID, e.Type)
	}
	s.Version++
	return nil
}

// DecideSubscription decides a command at instant now and returns the events
// to append (possibly none: a retried or needless command succeeds without
// growing the log). Refusals are *Error with a Code and, for rule refusals, a
// stable Reason (Reason* constants). It never changes s.
func DecideSubscription(s *SubscriptionState, cmd SubscriptionCommand, now time.Time) ([]Event, error) {
	if s == nil {
		s = &SubscriptionState{}
	}
	if now.IsZero() {
		return nil, Errorf(EINVALID, "decide subscription: no decision instant")
	}
	now = now.UTC()
	if c, ok := cmd.(SubscriptionCreate); ok {
		return s.decideCreate(c, now)
	}
	if !s.Created() {
		return nil, Reasonf(ENOTFOUND, ReasonSubscriptionUnknown, "no such subscription; create it first")
	}
	switch c := cmd.(type) {
	case SubscriptionChangePlan:
		return s.decideChangePlan(c, now)
	case SubscriptionAddInstances:
		if c.Count < 1 || c.Count > 10000 {
			return nil, Reasonf(EINVALID, ReasonInvalidCount, "instances to add must be 1..10000, got %d", c.Count)
		}
		if err := s.requireValid(now); err != nil {
			return nil, err
		}
		return srvEvents(s.Subject(), EventSubscriptionInstancesAdded,
			SubscriptionInstancesAdded{Count: c.Count, InstanceLimit: s.InstanceLimit() + c.Count})
	case SubscriptionRenew:
		return s.decideRenew(c, now)
	case SubscriptionMarkPastDue:
		if !s.CanceledAt.IsZero() {
			return nil, s.notActive(now)
		}
		if !s.PastDueSince.IsZero() {
			return nil, nil
		}
		return srvEvents(s.Subject(), EventSubscriptionPastDue, SubscriptionPastDue{Reference: c.Reference})
	case SubscriptionCancel:
		if !s.CanceledAt.IsZero() {
			return nil, nil
		}
		return srvEvents(s.Subject(), EventSubscriptionCanceled, SubscriptionCanceled{Reason: c.Reason})
	case InstanceActivate:
		_, events, err := SubscriptionActivate(s, c, now)
		return events, err
	case InstanceCheckIn:
		_, events, err := SubscriptionCheck(s, c, now)
		return events, err
	case InstanceDeactivate:
		return s.Instances.decideDeactivate(s.seatRules(), c)
	case LicenseKeyRotate, LicenseKeyRevoke:
		return s.Keys.decide(s.Subject(), c)
	case SubscriptionAttachFallback:
		return s.decideAttachFallback(c, now)
	case SubscriptionDetachFallback:
		return s.decideDetachFallback()
	case nil:
		return nil, Errorf(EINVALID, "decide subscription: no command")
	default:
		return nil, Errorf(EINVALID, "decide subscription: unsupported command %T", cmd)
	}
}

// SubscriptionActivate decides an activation (R26) and also returns the
// reply for the client: the plan and the seat's lease, as they will be once
// the events are appended. The caller adds the secret it generated.
func SubscriptionActivate(s *SubscriptionState, cmd InstanceActivate, now time.Time) (InstanceCheckReply, []Event, error) {
	return SubscriptionActivateWith(s, nil, cmd, now)
}

// SubscriptionActivateWith is SubscriptionActivate with the subscription's
// perpetual fallback as it stands (nil when none is attached, or when the
// caller has not read it: see NeedsFallback).
func SubscriptionActivateWith(s *SubscriptionState, fallback *PerpetualState, cmd InstanceActivate, now time.Time) (InstanceCheckReply, []Event, error) {
	if !s.Created() {
		return InstanceCheckReply{}, nil, Reasonf(ENOTFOUND, ReasonSubscriptionUnknown, "no such subscription")
	}
	now = now.UTC()
	rules, fb := s.rulesAt(now, fallback)
	in, events, err := s.Instances.decideActivate(rules, cmd, now)
	if err != nil {
		return InstanceCheckReply{}, nil, err
	}
	return s.replyWith(in, now, fb), events, nil
}

// SubscriptionCheck decides a check-in (R27) and returns the reply: the
// current plan (R24). Most checks need no event (see
// InstanceCheckInRecordDivisor); then events is empty and the reply is all
// the handler sends.
func SubscriptionCheck(s *SubscriptionState, cmd InstanceCheckIn, now time.Time) (InstanceCheckReply, []Event, error) {
	return SubscriptionCheckWith(s, nil, cmd, now)
}

// SubscriptionCheckWith is SubscriptionCheck with the subscription's
// perpetual fallback (see SubscriptionActivateWith).
func SubscriptionCheckWith(s *SubscriptionState, fallback *PerpetualState, cmd InstanceCheckIn, now time.Time) (InstanceCheckReply, []Event, error) {
	if !s.Created() {
		return InstanceCheckReply{}, nil, Reasonf(ENOTFOUND, ReasonSubscriptionUnknown, "no such subscription")
	}
	now = now.UTC()
	rules, fb := s.rulesAt(now, fallback)
	in, events, err := s.Instances.decideCheckIn(rules, cmd, now)
	if err != nil {
		return InstanceCheckReply{}, nil, err
	}
	return s.replyWith(in, now, fb), events, nil
}

func (s *SubscriptionState) decideCreate(c SubscriptionCreate, now time.Time) ([]Event, error) {
	if s.Created() {
		return nil, Reasonf(ECONFLICT, ReasonSubscriptionExists, "subscription %s already exists", s.ID)
	}
	if err := ValidateID(c.ID); err != nil {
		return nil, Reasonf(EINVALID, ReasonInvalidID, "subscription id: %s", ErrorMessage(err))
	}
	if len(c.Customer) > 128 {
		return nil, Errorf(EINVALID, "customer must be at most 128 characters")
	}
	plan, err := srvValidatePlan(c.Plan)
	if err != nil {
		return nil, err
	}
	months, err := srvPeriodMonths(c.Period)
	if err != nil {
		return nil, err
	}
	lease, err := srvCommandLease(c.Lease)
	if err != nil {
		return nil, err
	}
	subject := Aggregate{Kind: KindSubscription, ID: c.ID}.String()
	return srvEvents(subject, EventSubscriptionCreated, SubscriptionCreated{
		Customer: c.Customer, Plan: plan, Period: c.Period,
		PeriodStart: now, PeriodEnd: srvAddMonths(now, months), LeaseSeconds: int64(lease / time.Second),
		LicenseKeySHA256: c.LicenseKeySHA256,
	})
}

// decideChangePlan: R24. Only seats matter to the ledger: devices and assets
// are enforced by the product, which learns the new limits on its next check.
func (s *SubscriptionState) decideChangePlan(c SubscriptionChangePlan, now time.Time) ([]Event, error) {
	plan, err := srvValidatePlan(c.Plan)
	if err != nil {
		return nil, err
	}
	if err := s.requireValid(now); err != nil {
		return nil, err
	}
	if plan == s.Plan {
		return nil, nil
	}
	limit := plan.Instances + s.AddedInstances
	if inUse := s.Instances.HeldCount(now, s.Lease); limit < inUse {
		return nil, Reasonf(ECONFLICT, ReasonSubscriptionBelowInUse,
			"plan %s allows %d instance(s) but %d hold a seat now; stop %d first or add instances",
			plan.Name, limit, inUse, inUse-limit)
	}
	return srvEvents(s.Subject(), EventSubscriptionPlanChanged, SubscriptionPlanChanged{Plan: plan, Previous: s.Plan, InstanceLimit: limit})
}

// decideRenew extends the period by one. A subscription still in its period
// continues from its period end; an expired one (Decision) starts a fresh
// period at the renewal instant, since the time it lapsed was not paid for.
func (s *SubscriptionState) decideRenew(c SubscriptionRenew, now time.Time) ([]Event, error) {
	if !s.CanceledAt.IsZero() {
		return nil, s.notActive(now)
	}
	months, err := srvPeriodMonths(s.Period)
	if err != nil {
		return nil, Errorf(EINTERNAL, "subscription %s: %s", s.ID, ErrorMessage(err))
	}
	d := SubscriptionRenewed{Reference: c.Reference}
	if now.Before(s.PeriodEnd) {
		d.PeriodStart, d.PeriodEnd = s.PeriodEnd, srvAddMonths(s.PeriodAnchor, (s.PeriodCount+1)*months)
	} else {
		d.PeriodStart, d.PeriodEnd = now, srvAddMonths(now, months)
	}
	return srvEvents(s.Subject(), EventSubscriptionRenewed, d)
}

// requireValid refuses unless the subscription is active or past due at now.
func (s *SubscriptionState) requireValid(now time.Time) error {
	switch s.Status(now) {
	case SubscriptionStatusActive, SubscriptionStatusPastDue:
		return nil
	}
	return s.notActive(now)
}

func (s *SubscriptionState) notActive(now time.Time) error {
	st := s.Status(now)
	if st == SubscriptionStatusExpired {
		return Reasonf(ECONFLICT, ReasonSubscriptionNotActive, "subscription %s expired at %s; renew it first", s.ID, srvTimeText(s.PeriodEnd))
	}
	return Reasonf(ECONFLICT, ReasonSubscriptionNotActive, "subscription %s is %s", s.ID, st)
}

func (s *SubscriptionState) seatRules() seatRules {
	return seatRules{
		subject: s.Subject(),
		limit:   s.InstanceLimit(),
		lease:   s.Lease,
		valid:   s.requireValid,
		covers:  func(string, time.Time) error { return nil }, // a subscription covers every version
	}
}

func (s *SubscriptionState) reply(in InstanceSeat, now time.Time) InstanceCheckReply {
	return InstanceCheckReply{
		License: s.Subject(), Instance: in.ID, Status: s.Status(now),
		Plan: s.Plan, InstanceLimit: s.InstanceLimit(), Version: in.Version,
		PeriodEnd: srvTimeText(s.PeriodEnd), LeaseSeconds: int64(s.Lease / time.Second),
		SeatExpiresAt: srvTimeText(in.SeatExpiresAt(s.Lease)),
	}
}

// srvPlanInstances reads a plan's own instance count; 0 means one (R25).
func srvPlanInstances(p InstancePlan) int {
	if p.Instances < 1 {
		return 1
	}
	return p.Instances
}

// srvValidatePlan checks a plan from a command and fills the default of
// one instance, so events always carry an explicit count.
func srvValidatePlan(p InstancePlan) (InstancePlan, error) {
	if p.Name == "" || len(p.Name) > 64 {
		return InstancePlan{}, Reasonf(EINVALID, ReasonInvalidPlan, "plan name must be 1 to 64 characters, got %q", p.Name)
	}
	if p.Instances < 0 || p.Instances > 10000 || p.Devices < 0 || p.Assets < 0 {
		return InstancePlan{}, Reasonf(EINVALID, ReasonInvalidPlan, "plan %s: limits must be ≥ 0 (instances ≤ 10000), got instances %d devices %d assets %d",
			p.Name, p.Instances, p.Devices, p.Assets)
	}
	p.Instances = srvPlanInstances(p)
	return p, nil
}

func srvPeriodMonths(period string) (int, error) {
	switch period {
	case SubscriptionMonthly:
		return 1, nil
	case SubscriptionAnnual:
		return 12, nil
	}
	return 0, Reasonf(EINVALID, ReasonInvalidPeriod, "period must be %q or %q, got %q", SubscriptionMonthly, SubscriptionAnnual, period)
}

func srvCheckPeriod(e Event, period string, start, end time.Time) error {
	if _, err := srvPeriodMonths(period); err != nil {
		return Errorf(EINVALID, "event %s: %s", e.ID, ErrorMessage(err))
	}
	if start.IsZero() || !end.After(start) {
		return Errorf(EINVALID, "event %s: period %s..%s is empty", e.ID, srvTimeText(start), srvTimeText(end))
	}
	return nil
}
