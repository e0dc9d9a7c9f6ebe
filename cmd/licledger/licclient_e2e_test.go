package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/adapters/licclient"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// The product side against a real serve, on one injected clock for the
// ledger and the product.

var productT0 = time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)

// product is a license client of the ledger at url for license, keeping
// its state in file ("" for none), with version released at released.
func product(t *testing.T, url, license, file string, clock *eventstoretest.Clock, version string, released time.Time) *licclient.Client {
	t.Helper()
	// A transport of its own: a test server closing elsewhere closes the
	// idle connections of http.DefaultTransport.
	hc, err := httpclient.New(url, httpclient.WithHTTPClient(&http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := licclient.New(licclient.Config{Client: hc, LicenseKey: license, ProductVersion: version, ReleasedAt: released,
		StateFile: file, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// state makes one attempt and returns "state" or "state/reason".
func state(t *testing.T, c *licclient.Client) string {
	t.Helper()
	st, _ := c.CheckNow(t.Context())
	if st.Reason != "" {
		return string(st.State) + "/" + st.Reason
	}
	return string(st.State)
}

// R27 Decision (trust): the ledger stops (a real outage). The product
// keeps running on its last verified answer: 23 h later it is degraded
// with an hour left, 25 h later expired. A restart of the product during
// the outage resumes from the stored answer; the stored answer tampered
// with is rejected. When the ledger is back, the product is active again.
func TestProductThroughOutage(t *testing.T) {
	t.Parallel()
	clock := eventstoretest.NewClock(productT0)
	l := mustRunMain(t, fleetServe(clock)...)
	key := createSubscription(t, l, "S-OUT", "acme", "annual")
	file := filepath.Join(t.TempDir(), "license.json")
	p := product(t, l.URL, key, file, clock, "5.2.0", time.Time{})
	if st, err := p.Start(t.Context()); err != nil || st.State != licclient.Active {
		t.Fatalf("start: %s, %v", st.State, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	clock.Advance(23 * time.Hour)
	if got, want := state(t, p), "degraded/unreachable"; got != want {
		t.Errorf("23 h into the outage: %s, want %s", got, want)
	}
	if left := p.Status().TimeLeft; left != time.Hour {
		t.Errorf("23 h into the outage: %v left, want 1h", left)
	}
	restarted := product(t, l.URL, key, file, clock, "5.2.0", time.Time{})
	if st, err := restarted.Start(t.Context()); err != nil || st.State != licclient.Degraded || st.TimeLeft != time.Hour {
		t.Errorf("restarted 23 h into the outage: %s with %v left (%v), want degraded with 1h", st.State, st.TimeLeft, err)
	}
	clock.Advance(2 * time.Hour)
	if got, want := state(t, p), "expired/unreachable"; got != want {
		t.Errorf("25 h into the outage: %s, want %s", got, want)
	}

	tamperStoredAnswer(t, file, `"valid_until":"2026`, `"valid_until":"2036`)
	clock.Set(productT0.Add(time.Hour)) // the answer would still hold, were it not tampered with
	tampered := product(t, l.URL, key, file, clock, "5.2.0", time.Time{})
	if st, err := tampered.Start(t.Context()); domain.ErrorReason(err) != domain.ReasonBadAnswerSignature || st.State != licclient.Expired {
		t.Errorf("tampered stored answer: %s (%v), want expired and %s", st.State, err, domain.ReasonBadAnswerSignature)
	}

	clock.Set(productT0.Add(25 * time.Hour))
	l = mustRunMain(t, append(fleetServe(clock), withDataDir(l.Dir))...)
	back := product(t, l.URL, key, file, clock, "5.2.0", time.Time{})
	if st, err := back.Start(t.Context()); st.State != licclient.Active {
		t.Errorf("ledger back: %s (%v), want active", st.State, err)
	}
}

// tamperStoredAnswer replaces old by new in the signed payload of the
// state file's answer, leaving the signature as it was.
func tamperStoredAnswer(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]json.RawMessage
	var ans domain.Signed
	if err := json.Unmarshal(b, &f); err != nil || json.Unmarshal(f["answer"], &ans) != nil {
		t.Fatalf("state file %s: %v", b, err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(ans.Payload)
	if !bytes.Contains(payload, []byte(old)) {
		t.Fatalf("payload %s has no %s", payload, old)
	}
	ans.Payload = base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte(old), []byte(new), 1))
	f["answer"], _ = json.Marshal(ans)
	b, _ = json.Marshal(f)
	writeFile(t, file, string(b))
	os.Chmod(file, 0o600)
}

// R28 Decision (fallback): a canceled subscription with a perpetual
// fallback keeps the versions the fallback covers running (the answer
// names the fallback, with its plan and its one seat), and a newer version
// is refused version-not-covered. Billing sees the attachment.
func TestCanceledSubscriptionFallsBack(t *testing.T) {
	t.Parallel()
	clock := eventstoretest.NewClock(productT0)
	l := mustRunMain(t, fleetServe(clock)...)
	ctx := t.Context()
	key := createSubscription(t, l, "S-FB", "acme", "annual")
	if _, err := l.API.PurchasePerpetual(ctx, httpclient.PerpetualRequest{ID: "P-FB", Customer: "acme", Plan: httpclient.InstancePlan{Name: "perpetual-5"}}); err != nil {
		t.Fatal(err)
	}
	r, err := l.API.AttachFallback(ctx, "S-FB", "P-FB")
	if err != nil || len(r.Events) != 1 || r.Events[0].Type != domain.EventSubscriptionFallbackAttached {
		t.Fatalf("attach: %+v, %v", r, err)
	}
	covered := product(t, l.URL, key, "", clock, "5.2.0", productT0.AddDate(0, -1, 0))
	newer := product(t, l.URL, key, "", clock, "7.0.0", productT0.AddDate(2, 0, 0))
	for _, p := range []*licclient.Client{covered, newer} {
		if st, err := p.Start(ctx); st.State != licclient.Active {
			t.Fatalf("start: %s (%v)", st.State, err)
		}
	}
	if _, err := l.API.Cancel(ctx, "S-FB", "customer left"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if got := state(t, covered); got != "active" {
		t.Errorf("covered version after cancel: %s, want active", got)
	}
	a := covered.Status().Answer
	if a.Fallback != "perpetual/P-FB" || a.Plan.Name != "perpetual-5" || a.InstanceLimit != 1 || a.Status != domain.SubscriptionStatusCanceled {
		t.Errorf("answer %+v: want fallback perpetual/P-FB, its plan and one seat, status canceled", a)
	}
	if err := covered.Close(ctx); err != nil { // frees the fallback's one seat
		t.Fatal(err)
	}
	if got, want := state(t, newer), "refused/"+domain.ReasonInstanceVersionNotCovered; got != want {
		t.Errorf("newer version after cancel: %s, want %s", got, want)
	}
	// Moving the covered product to a new machine: the newer one stops,
	// and the new machine activates on the fallback's free seat.
	if err := newer.Close(ctx); err != nil {
		t.Fatal(err)
	}
	moved := product(t, l.URL, key, "", clock, "5.2.0", productT0.AddDate(0, -1, 0))
	if st, err := moved.Start(ctx); st.State != licclient.Active || st.Answer.Fallback != "perpetual/P-FB" {
		t.Errorf("activation after cancel: %s, fallback %q (%v); want active on perpetual/P-FB", st.State, st.Answer.Fallback, err)
	}
	doc, err := l.API.GetSubscription(ctx, "S-FB", time.Time{})
	if err != nil || doc.Fallback != "perpetual/P-FB" {
		t.Errorf("subscription view: fallback %q (%v), want perpetual/P-FB", doc.Fallback, err)
	}

	// Billing sees the attachment, in the subscription's order.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "billing.jsonl")
	var stdout, stderr bytes.Buffer
	if code := dispatch(ctx, []string{"billing", "tail", "--consumer", "erp", "--data", l.Dir, "--out", out,
		"--ack-wait", "50ms", "--exit-idle", "1s"}, &stdout, &stderr); code != 0 {
		t.Fatalf("billing tail: exit %d: %s", code, stderr.String())
	}
	billed, _ := os.ReadFile(out)
	var types []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(billed)), "\n") {
		var e struct{ Type, Subject string }
		json.Unmarshal([]byte(line), &e)
		if e.Subject == "subscription/S-FB" && !strings.HasPrefix(e.Type, "instance.") {
			types = append(types, e.Type)
		}
	}
	if got, want := strings.Join(types, " "), "subscription.created subscription.fallback_attached subscription.canceled"; got != want {
		t.Errorf("billed subscription events %q, want %q", got, want)
	}
}

// R27 Decision (trust): GET /v1/ledger/keys and `ledger-key list` publish
// the same keys; after `ledger-key rotate` and a restart, answers are
// signed with the new key while an answer stored before still verifies
// (the old key is published as retired), with nothing but the keys and
// the bytes. A signed entitlement verifies the same way.
func TestLedgerKeyRotation(t *testing.T) {
	t.Parallel()
	clock := eventstoretest.NewClock(productT0)
	l := mustRunMain(t, fleetServe(clock)...)
	key := createSubscription(t, l, "S-ROT", "acme", "annual")
	hc := newClient(t, l.URL, "")
	before, err := hc.Activate(t.Context(), httpclient.ActivateRequest{LicenseKey: key, ProductVersion: "5.2.0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := dispatch(t.Context(), []string{"ledger-key", "rotate", "--data", l.Dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("rotate: exit %d: %s", code, stderr.String())
	}
	newID := strings.Fields(stdout.String())[0]
	l = mustRunMain(t, append(fleetServe(clock), withDataDir(l.Dir))...)
	hc = newClient(t, l.URL, "")
	ks, err := hc.LedgerKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]ed25519.PublicKey{}
	status := map[string]string{}
	for _, k := range ks.Keys {
		keys[k.ID], status[k.ID] = k.Key, k.Status
	}
	if got := status[before.Signed.KeyID] + " " + status[newID]; got != "retired current" {
		t.Errorf("key statuses (old new) %q, want \"retired current\"", got)
	}
	stdout.Reset()
	if code := dispatch(t.Context(), []string{"ledger-key", "list", "--data", l.Dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("list: exit %d: %s", code, stderr.String())
	}
	for id, st := range status {
		if want := id + "  " + st; !strings.Contains(stdout.String(), want) {
			t.Errorf("ledger-key list lacks %q:\n%s", want, stdout.String())
		}
	}

	if _, err := domain.VerifyAnswer(keys, *before.Signed); err != nil {
		t.Errorf("an answer signed before the rotation: %v", err)
	}
	after, err := hc.Check(t.Context(), before.InstanceID, httpclient.CheckRequest{LicenseKey: key, Secret: before.Secret})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := domain.VerifyAnswer(keys, *after.Signed); err != nil || c.KeyID != newID {
		t.Errorf("an answer after the rotation: key %s (%v), want %s", c.KeyID, err, newID)
	}

	if _, err := l.API.RegisterPlatform(t.Context(), httpclient.RegisterRequest{ID: "acme", Nodes: []string{"mn-1"}, RequestCode: "RC-1"}); err != nil {
		t.Fatal(err)
	}
	se, err := l.API.SignedEntitlement(t.Context(), "acme", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := domain.VerifyDocument(keys, domain.EntitlementSigningPrefix, *se)
	if err != nil || !bytes.Contains(payload, []byte(`"acme"`)) {
		t.Errorf("signed entitlement: %s (%v)", payload, err)
	}
}

// R27: `licledger product run --once` activates and keeps its state file; run
// again, it resumes the same instance; with the ledger stopped, it runs on
// the stored answer (degraded); a refusal says the product must stop.
func TestProductRunOnce(t *testing.T) {
	t.Parallel()
	l := mustRunMain(t, withToken("admin", fleetAdmin))
	key := createSubscription(t, l, "S-CLI", "acme", "annual")
	file := filepath.Join(t.TempDir(), "license.json")
	run := func() string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := dispatch(t.Context(), []string{"product", "run", "--url", l.URL, "--license-key", key, "--version", "5.2.0", "--state-file", file, "--once"}, &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		return stdout.String()
	}
	first := run()
	if !regexp.MustCompile(`^active: instance \S+ on subscription/S-CLI, plan team \(2 instances\), version 5.2.0; runs (24h0m0s|23h59m5\ds) more`).MatchString(first) {
		t.Fatalf("first run: %q", first)
	}
	instance := strings.Fields(first)[2]
	if again := run(); !strings.HasPrefix(again, "active: instance "+instance+" ") {
		t.Errorf("second run: %q, want the same instance %s", again, instance)
	}
	if _, err := l.API.Cancel(t.Context(), "S-CLI", ""); err != nil {
		t.Fatal(err)
	}
	if got, want := run(), "refused: subscription-not-active (instance "+instance+"); the product must stop\n"; got != want {
		t.Errorf("after cancel: %q, want %q", got, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The refusal dropped the stored answer: a restart while the ledger
	// is away does not run on the answer from before it.
	if got, want := run(), "expired: unreachable (instance "+instance+"); the product must stop\n"; got != want {
		t.Errorf("ledger stopped after the refusal: %q, want %q", got, want)
	}
}
