package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/licledger/licledger/domain"
)

// explanation reads an explain answer.
func explanation(t *testing.T, body []byte) domain.Explanation {
	t.Helper()
	var x domain.Explanation
	if err := json.Unmarshal(body, &x); err != nil {
		t.Fatalf("explanation %s: %v", body, err)
	}
	return x
}

// R13, R19: the explanation of an item names the events that decided it
// with their stream sequences, through the real server, now and at an
// earlier position; an unknown item is a bad parameter.
func TestExplainEntitlement(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerAcme()
	before := e.lastSeq()
	up := e.must(http.StatusCreated, "POST", "/v1/platforms/acme/licenses", bundleJSON).result(t)
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/nodes/mn-1/usb-keys",
		`{"key_id":"K-1","licenses":[{"id":"L-9","kind":"plus","module":"cdp","issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}]}`)
	e.clock.Advance(24 * 3600e9)
	pulled := e.must(http.StatusOK, "DELETE", "/v1/platforms/acme/nodes/mn-1/usb-keys/K-1", "").result(t)
	e.clock.Advance(40 * 24 * 3600e9)

	x := explanation(t, e.must(http.StatusOK, "GET", "/v1/platforms/acme/entitlement/explain?module=vmware", "").body)
	if !x.Entitled || !strings.Contains(x.Because, "license L-2 through the platform's request code") ||
		!slices.Equal(x.DecidedBy, []domain.EventRef{{ID: up.Events[1].ID, Seq: up.Events[1].Seq}}) {
		t.Errorf("vmware: %+v, want entitled through L-2 decided by %+v", x, up.Events[1])
	}
	x = explanation(t, e.must(http.StatusOK, "GET", "/v1/platforms/acme/entitlement/explain?module=cdp", "").body)
	if x.Entitled || !strings.Contains(x.Because, "key missing and buffer expired on") || !slices.Contains(x.Rules, "R19") ||
		!slices.Contains(x.DecidedBy, domain.EventRef{ID: pulled.Events[0].ID, Seq: pulled.Events[0].Seq}) {
		t.Errorf("cdp after the buffer: %+v, want not entitled, buffer expired, decided by the pull %+v", x, pulled.Events[0])
	}
	// At the position before the upload the platform had no Base.
	x = explanation(t, e.must(http.StatusOK, "GET", fmt.Sprintf("/v1/platforms/acme/entitlement/explain?seq=%d", before), "").body)
	if x.Entitled || x.Item != domain.ExplainBase || !strings.Contains(x.Because, "unlicensed") || x.AsOf == nil || x.AsOf.Seq != before {
		t.Errorf("base as of %d: %+v, want unlicensed at that position", before, x)
	}
	if r := e.do("GET", "/v1/platforms/acme/entitlement/explain?module=warp-drive", adminToken, nil); r.status != 400 || r.errorBody(t).Reason != domain.ReasonBadParameter {
		t.Errorf("unknown module: %d %s", r.status, r.body)
	}
}

// The entitlement after hypothetical commands, what they change, and a
// refused one named by its index; nothing is appended either way.
func TestSimulatePlatform(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerAcme()
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/licenses", bundleJSON)
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/nodes/mn-1/usb-keys",
		`{"key_id":"K-1","licenses":[{"id":"L-9","kind":"plus","module":"cdp","issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}]}`)
	now := e.must(http.StatusOK, "GET", "/v1/platforms/acme/entitlement", "").body
	seq := e.lastSeq()

	tests := []struct {
		name, body string
		token      string
		status     int
		changes    []string // items changed, or the refusal "reason@index"
	}{
		{"remove key and add a host", `{"commands":[{"remove_usb_key":{"node":"mn-1","key_id":"K-1"}},{"add_host":{"host":"h-1","hypervisor":"kvm","sockets":4}}]}`,
			adminToken, 200, []string{"modules.cdp", "capacity", "usb_key"}},
		{"upload a license", `{"commands":[{"upload_license":{"id":"L-10","kind":"plus","module":"tenant","issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}}]}`,
			auditorToken, 200, []string{"modules.tenant"}},
		{"R2 a host over capacity is refused, named by index", `{"commands":[{"add_host":{"host":"h-1","hypervisor":"kvm","sockets":4}},{"add_host":{"host":"h-2","hypervisor":"kvm","sockets":40}}]}`,
			adminToken, 409, []string{domain.ReasonCapacityExceeded + "@1"}},
		{"R12 a key license upload for a key not inserted", `{"commands":[{"upload_license":{"id":"L-11","kind":"plus","module":"cdp","issued_at":"2026-01-01T00:00:00Z"},"source":"usb-key","key_id":"K-2"}]}`,
			adminToken, 409, []string{domain.ReasonWrongKey + "@0"}},
		{"two commands in one", `{"commands":[{"add_node":{"node":"mn-2"},"remove_node":{"node":"mn-1"}}]}`,
			adminToken, 400, []string{domain.ReasonInvalidCommand + "@0"}},
		{"billing may not simulate", `{"commands":[{"add_node":{"node":"mn-2"}}]}`, billingToken, 403, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", "/v1/platforms/acme/entitlement/simulate", tt.token, []byte(tt.body))
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			var got []string
			switch {
			case r.status == 200:
				var res struct {
					View    domain.Entitlement  `json:"view"`
					Changes []domain.ItemChange `json:"changes"`
				}
				if err := json.Unmarshal(r.body, &res); err != nil {
					t.Fatal(err)
				}
				for _, c := range res.Changes {
					got = append(got, c.Item)
				}
			case tt.changes != nil:
				var b struct{ Error ErrorDetail }
				if err := json.Unmarshal(r.body, &b); err != nil || b.Error.Command == nil {
					t.Fatalf("refusal without the command's index: %s", r.body)
				}
				got = []string{fmt.Sprintf("%s@%d", b.Error.Reason, *b.Error.Command)}
			}
			if !slices.Equal(got, tt.changes) {
				t.Errorf("got %v, want %v", got, tt.changes)
			}
			if after := e.lastSeq(); after != seq {
				t.Errorf("the log grew from %d to %d events: a simulation appends nothing", seq, after)
			}
		})
	}
	if got := e.must(http.StatusOK, "GET", "/v1/platforms/acme/entitlement", "").body; string(got) != string(now) {
		t.Errorf("the entitlement changed after simulations:\n%s\nwas\n%s", got, now)
	}
}

// R24: a subscription's view after a hypothetical plan change, and a
// refused command with its index; nothing appended.
func TestSimulateSubscription(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	e.admin(http.StatusCreated, "POST", "/v1/subscriptions", SubscriptionRequest{ID: "S-1", Plan: plan("team", 3), Period: "monthly"})
	seq := e.lastSeq()
	r := e.admin(http.StatusOK, "POST", "/v1/subscriptions/S-1/simulate", `{"commands":[{"change_plan":{"plan":{"name":"business","instances":5}}},{"add_instances":{"count":2}}]}`)
	var res struct {
		View    domain.SubscriptionDoc `json:"view"`
		Changes []domain.ItemChange    `json:"changes"`
	}
	decodeInto(t, r.body, &res)
	var items []string
	for _, c := range res.Changes {
		items = append(items, c.Item)
	}
	if res.View.InstanceLimit != 7 || !slices.Equal(items, []string{"version", "plan", "instances_added", "instance_limit"}) {
		t.Errorf("view limit %d, changes %v; want 7 and version, plan, instances_added, instance_limit", res.View.InstanceLimit, items)
	}
	if got := refusal(t, e.call("POST", "/v1/subscriptions/S-1/simulate", adminToken, `{"commands":[{"cancel":{}},{"add_instances":{"count":1}}]}`)); !strings.HasPrefix(got, "409 conflict/"+domain.ReasonSubscriptionNotActive) {
		t.Errorf("add instances after a hypothetical cancel: %s", got)
	}
	if after := e.lastSeq(); after != seq {
		t.Errorf("the log grew from %d to %d events", seq, after)
	}
}

// R26, R27: a subscription's seats explained through the real server,
// with the deciding events' sequences.
func TestExplainSubscription(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	e.admin(http.StatusCreated, "POST", "/v1/subscriptions", SubscriptionRequest{ID: "S-1", Plan: plan("team", 1), Period: "monthly"})
	a := e.activate(e.key("subscription/S-1"), "2.4.0")
	x := explanation(t, e.admin(http.StatusOK, "GET", "/v1/subscriptions/S-1/explain", nil).body)
	if x.Entitled || x.Reason != domain.ReasonInstanceTooMany || !slices.Contains(x.Rules, "R26") || len(x.DecidedBy) == 0 || x.DecidedBy[0].Seq == 0 {
		t.Errorf("seats: %+v, want none free (R26), decided by the plan's event with its sequence", x)
	}
	x = explanation(t, e.admin(http.StatusOK, "GET", "/v1/subscriptions/S-1/explain?instance="+a.InstanceID, nil).body)
	if !x.Entitled || !strings.Contains(x.Because, "holds a seat until") || len(x.DecidedBy) == 0 || x.DecidedBy[0].Seq == 0 {
		t.Errorf("instance: %+v, want it to hold a seat, decided by its activation", x)
	}
	if got := refusal(t, e.call("GET", "/v1/subscriptions/S-1/explain?instance=I-none", adminToken, nil)); !strings.HasPrefix(got, "404 not_found/"+domain.ReasonInstanceUnknown) {
		t.Errorf("unknown instance: %s", got)
	}
}

// A customer-scoped auditor simulates on its customer's platform and
// subscription only: another customer's answer as missing ones do.
func TestSimulateIsScopedToTheCustomer(t *testing.T) {
	t.Parallel()
	e, _ := twoCustomers(t)
	body := `{"commands":[{"add_host":{"host":"h-9","hypervisor":"kvm","sockets":1}}]}`
	plan := `{"commands":[{"change_plan":{"plan":{"name":"team","instances":6}}}]}`
	for _, tc := range []struct {
		path, body string
		want       int
	}{
		{"/v1/platforms/P-acme/entitlement/simulate", body, http.StatusOK},
		{"/v1/platforms/P-beta/entitlement/simulate", body, http.StatusNotFound},
		{"/v1/subscriptions/S-acme/simulate", plan, http.StatusOK},
		{"/v1/subscriptions/S-beta/simulate", plan, http.StatusNotFound},
	} {
		if r := e.call("POST", tc.path, acmeAuditor, tc.body); r.status != tc.want {
			t.Errorf("POST %s as acme's auditor: %d %s, want %d", tc.path, r.status, r.body, tc.want)
		}
	}
}
