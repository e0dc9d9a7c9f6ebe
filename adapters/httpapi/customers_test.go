package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Tokens scoped to customer acme, one per role.
const (
	acmeAdmin   = "acme-admin-token-000001"
	acmeAuditor = "acme-auditor-token-00001"
	acmeBilling = "acme-billing-token-00001"
	acmeClient  = "acme-client-token-000001"
)

// twoCustomers is a ledger holding the same things for customers acme and
// beta, with tokens scoped to acme.
func twoCustomers(t *testing.T) (*licEnv, map[string]string) {
	t.Helper()
	e := newLicEnv(t, func(c *Config) {
		tokens, err := ParseTokens([]byte("admin " + adminToken + "\nclient " + clientToken +
			"\nadmin " + acmeAdmin + " acme\nauditor " + acmeAuditor + " acme\nbilling " + acmeBilling + " acme\nclient " + acmeClient + " acme"))
		if err != nil {
			t.Fatal(err)
		}
		c.Tokens = tokens
	})
	keys := map[string]string{}
	for _, cust := range []string{"acme", "beta"} {
		p := "P-" + cust
		e.admin(http.StatusCreated, "POST", "/v1/platforms", RegisterRequest{ID: p, Nodes: []string{"mn-1"}, Customer: cust})
		e.admin(http.StatusCreated, "POST", "/v1/platforms/"+p+"/licenses", `{"id":"L-`+cust+`","kind":"base","edition":"standard","sockets":8,"issued_at":"2025-06-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}`)
		e.admin(http.StatusCreated, "POST", "/v1/platforms/"+p+"/hosts", HostRequest{Host: "h-1", Hypervisor: "kvm", Sockets: 2})
		e.admin(http.StatusCreated, "POST", "/v1/platforms/"+p+"/nodes/mn-1/usb-keys", USBKeyRequest{KeyID: "K-" + cust})
		e.admin(http.StatusCreated, "POST", "/v1/subscriptions", SubscriptionRequest{ID: "S-" + cust, Customer: cust, Plan: plan("team", 5), Period: "annual"})
		e.admin(http.StatusCreated, "POST", "/v1/perpetual", PerpetualRequest{ID: "Q-" + cust, Customer: cust, Plan: plan("solo", 1)})
		keys[cust] = e.key("subscription/S-" + cust)
		keys[cust+"/perpetual"] = e.key("perpetual/Q-" + cust)
	}
	e.admin(http.StatusCreated, "POST", "/v1/coupons", CouponRequest{Code: "C-1", Partner: "reseller", DiscountPercent: 10, RedemptionLimit: 9, ExpiresAt: t0.Add(99 * time.Hour)})
	return e, keys
}

// pathFor fills a route pattern with cust's resources.
func pathFor(pattern, cust string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	r := strings.NewReplacer("/v1/platforms/{id}", "/v1/platforms/P-"+cust, "/v1/subscriptions/{id}", "/v1/subscriptions/S-"+cust,
		"/v1/perpetual/{id}", "/v1/perpetual/Q-"+cust, "/v1/customers/{id}", "/v1/customers/"+cust,
		"{node}", "mn-1", "{license}", "L-"+cust, "{key}", "K-"+cust, "{host}", "h-1", "{code}", "C-1", "{partner}", "reseller",
		"/v1/instances/{id}", "/v1/instances/I-1", "/v1/events/{id}", "/v1/events/E-"+cust)
	return method, r.Replace(path)
}

// Issue 11, done when: with two customers and scoped tokens, every route
// is tried with acme's tokens on beta's resources: none answers a
// success, none changes anything, and a resource of beta's answers as if
// it did not exist (404, the same refusal as a missing one). On acme's
// own resources the same tokens work as their role allows.
func TestCustomerScopedTokensCannotCrossCustomers(t *testing.T) {
	t.Parallel()
	e, keys := twoCustomers(t)
	// Events of each customer, by id, for /v1/events/{id}.
	events := map[string]string{}
	for _, cust := range []string{"acme", "beta"} {
		var tl struct{ Entries []struct{ Event string } }
		json.Unmarshal(e.call("GET", "/v1/platforms/P-"+cust+"/timeline", adminToken, nil).body, &tl)
		events[cust] = tl.Entries[0].Event
	}
	bodyFor := func(method, path, cust string) any {
		switch {
		case strings.HasPrefix(path, "/v1/instances/"):
			return map[string]any{"license_key": keys[cust], "product_version": "1.0", "secret": strings.Repeat("s", 32)}
		case method == "POST" && strings.HasSuffix(path, "/usb-keys"):
			return USBKeyRequest{KeyID: "K-new"}
		case method == "POST" && strings.HasSuffix(path, "/hosts"):
			return HostRequest{Host: "h-2", Hypervisor: "kvm", Sockets: 1}
		case method == "POST" && strings.HasSuffix(path, "/nodes"):
			return NodeRequest{Node: "mn-2"}
		case method == "PUT":
			return PlanRequest{Plan: plan("team", 6)}
		case method == "POST" && strings.HasSuffix(path, "/instances"):
			return AddInstancesRequest{Count: 1}
		case method == "POST" && strings.HasSuffix(path, "/licenses"):
			return `{"id":"L-x","kind":"plus","module":"gpu","issued_at":"2025-06-01T00:00:00Z"}`
		}
		return nil
	}
	tried := 0
	for _, pattern := range e.api.Patterns() {
		method, path := pathFor(pattern, "beta")
		if !strings.HasPrefix(path, "/v1/") || pattern == "POST /v1/platforms" || pattern == "POST /v1/subscriptions" ||
			pattern == "POST /v1/perpetual" || pattern == "POST /v1/coupons" {
			continue // creations: tried below
		}
		path = strings.Replace(path, "E-beta", events["beta"], 1)
		for _, token := range []string{acmeAdmin, acmeAuditor, acmeBilling, acmeClient} {
			before := e.lastSeq()
			r := e.call(method, path, token, bodyFor(method, path, "beta"))
			tried++
			switch {
			case r.status < 300 && (strings.Contains(path, "beta") || strings.Contains(string(r.body), "beta")):
				t.Errorf("%s %s with an acme token (%s...): %d, showing beta's: %s", method, path, token[:10], r.status, r.body)
			case r.status < 300: // a list, or an instance answer: acme's own only
			case r.status == http.StatusNotFound || r.status == http.StatusForbidden || r.status == http.StatusUnauthorized || r.status == http.StatusBadRequest:
			default:
				t.Errorf("%s %s with %s...: %d %s, want 400, 401, 403 or 404", method, path, token[:10], r.status, refusal(t, r))
			}
			if got := e.lastSeq(); got != before {
				t.Errorf("%s %s with %s... appended events", method, path, token[:10])
			}
		}
	}
	if tried < 100 {
		t.Fatalf("only %d requests tried", tried)
	}
	// No existence leak: beta's resources answer as missing ones do.
	for _, tc := range []struct{ beta, missing string }{
		{"/v1/platforms/P-beta/entitlement", "/v1/platforms/P-none/entitlement"},
		{"/v1/subscriptions/S-beta", "/v1/subscriptions/S-none"},
		{"/v1/perpetual/Q-beta", "/v1/perpetual/Q-none"},
		{"/v1/customers/beta", "/v1/customers/nobody"},
		{"/v1/events/" + events["beta"], "/v1/events/E-none"},
	} {
		a, b := refusal(t, e.call("GET", tc.beta, acmeAdmin, nil)), refusal(t, e.call("GET", tc.missing, acmeAdmin, nil))
		if a != b || !strings.HasPrefix(a, "404") {
			t.Errorf("%s answers %s, a missing one %s: want the same 404", tc.beta, a, b)
		}
	}
	// Creations for another customer are refused; for its own they work.
	for _, tc := range []struct {
		path string
		body any
	}{
		{"/v1/platforms", RegisterRequest{ID: "P-x", Nodes: []string{"mn-1"}, Customer: "beta"}},
		{"/v1/subscriptions", SubscriptionRequest{ID: "S-x", Customer: "beta", Plan: plan("team", 1), Period: "annual"}},
		{"/v1/perpetual", PerpetualRequest{ID: "Q-x", Customer: "beta", Plan: plan("solo", 1)}},
	} {
		if got := refusal(t, e.call("POST", tc.path, acmeAdmin, tc.body)); got != "403 forbidden/role-not-allowed" {
			t.Errorf("POST %s for beta with acme's admin: %s", tc.path, got)
		}
	}
	if r := e.call("POST", "/v1/subscriptions", acmeAdmin, SubscriptionRequest{ID: "S-own", Plan: plan("team", 1), Period: "annual"}); r.status != http.StatusCreated {
		t.Errorf("acme's admin creating for acme: %d %s", r.status, r.body)
	}
	// On acme's own resources the tokens work as their roles allow.
	for _, tc := range []struct {
		token, method, path string
		body                any
		want                int
	}{
		{acmeClient, "GET", "/v1/platforms/P-acme/entitlement", nil, 200},
		{acmeAuditor, "GET", "/v1/platforms/P-acme/timeline", nil, 200},
		{acmeBilling, "GET", "/v1/subscriptions/S-acme", nil, 200},
		{acmeAdmin, "PUT", "/v1/subscriptions/S-acme/plan", PlanRequest{Plan: plan("team", 7)}, 201},
		{acmeClient, "POST", "/v1/instances/activate", ActivateRequest{LicenseKey: keys["acme"], ProductVersion: "1.0"}, 201},
		{acmeAuditor, "GET", "/v1/customers/acme", nil, 200},
		{acmeAuditor, "GET", "/v1/events/" + events["acme"], nil, 200},
	} {
		if r := e.call(tc.method, tc.path, tc.token, tc.body); r.status != tc.want {
			t.Errorf("%s %s with an acme token: %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.want)
		}
	}
	// Lists show acme's only, even when asked for beta's.
	var pl page[PlatformItem]
	decodeInto(t, e.call("GET", "/v1/platforms", acmeAuditor, nil).body, &pl)
	if fmt.Sprint(len(pl.Items)) != "1" || pl.Items[0].ID != "P-acme" {
		t.Errorf("acme's platform list: %+v", pl.Items)
	}
	if got := refusal(t, e.call("GET", "/v1/subscriptions?customer=beta", acmeAuditor, nil)); got != "403 forbidden/role-not-allowed" {
		t.Errorf("acme listing beta's subscriptions: %s", got)
	}
}

// The lists page through everything by id, filter by customer, status and
// expiry, and GET /v1/customers/{id} says what a customer holds.
func TestListsAndCustomers(t *testing.T) {
	t.Parallel()
	e, _ := twoCustomers(t)
	var all page[PlatformItem]
	decodeInto(t, e.admin(http.StatusOK, "GET", "/v1/platforms?limit=1", nil).body, &all)
	if len(all.Items) != 1 || all.Items[0].ID != "P-acme" || all.Next != "P-acme" {
		t.Fatalf("first page: %+v", all)
	}
	decodeInto(t, e.admin(http.StatusOK, "GET", "/v1/platforms?limit=1&after="+all.Next, nil).body, &all)
	if len(all.Items) != 1 || all.Items[0].ID != "P-beta" || all.Items[0].Status != "licensed" || all.Items[0].Customer != "beta" || all.Items[0].Edition != "standard" {
		t.Fatalf("second page: %+v", all)
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/v1/platforms?customer=acme", 1},
		{"/v1/platforms?status=licensed", 2},
		{"/v1/platforms?status=unlicensed", 0},
		{"/v1/platforms?expiring_before=2027-06-01", 2},
		{"/v1/platforms?expiring_before=2026-06-01", 0},
		{"/v1/subscriptions", 2},
		{"/v1/subscriptions?customer=beta&status=active", 1},
		{"/v1/perpetual?customer=acme", 1},
		{"/v1/coupons", 1},
		{"/v1/customers", 2},
	} {
		var p page[json.RawMessage]
		decodeInto(t, e.admin(http.StatusOK, "GET", tc.path, nil).body, &p)
		if got := len(p.Items); got != tc.want {
			t.Errorf("%s: %d items, want %d", tc.path, got, tc.want)
		}
	}
	var doc CustomerDoc
	decodeInto(t, e.admin(http.StatusOK, "GET", "/v1/customers/beta", nil).body, &doc)
	if fmt.Sprint(doc.Platforms, doc.Subscriptions, doc.Perpetual) != "[P-beta] [S-beta] [Q-beta]" {
		t.Errorf("beta holds %+v", doc)
	}
	if got := refusal(t, e.call("GET", "/v1/platforms?limit=0", adminToken, nil)); got != "400 invalid/bad-parameter" {
		t.Errorf("limit 0: %s", got)
	}
}
