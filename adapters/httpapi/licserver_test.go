package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// Every subscription command, in order, with its status and reason (R23
// statuses, R24 plan changes, R25 added instances).
func TestSubscriptionCommands(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	create := SubscriptionRequest{ID: "S-1", Customer: "acme", Plan: plan("team", 2), Period: "monthly"}
	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		want         string
	}{
		{"R23 create", "POST", "/v1/subscriptions", create, "201"},
		{"create again", "POST", "/v1/subscriptions", create, "409 conflict/subscription-exists"},
		{"create: bad period", "POST", "/v1/subscriptions", SubscriptionRequest{ID: "S-2", Plan: plan("team", 1), Period: "weekly"}, "400 invalid/"},
		{"create: bad id", "POST", "/v1/subscriptions", SubscriptionRequest{ID: "S 2", Plan: plan("team", 1), Period: "annual"}, "400 invalid/invalid-id"},
		{"create: no plan name", "POST", "/v1/subscriptions", SubscriptionRequest{ID: "S-2", Period: "annual"}, "400 invalid/"},
		{"create: lease too short", "POST", "/v1/subscriptions", SubscriptionRequest{ID: "S-2", Plan: plan("team", 1), Period: "annual", LeaseSeconds: 5}, "400 invalid/"},
		{"create: lease overflowing", "POST", "/v1/subscriptions", SubscriptionRequest{ID: "S-2", Plan: plan("team", 1), Period: "annual", LeaseSeconds: 1 << 62}, "400 invalid/"},
		{"R24 change plan", "PUT", "/v1/subscriptions/S-1/plan", PlanRequest{Plan: plan("business", 4)}, "201"},
		{"R24 same plan again", "PUT", "/v1/subscriptions/S-1/plan", PlanRequest{Plan: plan("business", 4)}, "200"},
		{"R25 add instances", "POST", "/v1/subscriptions/S-1/instances", AddInstancesRequest{Count: 3}, "201"},
		{"add no instances", "POST", "/v1/subscriptions/S-1/instances", AddInstancesRequest{}, "400 invalid/"},
		{"renew", "POST", "/v1/subscriptions/S-1/renewals", ReferenceRequest{Reference: "PAY-1"}, "201"},
		{"renew without a body", "POST", "/v1/subscriptions/S-1/renewals", nil, "201"},
		{"past due", "POST", "/v1/subscriptions/S-1/past-due", ReferenceRequest{Reference: "PAY-2"}, "201"},
		{"past due again records nothing", "POST", "/v1/subscriptions/S-1/past-due", nil, "200"},
		{"cancel", "POST", "/v1/subscriptions/S-1/cancel", CancelRequest{Reason: "customer left"}, "201"},
		{"renew a canceled subscription", "POST", "/v1/subscriptions/S-1/renewals", nil, "409 conflict/subscription-not-active"},
		{"change plan of a canceled subscription", "PUT", "/v1/subscriptions/S-1/plan", PlanRequest{Plan: plan("team", 2)}, "409 conflict/subscription-not-active"},
		{"unknown subscription", "POST", "/v1/subscriptions/NOPE/renewals", nil, "404 not_found/subscription-unknown"},
		{"unknown field", "POST", "/v1/subscriptions/S-1/cancel", `{"why":"x"}`, "400 invalid/unknown-field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refusal(t, e.call(tc.method, tc.path, adminToken, tc.body)); !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	if got, want := e.call("POST", "/v1/subscriptions", adminToken, SubscriptionRequest{ID: "S-9", Plan: plan("team", 1), Period: "annual"}).header.Get("Location"), "/v1/subscriptions/S-9"; got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	if got := e.call("POST", "/v1/subscriptions", adminToken, create).header.Get("Location"); got != "" {
		t.Errorf("refused create has Location %q", got)
	}
	var doc domain.SubscriptionDoc
	decodeInto(t, e.admin(http.StatusOK, "GET", "/v1/subscriptions/S-1", nil).body, &doc)
	want := domain.SubscriptionDoc{Subscription: "S-1", At: "2026-01-01T00:00:00Z", Version: 7, Status: "canceled", Customer: "acme",
		Plan: plan("business", 4), Period: "monthly", PeriodStart: "2026-03-01T00:00:00Z", PeriodEnd: "2026-04-01T00:00:00Z",
		PastDueSince: "2026-01-01T00:00:00Z", CanceledAt: "2026-01-01T00:00:00Z", InstancesAdded: 3, InstanceLimit: 7,
		LeaseSeconds: 86400, Instances: []domain.InstanceView{},
		AsOf: domain.Position(t0, doc.AsOf.Seq)} // its sequence: TestViewsAreReproducibleAtTheirPosition
	if got := doc; !sameJSON(t, got, want) {
		t.Errorf("view:\n got %+v\nwant %+v", got, want)
	}
}

// sameJSON compares two values by their JSON encoding.
func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ab, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ab, bb)
}

// R32: a view as of an instant folds only the events up to it, and a
// server with a cold cache (a fresh process) answers byte for byte what
// the warm one does.
func TestSubscriptionViewAsOf(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	license := e.subscription("S-1", 2, time.Hour)
	e.clock.Set(t0.Add(time.Hour))
	a := e.activate(license, "2.4.0")
	e.clock.Set(t0.Add(2 * time.Hour))
	e.admin(http.StatusCreated, "PUT", "/v1/subscriptions/S-1/plan", PlanRequest{Plan: plan("business", 4)})
	e.clock.Set(t0.Add(4 * time.Hour))

	var before domain.SubscriptionDoc
	r := e.admin(http.StatusOK, "GET", "/v1/subscriptions/S-1?at=2026-01-01T01:30:00Z", nil)
	decodeInto(t, r.body, &before)
	if got, want := before.Plan.Name+" "+before.At, "team 2026-01-01T01:30:00Z"; got != want {
		t.Errorf("as of 01:30: %s, want %s", got, want)
	}
	if got, want := len(before.Instances), 1; got != want || before.Instances[0].ID != a.InstanceID || before.Instances[0].Seat != "held" {
		t.Errorf("as of 01:30: instances %+v, want %s held", before.Instances, a.InstanceID)
	}
	if got, want := r.header.Get("ETag"), `"2"`; got != want {
		t.Errorf("ETag as of 01:30 = %s, want %s", got, want)
	}
	if got, want := refusal(t, e.call("GET", "/v1/subscriptions/S-1?at=2025-12-31T00:00:00Z", adminToken, nil)), "404 not_found/subscription-unknown"; got != want {
		t.Errorf("before creation: %s, want %s", got, want)
	}
	if got, want := refusal(t, e.call("GET", "/v1/subscriptions/S-1?at=yesterday", adminToken, nil)), "400 invalid/bad-parameter"; got != want {
		t.Errorf("bad at: %s, want %s", got, want)
	}

	now := e.admin(http.StatusOK, "GET", "/v1/subscriptions/S-1", nil)
	var doc domain.SubscriptionDoc
	decodeInto(t, now.body, &doc)
	if got, want := doc.Plan.Name+" "+doc.Instances[0].Seat, "business released"; got != want {
		t.Errorf("now: %s, want %s (lease lapsed at 02:15)", got, want)
	}
	cold := newServerOn(t, e) // another process: nothing cached
	for _, path := range []string{"/v1/subscriptions/S-1", "/v1/subscriptions/S-1?at=2026-01-01T01:30:00Z"} {
		if got, want := cold.admin(http.StatusOK, "GET", path, nil).body, e.admin(http.StatusOK, "GET", path, nil).body; !bytes.Equal(got, want) {
			t.Errorf("%s: cold server answers\n%s\nwarm server answers\n%s", path, got, want)
		}
	}
}

// newServerOn starts a second API server on e's event store, or on store
// when given: what another process would see, with its own empty cache.
func newServerOn(t testing.TB, e *licEnv, store ...*eventstore.Store) *licEnv {
	t.Helper()
	cfg := e.api.cfg
	if len(store) > 0 {
		cfg.Store = store[0]
	}
	api, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return &licEnv{env: &env{t: t, store: cfg.Store, db: e.db, q: e.q, runner: e.runner, api: api, srv: srv, clock: e.clock}, base: srv.URL}
}

// R28: purchase and renewal of a perpetual license's updates.
func TestPerpetualCommands(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		want         string
	}{
		{"purchase", "POST", "/v1/perpetual", PerpetualRequest{ID: "P-1", Customer: "acme", Plan: plan("perpetual", 1)}, "201"},
		{"purchase again", "POST", "/v1/perpetual", PerpetualRequest{ID: "P-1", Plan: plan("perpetual", 1)}, "409 conflict/perpetual-exists"},
		{"R28 one instance per license", "POST", "/v1/perpetual", PerpetualRequest{ID: "P-2", Plan: plan("perpetual", 2)}, "400 invalid/"},
		{"renew updates", "POST", "/v1/perpetual/P-1/renewals", ReferenceRequest{Reference: "INV-1"}, "201"},
		{"renew updates of an unknown license", "POST", "/v1/perpetual/NOPE/renewals", nil, "404 not_found/perpetual-unknown"},
		{"view of an unknown license", "GET", "/v1/perpetual/NOPE", nil, "404 not_found/perpetual-unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refusal(t, e.call(tc.method, tc.path, adminToken, tc.body)); !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	var doc domain.PerpetualDoc
	decodeInto(t, e.admin(http.StatusOK, "GET", "/v1/perpetual/P-1", nil).body, &doc)
	if got, want := doc.UpdatesUntil+" "+doc.PurchasedAt, "2028-01-01T00:00:00Z 2026-01-01T00:00:00Z"; got != want || doc.UpdateYears != 2 {
		t.Errorf("perpetual: %s, %d years; want %s, 2 years", got, doc.UpdateYears, want)
	}
}

// R29: coupons are redeemed up to their limit and before their expiry,
// each redemption recorded against the partner.
func TestCoupons(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	expires := t0.Add(48 * time.Hour)
	e.subscription("S-1", 2, 24*time.Hour)
	e.subscription("S-3", 2, 24*time.Hour)
	for _, tc := range []struct {
		name         string
		method, path string
		body         any
		want         string
		at           time.Duration
	}{
		{"create", "POST", "/v1/coupons", CouponRequest{Code: "WELCOME", Partner: "reseller-1", DiscountPercent: 20, RedemptionLimit: 2, ExpiresAt: expires}, "201", 0},
		{"create again", "POST", "/v1/coupons", CouponRequest{Code: "WELCOME", Partner: "reseller-1", DiscountPercent: 20, RedemptionLimit: 2, ExpiresAt: expires}, "409 conflict/coupon-exists", 0},
		{"create without expiry", "POST", "/v1/coupons", CouponRequest{Code: "C-2", Partner: "reseller-1", DiscountPercent: 20, RedemptionLimit: 2}, "400 invalid/", 0},
		{"create with a 0% discount", "POST", "/v1/coupons", CouponRequest{Code: "C-2", Partner: "reseller-1", RedemptionLimit: 2, ExpiresAt: expires}, "400 invalid/", 0},
		{"create a short-lived one", "POST", "/v1/coupons", CouponRequest{Code: "FLASH", Partner: "reseller-2", DiscountPercent: 50, RedemptionLimit: 9, ExpiresAt: t0.Add(time.Hour)}, "201", 0},
		{"redeem for S-1", "POST", "/v1/coupons/WELCOME/redemptions", RedeemRequest{Subscription: "S-1"}, "201", 0},
		{"redeem for S-1 again", "POST", "/v1/coupons/WELCOME/redemptions", RedeemRequest{Subscription: "S-1"}, "409 conflict/coupon-already-redeemed", 0},
		{"redeem with no subscription", "POST", "/v1/coupons/WELCOME/redemptions", nil, "201", time.Hour},
		{"redeem past the limit", "POST", "/v1/coupons/WELCOME/redemptions", RedeemRequest{Subscription: "S-3"}, "409 conflict/coupon-exhausted", time.Hour},
		{"redeem past the expiry", "POST", "/v1/coupons/FLASH/redemptions", RedeemRequest{Subscription: "S-3"}, "409 conflict/coupon-expired", time.Hour},
		{"redeem an unknown coupon", "POST", "/v1/coupons/NOPE/redemptions", nil, "404 not_found/coupon-unknown", time.Hour},
		// Found by outside testing: a redemption for a subscription that
		// does not exist was recorded. It is refused and records nothing.
		{"redeem for a subscription that does not exist", "POST", "/v1/coupons/FLASH/redemptions", RedeemRequest{Subscription: "S-404"}, "404 not_found/subscription-unknown", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.clock.Set(t0.Add(tc.at))
			if got := refusal(t, e.call(tc.method, tc.path, adminToken, tc.body)); !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	var doc domain.CouponDoc
	decodeInto(t, e.admin(http.StatusOK, "GET", "/v1/coupons/WELCOME", nil).body, &doc)
	want := domain.CouponDoc{Coupon: "WELCOME", At: "2026-01-01T01:00:00Z", Version: 3, Status: "exhausted", Partner: "reseller-1",
		DiscountPercent: 20, RedemptionLimit: 2, Redeemed: 2, Remaining: 0, CreatedAt: "2026-01-01T00:00:00Z", ExpiresAt: "2026-01-03T00:00:00Z",
		Redemptions: []domain.CouponRedemptionDoc{{Redemption: 1, Subscription: "S-1", At: "2026-01-01T00:00:00Z"}, {Redemption: 2, At: "2026-01-01T01:00:00Z"}},
		AsOf:        domain.Position(t0.Add(time.Hour), doc.AsOf.Seq)} // its sequence: TestViewsAreReproducibleAtTheirPosition
	if !sameJSON(t, doc, want) {
		t.Errorf("coupon view:\n got %+v\nwant %+v", doc, want)
	}
}

// The license-server routes use the platform API's roles: instances are
// clients (or an admin), commands admin only, views every reader.
func TestLicenseServerRoles(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	license := e.subscription("S-1", 2, time.Hour)
	activate := ActivateRequest{LicenseKey: license, ProductVersion: "2.4.0"}
	byName := ActivateRequest{LicenseKey: "subscription/S-1", ProductVersion: "2.4.0"}
	for _, tc := range []struct {
		name, token, method, path string
		body                      any
		want                      string
	}{
		{"no token, the license's name (R27 Decision (trust))", "", "POST", "/v1/instances/activate", byName, "401 unauthorized/license-key-required"},
		{"a client token, the license's name", clientToken, "POST", "/v1/instances/activate", byName, "401 unauthorized/license-key-required"},
		{"no token, the license key", "", "POST", "/v1/instances/activate", activate, "201"},
		{"no token, a wrong key", "", "POST", "/v1/instances/activate", ActivateRequest{LicenseKey: license[:len(license)-2] + "xx", ProductVersion: "2.4.0"}, "401 unauthorized/wrong-license-key"},
		{"no token, a command", "", "POST", "/v1/subscriptions/S-1/cancel", nil, "401 unauthorized/missing-token"},
		{"bad token", "not-a-token-at-all-000", "POST", "/v1/instances/activate", activate, "401 unauthorized/bad-token"},
		{"auditor may not activate", auditorToken, "POST", "/v1/instances/activate", activate, "403 forbidden/role-not-allowed"},
		{"client may not create", clientToken, "POST", "/v1/subscriptions", SubscriptionRequest{ID: "S-2", Plan: plan("team", 1), Period: "monthly"}, "403 forbidden/role-not-allowed"},
		{"billing may not cancel", billingToken, "POST", "/v1/subscriptions/S-1/cancel", nil, "403 forbidden/role-not-allowed"},
		{"client may not read a subscription", clientToken, "GET", "/v1/subscriptions/S-1", nil, "403 forbidden/role-not-allowed"},
		{"auditor reads a subscription", auditorToken, "GET", "/v1/subscriptions/S-1", nil, "200"},
		{"billing reads a subscription", billingToken, "GET", "/v1/subscriptions/S-1", nil, "200"},
		{"client activates", clientToken, "POST", "/v1/instances/activate", activate, "201"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refusal(t, e.call(tc.method, tc.path, tc.token, tc.body)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// A command retried with the same Idempotency-Key gets the same answer and
// appends nothing again; If-Match guards against a stale read (the
// platform API's semantics).
func TestLicenseCommandIdempotencyAndIfMatch(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	e.subscription("S-1", 1, time.Hour)
	first := e.admin(http.StatusCreated, "POST", "/v1/subscriptions/S-1/instances", AddInstancesRequest{Count: 2}, "Idempotency-Key: order-77")
	again := e.admin(http.StatusCreated, "POST", "/v1/subscriptions/S-1/instances", AddInstancesRequest{Count: 2}, "Idempotency-Key: order-77")
	if !bytes.Equal(first.body, again.body) {
		t.Errorf("retry answered\n%s\nfirst answer\n%s", again.body, first.body)
	}
	if got, want := countType(e.events("subscription/S-1"), domain.EventSubscriptionInstancesAdded), 1; got != want {
		t.Errorf("%d instances_added events, want %d", got, want)
	}
	if got, want := first.header.Get("ETag"), `"2"`; got != want {
		t.Errorf("ETag %s, want %s", got, want)
	}
	r := e.call("POST", "/v1/subscriptions/S-1/renewals", adminToken, nil, `If-Match: "1"`)
	if got, want := refusal(t, r), "412 conflict/version-mismatch"; got != want {
		t.Errorf("stale If-Match: %s, want %s", got, want)
	}
	e.admin(http.StatusCreated, "POST", "/v1/subscriptions/S-1/renewals", nil, `If-Match: "2"`)
}

// An activation retried with the same Idempotency-Key gets the same
// instance and secret back (derived again, never stored); a server that
// cannot derive it (another process, another key) refuses clearly rather
// than hand out a secret that does not match.
func TestActivationIdempotency(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	license := e.subscription("S-1", 1, time.Hour)
	req := ActivateRequest{LicenseKey: license, ProductVersion: "2.4.0"}
	first := e.call("POST", "/v1/instances/activate", clientToken, req, "Idempotency-Key: boot-4f1c")
	again := e.call("POST", "/v1/instances/activate", clientToken, req, "Idempotency-Key: boot-4f1c")
	if first.status != http.StatusCreated || again.status != http.StatusCreated {
		t.Fatalf("statuses %d, %d: %s %s", first.status, again.status, first.body, again.body)
	}
	var a, b ActivateResponse
	decodeInto(t, first.body, &a)
	decodeInto(t, again.body, &b)
	if a.InstanceID != b.InstanceID || a.Secret != b.Secret {
		t.Errorf("retry got instance %s secret %s, first %s %s", b.InstanceID, b.Secret, a.InstanceID, a.Secret)
	}
	if got := refusal(t, e.checkIn(b, "")); got != "200" {
		t.Errorf("check with the replayed secret: %s", got)
	}
	if got, want := countType(e.events("subscription/S-1"), domain.EventInstanceActivated), 1; got != want {
		t.Errorf("%d activations recorded, want %d", got, want)
	}
	other := newServerOn(t, e)
	r := other.call("POST", "/v1/instances/activate", clientToken, req, "Idempotency-Key: boot-4f1c")
	if got, want := refusal(t, r), "409 conflict/idempotency-key-reused"; got != want {
		t.Errorf("replay on a server with another key: %s, want %s", got, want)
	}
	e.admin(http.StatusCreated, "POST", "/v1/subscriptions/S-1/instances", AddInstancesRequest{Count: 1}, "Idempotency-Key: order-1")
	r = e.call("POST", "/v1/instances/activate", adminToken, req, "Idempotency-Key: order-1")
	if got, want := refusal(t, r), "409 conflict/idempotency-key-reused"; got != want {
		t.Errorf("activation reusing the same caller's command key: %s, want %s", got, want)
	}
	// Keys are scoped to the caller (issue: idempotency handed out
	// secrets): another caller's same key is a request of its own, and
	// never gets the first caller's instance or secret.
	var mine, theirs ActivateResponse
	decodeInto(t, e.call("POST", "/v1/instances/activate", clientToken, req, "Idempotency-Key: shared-1").body, &mine)
	r = e.call("POST", "/v1/instances/activate", "", req, "Idempotency-Key: shared-1") // the license key alone: another caller
	if r.status == http.StatusCreated {
		decodeInto(t, r.body, &theirs)
	}
	if theirs.Secret == mine.Secret || theirs.InstanceID == mine.InstanceID {
		t.Errorf("another caller reusing an Idempotency-Key got %s (%s), the first caller's instance %s", theirs.InstanceID, refusal(t, r), mine.InstanceID)
	}
}
