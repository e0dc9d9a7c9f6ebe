package domain

import (
	"slices"
	"testing"
	"time"
)

// R30: everything that bills is an event of a subscription, perpetual or
// coupon aggregate (the billing feed subscribes to exactly those subjects),
// and BillableEventTypes lists every type the decisions produce — no more,
// no less — so the README's list for billing systems is complete.
func TestBillableEventsComplete(t *testing.T) {
	produced := map[string]string{} // type → subject kind
	note := func(events []Event) {
		for _, e := range events {
			agg, err := ParseAggregate(e.Subject)
			if err != nil {
				t.Fatalf("%s: %v", e.Type, err)
			}
			produced[e.Type] = agg.Kind
		}
	}
	s := srvNewSub(t, 1)
	now := srvT0.Add(time.Hour)
	for _, c := range []SubscriptionCommand{
		SubscriptionChangePlan{Plan: InstancePlan{Name: "big", Instances: 2}}, SubscriptionAddInstances{Count: 1},
		SubscriptionRenew{}, SubscriptionMarkPastDue{}, srvActivate("i-1"),
	} {
		note(srvSubDo(t, s, c, now))
	}
	c := srvCheck("i-1")
	c.Version = "9"
	note(srvSubDo(t, s, c, now))
	note(srvSubDo(t, s, InstanceDeactivate{InstanceID: "i-1", ByAdmin: true}, now))
	note(srvSubDo(t, s, SubscriptionCancel{}, now))
	note(srvSubDo(t, &SubscriptionState{}, SubscriptionCreate{ID: "S-9", Plan: InstancePlan{Name: "p"}, Period: SubscriptionAnnual}, now))

	p := &PerpetualState{}
	note(srvPerpDo(t, p, PerpetualPurchase{ID: "P-1", Plan: InstancePlan{Name: "pe"}}, now))
	note(srvPerpDo(t, p, PerpetualRenewUpdates{}, now))
	cp := &CouponState{}
	note(srvCouponDo(t, cp, CouponCreate{Code: "C-1", Partner: "p", DiscountPercent: 5, RedemptionLimit: 1, ExpiresAt: now.Add(time.Hour)}, now))
	note(srvCouponDo(t, cp, CouponRedeem{Subscription: "S-1"}, now))

	for typ, kind := range produced {
		if !slices.Contains([]string{KindSubscription, KindPerpetual, KindCoupon}, kind) {
			t.Errorf("%s lands on %s, outside the billing subjects", typ, kind)
		}
		if !slices.Contains(BillableEventTypes, typ) {
			t.Errorf("%s is produced but missing from BillableEventTypes", typ)
		}
	}
	for _, typ := range BillableEventTypes {
		if _, ok := produced[typ]; !ok {
			t.Errorf("BillableEventTypes lists %s, which no decision produced here", typ)
		}
	}
}
