package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

// R27 Decision (trust): a license key is a secret the ledger issues with
// the license and shows once; it alone opens the license (no token), a
// rotation replaces it (the old one refused with its own reason), a
// revocation refuses it; the log and the projections never hold it.
func TestLicenseKeys(t *testing.T) {
	t.Parallel()
	e := newLicEnv(t)
	activate := func(key, token string, headers ...string) string {
		return refusal(t, e.call("POST", "/v1/instances/activate", token, ActivateRequest{LicenseKey: key, ProductVersion: "1.0"}, headers...))
	}
	first := e.subscription("S-1", 10, time.Hour)
	if !strings.HasPrefix(first, "lks.S-1.") || len(first) < len("lks.S-1.")+22 {
		t.Fatalf("license key %q, want lks.S-1.<at least 128 bits>", first)
	}
	var rotated, again LicenseCommandResult
	decodeInto(t, e.admin(http.StatusCreated, "POST", "/v1/subscriptions/S-1/license-key", nil, "Idempotency-Key: rotate-1").body, &rotated)
	decodeInto(t, e.admin(http.StatusCreated, "POST", "/v1/subscriptions/S-1/license-key", nil, "Idempotency-Key: rotate-1").body, &again)
	if rotated.LicenseKey == "" || rotated.LicenseKey == first || again.LicenseKey != rotated.LicenseKey {
		t.Fatalf("rotation answered %q, its retry %q (first key %q): want one new key, the same on retry", rotated.LicenseKey, again.LicenseKey, first)
	}
	second := rotated.LicenseKey
	for _, tc := range []struct {
		name, key, token, want string
	}{
		{"the current key, no token", second, "", "201"},
		{"the rotated key", first, "", "403 forbidden/license-key-rotated"},
		{"a key never issued", second[:len(second)-4] + "AAAA", "", "401 unauthorized/wrong-license-key"},
		{"another license's id with this secret", strings.Replace(second, "S-1", "S-2", 1), "", "404 not_found/subscription-unknown"},
		{"not a key", "lks.S-1", "", "400 invalid/bad-license-key"},
		{"the license's name, no token", "subscription/S-1", "", "401 unauthorized/license-key-required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := activate(tc.key, tc.token); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	e.admin(http.StatusOK, "DELETE", "/v1/subscriptions/S-1/license-key", RevokeKeyRequest{Reason: "leaked"})
	if got, want := activate(second, ""), "403 forbidden/license-key-revoked"; got != want {
		t.Errorf("revoked key: got %s, want %s", got, want)
	}

	// Perpetual licenses get keys too.
	var p LicenseCommandResult
	decodeInto(t, e.admin(http.StatusCreated, "POST", "/v1/perpetual", PerpetualRequest{ID: "P-1", Plan: plan("solo", 1)}).body, &p)
	if !strings.HasPrefix(p.LicenseKey, "lkp.P-1.") {
		t.Errorf("perpetual license key %q, want lkp.P-1.<secret>", p.LicenseKey)
	}
	released := t0.Add(-time.Hour)
	if r := e.call("POST", "/v1/instances/activate", "", ActivateRequest{LicenseKey: p.LicenseKey, ProductVersion: "1.0", ReleasedAt: &released}); r.status != http.StatusCreated {
		t.Errorf("perpetual activation with its key: %d %s", r.status, r.body)
	}

	// No key reaches the log or the projections: they hold hashes only.
	e.runner.WaitFor(context.Background(), e.lastSeq())
	secrets := []string{first, second, p.LicenseKey}
	for _, lic := range []string{"subscription/S-1", "perpetual/P-1"} {
		agg, _ := domain.ParseAggregate(lic)
		recs, err := e.store.Load(context.Background(), agg)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			for _, k := range secrets {
				if bytes.Contains(rec.Raw, []byte(k[strings.LastIndex(k, ".")+1:])) {
					t.Errorf("event %s (%s) holds a license key's secret", rec.Event.ID, rec.Event.Type)
				}
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(e.db.Path()), "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, k := range secrets {
			if bytes.Contains(b, []byte(k[strings.LastIndex(k, ".")+1:])) {
				t.Errorf("%s holds a license key's secret", f)
			}
		}
	}
}
