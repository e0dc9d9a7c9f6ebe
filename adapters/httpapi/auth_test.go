package httpapi

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/licledger/licledger/domain"
)

func TestParseTokens(t *testing.T) {
	t.Parallel()
	const a, b = "aaaaaaaaaaaaaaaa-1", "bbbbbbbbbbbbbbbb-2"
	tests := []struct {
		name  string
		in    string
		roles map[string]string // token -> role
	}{
		{"lines", "# ops\nadmin " + a + "\n\nclient " + b + " # the product\n", map[string]string{a: RoleAdmin, b: RoleClient}},
		{"env style", "admin:" + a + ",auditor:" + b, map[string]string{a: RoleAdmin, b: RoleAuditor}},
		{"semicolons", "billing " + a + "; client: " + b, map[string]string{a: RoleBilling, b: RoleClient}},
		{"customer-scoped", "client " + a + " acme\nadmin:" + b + ":acme", map[string]string{a: RoleClient, b: RoleAdmin}},
		{"json", `{"tokens":[{"role":"admin","token":"` + a + `"},{"role":"billing","token":"` + b + `"}]}`, map[string]string{a: RoleAdmin, b: RoleBilling}},
		{"json array", `[{"role":"auditor","token":"` + a + `"}]`, map[string]string{a: RoleAuditor}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toks, err := ParseTokens([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := toks.Len(), len(tt.roles); got != want {
				t.Errorf("Len = %d, want %d", got, want)
			}
			for tok, role := range tt.roles {
				c, ok := toks.Lookup(tok)
				if !ok || c.Role != role || !strings.HasPrefix(c.Actor, role+"#") || strings.Contains(c.Actor, tok) {
					t.Errorf("Lookup(%s) = %+v, %v; want role %s and an actor without the token", tok, c, ok, role)
				}
			}
			if _, ok := toks.Lookup("nobody-has-this-token"); ok {
				t.Error("unknown token accepted")
			}
		})
	}
}

// Bad token configurations are refused, and the error never quotes a
// token.
func TestParseTokensRefuses(t *testing.T) {
	t.Parallel()
	const secret = "secret-secret-secret"
	tests := []struct{ name, in string }{
		{"empty", "  \n"},
		{"unknown role", "root " + secret},
		{"short", "admin short"},
		{"duplicate", "admin " + secret + "\nclient " + secret},
		{"four fields", "admin " + secret + " acme extra"},
		{"a customer that is no id", "client " + secret + " ac/me"},
		{"json unknown field", `{"tokens":[{"role":"admin","token":"` + secret + `","x":1}]}`},
		{"json empty", `{"tokens":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTokens([]byte(tt.in))
			if domain.ErrorCode(err) != domain.EINVALID {
				t.Fatalf("error = %v, want invalid", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error quotes the token: %v", err)
			}
		})
	}
	a, _ := ParseTokens([]byte("admin " + secret))
	b, _ := ParseTokens([]byte("client " + secret))
	if _, err := MergeTokens(a, b); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("MergeTokens with a shared token: %v, want invalid", err)
	}
	if m, err := MergeTokens(nil, nil); err != nil || m.Len() != 0 {
		t.Errorf("MergeTokens of nothing = %v, %v", m, err)
	}
}

// Without tokens every request is the local admin: only a loopback
// listener may serve that.
func TestCheckExposure(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	tokens, err := ParseTokens([]byte("admin aaaaaaaaaaaaaaaa-1"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr   string
		tokens *Tokens
		ok     bool
	}{
		{"127.0.0.1:8080", nil, true},
		{"[::1]:80", nil, true},
		{"localhost:1", nil, true},
		{"0.0.0.0:1", nil, false},
		{":1", nil, false},
		{"192.0.2.1:8080", nil, false},
		{"0.0.0.0:1", tokens, true},
	}
	for _, tt := range tests {
		err := CheckExposure(tt.addr, tt.tokens, log)
		if got, want := err == nil, tt.ok; got != want {
			t.Errorf("CheckExposure(%q, %d tokens) = %v, want ok %v", tt.addr, tt.tokens.Len(), err, want)
		}
	}
}
