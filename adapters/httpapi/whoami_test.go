package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// GET /v1/whoami answers who a token is (what the console shows and
// hides by), the ledger's clock, and never the token; without a token
// it is refused like every other authenticated route.
func TestWhoami(t *testing.T) {
	t.Parallel()
	e, _ := twoCustomers(t)
	tests := []struct {
		token string
		want  Whoami
	}{
		{adminToken, Whoami{Role: RoleAdmin}},
		{clientToken, Whoami{Role: RoleClient}},
		{acmeAuditor, Whoami{Role: RoleAuditor, Customer: "acme"}},
		{acmeAdmin, Whoami{Role: RoleAdmin, Customer: "acme"}},
	}
	for _, tt := range tests {
		r := e.do("GET", "/v1/whoami", tt.token, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", tt.want.Role, r.status, r.body)
		}
		if strings.Contains(string(r.body), tt.token) {
			t.Errorf("whoami answers the token: %s", r.body)
		}
		var got Whoami
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Role != tt.want.Role || got.Customer != tt.want.Customer || got.Local || got.Actor == "" || !got.At.Equal(e.clock.Now()) {
			t.Errorf("whoami of a %s token of %q = %+v; want role %s, customer %q, an actor, not local, at %s",
				tt.want.Role, tt.want.Customer, got, tt.want.Role, tt.want.Customer, e.clock.Now())
		}
	}
	if r := e.do("GET", "/v1/whoami", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("whoami without a token: %d, want 401", r.status)
	}
}

// Without tokens (serve on loopback) every caller is the local admin,
// and whoami says so: the console then opens without a sign-in.
func TestWhoamiLocal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Tokens = nil })
	var got Whoami
	if err := json.Unmarshal(e.do("GET", "/v1/whoami", "", nil).body, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Local || got.Role != RoleAdmin {
		t.Errorf("whoami without tokens = %+v; want the local admin", got)
	}
}

// Config.Console is served at / and /console/ without a token (static
// files, no data), beside the API; without it / stays the 404 it was.
func TestConsoleMount(t *testing.T) {
	t.Parallel()
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("console " + r.URL.Path)) })
	with := newEnv(t, func(c *Config) { c.Console = page })
	without := newEnv(t)
	tests := []struct {
		e            *env
		method, path string
		status       int
		body         string
	}{
		{with, "GET", "/", 200, "console /"},
		{with, "GET", "/console/core.js", 200, "console /console/core.js"},
		{with, "POST", "/", 405, "method-not-allowed"},
		{with, "GET", "/v1/whoami", 401, "missing-token"},
		{with, "GET", "/nothing", 404, "no-route"},
		{without, "GET", "/", 404, "no-route"},
		{without, "GET", "/console/core.js", 404, "no-route"},
	}
	for _, tt := range tests {
		r := tt.e.do(tt.method, tt.path, "", nil)
		if r.status != tt.status || !strings.Contains(string(r.body), tt.body) {
			t.Errorf("%s %s: %d %s; want %d with %q", tt.method, tt.path, r.status, r.body, tt.status, tt.body)
		}
	}
}
