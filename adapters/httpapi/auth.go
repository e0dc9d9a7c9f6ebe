package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// Roles. What each may do is in the route table (routes.go):
//   - admin: every command and every query;
//   - auditor: every query, the timeline, and both verifications;
//   - billing: entitlements, license inventories, platforms and events;
//   - client: entitlements only (a licensed product asking what it may do).
const (
	RoleAdmin   = "admin"
	RoleAuditor = "auditor"
	RoleBilling = "billing"
	RoleClient  = "client"
	// RoleLicenseKey is the caller of an instance request sent without a
	// token: the license key in its body is what authenticates it.
	RoleLicenseKey = "license-key"
)

var knownRoles = []string{RoleAdmin, RoleAuditor, RoleBilling, RoleClient}

// MinTokenLength refuses guessable tokens.
const MinTokenLength = 16

// Tokens is the set of bearer tokens the API accepts, each with a role.
// Only SHA-256 sums of the tokens are kept, and lookups compare against
// every entry in constant time (crypto/subtle), so neither the memory nor
// the timing of a request reveals a token. Immutable; safe for concurrent
// use. Tokens are never logged: callers are named by an actor string,
// "role#" plus 8 hex digits of the token's hash.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	role     string
	sum      [32]byte
	actor    string
	customer string
}

// Caller is who made a request. Customer, if set, scopes it to one
// customer: it sees and changes only what that customer holds, and
// anything else answers as if it did not exist (no existence leak).
type Caller struct {
	Role     string
	Actor    string
	Customer string
}

type tokenSpec struct {
	Role     string `json:"role"`
	Token    string `json:"token"`
	Customer string `json:"customer,omitempty"`
}

// ParseTokens reads tokens in either format:
//
//	JSON:   {"tokens": [{"role": "admin", "token": "...", "customer": "acme"}]}  (or the bare array)
//	lines:  role token [customer]      (one per line; '#' starts a comment)
//
// In the line format entries may also be separated by ',' or ';' and
// written "role:token[:customer]", which suits an environment variable:
// LICLEDGER_TOKENS="admin:s3cr3t-admin-token,client:another-long-token:acme".
// A token with a customer is scoped to it (Caller.Customer).
// Errors are EINVALID and never quote a token.
func ParseTokens(data []byte) (*Tokens, error) {
	trimmed := bytes.TrimSpace(data)
	var specs []tokenSpec
	switch {
	case len(trimmed) == 0:
		return nil, domain.Errorf(domain.EINVALID, "no tokens given")
	case trimmed[0] == '{' || trimmed[0] == '[':
		var doc struct {
			Tokens []tokenSpec `json:"tokens"`
		}
		var err error
		if trimmed[0] == '[' {
			err = strictUnmarshal(trimmed, &doc.Tokens)
		} else {
			err = strictUnmarshal(trimmed, &doc)
		}
		if err != nil {
			return nil, domain.Errorf(domain.EINVALID, "tokens JSON: %s", domain.ErrorMessage(err))
		}
		specs = doc.Tokens
	default:
		sc := bufio.NewScanner(bytes.NewReader(trimmed))
		line := 0
		for sc.Scan() {
			line++
			text, _, _ := strings.Cut(sc.Text(), "#")
			for _, entry := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ';' }) {
				entry = strings.TrimSpace(entry)
				if entry == "" {
					continue
				}
				role, token, ok := strings.Cut(entry, ":")
				customer := ""
				if ok {
					token, customer, _ = strings.Cut(token, ":")
				}
				if f := strings.Fields(entry); len(f) == 2 || len(f) == 3 {
					role, token, customer, ok = strings.TrimSuffix(f[0], ":"), f[1], "", true
					if len(f) == 3 {
						customer = f[2]
					}
				}
				if !ok || strings.ContainsAny(strings.TrimSpace(token), " \t") {
					return nil, domain.Errorf(domain.EINVALID, "tokens line %d: want \"role token [customer]\" or \"role:token[:customer]\"", line)
				}
				specs = append(specs, tokenSpec{Role: strings.TrimSpace(role), Token: strings.TrimSpace(token), Customer: strings.TrimSpace(customer)})
			}
		}
	}
	if len(specs) == 0 {
		return nil, domain.Errorf(domain.EINVALID, "no tokens given")
	}
	t := &Tokens{}
	for i, s := range specs {
		if !slices.Contains(knownRoles, s.Role) {
			return nil, domain.Errorf(domain.EINVALID, "token %d: unknown role %q (roles: %s)", i+1, s.Role, strings.Join(knownRoles, ", "))
		}
		if len(s.Token) < MinTokenLength {
			return nil, domain.Errorf(domain.EINVALID, "token %d (%s): shorter than %d characters", i+1, s.Role, MinTokenLength)
		}
		sum := sha256.Sum256([]byte(s.Token))
		for _, e := range t.entries {
			if e.sum == sum {
				return nil, domain.Errorf(domain.EINVALID, "token %d (%s): the same token appears twice", i+1, s.Role)
			}
		}
		if s.Customer != "" {
			if err := domain.ValidateID(s.Customer); err != nil {
				return nil, domain.Errorf(domain.EINVALID, "token %d (%s): customer: %s", i+1, s.Role, domain.ErrorMessage(err))
			}
		}
		t.entries = append(t.entries, tokenEntry{role: s.Role, sum: sum, actor: s.Role + "#" + hex.EncodeToString(sum[:4]), customer: s.Customer})
	}
	return t, nil
}

// LoadTokens reads a tokens file (see ParseTokens).
func LoadTokens(path string) (*Tokens, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, domain.Errorf(domain.EINVALID, "read tokens file: %v", err)
	}
	t, err := ParseTokens(b)
	if err != nil {
		return nil, domain.Errorf(domain.EINVALID, "tokens file %s: %s", path, domain.ErrorMessage(err))
	}
	return t, nil
}

// MergeTokens combines token sets (nil ones are skipped); a token in two
// sets is refused like a duplicate in one. No sets give nil: no tokens.
func MergeTokens(sets ...*Tokens) (*Tokens, error) {
	var out *Tokens
	for _, t := range sets {
		if t == nil {
			continue
		}
		if out == nil {
			out = &Tokens{}
		}
		for _, e := range t.entries {
			for _, have := range out.entries {
				if have.sum == e.sum {
					return nil, domain.Errorf(domain.EINVALID, "a %s token is configured twice", e.role)
				}
			}
			out.entries = append(out.entries, e)
		}
	}
	return out, nil
}

// Len is the number of tokens.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.entries)
}

// Lookup returns the caller a token belongs to. It compares the token's
// hash with every entry, without stopping at a match.
func (t *Tokens) Lookup(token string) (Caller, bool) {
	sum := sha256.Sum256([]byte(token))
	var found Caller
	ok := 0
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 {
			found, ok = Caller{Role: e.role, Actor: e.actor, Customer: e.customer}, 1
		}
	}
	return found, ok == 1
}

// localAdmin is the caller of every request when no tokens are configured
// (loopback only; see Config.Tokens).
var localAdmin = Caller{Role: RoleAdmin, Actor: "local-admin"}

type callerKey struct{}

func withCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerOf returns the authenticated caller of a request's context.
func CallerOf(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// authenticate resolves the request's caller: from its bearer token, or
// the local admin when the server runs without tokens.
func (s *Server) authenticate(r *http.Request, rt route) (Caller, error) {
	if s.cfg.Tokens.Len() == 0 {
		return localAdmin, nil
	}
	h := r.Header.Get("Authorization")
	if h == "" && slices.Contains(rt.roles, RoleLicenseKey) {
		return Caller{Role: RoleLicenseKey, Actor: RoleLicenseKey}, nil // the body's license key authenticates it
	}
	if h == "" {
		return Caller{}, domain.Reasonf(domain.EUNAUTHORIZED, domain.ReasonMissingToken, "send an Authorization: Bearer <token> header")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return Caller{}, domain.Reasonf(domain.EUNAUTHORIZED, domain.ReasonBadToken, "the Authorization header must be \"Bearer <token>\"")
	}
	c, ok := s.cfg.Tokens.Lookup(strings.TrimSpace(token))
	if !ok {
		return Caller{}, domain.Reasonf(domain.EUNAUTHORIZED, domain.ReasonBadToken, "the bearer token is not valid")
	}
	return c, nil
}

// authorize checks a caller's role against a route's.
func authorize(c Caller, rt route) error {
	if slices.Contains(rt.roles, c.Role) {
		return nil
	}
	return domain.Reasonf(domain.EFORBIDDEN, domain.ReasonRole, "role %s may not %s; allowed: %s", c.Role, rt.pattern, strings.Join(rt.roles, ", "))
}

// CheckExposure refuses to serve on a non-loopback address without
// tokens: without them every request is the local admin, which only a
// loopback listener keeps local. On loopback it warns loudly instead.
// An empty host (":8080") listens on every interface.
func CheckExposure(addr string, tokens *Tokens, log *slog.Logger) error {
	if tokens.Len() > 0 {
		return nil
	}
	if !eventstore.IsLoopback(addr) {
		return domain.Errorf(domain.EINVALID, "refusing to listen on %s without tokens: configure --tokens FILE or LICLEDGER_TOKENS, or listen on loopback (127.0.0.1)", addr)
	}
	log.Warn("NO TOKENS CONFIGURED: every HTTP request is treated as admin. This is only allowed on loopback; configure --tokens FILE or LICLEDGER_TOKENS before exposing the API.",
		"http", addr)
	return nil
}
