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
	p := &PerpetualState{}
	note(srvPerpDo(t, p, PerpetualPurchase{ID: "P-1", Plan: InstancePlan{Name: "pe"}}, now))
	note(srvPerpDo(t, p, PerpetualRenewUpdates{}, now))
	note(srvSubDo(t, s, SubscriptionAttachFallback{Fallback: p}, now)) // R28 Decision (fallback)
	note(srvSubDo(t, s, SubscriptionDetachFallback{}, now))
	note(srvSubDo(t, s, SubscriptionCancel{}, now))
	note(srvSubDo(t, &SubscriptionState{}, SubscriptionCreate{ID: "S-9", Plan: InstancePlan{Name: "p"}, Period: SubscriptionAnnual}, now))

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

// R32: "as of T" folds exactly the aggregate's events recorded up to T,
// passing over other aggregates' events.
func TestAsOf(t *testing.T) {
	s := srvNewSub(t, 1)
	var history []Event
	created, _ := DecideSubscription(&SubscriptionState{}, SubscriptionCreate{ID: "S-1", Plan: InstancePlan{Name: "p"}, Period: SubscriptionMonthly}, srvT0)
	history = append(history, srvStamp(created, srvT0)...)
	coupon, _ := DecideCoupon(&CouponState{}, CouponCreate{Code: "C-1", Partner: "p", DiscountPercent: 5, RedemptionLimit: 1, ExpiresAt: srvT0.AddDate(1, 0, 0)}, srvT0)
	history = append(history, srvStamp(coupon, srvT0.Add(time.Minute))...)
	history = append(history, srvStamp(srvSubDo(t, s, SubscriptionCancel{}, srvT0.Add(time.Hour)), srvT0.Add(time.Hour))...)

	tests := []struct {
		name   string
		at     time.Time
		status string
	}{
		{"before the cancel", srvT0.Add(time.Hour - time.Nanosecond), SubscriptionStatusActive},
		{"at the cancel", srvT0.Add(time.Hour), SubscriptionStatusCanceled},
		{"zero instant folds everything", time.Time{}, SubscriptionStatusCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SubscriptionAsOf(history, "S-1", tt.at)
			if err != nil {
				t.Fatal(err)
			}
			if st := got.Status(srvT0.Add(2 * time.Hour)); st != tt.status {
				t.Fatalf("status = %q, want %q", st, tt.status)
			}
		})
	}
	before, err := SubscriptionAsOf(history, "S-1", srvT0.Add(-time.Second))
	if err != nil || before.Created() {
		t.Fatalf("as of before creation: %+v, %v", before, err)
	}
	if _, err := SubscriptionView(before, srvT0); ErrorCode(err) != ENOTFOUND {
		t.Fatalf("view before creation: err = %v, want ENOTFOUND", err)
	}
	if _, err := SubscriptionAsOf(history, "S-2", time.Time{}); ErrorCode(err) != ENOTFOUND {
		t.Fatalf("unknown subscription: err = %v, want ENOTFOUND", err)
	}
	if c, err := CouponAsOf(history, "C-1", time.Time{}); err != nil || !c.Created() {
		t.Fatalf("coupon as of: %+v, %v", c, err)
	}
	if _, err := PerpetualAsOf(history, "P-1", time.Time{}); ErrorCode(err) != ENOTFOUND {
		t.Fatalf("unknown perpetual: err = %v, want ENOTFOUND", err)
	}
}
