package httpapi

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// Every request is logged once, at info, with its route, status, reason,
// duration and caller; refusals that matter for security say so in the
// message instead of a second line.
func TestRequestLoggedOnceAtInfo(t *testing.T) {
	t.Parallel()
	var logs eventstoretest.SyncBuffer
	e := newEnv(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	e.registerAcme()
	tests := []struct {
		name, method, path, token string
		body                      []byte
		wantStatus                int
		wantMsg                   string
		want                      []string
	}{
		{"answered", "GET", "/v1/platforms/acme/entitlement", auditorToken, nil, http.StatusOK, `msg=request `,
			[]string{`route="GET /v1/platforms/{id}/entitlement"`, "status=200", "reason=\"\"", "role=auditor", "duration="}},
		{"refused", "GET", "/v1/platforms/nope/entitlement", billingToken, nil, http.StatusNotFound, `msg=request `,
			[]string{"status=404", "reason=unknown-platform", "role=billing"}},
		{"security refusal", "POST", "/v1/platforms/acme/hosts", clientToken, []byte(`{"host":"h1","hypervisor":"kvm","sockets":2}`),
			http.StatusForbidden, `msg="request refused"`, []string{`route="POST /v1/platforms/{id}/hosts"`, "status=403", "reason=role-not-allowed", "role=client"}},
	}
	for _, tt := range tests {
		// Sequential: the lines are told apart by path and method.
		if got := e.do(tt.method, tt.path, tt.token, tt.body); got.status != tt.wantStatus {
			t.Fatalf("%s: %s %s: status %d, want %d: %s", tt.name, tt.method, tt.path, got.status, tt.wantStatus, got.body)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	for _, tt := range tests {
		var found []string
		for _, l := range lines {
			if strings.Contains(l, "method="+tt.method+" ") && strings.Contains(l, "path="+tt.path+" ") {
				found = append(found, l)
			}
		}
		if len(found) != 1 {
			t.Errorf("%s: %d log lines for %s %s, want 1:\n%s", tt.name, len(found), tt.method, tt.path, strings.Join(found, "\n"))
			continue
		}
		for _, want := range append([]string{"level=INFO", tt.wantMsg}, tt.want...) {
			if !strings.Contains(found[0], want) {
				t.Errorf("%s: log line %q lacks %q", tt.name, found[0], want)
			}
		}
		for _, tok := range []string{adminToken, auditorToken, billingToken, clientToken} {
			if strings.Contains(found[0], strings.TrimSuffix(tok, "-0123456789")) {
				t.Errorf("%s: log line holds a token: %q", tt.name, found[0])
			}
		}
	}
}
