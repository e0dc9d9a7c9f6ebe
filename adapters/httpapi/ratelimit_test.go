package httpapi

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// Activation and check are rate-limited per license and per address, and
// failed secrets slow an address down (a runaway activation loop or a
// guessing attack); refusals that matter for security are logged at info
// with route, reason and caller, and no log line holds a token, license
// key or instance secret.
func TestAbuseLimitsAndSecurityLog(t *testing.T) {
	t.Parallel()
	var logs eventstoretest.SyncBuffer
	e := newLicEnv(t, func(c *Config) {
		c.RateLimits = RateLimits{PerLicense: 1, PerAddress: 100, Burst: 3, BadSecrets: 2, MaxPenalty: time.Minute}
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	key := e.subscription("S-1", 50, time.Hour)
	activate := func() response {
		return e.call("POST", "/v1/instances/activate", "", ActivateRequest{LicenseKey: key, ProductVersion: "1.0"})
	}
	var got []string
	for range 5 {
		got = append(got, refusal(t, activate()))
	}
	if want := "201 201 201 429 rate_limited/rate-limited 429 rate_limited/rate-limited"; strings.Join(got, " ") != want {
		t.Errorf("a burst of activations: %s, want %s", strings.Join(got, " "), want)
	}
	r := activate()
	if ra := r.header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1 (one token a second)", ra)
	}
	e.clock.Advance(3 * time.Second) // the bucket refills
	a := e.activate("subscription/S-1", "1.0")

	// Failed secrets: from the 2nd on the address waits 1s, then 2s, ...
	bad := CheckRequest{LicenseKey: key, Secret: "not-the-secret-at-all"}
	got = got[:0]
	for range 5 {
		got = append(got, refusal(t, e.call("POST", "/v1/instances/"+a.InstanceID+"/check", clientToken, bad)))
		e.clock.Advance(400 * time.Millisecond)
	}
	if want := "401 unauthorized/bad-secret 401 unauthorized/bad-secret 429 rate_limited/rate-limited 429 rate_limited/rate-limited 401 unauthorized/bad-secret"; strings.Join(got, " ") != want {
		t.Errorf("failed secrets: %s, want %s", strings.Join(got, " "), want)
	}

	log := logs.String()
	for _, want := range []string{`msg="request refused"`, "reason=rate-limited", "reason=bad-secret", `route="POST /v1/instances/{id}/check"`, "actor=client#"} {
		if !strings.Contains(log, want) {
			t.Errorf("the info log lacks %q:\n%s", want, log)
		}
	}
	for _, secret := range []string{key, key[strings.LastIndex(key, ".")+1:], a.Secret, clientToken, adminToken, "not-the-secret-at-all"} {
		if bytes.Contains([]byte(log), []byte(secret)) {
			t.Errorf("the log holds a secret (%.6s...)", secret)
		}
	}
}
