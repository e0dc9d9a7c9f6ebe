package httpapi

import (
	"net/http"
	"testing"
	"time"
)

// R29: each redemption is recorded against the partner; the partner's
// view gathers them over all its coupons, now and as of an earlier
// instant (R32), and leaves other partners' coupons out.
func TestPartnerRedemptions(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	expires := t0.Add(30 * 24 * time.Hour)
	for _, s := range []string{"S-1", "S-2", "S-3"} {
		e.subscription(s, 2, 24*time.Hour)
	}
	e.admin(http.StatusCreated, "POST", "/v1/coupons", CouponRequest{Code: "SPRING", Partner: "reseller-1", DiscountPercent: 20, RedemptionLimit: 2, ExpiresAt: expires})
	e.admin(http.StatusCreated, "POST", "/v1/coupons", CouponRequest{Code: "AUTUMN", Partner: "reseller-1", DiscountPercent: 10, RedemptionLimit: 5, ExpiresAt: expires})
	e.admin(http.StatusCreated, "POST", "/v1/coupons", CouponRequest{Code: "OTHER", Partner: "reseller-2", DiscountPercent: 50, RedemptionLimit: 5, ExpiresAt: expires})
	for _, step := range []struct {
		at       time.Duration
		code, to string
	}{
		{time.Hour, "SPRING", "S-1"},
		{2 * time.Hour, "OTHER", "S-2"},
		{2 * time.Hour, "AUTUMN", "S-3"},
		{2 * time.Hour, "SPRING", "S-3"},
		{3 * time.Hour, "AUTUMN", ""},
	} {
		e.clock.Set(t0.Add(step.at))
		e.admin(http.StatusCreated, "POST", "/v1/coupons/"+step.code+"/redemptions", RedeemRequest{Subscription: step.to})
	}

	for _, tc := range []struct {
		name, path string
		want       PartnerRedemptionsDoc
	}{
		{"now", "/v1/partners/reseller-1/redemptions", PartnerRedemptionsDoc{Partner: "reseller-1", At: "2026-01-01T03:00:00Z", Redeemed: 4,
			Coupons: []PartnerCouponDoc{
				{Coupon: "AUTUMN", Status: "active", DiscountPercent: 10, RedemptionLimit: 5, Redeemed: 2, Remaining: 3, ExpiresAt: "2026-01-31T00:00:00Z"},
				{Coupon: "SPRING", Status: "exhausted", DiscountPercent: 20, RedemptionLimit: 2, Redeemed: 2, Remaining: 0, ExpiresAt: "2026-01-31T00:00:00Z"},
			},
			Redemptions: []PartnerRedemptionDoc{
				{Coupon: "SPRING", Redemption: 1, Subscription: "S-1", DiscountPercent: 20, At: "2026-01-01T01:00:00Z"},
				{Coupon: "AUTUMN", Redemption: 1, Subscription: "S-3", DiscountPercent: 10, At: "2026-01-01T02:00:00Z"},
				{Coupon: "SPRING", Redemption: 2, Subscription: "S-3", DiscountPercent: 20, At: "2026-01-01T02:00:00Z"},
				{Coupon: "AUTUMN", Redemption: 2, DiscountPercent: 10, At: "2026-01-01T03:00:00Z"},
			}}},
		{"as of an earlier instant", "/v1/partners/reseller-1/redemptions?at=2026-01-01T01:30:00Z", PartnerRedemptionsDoc{Partner: "reseller-1", At: "2026-01-01T01:30:00Z", Redeemed: 1,
			Coupons: []PartnerCouponDoc{
				{Coupon: "AUTUMN", Status: "active", DiscountPercent: 10, RedemptionLimit: 5, Redeemed: 0, Remaining: 5, ExpiresAt: "2026-01-31T00:00:00Z"},
				{Coupon: "SPRING", Status: "active", DiscountPercent: 20, RedemptionLimit: 2, Redeemed: 1, Remaining: 1, ExpiresAt: "2026-01-31T00:00:00Z"},
			},
			Redemptions: []PartnerRedemptionDoc{{Coupon: "SPRING", Redemption: 1, Subscription: "S-1", DiscountPercent: 20, At: "2026-01-01T01:00:00Z"}}}},
		{"another partner", "/v1/partners/reseller-2/redemptions", PartnerRedemptionsDoc{Partner: "reseller-2", At: "2026-01-01T03:00:00Z", Redeemed: 1,
			Coupons:     []PartnerCouponDoc{{Coupon: "OTHER", Status: "active", DiscountPercent: 50, RedemptionLimit: 5, Redeemed: 1, Remaining: 4, ExpiresAt: "2026-01-31T00:00:00Z"}},
			Redemptions: []PartnerRedemptionDoc{{Coupon: "OTHER", Redemption: 1, Subscription: "S-2", DiscountPercent: 50, At: "2026-01-01T02:00:00Z"}}}},
		{"after every coupon expired", "/v1/partners/reseller-2/redemptions?at=2026-02-01T00:00:00Z", PartnerRedemptionsDoc{Partner: "reseller-2", At: "2026-02-01T00:00:00Z", Redeemed: 1,
			Coupons:     []PartnerCouponDoc{{Coupon: "OTHER", Status: "expired", DiscountPercent: 50, RedemptionLimit: 5, Redeemed: 1, Remaining: 4, ExpiresAt: "2026-01-31T00:00:00Z"}},
			Redemptions: []PartnerRedemptionDoc{{Coupon: "OTHER", Redemption: 1, Subscription: "S-2", DiscountPercent: 50, At: "2026-01-01T02:00:00Z"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got PartnerRedemptionsDoc
			decodeInto(t, e.admin(http.StatusOK, "GET", tc.path, nil).body, &got)
			if got.AsOf == nil {
				t.Fatal("no as_of")
			}
			got.AsOf = nil // the position: TestViewsAreReproducibleAtTheirPosition
			if !sameJSON(t, got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name, token, path, want string
	}{
		{"unknown partner", adminToken, "/v1/partners/nobody/redemptions", "404 not_found/partner-unknown"},
		{"before the partner's first coupon", adminToken, "/v1/partners/reseller-1/redemptions?at=2025-12-31T00:00:00Z", "404 not_found/partner-unknown"},
		{"bad partner id", adminToken, "/v1/partners/re%20seller/redemptions", "400 invalid/invalid-id"},
		{"bad instant", adminToken, "/v1/partners/reseller-1/redemptions?at=yesterday", "400 invalid/bad-parameter"},
		{"billing reads it", billingToken, "/v1/partners/reseller-1/redemptions", "200"},
		{"auditor reads it", auditorToken, "/v1/partners/reseller-1/redemptions", "200"},
		{"client may not", clientToken, "/v1/partners/reseller-1/redemptions", "403 forbidden/role-not-allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refusal(t, e.call("GET", tc.path, tc.token, nil)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
