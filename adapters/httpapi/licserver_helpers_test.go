package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

// licEnv is env (a real embedded JetStream, real SQLite, the full API)
// with helpers for the license-server endpoints.
type licEnv struct {
	*env
	base string // URL the license-server routes are served at

	mu   sync.Mutex
	keys map[string]string // license subject → the license key its create or rotation answered
}

func newLicEnv(t testing.TB, mutate ...func(*Config)) *licEnv {
	t.Helper()
	e := newEnv(t, mutate...)
	return &licEnv{env: e, base: e.srv.URL, keys: map[string]string{}}
}

// key returns the license key the ledger issued for a license (its
// subject, "subscription/S-1"), as the vendor hands it to the customer;
// the subject itself when none was seen.
func (e *licEnv) key(license string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if k, ok := e.keys[license]; ok {
		return k
	}
	return license
}

// call sends a request; body is sent as is when it is a string, else
// marshalled to JSON (nil: no body).
func (e *licEnv) call(method, path, token string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	var issued LicenseCommandResult
	if resp.StatusCode < 300 && json.Unmarshal(b, &issued) == nil && issued.LicenseKey != "" {
		e.mu.Lock()
		e.keys[issued.License] = issued.LicenseKey
		e.mu.Unlock()
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// admin sends an admin request and fails the test unless the status is want.
func (e *licEnv) admin(want int, method, path string, body any, headers ...string) response {
	e.t.Helper()
	r := e.call(method, path, adminToken, body, headers...)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

// subscription creates a subscription allowing instances at once, with
// the given lease, and returns its license key.
func (e *licEnv) subscription(id string, instances int, lease time.Duration) string {
	e.t.Helper()
	e.admin(http.StatusCreated, "POST", "/v1/subscriptions", SubscriptionRequest{ID: id, Customer: "acme",
		Plan: plan("team", instances), Period: "monthly", LeaseSeconds: int64(lease / time.Second)})
	return e.key("subscription/" + id)
}

func plan(name string, instances int) domain.InstancePlan {
	return domain.InstancePlan{Name: name, Instances: instances, Devices: 10 * instances, Assets: 100 * instances}
}

// activate activates an instance with the client token and wants 201.
func (e *licEnv) activate(license, version string) ActivateResponse {
	e.t.Helper()
	r := e.call("POST", "/v1/instances/activate", clientToken, ActivateRequest{LicenseKey: e.key(license), ProductVersion: version})
	if r.status != http.StatusCreated {
		e.t.Fatalf("activate on %s: status %d: %s", license, r.status, r.body)
	}
	var a ActivateResponse
	decodeInto(e.t, r.body, &a)
	return a
}

// checkIn sends a check for an activated instance.
func (e *licEnv) checkIn(a ActivateResponse, version string) response {
	e.t.Helper()
	return e.call("POST", "/v1/instances/"+a.InstanceID+"/check", clientToken,
		CheckRequest{LicenseKey: a.License, Secret: a.Secret, ProductVersion: version})
}

func decodeInto(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
}

// refusal returns "status code/reason" of an error response, or the
// status alone for a success, for compact table comparisons.
func refusal(t testing.TB, r response) string {
	t.Helper()
	if r.status < 400 {
		return fmt.Sprint(r.status)
	}
	var b ErrorBody
	decodeInto(t, r.body, &b)
	return fmt.Sprintf("%d %s/%s", r.status, b.Error.Code, b.Error.Reason)
}
