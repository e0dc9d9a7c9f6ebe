package domain

import "time"

// The perpetual-license aggregate (R28): subject "perpetual/<id>". One
// instance runs, forever, any product version released while updates were
// paid for. Its single seat floats like a subscription's (R27) and lives in
// this aggregate, so the one-instance limit is guarded by its expected
// version; HA needs one perpetual license per instance.
//
// How a version carries its release date (Decision): activation and check
// commands carry the version string and its release instant, which the
// handler looks up in the vendor's release list — never the client's
// claim. The instant is recorded with the instance, so a later check of the
// same version needs no lookup. A version is covered when it was released
// before the end of the update window (released_at < updates_until, the
// half-open interval of R8); the window only grows, so a covered version
// stays covered forever.

// PerpetualCommand is a command on a perpetual license: PerpetualPurchase,
// PerpetualRenewUpdates, InstanceActivate, InstanceCheckIn or
// InstanceDeactivate.
type PerpetualCommand interface{ perpetualCommand() }

// PerpetualPurchase records a purchase at the decision instant: one year of
// updates from then. Plan.Instances must be 0 or 1. Lease 0 means
// InstanceDefaultLease.
type PerpetualPurchase struct {
	ID       string
	Customer string
	Plan     InstancePlan
	Lease    time.Duration
	// LicenseKeySHA256: as in SubscriptionCreate.
	LicenseKeySHA256 string
}

// PerpetualRenewUpdates pays one more year of updates. Decision: the year is
// added to the window's end whether renewed early or late (a late renewal
// back-pays the lapsed time, as maintenance reinstatement usually does), and
// every year is counted from the purchase instant, so windows never drift.
type PerpetualRenewUpdates struct{ Reference string }

func (PerpetualPurchase) perpetualCommand()     {}
func (PerpetualRenewUpdates) perpetualCommand() {}

// PerpetualState is a perpetual license folded from its history; the zero
// value is one not yet purchased. Not safe for concurrent mutation.
type PerpetualState struct {
	ID           string // empty until perpetual.purchased
	Version      uint64
	Customer     string
	Plan         InstancePlan
	PurchasedAt  time.Time
	UpdatesFrom  time.Time // the purchase instant the update years count from
	UpdateYears  int       // years of updates paid, including the first
	UpdatesUntil time.Time
	Lease        time.Duration
	Instances    InstanceSeats
	Keys         LicenseKeys
}

// Created reports whether perpetual.purchased has been folded.
func (s *PerpetualState) Created() bool { return s.ID != "" }

// Subject is the aggregate subject, "perpetual/<id>".
func (s *PerpetualState) Subject() string {
	return Aggregate{Kind: KindPerpetual, ID: s.ID}.String()
}

// Covers reports whether a version released at releasedAt may run (R28).
func (s *PerpetualState) Covers(releasedAt time.Time) bool {
	return !releasedAt.IsZero() && releasedAt.Before(s.UpdatesUntil)
}

// Clone returns a deep copy.
func (s *PerpetualState) Clone() *PerpetualState {
	c := *s
	c.Instances = s.Instances.clone()
	c.Keys = s.Keys.clone()
	return &c
}

// FoldPerpetual folds a perpetual license's history from scratch.
func FoldPerpetual(events []Event) (*PerpetualState, error) {
	s := &PerpetualState{}
	for _, e := range events {
		if err := EvolvePerpetual(s, e); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// PerpetualAsOf folds the events of perpetual/<id> up to and including at,
// as SubscriptionAsOf does.
func PerpetualAsOf(events []Event, id string, at time.Time) (*PerpetualState, error) {
	s := &PerpetualState{}
	subject := Aggregate{Kind: KindPerpetual, ID: id}.String()
	if err := srvAsOf(events, subject, at, func(e Event) error { return EvolvePerpetual(s, e) }); err != nil {
		return nil, err
	}
	return s, nil
}

// EvolvePerpetual applies one event of a perpetual license's history; the
// contract is EvolveSubscription's.
func EvolvePerpetual(s *PerpetualState, e Event) error {
	if s == nil {
		return Errorf(EINTERNAL, "evolve perpetual: nil state")
	}
	agg, err := ParseAggregate(e.Subject)
	if err != nil {
		return err
	}
	if agg.Kind != KindPerpetual || (s.Created() && agg.ID != s.ID) {
		return Errorf(EINVALID, "event %s is for %s, not perpetual %s", e.ID, e.Subject, s.ID)
	}
	if e.AggregateVersion != 0 && e.AggregateVersion != s.Version+1 {
		return Errorf(EINVALID, "event %s has aggregate version %d, want %d", e.ID, e.AggregateVersion, s.Version+1)
	}
	if e.Type != EventPerpetualPurchased && !s.Created() {
		return Errorf(EINVALID, "event %s (%s) comes before perpetual.purchased", e.ID, e.Type)
	}
	switch e.Type {
	case EventPerpetualPurchased:
		if s.Created() {
			return Errorf(EINVALID, "event %s: perpetual %s purchased twice", e.ID, s.ID)
		}
		var d PerpetualPurchased
		if err := srvDecode(e, &d); err != nil {
			return err
		}
		lease, err := srvLease(d.LeaseSeconds)
		if err != nil {
			return Errorf(EINVALID, "event %s: %s", e.ID, ErrorMessage(err))
		}
		if d.UpdatesFrom.IsZero() || !d.UpdatesUntil.After(d.UpdatesFrom) {
			return Errorf(EINVALID, "event %s: update window %s..%s is empty", e.ID, srvTimeText(d.UpdatesFrom), srvTimeText(d.UpdatesUntil))
		}
		s.ID, s.Customer, s.Plan, s.Lease, s.PurchasedAt = agg.ID, d.Customer, d.Plan, lease, e.Time.UTC()
		s.UpdatesFrom, s.UpdatesUntil, s.UpdateYears = d.UpdatesFrom.UTC(), d.UpdatesUntil.UTC(), 1
		s.Keys.Current = d.LicenseKeySHA256
	case EventPerpetualUpdatesRenewed:
		var d PerpetualUpdatesRenewed
		if err := srvDecode(e, &d); err != nil {
			return err
		}
		if !d.UpdatesUntil.After(s.UpdatesUntil) {
			return Errorf(EINVALID, "event %s: updates_until %s does not extend %s", e.ID, srvTimeText(d.UpdatesUntil), srvTimeText(s.UpdatesUntil))
		}
		s.UpdatesUntil = d.UpdatesUntil.UTC()
		s.UpdateYears++
	case EventInstanceActivated, EventInstanceCheckedIn, EventInstanceDeactivated:
		if err := s.Instances.evolve(e); err != nil {
			return err
		}
	case EventLicenseKeyIssued, EventLicenseKeyRevoked:
		if _, err := s.Keys.evolve(e); err != nil {
			return err
		}
	default:
		return Errorf(EINVALID, "event %s: unknown perpetual event type %q", e.ID, e.Type)
	}
	s.Version++
	return nil
}

// DecidePerpetual decides a command at instant now; the contract is
// DecideSubscription's.
func DecidePerpetual(s *PerpetualState, cmd PerpetualCommand, now time.Time) ([]Event, error) {
	if s == nil {
		s = &PerpetualState{}
	}
	if now.IsZero() {
		return nil, Errorf(EINVALID, "decide perpetual: no decision instant")
	}
	now = now.UTC()
	if c, ok := cmd.(PerpetualPurchase); ok {
		return s.decidePurchase(c, now)
	}
	if !s.Created() {
		return nil, Reasonf(ENOTFOUND, ReasonPerpetualUnknown, "no such perpetual license; purchase it first")
	}
	switch c := cmd.(type) {
	case PerpetualRenewUpdates:
		until := srvAddMonths(s.UpdatesFrom, 12*(s.UpdateYears+1))
		return srvEvents(s.Subject(), EventPerpetualUpdatesRenewed,
			PerpetualUpdatesRenewed{UpdatesUntil: until, Previous: s.UpdatesUntil, Reference: c.Reference})
	case InstanceActivate:
		_, events, err := PerpetualActivate(s, c, now)
		return events, err
	case InstanceCheckIn:
		_, events, err := PerpetualCheck(s, c, now)
		return events, err
	case InstanceDeactivate:
		return s.Instances.decideDeactivate(s.seatRules(), c)
	case LicenseKeyRotate, LicenseKeyRevoke:
		return s.Keys.decide(s.Subject(), c)
	case nil:
		return nil, Errorf(EINVALID, "decide perpetual: no command")
	default:
		return nil, Errorf(EINVALID, "decide perpetual: unsupported command %T", cmd)
	}
}

// PerpetualActivate decides an activation and returns the client's reply,
// as SubscriptionActivate does.
func PerpetualActivate(s *PerpetualState, cmd InstanceActivate, now time.Time) (InstanceCheckReply, []Event, error) {
	if !s.Created() {
		return InstanceCheckReply{}, nil, Reasonf(ENOTFOUND, ReasonPerpetualUnknown, "no such perpetual license")
	}
	now = now.UTC()
	in, events, err := s.Instances.decideActivate(s.seatRules(), cmd, now)
	if err != nil {
		return InstanceCheckReply{}, nil, err
	}
	return s.reply(in), events, nil
}

// PerpetualCheck decides a check-in and returns the reply, as
// SubscriptionCheck does.
func PerpetualCheck(s *PerpetualState, cmd InstanceCheckIn, now time.Time) (InstanceCheckReply, []Event, error) {
	if !s.Created() {
		return InstanceCheckReply{}, nil, Reasonf(ENOTFOUND, ReasonPerpetualUnknown, "no such perpetual license")
	}
	now = now.UTC()
	in, events, err := s.Instances.decideCheckIn(s.seatRules(), cmd, now)
	if err != nil {
		return InstanceCheckReply{}, nil, err
	}
	return s.reply(in), events, nil
}

func (s *PerpetualState) decidePurchase(c PerpetualPurchase, now time.Time) ([]Event, error) {
	if s.Created() {
		return nil, Reasonf(ECONFLICT, ReasonPerpetualExists, "perpetual license %s already exists", s.ID)
	}
	if err := ValidateID(c.ID); err != nil {
		return nil, Reasonf(EINVALID, ReasonInvalidID, "perpetual license id: %s", ErrorMessage(err))
	}
	if len(c.Customer) > 128 {
		return nil, Errorf(EINVALID, "customer must be at most 128 characters")
	}
	if c.Plan.Instances > 1 {
		return nil, Reasonf(EINVALID, ReasonInvalidPlan, "a perpetual license covers one instance, not %d; HA needs one license per instance", c.Plan.Instances)
	}
	plan, err := srvValidatePlan(c.Plan)
	if err != nil {
		return nil, err
	}
	lease, err := srvCommandLease(c.Lease)
	if err != nil {
		return nil, err
	}
	subject := Aggregate{Kind: KindPerpetual, ID: c.ID}.String()
	return srvEvents(subject, EventPerpetualPurchased, PerpetualPurchased{
		Customer: c.Customer, Plan: plan, UpdatesFrom: now, UpdatesUntil: srvAddMonths(now, 12),
		LeaseSeconds: int64(lease / time.Second), LicenseKeySHA256: c.LicenseKeySHA256,
	})
}

func (s *PerpetualState) seatRules() seatRules {
	return seatRules{
		subject:      s.Subject(),
		limit:        1, // R28: one instance per perpetual license
		lease:        s.Lease,
		valid:        func(time.Time) error { return nil }, // perpetual: valid forever
		covers:       s.covers,
		needReleased: true,
	}
}

func (s *PerpetualState) covers(version string, releasedAt time.Time) error {
	if s.Covers(releasedAt) {
		return nil
	}
	return Reasonf(EFORBIDDEN, ReasonInstanceVersionNotCovered,
		"version %s was released %s, after the update window of %s ended %s; run an older version or renew updates",
		version, srvTimeText(releasedAt), s.Subject(), srvTimeText(s.UpdatesUntil))
}

func (s *PerpetualState) reply(in InstanceSeat) InstanceCheckReply {
	return InstanceCheckReply{
		License: s.Subject(), Instance: in.ID, Status: SubscriptionStatusActive,
		Plan: s.Plan, InstanceLimit: 1, Version: in.Version,
		UpdatesUntil: srvTimeText(s.UpdatesUntil), LeaseSeconds: int64(s.Lease / time.Second),
		SeatExpiresAt: srvTimeText(in.SeatExpiresAt(s.Lease)),
	}
}

// PerpetualDoc is the query shape of a perpetual license at an instant.
type PerpetualDoc struct {
	Perpetual string `json:"perpetual"`
	At        string `json:"at"`
	// AsOf is the log position of the view, set by the reader that folded it
	// (absent for a history without stream sequences, e.g. a fixture).
	AsOf           *LogPosition   `json:"as_of,omitempty"`
	Version        uint64         `json:"version"`
	Status         string         `json:"status"`
	Customer       string         `json:"customer,omitempty"`
	Plan           InstancePlan   `json:"plan"`
	PurchasedAt    string         `json:"purchased_at"`
	UpdatesUntil   string         `json:"updates_until"`
	UpdateYears    int            `json:"update_years"`
	UpdatesActive  bool           `json:"updates_active"` // versions released at "at" are covered
	InstanceLimit  int            `json:"instance_limit"`
	InstancesInUse int            `json:"instances_in_use"`
	LeaseSeconds   int64          `json:"lease_seconds"`
	Instances      []InstanceView `json:"instances"`
}

// PerpetualView renders s at instant at, as SubscriptionView does.
func PerpetualView(s *PerpetualState, at time.Time) (PerpetualDoc, error) {
	if s == nil || !s.Created() {
		return PerpetualDoc{}, Reasonf(ENOTFOUND, ReasonPerpetualUnknown, "no such perpetual license")
	}
	at = at.UTC()
	return PerpetualDoc{
		Perpetual: s.ID, At: srvTimeText(at), Version: s.Version, Status: SubscriptionStatusActive,
		Customer: s.Customer, Plan: s.Plan,
		PurchasedAt: srvTimeText(s.PurchasedAt), UpdatesUntil: srvTimeText(s.UpdatesUntil),
		UpdateYears: s.UpdateYears, UpdatesActive: at.Before(s.UpdatesUntil),
		InstanceLimit: 1, InstancesInUse: s.Instances.HeldCount(at, s.Lease),
		LeaseSeconds: int64(s.Lease / time.Second), Instances: s.Instances.views(at, s.Lease),
	}, nil
}
