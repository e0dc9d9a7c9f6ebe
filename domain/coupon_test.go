package domain

import (
	"encoding/json"
	"testing"
	"time"
)

func srvCouponDo(t *testing.T, s *CouponState, cmd CouponCommand, now time.Time) []Event {
	t.Helper()
	events, err := DecideCoupon(s, cmd, now)
	if err != nil {
		t.Fatalf("DecideCoupon(%T %+v): %v", cmd, cmd, err)
	}
	for _, e := range srvStamp(events, now) {
		if err := EvolveCoupon(s, e); err != nil {
			t.Fatalf("EvolveCoupon(%s): %v", e.Type, err)
		}
	}
	return events
}

// R29: an administrator creates a coupon with code, partner, discount,
// redemption limit and expiry.
func TestCouponCreate(t *testing.T) {
	exp := srvT0.AddDate(0, 3, 0)
	tests := []struct {
		name string
		cmd  CouponCreate
		code string
	}{
		{"valid", CouponCreate{Code: "SPRING-26", Partner: "reseller-7", DiscountPercent: 20, RedemptionLimit: 3, ExpiresAt: exp}, ""},
		{"bad code", CouponCreate{Code: "SPRING 26", Partner: "reseller-7", DiscountPercent: 20, RedemptionLimit: 3, ExpiresAt: exp}, EINVALID},
		{"no partner", CouponCreate{Code: "C", DiscountPercent: 20, RedemptionLimit: 3, ExpiresAt: exp}, EINVALID},
		{"zero discount", CouponCreate{Code: "C", Partner: "p", RedemptionLimit: 3, ExpiresAt: exp}, EINVALID},
		{"over 100%", CouponCreate{Code: "C", Partner: "p", DiscountPercent: 101, RedemptionLimit: 3, ExpiresAt: exp}, EINVALID},
		{"no limit", CouponCreate{Code: "C", Partner: "p", DiscountPercent: 5, ExpiresAt: exp}, EINVALID},
		{"already expired", CouponCreate{Code: "C", Partner: "p", DiscountPercent: 5, RedemptionLimit: 1, ExpiresAt: srvT0}, EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecideCoupon(&CouponState{}, tt.cmd, srvT0)
			if got := ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q, want %q (%v)", got, tt.code, err)
			}
		})
	}
	s := &CouponState{}
	srvCouponDo(t, s, tests[0].cmd, srvT0)
	_, err := DecideCoupon(s, tests[0].cmd, srvT0)
	srvWantRefusal(t, err, ECONFLICT, ReasonCouponExists)
}

// R29: redemptions past the limit or the expiry are refused; each one is
// recorded against the partner (and the subscription, when named).
func TestCouponRedeem(t *testing.T) {
	exp := srvT0.AddDate(0, 1, 0)
	s := &CouponState{}
	srvCouponDo(t, s, CouponCreate{Code: "SPRING-26", Partner: "reseller-7", DiscountPercent: 20, RedemptionLimit: 2, ExpiresAt: exp}, srvT0)
	_, err := DecideCoupon(&CouponState{}, CouponRedeem{}, srvT0)
	srvWantRefusal(t, err, ENOTFOUND, ReasonCouponUnknown)

	events := srvCouponDo(t, s, CouponRedeem{Subscription: "S-1"}, srvT0.Add(time.Hour))
	var d CouponRedeemed
	if err := json.Unmarshal(events[0].Data, &d); err != nil {
		t.Fatal(err)
	}
	if want := (CouponRedeemed{Partner: "reseller-7", Subscription: "S-1", DiscountPercent: 20, Redemption: 1}); d != want {
		t.Fatalf("redeemed = %+v, want %+v", d, want)
	}

	tests := []struct {
		name         string
		cmd          CouponRedeem
		at           time.Time
		code, reason string
	}{
		{"same subscription twice", CouponRedeem{Subscription: "S-1"}, srvT0.Add(2 * time.Hour), ECONFLICT, ReasonCouponAlreadyRedeemed},
		{"bad subscription id", CouponRedeem{Subscription: "S 2"}, srvT0.Add(2 * time.Hour), EINVALID, ReasonInvalidID},
		{"at the expiry", CouponRedeem{Subscription: "S-2"}, exp, ECONFLICT, ReasonCouponExpired},
		{"after the expiry", CouponRedeem{}, exp.Add(time.Hour), ECONFLICT, ReasonCouponExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecideCoupon(s, tt.cmd, tt.at)
			srvWantRefusal(t, err, tt.code, tt.reason)
		})
	}

	srvCouponDo(t, s, CouponRedeem{}, srvT0.Add(3*time.Hour)) // partner-only redemption
	_, err = DecideCoupon(s, CouponRedeem{Subscription: "S-3"}, srvT0.Add(4*time.Hour))
	srvWantRefusal(t, err, ECONFLICT, ReasonCouponExhausted)

	doc, err := CouponView(s, srvT0.Add(4*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(doc)
	want := `{"coupon":"SPRING-26","at":"2026-01-31T13:00:00Z","version":3,"status":"exhausted","partner":"reseller-7","discount_percent":20,"redemption_limit":2,"redeemed":2,"remaining":0,"created_at":"2026-01-31T09:00:00Z","expires_at":"2026-03-03T09:00:00Z","redemptions":[{"redemption":1,"subscription":"S-1","at":"2026-01-31T10:00:00Z"},{"redemption":2,"at":"2026-01-31T12:00:00Z"}]}`
	if string(got) != want {
		t.Fatalf("view\n got %s\nwant %s", got, want)
	}
	if err := EvolveCoupon(s, Event{ID: "x", Type: EventCouponRedeemed, Subject: "coupon/SPRING-26", Time: srvT0, Data: json.RawMessage(`{"redemption":7}`)}); ErrorCode(err) != EINVALID {
		t.Fatalf("out-of-sequence redemption: err = %v, want EINVALID", err)
	}
}
