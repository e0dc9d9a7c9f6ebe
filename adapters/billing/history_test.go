package billing

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// ledger appends realistic license-server histories the way a handler
// does: fold, decide, append at the folded version, fold the stored
// records. Billable holds every billable record appended, in stream order.
type ledger struct {
	t         testing.TB
	store     *eventstore.Store
	subs      map[string]*domain.SubscriptionState
	perps     map[string]*domain.PerpetualState
	coupons   map[string]*domain.CouponState
	billable  []eventstore.Record
	platforms int
}

func newLedger(t testing.TB, store *eventstore.Store) *ledger {
	return &ledger{t: t, store: store, subs: map[string]*domain.SubscriptionState{},
		perps: map[string]*domain.PerpetualState{}, coupons: map[string]*domain.CouponState{}}
}

func (l *ledger) append(agg domain.Aggregate, version uint64, events []domain.Event) []eventstore.Record {
	l.t.Helper()
	if len(events) == 0 {
		return nil
	}
	recs, err := l.store.Append(context.Background(), agg, version, events...)
	if err != nil {
		l.t.Fatalf("append to %s: %v", agg, err)
	}
	if agg.Kind != domain.KindPlatform {
		l.billable = append(l.billable, recs...)
	}
	return recs
}

func (l *ledger) subscription(id string, cmd domain.SubscriptionCommand) {
	l.t.Helper()
	s := l.subs[id]
	if s == nil {
		s = &domain.SubscriptionState{}
		l.subs[id] = s
	}
	events, err := domain.DecideSubscription(s, cmd, time.Now())
	if err != nil {
		l.t.Fatalf("%s %T: %v", id, cmd, err)
	}
	for _, r := range l.append(domain.Aggregate{Kind: domain.KindSubscription, ID: id}, s.Version, events) {
		if err := domain.EvolveSubscription(s, r.Event); err != nil {
			l.t.Fatal(err)
		}
	}
}

func (l *ledger) perpetual(id string, cmd domain.PerpetualCommand) {
	l.t.Helper()
	s := l.perps[id]
	if s == nil {
		s = &domain.PerpetualState{}
		l.perps[id] = s
	}
	events, err := domain.DecidePerpetual(s, cmd, time.Now())
	if err != nil {
		l.t.Fatalf("%s %T: %v", id, cmd, err)
	}
	for _, r := range l.append(domain.Aggregate{Kind: domain.KindPerpetual, ID: id}, s.Version, events) {
		if err := domain.EvolvePerpetual(s, r.Event); err != nil {
			l.t.Fatal(err)
		}
	}
}

func (l *ledger) coupon(code string, cmd domain.CouponCommand) {
	l.t.Helper()
	s := l.coupons[code]
	if s == nil {
		s = &domain.CouponState{}
		l.coupons[code] = s
	}
	events, err := domain.DecideCoupon(s, cmd, time.Now())
	if err != nil {
		l.t.Fatalf("%s %T: %v", code, cmd, err)
	}
	for _, r := range l.append(domain.Aggregate{Kind: domain.KindCoupon, ID: code}, s.Version, events) {
		if err := domain.EvolveCoupon(s, r.Event); err != nil {
			l.t.Fatal(err)
		}
	}
}

// platformNoise appends a platform event, which billing must not see.
func (l *ledger) platformNoise() {
	l.t.Helper()
	l.platforms++
	id := fmt.Sprintf("plat-%d", l.platforms)
	e, err := domain.NewEvent("platform/"+id, domain.EventPlatformRegistered, domain.PlatformRegistered{Nodes: []string{"mn-1"}})
	if err != nil {
		l.t.Fatal(err)
	}
	l.append(domain.Aggregate{Kind: domain.KindPlatform, ID: id}, 0, []domain.Event{e})
}

// rounds appends rounds of billable activity to subs subscriptions (created
// on first use), a perpetual license and a coupon, interleaved with
// platform events: about subs+2 billable events per round.
func (l *ledger) rounds(from, to, subs int) {
	l.t.Helper()
	plans := []domain.InstancePlan{
		{Name: "startup", Instances: 1, Devices: 100, Assets: 100},
		{Name: "business", Instances: 3, Devices: 1000, Assets: 1000},
	}
	for r := from; r < to; r++ {
		for i := range subs {
			id := fmt.Sprintf("S-%d", i)
			if l.subs[id] == nil {
				l.subscription(id, domain.SubscriptionCreate{ID: id, Customer: "c" + id, Plan: plans[0], Period: domain.SubscriptionMonthly})
				continue
			}
			switch r % 4 {
			case 0:
				l.subscription(id, domain.SubscriptionAddInstances{Count: 1})
			case 1:
				l.subscription(id, domain.SubscriptionChangePlan{Plan: plans[(r/4+1)%2]})
			case 2:
				l.subscription(id, domain.SubscriptionMarkPastDue{Reference: fmt.Sprintf("inv-%d", r)})
			case 3:
				l.subscription(id, domain.SubscriptionRenew{Reference: fmt.Sprintf("inv-%d", r)})
			}
		}
		if l.perps["P-1"] == nil {
			l.perpetual("P-1", domain.PerpetualPurchase{ID: "P-1", Plan: domain.InstancePlan{Name: "pe"}})
		} else {
			l.perpetual("P-1", domain.PerpetualRenewUpdates{Reference: fmt.Sprintf("inv-p-%d", r)})
		}
		if l.coupons["C-1"] == nil {
			l.coupon("C-1", domain.CouponCreate{Code: "C-1", Partner: "reseller-7", DiscountPercent: 10, RedemptionLimit: 1_000_000, ExpiresAt: time.Now().AddDate(1, 0, 0)})
		} else {
			l.coupon("C-1", domain.CouponRedeem{Subscription: fmt.Sprintf("S-r%d", r)})
		}
		if r%3 == 0 {
			l.platformNoise()
		}
	}
}
