package httpapi

import "testing"

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
