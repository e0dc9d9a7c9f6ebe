package httpapi

import (
	"crypto/ed25519"
	"net/http"
	"testing"

	"github.com/licledger/licledger/domain"
)

// R27 Decision (trust): the keys are public (no token), and every
// activation and check answer carries a signature that verifies with
// them alone and states this answer: its instance, license, plan and
// version, with the activation or check kind.
func TestAnswersAreSigned(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	r := e.call("GET", "/v1/ledger/keys", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/ledger/keys without a token: %d %s", r.status, r.body)
	}
	var doc LedgerKeysDoc
	decodeInto(t, r.body, &doc)
	keys := map[string]ed25519.PublicKey{}
	for _, k := range doc.Keys {
		keys[k.ID] = k.Key
	}
	if len(keys) != 1 || doc.Keys[0].Status != "current" {
		t.Fatalf("keys %+v, want one current key", doc.Keys)
	}

	e.subscription("S-1", 2, 0)
	a := e.activate("subscription/S-1", "2.4.0")
	var checked domain.InstanceCheckReply
	decodeInto(t, e.checkIn(a, "2.5.0").body, &checked)
	for _, tc := range []struct {
		kind  string
		reply domain.InstanceCheckReply
	}{{domain.AnswerActivation, a.InstanceCheckReply}, {domain.AnswerCheck, checked}} {
		if tc.reply.Signed == nil {
			t.Fatalf("%s answer without a signature", tc.kind)
		}
		c, err := domain.VerifyAnswer(keys, *tc.reply.Signed)
		if err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		got := []any{c.Kind, c.Instance, c.License, c.Plan, c.Version, c.Status}
		want := []any{tc.kind, a.InstanceID, "subscription/S-1", tc.reply.Plan, tc.reply.Version, "active"}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s claims [kind instance license plan version status] = %v, want %v", tc.kind, got, want)
				break
			}
		}
	}
	if checked.Version != "2.5.0" {
		t.Errorf("check answer about version %s, want 2.5.0 (the version asked about)", checked.Version)
	}
}

// R27 Decision (trust): a signed entitlement is asked for with
// ?signed=1, its payload the plain document's bytes; another value is a
// bad parameter, not silently ignored.
func TestSignedEntitlementParameter(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	e.admin(http.StatusCreated, "POST", "/v1/platforms", map[string]any{"id": "acme", "nodes": []string{"mn-1"}, "request_code": "RC-1"})
	r := e.call("GET", "/v1/platforms/acme/entitlement?signed=yes", adminToken, nil)
	if r.status != http.StatusBadRequest {
		t.Errorf("?signed=yes: %d %s, want 400", r.status, r.body)
	}
	r = e.call("GET", "/v1/platforms/acme/entitlement?signed=1", adminToken, nil)
	var s domain.Signed
	decodeInto(t, r.body, &s)
	plain := e.call("GET", "/v1/platforms/acme/entitlement", adminToken, nil)
	k := e.api.signing.Keys[0]
	keys := map[string]ed25519.PublicKey{k.ID: k.Key}
	payload, err := domain.VerifyDocument(keys, domain.EntitlementSigningPrefix, s)
	if err != nil || string(payload) != string(plain.body) {
		t.Errorf("signed entitlement payload %s (%v), want the plain document %s", payload, err, plain.body)
	}
}
