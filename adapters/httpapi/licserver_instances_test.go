package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/oklog/ulid/v2"
)

// events returns the events of one aggregate, in order.
func (e *licEnv) events(license string) []domain.Event {
	e.t.Helper()
	key, err := domain.ParseLicenseKey(license) // a license key, or the license's name
	if err != nil {
		e.t.Fatal(err)
	}
	agg := key.Aggregate
	recs, err := e.store.Load(context.Background(), agg)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]domain.Event, len(recs))
	for i, r := range recs {
		out[i] = r.Event
	}
	return out
}

func countType(events []domain.Event, typ string) int {
	n := 0
	for _, e := range events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// R26: an activation answers with a new instance id (a ULID), a secret of
// at least 128 random bits and the plan; the log records the secret's hash
// only. R27: a check answers with the current plan.
func TestActivateAndCheck(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	license := e.subscription("S-1", 2, time.Hour)
	a := e.activate(license, "2.4.0")

	if _, err := ulid.ParseStrict(a.InstanceID); err != nil {
		t.Errorf("instance id %q is not a ULID: %v", a.InstanceID, err)
	}
	secret, err := base64.RawURLEncoding.DecodeString(a.Secret)
	if err != nil || len(secret) < 16 {
		t.Errorf("secret %q: %d bytes (%v), want >= 16 bytes of base64url", a.Secret, len(secret), err)
	}
	if got, want := a.Instance, a.InstanceID; got != want {
		t.Errorf("instance = %q, want %q", got, want)
	}
	if got, want := a.License, "subscription/S-1"; got != want {
		t.Errorf("license = %q, want %q", got, want)
	}
	if got, want := a.Plan, plan("team", 2); got != want {
		t.Errorf("plan = %+v, want %+v", got, want)
	}
	if got, want := a.InstanceLimit, 2; got != want {
		t.Errorf("instance limit = %d, want %d", got, want)
	}
	if got, want := a.SeatExpiresAt, "2026-01-01T01:15:00Z"; got != want {
		t.Errorf("seat expires at %s, want %s (lease + lease/4)", got, want)
	}

	evs := e.events(license)
	if got, want := len(evs), 2; got != want {
		t.Fatalf("%d events, want %d", got, want)
	}
	var d domain.InstanceActivated
	if err := json.Unmarshal(evs[1].Data, &d); err != nil {
		t.Fatal(err)
	}
	if got, want := d.SecretSHA256, domain.HashSecret(a.Secret); got != want {
		t.Errorf("recorded secret hash %s, want %s", got, want)
	}
	if strings.Contains(string(evs[1].Data), a.Secret) {
		t.Error("the secret itself is in the log")
	}
	if got, want := evs[1].Source, "api/client#"; !strings.HasPrefix(got, want) {
		t.Errorf("source %q, want the client's actor %s…", got, want)
	}

	e.clock.Set(t0.Add(10 * time.Minute))
	r := e.checkIn(a, "2.4.0")
	if r.status != http.StatusOK {
		t.Fatalf("check: %d %s", r.status, r.body)
	}
	var reply domain.InstanceCheckReply
	decodeInto(t, r.body, &reply)
	if got, want := reply.Status, domain.SubscriptionStatusActive; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	if got, want := reply.Plan, a.Plan; got != want {
		t.Errorf("check plan = %+v, want %+v", got, want)
	}
}

// The refusals of the instance endpoints, each with its status and
// stable reason.
func TestInstanceRefusals(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	license := e.subscription("S-1", 1, time.Hour)
	a := e.activate(license, "2.4.0")
	canceled := e.subscription("S-2", 1, time.Hour)
	c := e.activate(canceled, "2.4.0")
	e.admin(http.StatusCreated, "POST", "/v1/subscriptions/S-2/cancel", `{"reason":"customer left"}`)
	e.admin(http.StatusCreated, "POST", "/v1/perpetual", PerpetualRequest{ID: "P-1", Plan: plan("perpetual", 1)})

	activate := func(body string) func() response {
		for _, lic := range []string{"subscription/S-1", "subscription/S-2", "perpetual/P-1"} {
			body = strings.ReplaceAll(body, `"`+lic+`"`, `"`+e.key(lic)+`"`) // the license's key, as its customer holds it
		}
		return func() response { return e.call("POST", "/v1/instances/activate", clientToken, body) }
	}
	check := func(id string, req CheckRequest) func() response {
		return func() response { return e.call("POST", "/v1/instances/"+id+"/check", clientToken, req) }
	}
	for _, tc := range []struct {
		name string
		send func() response
		want string
	}{
		{"R26 too many instances", activate(`{"license_key":"subscription/S-1","product_version":"2.4.0"}`), "409 conflict/too-many-instances"},
		{"license key not an aggregate", activate(`{"license_key":"S-1","product_version":"2.4.0"}`), "400 invalid/bad-license-key"},
		{"license key of a coupon", activate(`{"license_key":"coupon/C-1","product_version":"2.4.0"}`), "400 invalid/bad-license-key"},
		{"unknown subscription", activate(`{"license_key":"subscription/NOPE","product_version":"2.4.0"}`), "404 not_found/subscription-unknown"},
		{"unknown perpetual", activate(`{"license_key":"perpetual/NOPE","product_version":"2.4.0","released_at":"2026-01-01T00:00:00Z"}`), "404 not_found/perpetual-unknown"},
		{"no product version", activate(`{"license_key":"subscription/S-1"}`), "400 invalid/"},
		{"unknown field", activate(`{"license_key":"subscription/S-1","product_version":"2.4.0","seats":9}`), "400 invalid/unknown-field"},
		{"malformed JSON", activate(`{"license_key":`), "400 invalid/malformed-json"},
		{"R28 perpetual needs a release date", activate(`{"license_key":"perpetual/P-1","product_version":"3.0.0"}`), "400 invalid/"},
		{"R28 version not covered", activate(`{"license_key":"perpetual/P-1","product_version":"9.0.0","released_at":"2027-06-01T00:00:00Z"}`), "403 forbidden/version-not-covered"},
		{"R23 canceled subscription: activate", activate(`{"license_key":"subscription/S-2","product_version":"2.4.0"}`), "409 conflict/subscription-not-active"},
		{"R23 canceled subscription: check", check(c.InstanceID, CheckRequest{LicenseKey: canceled, Secret: c.Secret}), "409 conflict/subscription-not-active"},
		{"unknown instance", check("I-NOPE", CheckRequest{LicenseKey: license, Secret: a.Secret}), "404 not_found/instance-unknown"},
		{"instance of another license", check(c.InstanceID, CheckRequest{LicenseKey: license, Secret: c.Secret}), "404 not_found/instance-unknown"},
		{"bad secret", check(a.InstanceID, CheckRequest{LicenseKey: license, Secret: a.Secret + "x"}), "401 unauthorized/bad-secret"},
		{"no secret", check(a.InstanceID, CheckRequest{LicenseKey: license}), "401 unauthorized/bad-secret"},
		{"bad instance id", check("a.b", CheckRequest{LicenseKey: license, Secret: a.Secret}), "400 invalid/invalid-id"},
		{"check ok", check(a.InstanceID, CheckRequest{LicenseKey: license, Secret: a.Secret}), "200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refusal(t, tc.send()); !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// R27: a seat whose instance has not checked in for longer than the lease
// is released; the instance must activate again, and the freed seat can
// be taken by another instance. R26: at the limit, activation is refused.
func TestLeaseLapseFreesSeat(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	license := e.subscription("S-1", 1, time.Hour)
	a := e.activate(license, "2.4.0")
	if got := refusal(t, e.call("POST", "/v1/instances/activate", clientToken, ActivateRequest{LicenseKey: license, ProductVersion: "2.4.0"})); got != "409 conflict/too-many-instances" {
		t.Fatalf("second activation: %s, want too-many-instances", got)
	}
	// Still held one lease later: the seat is kept lease + lease/4 after
	// the last recorded check-in (domain.InstanceCheckInRecordDivisor).
	e.clock.Set(t0.Add(time.Hour + 14*time.Minute))
	if got := refusal(t, e.checkIn(a, "")); got != "200" {
		t.Fatalf("check inside the lease margin: %s", got)
	}
	// That check was recorded (the last one was >= lease/4 ago), so the
	// lease now runs from it.
	e.clock.Set(t0.Add(2*time.Hour + 28*time.Minute))
	if got := refusal(t, e.checkIn(a, "")); got != "200" {
		t.Fatalf("check after a recorded renewal: %s", got)
	}
	e.clock.Set(t0.Add(4 * time.Hour))
	if got := refusal(t, e.checkIn(a, "")); got != "409 conflict/seat-released" {
		t.Fatalf("check after the lease lapsed: %s, want seat-released", got)
	}
	b := e.activate(license, "2.4.0")
	if got := refusal(t, e.checkIn(b, "")); got != "200" {
		t.Fatalf("new instance's check: %s", got)
	}
	if got := refusal(t, e.call("POST", "/v1/instances/activate", clientToken, ActivateRequest{LicenseKey: license, ProductVersion: "2.4.0"})); got != "409 conflict/too-many-instances" {
		t.Fatalf("the lapsed instance re-activating while the seat is taken: %s", got)
	}
	var doc domain.SubscriptionDoc
	decodeInto(t, e.admin(http.StatusOK, "GET", "/v1/subscriptions/S-1", nil).body, &doc)
	var seats []string
	for _, in := range doc.Instances {
		seats = append(seats, in.Seat)
	}
	if got, want := strings.Join(seats, ","), "released,held"; got != want {
		t.Errorf("seats %s, want %s", got, want)
	}
}

// Check-ins do not grow the log without bound: polling every 5 minutes for
// a day with a 1 h lease records at most one check-in per lease/4
// (design.md, R27).
func TestCheckInsBoundedLogGrowth(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	license := e.subscription("S-1", 1, time.Hour)
	a := e.activate(license, "2.4.0")
	for m := 5; m <= 24*60; m += 5 {
		e.clock.Set(t0.Add(time.Duration(m) * time.Minute))
		if got := refusal(t, e.checkIn(a, "2.4.0")); got != "200" {
			t.Fatalf("check at +%dm: %s", m, got)
		}
	}
	checks := countType(e.events(license), domain.EventInstanceCheckedIn)
	if got, want := checks, 24*domain.InstanceCheckInRecordDivisor; got > want || got < want-1 {
		t.Errorf("%d check-ins recorded for 288 checks over 24 leases, want about %d (one per lease/4)", got, want)
	}
}

// R24: a plan change reaches every instance on its next check, with no
// restart; a downgrade below the instances in use is refused. R25: more
// instances can be added.
func TestPlanChangeReachesNextCheck(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	license := e.subscription("S-1", 2, time.Hour)
	a := e.activate(license, "2.4.0")
	b := e.activate(license, "2.4.0")

	e.admin(http.StatusCreated, "PUT", "/v1/subscriptions/S-1/plan", PlanRequest{Plan: plan("business", 5)})
	var reply domain.InstanceCheckReply
	decodeInto(t, e.checkIn(a, "").body, &reply)
	if got, want := reply.Plan, plan("business", 5); got != want {
		t.Errorf("plan after upgrade = %+v, want %+v", got, want)
	}
	if got, want := reply.InstanceLimit, 5; got != want {
		t.Errorf("limit after upgrade = %d, want %d", got, want)
	}
	r := e.call("PUT", "/v1/subscriptions/S-1/plan", adminToken, PlanRequest{Plan: plan("solo", 1)})
	if got, want := refusal(t, r), "409 conflict/below-instances-in-use"; got != want {
		t.Errorf("downgrade below use: %s, want %s", got, want)
	}
	e.admin(http.StatusCreated, "POST", "/v1/subscriptions/S-1/instances", AddInstancesRequest{Count: 1})
	e.admin(http.StatusCreated, "PUT", "/v1/subscriptions/S-1/plan", PlanRequest{Plan: plan("solo", 1)})
	decodeInto(t, e.checkIn(b, "").body, &reply)
	if got, want := reply.InstanceLimit, 2; got != want {
		t.Errorf("limit after downgrade with an added instance = %d, want %d", got, want)
	}
}

// R28: a perpetual license runs one instance of any version released
// while its updates were paid; newer versions are refused, and renewing
// updates covers them.
func TestPerpetualInstances(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	e.admin(http.StatusCreated, "POST", "/v1/perpetual", PerpetualRequest{ID: "P-1", Customer: "acme", Plan: plan("perpetual", 1), LeaseSeconds: 3600})
	activate := func(version string, released time.Time) response {
		return e.call("POST", "/v1/instances/activate", clientToken, ActivateRequest{LicenseKey: e.key("perpetual/P-1"), ProductVersion: version, ReleasedAt: &released})
	}
	newer := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC) // after the first year of updates
	if got, want := refusal(t, activate("3.0.0", newer)), "403 forbidden/version-not-covered"; got != want {
		t.Fatalf("uncovered version: %s, want %s", got, want)
	}
	r := activate("2.4.0", t0.Add(-24*time.Hour))
	if r.status != http.StatusCreated {
		t.Fatalf("covered version: %d %s", r.status, r.body)
	}
	var a ActivateResponse
	decodeInto(t, r.body, &a)
	if got, want := a.UpdatesUntil, "2027-01-01T00:00:00Z"; got != want {
		t.Errorf("updates until %s, want %s", got, want)
	}
	if got, want := refusal(t, activate("2.4.0", t0.Add(-24*time.Hour))), "409 conflict/too-many-instances"; got != want {
		t.Errorf("second instance: %s, want %s (HA needs one license per instance)", got, want)
	}
	upgrade := CheckRequest{LicenseKey: "perpetual/P-1", Secret: a.Secret, ProductVersion: "3.0.0", ReleasedAt: &newer}
	if got, want := refusal(t, e.call("POST", "/v1/instances/"+a.InstanceID+"/check", clientToken, upgrade)), "403 forbidden/version-not-covered"; got != want {
		t.Errorf("upgrade to an uncovered version: %s, want %s", got, want)
	}
	if got := refusal(t, e.checkIn(a, "2.4.0")); got != "200" {
		t.Errorf("the older version keeps working: %s", got)
	}
	e.admin(http.StatusCreated, "POST", "/v1/perpetual/P-1/renewals", `{"reference":"INV-9"}`)
	if got := refusal(t, e.call("POST", "/v1/instances/"+a.InstanceID+"/check", clientToken, upgrade)); got != "200" {
		t.Errorf("upgrade after renewing updates: %s", got)
	}
	var doc domain.PerpetualDoc
	decodeInto(t, e.admin(http.StatusOK, "GET", "/v1/perpetual/P-1", nil).body, &doc)
	if got, want := doc.UpdatesUntil+" "+doc.Instances[0].Version, "2028-01-01T00:00:00Z 3.0.0"; got != want {
		t.Errorf("perpetual view: %s, want %s", got, want)
	}
}

// An instance that shuts down frees its seat at once with its secret; an
// admin can free any seat without one.
func TestDeactivate(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	license := e.subscription("S-1", 1, time.Hour)
	a := e.activate(license, "2.4.0")
	deactivate := func(token string, in ActivateResponse, secret string) string {
		return refusal(t, e.call("POST", "/v1/instances/"+in.InstanceID+"/deactivate", token, DeactivateRequest{LicenseKey: license, Secret: secret}))
	}
	if got, want := deactivate(clientToken, a, ""), "401 unauthorized/bad-secret"; got != want {
		t.Errorf("client without secret: %s, want %s", got, want)
	}
	if got, want := deactivate(clientToken, a, a.Secret), "201"; got != want {
		t.Errorf("client with secret: %s, want %s", got, want)
	}
	if got, want := deactivate(clientToken, a, a.Secret), "200"; got != want {
		t.Errorf("deactivating again: %s, want %s (nothing to record)", got, want)
	}
	if got, want := refusal(t, e.checkIn(a, "")), "409 conflict/seat-released"; got != want {
		t.Errorf("check after deactivation: %s, want %s", got, want)
	}
	b := e.activate(license, "2.4.0")
	if got, want := deactivate(adminToken, b, ""), "201"; got != want {
		t.Errorf("admin without secret: %s, want %s", got, want)
	}
	var doc domain.SubscriptionDoc
	decodeInto(t, e.admin(http.StatusOK, "GET", "/v1/subscriptions/S-1", nil).body, &doc)
	if got, want := doc.Instances[0].DeactivatedBy+","+doc.Instances[1].DeactivatedBy, "client,admin"; got != want {
		t.Errorf("deactivated by %s, want %s", got, want)
	}
}

// R28 with the vendor's release list: a version's release instant comes
// from the list, not the client; a version the list does not know cannot
// activate a perpetual license, and a contradicting claim is refused.
func TestPerpetualReleaseList(t *testing.T) {
	t.Parallel()
	releases, err := ParseReleases([]byte(`{"2.4.0":"2025-11-01T00:00:00Z","3.0.0":"2027-03-01T00:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	e := newLicEnv(t, func(c *Config) { c.LicenseServer.Releases = releases })
	e.admin(http.StatusCreated, "POST", "/v1/perpetual", PerpetualRequest{ID: "P-1", Plan: plan("perpetual", 1)})
	e.admin(http.StatusCreated, "POST", "/v1/perpetual", PerpetualRequest{ID: "P-2", Plan: plan("perpetual", 1)})
	claim := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		req  ActivateRequest
		want string
	}{
		{"not in the list", ActivateRequest{LicenseKey: e.key("perpetual/P-1"), ProductVersion: "2.5.0"}, "400 invalid/unknown-version"},
		{"contradicting claim", ActivateRequest{LicenseKey: e.key("perpetual/P-1"), ProductVersion: "2.4.0", ReleasedAt: &claim}, "400 invalid/released-at-mismatch"},
		{"released after the window, per the list", ActivateRequest{LicenseKey: e.key("perpetual/P-1"), ProductVersion: "3.0.0"}, "403 forbidden/version-not-covered"},
		{"covered, per the list", ActivateRequest{LicenseKey: e.key("perpetual/P-1"), ProductVersion: "2.4.0"}, "201"},
		{"subscriptions ignore the list", ActivateRequest{LicenseKey: e.subscription("S-1", 1, time.Hour), ProductVersion: "9.9.9"}, "201"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refusal(t, e.call("POST", "/v1/instances/activate", clientToken, tc.req)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	var doc domain.PerpetualDoc
	decodeInto(t, e.admin(http.StatusOK, "GET", "/v1/perpetual/P-1", nil).body, &doc)
	if got, want := doc.Instances[0].ReleasedAt, "2025-11-01T00:00:00Z"; got != want {
		t.Errorf("recorded release instant %s, want %s (from the list)", got, want)
	}
	for _, bad := range []string{`{"2.4.0":"yesterday"}`, `{"":"2025-11-01T00:00:00Z"}`, `["2.4.0"]`} {
		if _, err := ParseReleases([]byte(bad)); domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("ParseReleases(%s) = %v, want invalid", bad, err)
		}
	}
}
