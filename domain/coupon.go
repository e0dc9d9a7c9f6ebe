package domain

import "time"

// The coupon aggregate (R29): subject "coupon/<code>". Its expected version
// guards the redemption limit: two redemptions racing for the last use
// append against the same version, and the loser decides again and gets
// coupon-exhausted.

// CouponCommand is CouponCreate or CouponRedeem.
type CouponCommand interface{ couponCommand() }

// CouponCreate is an administrator creating a coupon for a partner. The
// coupon is redeemable before ExpiresAt, at most RedemptionLimit times.
type CouponCreate struct {
	Code            string
	Partner         string
	DiscountPercent int // 1..100
	RedemptionLimit int
	ExpiresAt       time.Time
}

// CouponRedeem redeems the coupon, optionally for a subscription. Decision:
// a subscription redeems a given coupon once (a second redemption for the
// same subscription is refused as coupon-already-redeemed), so a retried
// checkout cannot use up the partner's allowance twice.
type CouponRedeem struct{ Subscription string }

func (CouponCreate) couponCommand() {}
func (CouponRedeem) couponCommand() {}

// CouponRedemption is one recorded redemption.
type CouponRedemption struct {
	Subscription string
	At           time.Time
}

// CouponState is a coupon folded from its history; the zero value is a
// coupon not yet created. Not safe for concurrent mutation.
type CouponState struct {
	Code            string // empty until coupon.created
	Version         uint64
	Partner         string
	DiscountPercent int
	RedemptionLimit int
	ExpiresAt       time.Time
	CreatedAt       time.Time
	Redemptions     []CouponRedemption
}

// Created reports whether coupon.created has been folded.
func (s *CouponState) Created() bool { return s.Code != "" }

// Subject is the aggregate subject, "coupon/<code>".
func (s *CouponState) Subject() string { return Aggregate{Kind: KindCoupon, ID: s.Code}.String() }

// Status is "expired" at or after the expiry, else "exhausted" when the
// limit is reached, else "active".
func (s *CouponState) Status(at time.Time) string {
	switch {
	case !s.Created():
		return ""
	case !at.Before(s.ExpiresAt):
		return "expired"
	case len(s.Redemptions) >= s.RedemptionLimit:
		return "exhausted"
	default:
		return "active"
	}
}

// Clone returns a deep copy.
func (s *CouponState) Clone() *CouponState {
	c := *s
	c.Redemptions = append([]CouponRedemption(nil), s.Redemptions...)
	return &c
}

// FoldCoupon folds a coupon's history from scratch.
func FoldCoupon(events []Event) (*CouponState, error) {
	s := &CouponState{}
	for _, e := range events {
		if err := EvolveCoupon(s, e); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// CouponAsOf folds the events of coupon/<code> up to and including at, as
// SubscriptionAsOf does.
func CouponAsOf(events []Event, code string, at time.Time) (*CouponState, error) {
	s := &CouponState{}
	subject := Aggregate{Kind: KindCoupon, ID: code}.String()
	if err := srvAsOf(events, subject, at, func(e Event) error { return EvolveCoupon(s, e) }); err != nil {
		return nil, err
	}
	return s, nil
}

// EvolveCoupon applies one event of a coupon's history; the contract is
// EvolveSubscription's.
func EvolveCoupon(s *CouponState, e Event) error {
	if s == nil {
		return Errorf(EINTERNAL, "evolve coupon: nil state")
	}
	agg, err := ParseAggregate(e.Subject)
	if err != nil {
		return err
	}
	if agg.Kind != KindCoupon || (s.Created() && agg.ID != s.Code) {
		return Errorf(EINVALID, "event %s is for %s, not coupon %s", e.ID, e.Subject, s.Code)
	}
	if e.AggregateVersion != 0 && e.AggregateVersion != s.Version+1 {
		return Errorf(EINVALID, "event %s has aggregate version %d, want %d", e.ID, e.AggregateVersion, s.Version+1)
	}
	switch e.Type {
	case EventCouponCreated:
		if s.Created() {
			return Errorf(EINVALID, "event %s: coupon %s created twice", e.ID, s.Code)
		}
		var d CouponCreated
		if err := srvDecode(e, &d); err != nil {
			return err
		}
		if d.RedemptionLimit < 1 || d.ExpiresAt.IsZero() {
			return Errorf(EINVALID, "event %s: coupon needs a redemption limit ≥ 1 and an expiry", e.ID)
		}
		s.Code, s.Partner, s.DiscountPercent = agg.ID, d.Partner, d.DiscountPercent
		s.RedemptionLimit, s.ExpiresAt, s.CreatedAt = d.RedemptionLimit, d.ExpiresAt.UTC(), e.Time.UTC()
	case EventCouponRedeemed:
		if !s.Created() {
			return Errorf(EINVALID, "event %s (%s) comes before coupon.created", e.ID, e.Type)
		}
		var d CouponRedeemed
		if err := srvDecode(e, &d); err != nil {
			return err
		}
		if d.Redemption != 0 && d.Redemption != len(s.Redemptions)+1 {
			return Errorf(EINVALID, "event %s: redemption %d, but %d came before", e.ID, d.Redemption, len(s.Redemptions))
		}
		s.Redemptions = append(s.Redemptions, CouponRedemption{Subscription: d.Subscription, At: e.Time.UTC()})
	default:
		return Errorf(EINVALID, "event %s: unknown coupon event type %q", e.ID, e.Type)
	}
	s.Version++
	return nil
}

// DecideCoupon decides a command at instant now; refusals are *Error with
// a Code and, for R29 refusals, a Reason (coupon-expired, coupon-exhausted).
func DecideCoupon(s *CouponState, cmd CouponCommand, now time.Time) ([]Event, error) {
	if s == nil {
		s = &CouponState{}
	}
	if now.IsZero() {
		return nil, Errorf(EINVALID, "decide coupon: no decision instant")
	}
	now = now.UTC()
	switch c := cmd.(type) {
	case CouponCreate:
		if s.Created() {
			return nil, Reasonf(ECONFLICT, ReasonCouponExists, "coupon %s already exists", s.Code)
		}
		if err := ValidateID(c.Code); err != nil {
			return nil, Reasonf(EINVALID, ReasonInvalidID, "coupon code: %s", ErrorMessage(err))
		}
		if err := ValidateID(c.Partner); err != nil {
			return nil, Reasonf(EINVALID, ReasonInvalidID, "partner: %s", ErrorMessage(err))
		}
		switch {
		case c.DiscountPercent < 1 || c.DiscountPercent > 100:
			return nil, Reasonf(EINVALID, ReasonInvalidCoupon, "discount must be 1..100 percent, got %d", c.DiscountPercent)
		case c.RedemptionLimit < 1 || c.RedemptionLimit > 1_000_000:
			return nil, Reasonf(EINVALID, ReasonInvalidCoupon, "redemption limit must be 1..1000000, got %d", c.RedemptionLimit)
		case !c.ExpiresAt.After(now):
			return nil, Reasonf(EINVALID, ReasonInvalidCoupon, "coupon expiry %s is not after now (%s)", srvTimeText(c.ExpiresAt), srvTimeText(now))
		}
		return srvEvents(Aggregate{Kind: KindCoupon, ID: c.Code}.String(), EventCouponCreated, CouponCreated{
			Partner: c.Partner, DiscountPercent: c.DiscountPercent, RedemptionLimit: c.RedemptionLimit, ExpiresAt: c.ExpiresAt.UTC(),
		})
	case CouponRedeem:
		if !s.Created() {
			return nil, Reasonf(ENOTFOUND, ReasonCouponUnknown, "no such coupon")
		}
		if c.Subscription != "" {
			if err := ValidateID(c.Subscription); err != nil {
				return nil, Reasonf(EINVALID, ReasonInvalidID, "subscription: %s", ErrorMessage(err))
			}
		}
		if !now.Before(s.ExpiresAt) {
			return nil, Reasonf(ECONFLICT, ReasonCouponExpired, "coupon %s expired at %s", s.Code, srvTimeText(s.ExpiresAt))
		}
		if len(s.Redemptions) >= s.RedemptionLimit {
			return nil, Reasonf(ECONFLICT, ReasonCouponExhausted, "coupon %s has been redeemed %d of %d times", s.Code, len(s.Redemptions), s.RedemptionLimit)
		}
		if c.Subscription != "" {
			for _, r := range s.Redemptions {
				if r.Subscription == c.Subscription {
					return nil, Reasonf(ECONFLICT, ReasonCouponAlreadyRedeemed, "subscription %s already redeemed coupon %s", c.Subscription, s.Code)
				}
			}
		}
		return srvEvents(s.Subject(), EventCouponRedeemed, CouponRedeemed{
			Partner: s.Partner, Subscription: c.Subscription, DiscountPercent: s.DiscountPercent, Redemption: len(s.Redemptions) + 1,
		})
	case nil:
		return nil, Errorf(EINVALID, "decide coupon: no command")
	default:
		return nil, Errorf(EINVALID, "decide coupon: unsupported command %T", cmd)
	}
}

// CouponDoc is the query shape of a coupon at an instant.
type CouponDoc struct {
	Coupon string `json:"coupon"`
	At     string `json:"at"`
	// AsOf is the log position of the view, set by the reader that folded it
	// (absent for a history without stream sequences, e.g. a fixture).
	AsOf            *LogPosition          `json:"as_of,omitempty"`
	Version         uint64                `json:"version"`
	Status          string                `json:"status"`
	Partner         string                `json:"partner"`
	DiscountPercent int                   `json:"discount_percent"`
	RedemptionLimit int                   `json:"redemption_limit"`
	Redeemed        int                   `json:"redeemed"`
	Remaining       int                   `json:"remaining"`
	CreatedAt       string                `json:"created_at"`
	ExpiresAt       string                `json:"expires_at"`
	Redemptions     []CouponRedemptionDoc `json:"redemptions"`
}

// CouponRedemptionDoc is one redemption in a CouponDoc.
type CouponRedemptionDoc struct {
	Redemption   int    `json:"redemption"`
	Subscription string `json:"subscription,omitempty"`
	At           string `json:"at"`
}

// CouponView renders s at instant at, as SubscriptionView does.
func CouponView(s *CouponState, at time.Time) (CouponDoc, error) {
	if s == nil || !s.Created() {
		return CouponDoc{}, Reasonf(ENOTFOUND, ReasonCouponUnknown, "no such coupon")
	}
	at = at.UTC()
	d := CouponDoc{
		Coupon: s.Code, At: srvTimeText(at), Version: s.Version, Status: s.Status(at),
		Partner: s.Partner, DiscountPercent: s.DiscountPercent, RedemptionLimit: s.RedemptionLimit,
		Redeemed: len(s.Redemptions), Remaining: max(0, s.RedemptionLimit-len(s.Redemptions)),
		CreatedAt: srvTimeText(s.CreatedAt), ExpiresAt: srvTimeText(s.ExpiresAt),
		Redemptions: make([]CouponRedemptionDoc, 0, len(s.Redemptions)),
	}
	for i, r := range s.Redemptions {
		d.Redemptions = append(d.Redemptions, CouponRedemptionDoc{Redemption: i + 1, Subscription: r.Subscription, At: srvTimeText(r.At)})
	}
	return d, nil
}
