package httpclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
)

// row is one got/want comparison of a walk through the API.
type row struct {
	what      string
	got, want any
}

func check(t *testing.T, rows []row) {
	t.Helper()
	for _, r := range rows {
		if fmt.Sprint(r.got) != fmt.Sprint(r.want) {
			t.Errorf("%s: got %v, want %v", r.what, r.got, r.want)
		}
	}
}

func types(events []httpclient.AppendedEvent) string {
	var s []string
	for _, e := range events {
		s = append(s, e.Type)
	}
	return strings.Join(s, ",")
}

// R23–R27 through the client, as a product and its vendor's admin use it:
// create a subscription, activate, check in, change the plan (the next
// check carries it, R24), deactivate (the seat is free, and a check is
// refused seat-released); the subscription's view now and as of before the
// change agrees.
func TestLicenseServerRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := startLedger(t)
	admin, product := l.client(t, adminToken), l.client(t, clientToken)

	created := must(admin.CreateSubscription(ctx, httpclient.SubscriptionRequest{ID: "S-1", Customer: "acme",
		Plan: httpclient.InstancePlan{Name: "team", Instances: 1, Devices: 10}, Period: "monthly", LeaseSeconds: 3600})).get(t)
	act := must(product.Activate(ctx, httpclient.ActivateRequest{LicenseKey: created.LicenseKey, ProductVersion: "5.2.0"})).get(t)
	l.Clock.Advance(10 * time.Minute)
	before := must(product.Check(ctx, act.InstanceID, httpclient.CheckRequest{LicenseKey: act.License, Secret: act.Secret, ProductVersion: "5.2.0"})).get(t)
	l.Clock.Advance(10 * time.Minute)
	// The subscription's version after creation and activation is 2:
	// If-Match with it goes through.
	changed := must(admin.ChangePlan(ctx, "S-1", httpclient.InstancePlan{Name: "business", Instances: 3, Devices: 30}, httpclient.WithIfMatch(2))).get(t)
	l.Clock.Advance(10 * time.Minute)
	after := must(product.Check(ctx, act.InstanceID, httpclient.CheckRequest{LicenseKey: act.License, Secret: act.Secret})).get(t)
	deact := must(product.Deactivate(ctx, act.InstanceID, httpclient.DeactivateRequest{LicenseKey: act.License, Secret: act.Secret})).get(t)
	_, lost := product.Check(ctx, act.InstanceID, httpclient.CheckRequest{LicenseKey: act.License, Secret: act.Secret})
	now := must(admin.GetSubscription(ctx, "S-1", time.Time{})).get(t)
	then := must(admin.GetSubscription(ctx, "S-1", t0.Add(15*time.Minute))).get(t)

	check(t, []row{
		{"created", fmt.Sprint(created.License, " v", created.Version, " ", types(created.Events)), "subscription/S-1 v1 subscription.created"},
		{"activation license, instance", act.License + " " + fmt.Sprint(act.Instance == act.InstanceID), "subscription/S-1 true"},
		{"activation plan", act.Plan, httpclient.InstancePlan{Name: "team", Instances: 1, Devices: 10}},
		{"activation status, limit, lease", fmt.Sprint(act.Status, act.InstanceLimit, act.LeaseSeconds), "active1 3600"},
		{"activation seat expiry (lease + lease/4)", act.SeatExpiresAt, t0.Add(75 * time.Minute)},
		{"activation period end", act.PeriodEnd, t0.AddDate(0, 1, 0)},
		{"check before the change", before.Plan.Name + fmt.Sprint(before.InstanceLimit), "team1"},
		{"plan change", fmt.Sprint(changed.Version, " ", types(changed.Events)), "3 subscription.plan_changed"},
		{"check after the change (R24)", after.Plan.Name + fmt.Sprint(after.InstanceLimit), "business3"},
		{"check keeps the recorded version", after.Version, "5.2.0"},
		{"deactivation", types(deact.Events), "instance.deactivated"},
		{"check after deactivation", refusal(lost), "409 conflict/seat-released"},
		{"view now: plan, in use, seat, by", fmt.Sprint(now.Plan.Name, now.InstancesInUse, " ", now.Instances[0].Seat, " ", now.Instances[0].DeactivatedBy), "business0 deactivated client"},
		{"view as of before the change", fmt.Sprint(then.Plan.Name, then.InstancesInUse, " ", then.At), fmt.Sprint("team1 ", t0.Add(15*time.Minute))},
	})
}

const bundle = `{"licenses":[
 {"id":"L-1","kind":"base","edition":"enterprise","sockets":16,"issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"},
 {"id":"L-2","kind":"plus","module":"vmware","quantity":8,"issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}]}`

// R9–R21 through the client: register a platform, upload a bundle, insert
// a USB key carrying a Plus license, add a host, read the entitlement now
// and as of before the upload (R32), page through the timeline, pull the
// key (R19: a 30-day buffer).
func TestPlatformRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := startLedger(t)
	admin, product, auditor := l.client(t, adminToken), l.client(t, clientToken), l.client(t, auditorToken)

	reg := must(admin.RegisterPlatform(ctx, httpclient.RegisterRequest{ID: "acme", Nodes: []string{"mn-1"}, RequestCode: "RC-7F3A"})).get(t)
	l.Clock.Advance(time.Hour)
	up := must(admin.UploadLicense(ctx, "acme", []byte(bundle), "application/json")).get(t)
	key := must(admin.InsertUSBKey(ctx, "acme", "mn-1", httpclient.USBKeyRequest{KeyID: "K-1", Licenses: []httpclient.License{
		{ID: "L-9", Kind: "plus", Module: "cdp", IssuedAt: t0, ExpiresAt: new(t0.AddDate(1, 0, 0))}}})).get(t)
	host := must(admin.AddHost(ctx, "acme", httpclient.HostRequest{Host: "h-1", Hypervisor: "kvm", Sockets: 2})).get(t)
	now := must(product.Entitlement(ctx, "acme", time.Time{})).get(t)
	early := must(product.Entitlement(ctx, "acme", t0.Add(30*time.Minute))).get(t)

	var pages []int
	var timeline []httpclient.TimelineEntry
	for after := uint64(0); ; {
		p := must(auditor.Timeline(ctx, "acme", after, 2)).get(t)
		pages = append(pages, len(p.Entries))
		timeline = append(timeline, p.Entries...)
		if after = p.NextAfter; after == 0 {
			break
		}
	}
	var tl []string
	for _, e := range timeline {
		tl = append(tl, fmt.Sprint(e.Version, " ", e.Type))
	}

	l.Clock.Advance(24 * time.Hour)
	pulled := must(admin.RemoveUSBKey(ctx, "acme", "mn-1", "K-1")).get(t)
	grace := must(product.Entitlement(ctx, "acme", time.Time{})).get(t)

	used := func(q httpclient.Quota) string {
		if q.Unlimited {
			return fmt.Sprintf("unlimited/%d", q.Used)
		}
		return fmt.Sprintf("%d/%d", *q.Quota, q.Used)
	}
	check(t, []row{
		{"register", fmt.Sprint(reg.Platform, " v", reg.Version, " ", types(reg.Events)), "acme v1 platform.registered"},
		{"upload (R10: one event per license)", fmt.Sprint(up.Version, " ", types(up.Events)), "3 license.uploaded,license.uploaded"},
		{"key", types(key.Events), "usb_key.inserted"},
		{"host", fmt.Sprint(host.Version, " ", types(host.Events)), "5 host.added"},
		{"status now", now.Status, "licensed"},
		{"base", fmt.Sprint(now.Base.Edition, " ", now.Base.Source, " ", now.Base.License, " ", now.Base.InForce), "enterprise request-code L-1 true"},
		{"vmware", fmt.Sprint(now.Modules["vmware"].Entitled, " ", now.Modules["vmware"].Source, " ", now.Modules["vmware"].Quantity), "true request-code 8"},
		{"cdp from the key", fmt.Sprint(now.Modules["cdp"].Source, " ", now.Modules["cdp"].KeyID), "usb-key K-1"},
		{"gpu (R5: enterprise includes it)", now.Modules["gpu"].Source, "included"},
		{"sockets", used(now.Capacity.Sockets), "16/2"},
		{"key state", fmt.Sprint(now.USBKey.State, " ", now.USBKey.ActiveKey, " ", now.USBKey.Inserted), "ready K-1 [{mn-1 K-1}]"},
		{"as of before the upload", fmt.Sprint(early.Status, " ", early.Base == nil, " ", early.At), fmt.Sprint("unlicensed true ", t0.Add(30*time.Minute))},
		{"timeline", strings.Join(tl, ", "), "1 platform.registered, 2 license.uploaded, 3 license.uploaded, 4 usb_key.inserted, 5 host.added"},
		{"timeline pages of 2", pages, []int{2, 2, 1}},
		{"pull", types(pulled.Events), "usb_key.removed"},
		{"after the pull: key, buffer", fmt.Sprint(grace.USBKey.State, " ", grace.USBKey.Buffer), "missing active"},
		{"buffer expiry (R19: 30 days)", *grace.USBKey.BufferExpiresAt, t0.Add(25*time.Hour).AddDate(0, 0, 30)},
		{"cdp in grace", fmt.Sprint(grace.Modules["cdp"].Entitled, " ", grace.Modules["cdp"].GraceUntil != nil), "true true"},
	})
}

// Refusals come back as *Error with the API's status, code and reason,
// whatever the caller wraps them in.
func TestErrorsDecoded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := startLedger(t)
	admin, product := l.client(t, adminToken), l.client(t, clientToken)
	full := must(admin.CreateSubscription(ctx, httpclient.SubscriptionRequest{ID: "S-FULL", Plan: httpclient.InstancePlan{Name: "solo", Instances: 1}, Period: "annual"})).get(t).LicenseKey
	act := must(product.Activate(ctx, httpclient.ActivateRequest{LicenseKey: full, ProductVersion: "1.0.0"})).get(t)
	must(admin.RegisterPlatform(ctx, httpclient.RegisterRequest{ID: "acme", Nodes: []string{"mn-1"}})).get(t)

	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"every seat held", func() error {
			_, err := product.Activate(ctx, httpclient.ActivateRequest{LicenseKey: full, ProductVersion: "1.0.0"})
			return err
		}, "409 conflict/too-many-instances"},
		{"bad secret", func() error {
			_, err := product.Check(ctx, act.InstanceID, httpclient.CheckRequest{LicenseKey: act.License, Secret: "not-the-secret"})
			return err
		}, "401 unauthorized/bad-secret"},
		{"unknown instance", func() error {
			_, err := product.Check(ctx, "01JNOSUCHINSTANCE0000000000", httpclient.CheckRequest{LicenseKey: act.License, Secret: act.Secret})
			return err
		}, "404 not_found/instance-unknown"},
		{"bad license key", func() error {
			_, err := product.Activate(ctx, httpclient.ActivateRequest{LicenseKey: "platform/acme", ProductVersion: "1.0.0"})
			return err
		}, "400 invalid/bad-license-key"},
		{"unknown token", func() error {
			_, err := l.client(t, "not-a-token-of-this-ledger").Entitlement(ctx, "acme", time.Time{})
			return err
		}, "401 unauthorized/bad-token"},
		{"no token", func() error {
			_, err := l.client(t, "").Entitlement(ctx, "acme", time.Time{})
			return err
		}, "401 unauthorized/missing-token"},
		{"role not allowed", func() error {
			_, err := product.CreateSubscription(ctx, httpclient.SubscriptionRequest{ID: "S-2", Plan: httpclient.InstancePlan{Name: "x"}, Period: "annual"})
			return err
		}, "403 forbidden/role-not-allowed"},
		{"unknown subscription", func() error {
			_, err := admin.GetSubscription(ctx, "S-NONE", time.Time{})
			return err
		}, "404 not_found/subscription-unknown"},
		{"unknown platform", func() error {
			_, err := product.Entitlement(ctx, "nowhere", time.Time{})
			return err
		}, "404 not_found/unknown-platform"},
		{"stale If-Match", func() error {
			_, err := admin.AddInstances(ctx, "S-FULL", 1, httpclient.WithIfMatch(1))
			return err
		}, "412 conflict/version-mismatch"},
		{"bad Idempotency-Key", func() error {
			_, err := admin.AddHost(ctx, "acme", httpclient.HostRequest{Host: "h-1", Hypervisor: "kvm", Sockets: 2}, httpclient.WithIdempotencyKey("not a key"))
			return err
		}, "400 invalid/bad-parameter"},
		{"no Base admits no host", func() error {
			_, err := admin.AddHost(ctx, "acme", httpclient.HostRequest{Host: "h-1", Hypervisor: "kvm", Sockets: 2})
			return err
		}, "409 conflict/base-required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if got := refusal(err); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			wrapped := fmt.Errorf("the product's start-up: %w", err)
			e, ok := errors.AsType[*httpclient.Error](wrapped)
			if !ok || refusal(wrapped) != tc.want {
				t.Fatalf("wrapped: %v, %s; want an *Error with %s", ok, refusal(wrapped), tc.want)
			}
			if e.Message == "" || e.Method == "" || !strings.HasPrefix(e.Path, "/v1/") {
				t.Errorf("error %+v: want a message, method and path", e)
			}
			if want := fmt.Sprintf("licledger %s %s: %d %s/%s: %s", e.Method, e.Path, e.Status, e.Code, e.Reason, e.Message); e.Error() != want {
				t.Errorf("Error() = %q, want %q", e.Error(), want)
			}
		})
	}
	for _, err := range []error{nil, errors.New("plain"), context.Canceled} {
		if got := refusal(err); err != nil && !strings.HasPrefix(got, "no answer") || httpclient.Reason(err) != "" || httpclient.Code(err) != "" {
			t.Errorf("helpers on %v: %s, reason %q, code %q; want nothing", err, got, httpclient.Reason(err), httpclient.Code(err))
		}
	}
}

// An activation retried with its Idempotency-Key (the answer was lost)
// gets the same instance and secret back and takes no second seat; an
// admin command retried with its key is answered as the first time.
func TestIdempotencyKeyReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := startLedger(t)
	admin, product := l.client(t, adminToken), l.client(t, clientToken)
	key := must(admin.CreateSubscription(ctx, httpclient.SubscriptionRequest{ID: "S-1", Plan: httpclient.InstancePlan{Name: "solo", Instances: 1}, Period: "annual"})).get(t).LicenseKey

	req := httpclient.ActivateRequest{LicenseKey: key, ProductVersion: "2.4.0"}
	first := must(product.Activate(ctx, req, httpclient.WithIdempotencyKey("boot-4f1c"))).get(t)
	l.Clock.Advance(time.Minute)
	again := must(product.Activate(ctx, req, httpclient.WithIdempotencyKey("boot-4f1c"))).get(t)
	_, other := product.Activate(ctx, req, httpclient.WithIdempotencyKey("boot-9a2e"))
	_, reused := admin.AddInstances(ctx, "S-1", 1, httpclient.WithIdempotencyKey("boot-4f1c"))
	added := must(admin.AddInstances(ctx, "S-1", 1, httpclient.WithIdempotencyKey("order-77"))).get(t)
	addedAgain := must(admin.AddInstances(ctx, "S-1", 1, httpclient.WithIdempotencyKey("order-77"))).get(t)
	view := must(admin.GetSubscription(ctx, "S-1", time.Time{})).get(t)

	check(t, []row{
		{"replayed instance", again.InstanceID, first.InstanceID},
		{"replayed secret", again.Secret == first.Secret, true},
		{"another key: a new activation, refused", refusal(other), "409 conflict/too-many-instances"},
		{"another caller's command with an activation's key: its own command", refusal(reused), "ok"},
		{"replayed command: version", addedAgain.Version, added.Version},
		{"replayed command: events", fmt.Sprint(addedAgain.Events), fmt.Sprint(added.Events)},
		{"instances activated", len(view.Instances), 1},
		{"limit (two additions: the reused key's and order-77's, stored once)", view.InstanceLimit, 3},
	})
}

// Retry-After (seconds or an HTTP date) is read into Error.RetryAfter,
// from the ledger's own error answers passed through a proxy that adds it
// and from a proxy's own answer that is not in the API's error shape.
func TestRetryAfterAndForeignErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := startLedger(t)
	target, _ := url.Parse(l.URL)
	in := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name       string
		front      func(retryAfter string) http.Handler
		retryAfter string
		want       string
		wantRetry  time.Duration // within 2s
		wantMsg    string
	}{
		{"ledger's refusal, seconds", passThrough(target), "7", "404 not_found/subscription-unknown", 7 * time.Second, "no such subscription"},
		{"ledger's refusal, date", passThrough(target), in, "404 not_found/subscription-unknown", time.Hour, "no such subscription"},
		{"ledger's refusal, unreadable", passThrough(target), "soon", "404 not_found/subscription-unknown", 0, "no such subscription"},
		{"proxy's 429", answer(http.StatusTooManyRequests, "text/plain", "slow down\n  please"), "2", "429 /", 2 * time.Second, "slow down please"},
		{"proxy's 502 without a body", answer(http.StatusBadGateway, "", ""), "", "502 /", 0, "Bad Gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			front := httptest.NewServer(tc.front(tc.retryAfter))
			defer front.Close()
			// Its own transport, for the same reason as passThrough's.
			c, err := httpclient.New(front.URL, httpclient.WithToken(adminToken), httpclient.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetSubscription(ctx, "S-NONE", time.Time{})
			e, ok := errors.AsType[*httpclient.Error](err)
			if !ok {
				t.Fatalf("got %v, want an *Error", err)
			}
			if got := refusal(err); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if d := e.RetryAfter - tc.wantRetry; d < -2*time.Second || d > 2*time.Second {
				t.Errorf("RetryAfter %v, want %v", e.RetryAfter, tc.wantRetry)
			}
			if !strings.HasPrefix(e.Message, tc.wantMsg) {
				t.Errorf("message %q, want it to start with %q", e.Message, tc.wantMsg)
			}
		})
	}
}

// passThrough is a reverse proxy to the ledger that adds Retry-After to its
// error answers.
func passThrough(target *url.URL) func(string) http.Handler {
	return func(retryAfter string) http.Handler {
		p := httputil.NewSingleHostReverseProxy(target)
		// Its own transport: a parallel subtest's httptest.Server.Close closes
		// http.DefaultTransport's idle connections, this proxy's among them.
		p.Transport = &http.Transport{}
		p.ModifyResponse = func(r *http.Response) error {
			if r.StatusCode >= 400 {
				r.Header.Set("Retry-After", retryAfter)
			}
			return nil
		}
		return p
	}
}

// answer is a proxy that answers every request itself.
func answer(status int, contentType, body string) func(string) http.Handler {
	return func(retryAfter string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			if contentType != "" {
				w.Header().Set("Content-Type", contentType)
			}
			w.WriteHeader(status)
			w.Write([]byte(body))
		})
	}
}

// Requests that get no answer, or an answer that is not what the method
// reads, are errors without a status that still say why.
func TestNoAnswerAndMalformedAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	refused := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr
	}()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	html := httptest.NewServer(answer(http.StatusOK, "text/html", "<html>a captive portal</html>")(""))
	t.Cleanup(html.Close)
	empty := httptest.NewServer(answer(http.StatusCreated, "application/json", "{}")(""))
	t.Cleanup(empty.Close)
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	for _, tc := range []struct {
		name string
		base string
		opts []httpclient.Option
		ctx  context.Context
		is   func(error) bool
	}{
		{"connection refused", refused, nil, ctx, func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }},
		{"timeout", slow.URL, []httpclient.Option{httpclient.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond})}, ctx, func(err error) bool {
			ne, ok := errors.AsType[net.Error](err)
			return ok && ne.Timeout()
		}},
		{"context canceled", slow.URL, nil, canceled, func(err error) bool { return errors.Is(err, context.Canceled) }},
		{"not JSON", html.URL, nil, ctx, func(err error) bool { return errors.Is(err, httpclient.ErrMalformedResponse) }},
		{"activation without instance or secret", empty.URL, nil, ctx, func(err error) bool { return errors.Is(err, httpclient.ErrMalformedResponse) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := httpclient.New(tc.base, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Activate(tc.ctx, httpclient.ActivateRequest{LicenseKey: "subscription/S-1", ProductVersion: "1.0.0"})
			if err == nil || !tc.is(err) || httpclient.Status(err) != 0 {
				t.Errorf("got %v (status %d), want a %s error without a status", err, httpclient.Status(err), tc.name)
			}
			if !strings.Contains(fmt.Sprint(err), "POST /v1/instances/activate") {
				t.Errorf("error %q does not name the request", err)
			}
		})
	}
}

// New takes an absolute http(s) URL, keeping a path as a prefix of every
// endpoint (a ledger behind a reverse proxy at /ledger/).
func TestNewAndPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		base, want string // want: BaseURL, or "error"
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"https://ledger.example.com/", "https://ledger.example.com"},
		{"http://proxy/ledger/", "http://proxy/ledger"},
		{"127.0.0.1:8080", "error"},
		{"ftp://ledger", "error"},
		{"http:///path", "error"},
		{"http://ledger?x=1", "error"},
		{"http://user:pw@ledger", "error"},
	} {
		c, err := httpclient.New(tc.base)
		got := "error"
		if err == nil {
			got = c.BaseURL()
		}
		if got != tc.want {
			t.Errorf("New(%q): %s (%v), want %s", tc.base, got, err, tc.want)
		}
	}

	ctx := context.Background()
	l := startLedger(t)
	target, _ := url.Parse(l.URL)
	mux := http.NewServeMux()
	mux.Handle("/ledger/", http.StripPrefix("/ledger", httputil.NewSingleHostReverseProxy(target)))
	front := httptest.NewServer(mux)
	defer front.Close()
	c, err := httpclient.New(front.URL+"/ledger/", httpclient.WithToken(adminToken))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Health(ctx); err != nil {
		t.Errorf("Health through the prefix: %v", err)
	}
	if _, err := c.RegisterPlatform(ctx, httpclient.RegisterRequest{ID: "acme", Nodes: []string{"mn-1"}}); err != nil {
		t.Errorf("RegisterPlatform through the prefix: %v", err)
	}
	if err := must(httpclient.New(front.URL)).get(t).Health(ctx); httpclient.Status(err) != http.StatusNotFound {
		t.Errorf("Health without the prefix: %v, want a 404", err)
	}
}

// Health and Ready are public; Ready reports the projections' progress,
// and a ledger that is not ready (503) as an *Error beside its Readiness.
func TestHealthReady(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := startLedger(t)
	if err := l.client(t, "").Health(ctx); err != nil {
		t.Fatalf("Health: %v", err)
	}
	must(l.client(t, adminToken).RegisterPlatform(ctx, httpclient.RegisterRequest{ID: "acme", Nodes: []string{"mn-1"}})).get(t)
	// A ledger whose projector lags, as a canned answer: a real one
	// catches up too fast to be caught.
	lagging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"catching-up","projections":{"applied":4,"head":9,"lag":5,"caught_up":false,"live":true}}`))
	}))
	t.Cleanup(lagging.Close)

	for _, tc := range []struct {
		name, base string
		want       string // status caught-up lag, then the error
	}{
		{"ready", l.URL, "ready true 0, ok"},
		{"catching up", lagging.URL, "catching-up false 5, 503 /catching-up retry 3s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := must(httpclient.New(tc.base)).get(t).Ready(ctx)
			if r == nil {
				t.Fatalf("no readiness: %v", err)
			}
			got := fmt.Sprintf("%s %v %d, %s", r.Status, r.Projections.CaughtUp, r.Projections.Lag, refusal(err))
			if e, ok := errors.AsType[*httpclient.Error](err); ok {
				got += fmt.Sprint(" retry ", e.RetryAfter)
			}
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// An outcome-unknown answer's event ids reach the caller, who needs them to
// ask the log whether the write landed; a refused simulation names its
// command.
func TestErrorCarriesEventIDsAndCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		body        string
		wantIDs     []string
		wantCommand int // -1: none
	}{
		{"outcome-unknown", `{"error":{"code":"unavailable","reason":"outcome-unknown","message":"m","event_ids":["e1","e2"]}}`, []string{"e1", "e2"}, -1},
		{"refused simulation", `{"error":{"code":"conflict","reason":"base-required","message":"m","command":2}}`, nil, 2},
		{"plain refusal", `{"error":{"code":"not_found","reason":"unknown-platform","message":"m"}}`, nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			front := httptest.NewServer(answer(http.StatusServiceUnavailable, "application/json", tc.body)("1"))
			defer front.Close()
			c, err := httpclient.New(front.URL, httpclient.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetSubscription(context.Background(), "S-1", time.Time{})
			e, ok := errors.AsType[*httpclient.Error](err)
			if !ok {
				t.Fatalf("got %v, want an *Error", err)
			}
			if got, want := strings.Join(e.EventIDs, ","), strings.Join(tc.wantIDs, ","); got != want {
				t.Errorf("EventIDs %q, want %q", got, want)
			}
			got := -1
			if e.Command != nil {
				got = *e.Command
			}
			if got != tc.wantCommand {
				t.Errorf("Command %d, want %d", got, tc.wantCommand)
			}
		})
	}
}
