package httpapi

import (
	"net/http"
	"testing"
	"time"
)

// A token scoped to acme attaches a perpetual license as its own
// subscription's fallback: another customer's perpetual answers exactly
// as a missing one (no existence leak) and nothing is appended, else an
// acme instance would run on beta's purchase (R28) and acme's
// subscription history would name beta's license.
func TestScopedFallbackAttachRefusesAnotherCustomersPerpetual(t *testing.T) {
	t.Parallel()
	e, _ := twoCustomers(t)
	before := e.lastSeq()
	beta := refusal(t, e.call("POST", "/v1/subscriptions/S-acme/fallback", acmeAdmin, FallbackRequest{Perpetual: "Q-beta"}))
	missing := refusal(t, e.call("POST", "/v1/subscriptions/S-acme/fallback", acmeAdmin, FallbackRequest{Perpetual: "Q-none"}))
	if beta != missing || beta[:3] != "404" {
		t.Errorf("attach beta's perpetual with an acme token: %s, a missing one: %s; want the same 404", beta, missing)
	}
	if got := e.lastSeq(); got != before {
		t.Errorf("attaching beta's perpetual appended %d events", got-before)
	}
	// Its own perpetual still attaches.
	if r := e.call("POST", "/v1/subscriptions/S-acme/fallback", acmeAdmin, FallbackRequest{Perpetual: "Q-acme"}); r.status >= 300 {
		t.Errorf("attach acme's own perpetual: %d %s", r.status, r.body)
	}
}

// R28 Decision (fallback): a retried activation (the same Idempotency-Key,
// e.g. the license client's after an answer it never got) on a canceled
// subscription that runs on its perpetual fallback answers what the first
// answered, the same instance from the fallback, not the subscription's
// own refusal.
func TestRetriedActivationOnFallbackAnswersTheSame(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	license := e.subscription("S-1", 2, time.Hour)
	e.admin(http.StatusCreated, "POST", "/v1/perpetual", PerpetualRequest{ID: "P-1", Customer: "acme", Plan: plan("perpetual", 1), LeaseSeconds: 3600})
	e.admin(http.StatusCreated, "POST", "/v1/subscriptions/S-1/fallback", FallbackRequest{Perpetual: "P-1"})
	e.admin(http.StatusCreated, "POST", "/v1/subscriptions/S-1/cancel", CancelRequest{Reason: "left"})
	released := t0.Add(-24 * time.Hour)
	req := ActivateRequest{LicenseKey: license, ProductVersion: "2.4.0", ReleasedAt: &released}
	first := e.call("POST", "/v1/instances/activate", clientToken, req, "Idempotency-Key: act-1")
	if first.status != http.StatusCreated {
		t.Fatalf("activation on the fallback: %d %s", first.status, first.body)
	}
	again := e.call("POST", "/v1/instances/activate", clientToken, req, "Idempotency-Key: act-1")
	if again.status >= 300 {
		t.Fatalf("the same activation retried: %s, want the first answer", refusal(t, again))
	}
	var a, b ActivateResponse
	decodeInto(t, first.body, &a)
	decodeInto(t, again.body, &b)
	if a.InstanceID != b.InstanceID || a.Secret != b.Secret || a.Fallback != b.Fallback || b.Fallback == "" {
		t.Errorf("retry answered instance %s (fallback %q), the first %s (fallback %q)", b.InstanceID, b.Fallback, a.InstanceID, a.Fallback)
	}
}
