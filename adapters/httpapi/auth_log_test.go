package httpapi

import (
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// Tokens are secrets: whatever a request does (accepted, wrong role,
// unknown token, malformed header, a failing command), the logs, at debug
// level, never hold a token or a part of one long enough to matter.
func TestTokensNeverLogged(t *testing.T) {
	t.Parallel()
	var logs eventstoretest.SyncBuffer
	e := newEnv(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	unknown := "unknown-token-0123456789"
	e.registerAcme()
	requests := []struct {
		method, path, token string
		body                []byte
		want                int
	}{
		{"GET", "/v1/platforms/acme/entitlement", adminToken, nil, http.StatusOK},
		{"GET", "/v1/platforms/acme/timeline", auditorToken, nil, http.StatusOK},
		{"POST", "/v1/platforms/acme/hosts", auditorToken, []byte(`{"host":"h1","hypervisor":"kvm","sockets":2}`), http.StatusForbidden},
		{"GET", "/v1/platforms/acme/entitlement", unknown, nil, http.StatusUnauthorized},
		{"POST", "/v1/platforms", adminToken, []byte(`{"id":"acme","nodes":["mn-1"],"request_code":"RC-7F3A"}`), http.StatusConflict},
		{"GET", "/v1/platforms/nope/entitlement", clientToken, nil, http.StatusNotFound},
	}
	for _, r := range requests {
		if got := e.do(r.method, r.path, r.token, r.body); got.status != r.want {
			t.Fatalf("%s %s: status %d, want %d: %s", r.method, r.path, got.status, r.want, got.body)
		}
	}
	// A malformed Authorization header carrying a token-like value.
	if got := e.do("GET", "/v1/platforms/acme/entitlement", "", nil, "Authorization: Token "+billingToken); got.status != http.StatusUnauthorized {
		t.Fatalf("malformed header: status %d, want 401", got.status)
	}

	out := logs.String()
	if !strings.Contains(out, "/v1/platforms/acme/entitlement") {
		t.Fatalf("the requests were not logged at all, the check below would prove nothing:\n%s", out)
	}
	for _, tok := range []string{adminToken, auditorToken, billingToken, clientToken, unknown} {
		// The distinctive half of each token: the common suffix is shared.
		secret := strings.TrimSuffix(tok, "-0123456789")
		if strings.Contains(out, secret) {
			t.Errorf("the logs hold token %q:\n%s", secret, out)
		}
	}
}
