package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

// asOfOf reads a view's log position.
func asOfOf(t *testing.T, body []byte) domain.LogPosition {
	t.Helper()
	var v struct {
		AsOf *domain.LogPosition `json:"as_of"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.AsOf == nil {
		t.Fatalf("no as_of in %s (%v)", body, err)
	}
	return *v.AsOf
}

// posQuery is the query string of a position.
func posQuery(p domain.LogPosition) string {
	return "at=" + url.QueryEscape(p.Time.Format(time.RFC3339Nano)) + "&seq=" + fmt.Sprint(p.Seq)
}

// withQuery appends a query string to a path that may have one.
func withQuery(path, q string) string {
	if strings.Contains(path, "?") {
		return path + "&" + q
	}
	return path + "?" + q
}

// R32: every view names its log position, and asked again at that
// position answers the same bytes, after the history has grown in every
// way that changes the views: rows the projectors rewrite (a node added
// again, a license brought again), a USB key pulled, hosts, a plan change,
// a redemption, and time passing (at a fractional instant, so an instant
// rounded to the second would show).
func TestViewsAreReproducibleAtTheirPosition(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	e.clock.Set(t0.Add(1500 * time.Millisecond))
	e.must(http.StatusCreated, "POST", "/v1/platforms", `{"id":"acme","nodes":["mn-1","mn-2"],"request_code":"RC-7F3A","customer":"ACME"}`)
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/licenses", bundleJSON)
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/hosts", `{"host":"h-1","hypervisor":"kvm","sockets":2}`)
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/nodes/mn-1/usb-keys", `{"key_id":"K-1"}`)
	e.admin(http.StatusCreated, "POST", "/v1/subscriptions", SubscriptionRequest{ID: "S-1", Customer: "ACME", Plan: plan("team", 3), Period: "monthly"})
	e.admin(http.StatusCreated, "POST", "/v1/perpetual", PerpetualRequest{ID: "P-1", Customer: "ACME", Plan: plan("team", 1)})
	e.admin(http.StatusCreated, "POST", "/v1/coupons", CouponRequest{Code: "C-1", Partner: "ptn", DiscountPercent: 10, RedemptionLimit: 5, ExpiresAt: t0.AddDate(1, 0, 0)})
	e.clock.Advance(time.Hour + 250*time.Millisecond)

	views := []string{
		"/v1/platforms/acme", "/v1/platforms/acme/entitlement", "/v1/platforms/acme/licenses",
		"/v1/platforms/acme/usb-keys", "/v1/platforms/acme/timeline", "/v1/platforms/acme/timeline?limit=2",
		"/v1/subscriptions/S-1", "/v1/perpetual/P-1", "/v1/coupons/C-1",
		"/v1/platforms", "/v1/subscriptions", "/v1/perpetual", "/v1/coupons", "/v1/customers/ACME",
		"/v1/partners/ptn/redemptions", "/v1/customers",
	}
	first := map[string][]byte{}
	pos := map[string]domain.LogPosition{}
	for _, v := range views {
		body := e.must(http.StatusOK, "GET", v, "").body
		first[v], pos[v] = body, asOfOf(t, body)
		if again := e.must(http.StatusOK, "GET", withQuery(v, posQuery(pos[v])), "").body; string(again) != string(body) {
			t.Fatalf("%s at its position %s answered\n%s\nnot\n%s", v, posQuery(pos[v]), again, body)
		}
	}
	// An explicit position in the middle of the history: only ?seq=.
	mid := pos["/v1/platforms/acme/timeline"].Seq - 1
	midBody := e.must(http.StatusOK, "GET", fmt.Sprintf("/v1/platforms/acme/licenses?seq=%d", mid), "").body
	midPos := asOfOf(t, midBody)
	if midPos.Seq > mid {
		t.Fatalf("?seq=%d answered as of %d", mid, midPos.Seq)
	}

	// The history grows.
	e.must(http.StatusOK, "DELETE", "/v1/platforms/acme/nodes/mn-2", "")
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/nodes", `{"node":"mn-2"}`)
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/licenses", `{"licenses":[
 {"id":"L-3","kind":"plus","module":"vmware","quantity":4,"issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}]}`)
	e.must(http.StatusOK, "DELETE", "/v1/platforms/acme/nodes/mn-1/usb-keys/K-1", "")
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/hosts", `{"host":"h-2","hypervisor":"kvm","sockets":4}`)
	e.admin(http.StatusCreated, "PUT", "/v1/subscriptions/S-1/plan", PlanRequest{Plan: plan("business", 5)})
	e.admin(http.StatusCreated, "POST", "/v1/coupons/C-1/redemptions", RedeemRequest{Subscription: "S-1"})
	e.admin(http.StatusCreated, "POST", "/v1/subscriptions", SubscriptionRequest{ID: "S-2", Customer: "ACME", Plan: plan("team", 1), Period: "monthly"})
	e.admin(http.StatusCreated, "POST", "/v1/subscriptions", SubscriptionRequest{ID: "S-3", Customer: "BETA", Plan: plan("team", 1), Period: "monthly"})
	e.clock.Advance(40 * 24 * time.Hour)

	for _, v := range views {
		if now := e.must(http.StatusOK, "GET", v, "").body; string(now) == string(first[v]) {
			t.Errorf("%s did not change with the history: the test proves nothing for it", v)
		}
		if got := e.must(http.StatusOK, "GET", withQuery(v, posQuery(pos[v])), "").body; string(got) != string(first[v]) {
			t.Errorf("%s at %s answered\n%s\nthen, before the history grew,\n%s", v, posQuery(pos[v]), got, first[v])
		}
	}
	if got := e.must(http.StatusOK, "GET", "/v1/platforms/acme/licenses?"+posQuery(midPos), "").body; string(got) != string(midBody) {
		t.Errorf("licenses at %s answered\n%s\nthen\n%s", posQuery(midPos), got, midBody)
	}
}

// A date means the last instant of that day in UTC; a bad position is
// refused with bad-parameter on every view.
func TestPositionParameters(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	e.registerAcme()
	body := e.must(http.StatusOK, "GET", "/v1/platforms/acme/entitlement?at=2026-01-01", "").body
	if got, want := asOfOf(t, body).Time, t0.AddDate(0, 0, 1).Add(-time.Nanosecond); !got.Equal(want) {
		t.Errorf("?at=2026-01-01 answered as of %s, want %s", got, want)
	}
	for _, q := range []string{"at=yesterday", "at=2026-13-01", "at=", "seq=0", "seq=-1", "seq=x", "seq="} {
		for _, v := range []string{"/v1/platforms/acme", "/v1/platforms/acme/entitlement", "/v1/platforms/acme/licenses",
			"/v1/platforms/acme/usb-keys", "/v1/platforms/acme/timeline", "/v1/platforms", "/v1/subscriptions"} {
			r := e.do("GET", v+"?"+q, adminToken, nil)
			if r.status != http.StatusBadRequest || r.errorBody(t).Reason != domain.ReasonBadParameter {
				t.Errorf("GET %s?%s: %d %s, want 400 %s", v, q, r.status, r.body, domain.ReasonBadParameter)
			}
		}
	}
}
