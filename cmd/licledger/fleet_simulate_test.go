package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// simulate runs `licledger fleet simulate` against l with the client
// token and returns its exit code, stdout and stderr.
func simulate(ctx context.Context, l *testLedger, args ...string) (int, string, string) {
	var stdout, stderr eventstoretest.SyncBuffer
	all := append([]string{"fleet", "simulate", "--url", l.URL, "--token", fleetClient, "--progress", "0"}, args...)
	code := dispatch(ctx, all, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// subscriptionDoc reads a subscription's view as the admin.
func subscriptionDoc(t *testing.T, l *testLedger, id string) *httpclient.SubscriptionDoc {
	t.Helper()
	doc, err := l.API.GetSubscription(t.Context(), id, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// createSubscription creates subscription id with a plan of two seats.
func createSubscription(t *testing.T, l *testLedger, id, customer, period string) (licenseKey string) {
	t.Helper()
	r, err := l.API.CreateSubscription(t.Context(), httpclient.SubscriptionRequest{ID: id, Customer: customer,
		Plan: httpclient.InstancePlan{Name: "team", Instances: 2}, Period: period})
	if err != nil {
		t.Fatal(err)
	}
	return r.LicenseKey
}

// summaryLine returns the summary line starting with prefix.
func summaryLine(t *testing.T, out, prefix string) string {
	t.Helper()
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	t.Fatalf("no %q line in the summary:\n%s", prefix, out)
	return ""
}

// R25, R26: three simulated instances on a subscription of two floating
// seats: two activate and check in, the third is refused
// too-many-instances on every try, and at the end the two free their
// seats. The ledger agrees: two instances were ever activated (no
// over-allocation), both deactivated.
func TestFleetSimulate(t *testing.T) {
	t.Parallel()
	l := mustRunMain(t, fleetServe(eventstoretest.NewClock(fleetT0))...)
	key := createSubscription(t, l, "S-SIM", "acme", "monthly")

	code, out, errOut := simulate(t.Context(), l, "--license-key", key, "--instances", "3", "--interval", "50ms", "--duration", "1s")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if got, want := summaryLine(t, out, "instances:"), "instances:   2 activated, 1 refused (too-many-instances: 1)"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	m := regexp.MustCompile(`^activations: 2 accepted, (\d+) refused \(too-many-instances: (\d+)\)$`).FindStringSubmatch(summaryLine(t, out, "activations:"))
	if m == nil || m[1] != m[2] || m[1] == "0" {
		t.Errorf("activations line %q: want 2 accepted and only too-many-instances refusals", summaryLine(t, out, "activations:"))
	}
	m = regexp.MustCompile(`^check-ins:   (\d+) ok, 0 refused; [0-9.]+ check-ins/s$`).FindStringSubmatch(summaryLine(t, out, "check-ins:"))
	n := 0
	if m != nil {
		n, _ = strconv.Atoi(m[1])
	}
	if n < 2 {
		t.Errorf("check-ins line %q: want at least one ok check-in per activated instance", summaryLine(t, out, "check-ins:"))
	}
	if !regexp.MustCompile(`^latency:     p50 [0-9.]+ms, p99 [0-9.]+ms, max [0-9.]+ms \(check-ins\)$`).MatchString(summaryLine(t, out, "latency:")) {
		t.Errorf("latency line %q", summaryLine(t, out, "latency:"))
	}
	if got, want := summaryLine(t, out, "seats:"), "seats:       0 lost on a check-in, 2 freed at exit"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	for _, want := range []string{"sim-1: activated as instance", "sim-3: activation refused: too-many-instances"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	doc := subscriptionDoc(t, l, "S-SIM")
	var seats []string
	for _, in := range doc.Instances {
		seats = append(seats, in.Seat+" by "+in.DeactivatedBy)
	}
	if got, want := strings.Join(seats, ", "), "deactivated by client, deactivated by client"; got != want || doc.InstancesInUse != 0 {
		t.Errorf("instances after the run: %s (%d in use), want %s (0 in use)", got, doc.InstancesInUse, want)
	}
}

// R27: seats held by a running fleet (--keep-seats) stay taken, so a
// further instance is refused; an instance whose seat an administrator
// frees is refused seat-released at its next check-in and activates
// again; Ctrl-C (the context ending) stops the run with its summary.
func TestFleetSimulateSeatsAndInterrupt(t *testing.T) {
	t.Parallel()
	l := mustRunMain(t, fleetServe(eventstoretest.NewClock(fleetT0))...)
	key := createSubscription(t, l, "S-SIM", "acme", "monthly")

	ctx, interrupt := context.WithCancel(t.Context())
	defer interrupt()
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result)
	go func() {
		code, out, errOut := simulate(ctx, l, "--license-key", key, "--instances", "2", "--interval", "50ms", "--duration", "0", "--keep-seats", "--json")
		done <- result{code, out, errOut}
	}()
	eventually(t, "two seats held", func() bool { return subscriptionDoc(t, l, "S-SIM").InstancesInUse == 2 })

	code, out, errOut := simulate(t.Context(), l, "--license-key", key, "--instances", "1", "--interval", "50ms", "--duration", "300ms", "--json")
	var extra fleetSummary
	if err := json.Unmarshal([]byte(out), &extra); code != 0 || err != nil {
		t.Fatalf("exit %d, %v\nstdout:\n%s\nstderr:\n%s", code, err, out, errOut)
	}
	if got, want := extra.Refused.Refused["too-many-instances"], 1; extra.Activated != 0 || got != want {
		t.Errorf("a third instance next to a running fleet: %d activated, %d refused too-many-instances; want 0, %d", extra.Activated, got, want)
	}

	victim := subscriptionDoc(t, l, "S-SIM").Instances[0].ID
	if res, err := l.API.Deactivate(t.Context(), victim, httpclient.DeactivateRequest{LicenseKey: "subscription/S-SIM"}); err != nil || len(res.Events) != 1 {
		t.Fatalf("deactivate %s as the admin: %v %+v, want one event", victim, err, res)
	}
	eventually(t, "the freed seat taken again", func() bool {
		doc := subscriptionDoc(t, l, "S-SIM")
		return len(doc.Instances) == 3 && doc.InstancesInUse == 2
	})
	interrupt()
	var r result
	select {
	case r = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("fleet simulate did not stop on interrupt")
	}
	var sum fleetSummary
	if err := json.Unmarshal([]byte(r.out), &sum); r.code != 0 || err != nil {
		t.Fatalf("exit %d, %v\nstdout:\n%s\nstderr:\n%s", r.code, err, r.out, r.err)
	}
	got := []any{sum.Interrupted, sum.KeptSeats, sum.Activated, sum.Activations.OK, sum.SeatsLost, sum.CheckIns.Refused["seat-released"], sum.Deactivated}
	want := []any{true, true, 2, 3, 1, 1, 0}
	if !sameValues(got, want) {
		t.Errorf("summary [interrupted kept activated activations seats-lost seat-released deactivated] = %v, want %v\n%s", got, want, r.out)
	}
	if !strings.Contains(r.err, "check-in refused, seat lost: seat-released") {
		t.Errorf("stderr does not report the lost seat:\n%s", r.err)
	}
	if got := subscriptionDoc(t, l, "S-SIM").InstancesInUse; got != 2 {
		t.Errorf("%d seats held after --keep-seats, want 2", got)
	}
}

func sameValues(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Bad flags are usage errors (exit 2) that say what is wrong; answers no
// retry can change (a bad token, no ledger) stop the run (exit 1).
func TestFleetSimulateErrors(t *testing.T) {
	t.Parallel()
	l := mustRunMain(t, fleetServe(eventstoretest.NewClock(fleetT0))...)
	createSubscription(t, l, "S-SIM", "", "monthly")
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no license key", []string{}, 2, "--license-key is required"},
		{"platform license key", []string{"--license-key", "platform/acme"}, 2, `--license-key platform/acme: want a license key`},
		{"bad id", []string{"--license-key", "S 1"}, 2, `--license-key subscription/S 1: want a license key`},
		{"a malformed key is not echoed", []string{"--license-key", "lks.S-1.short"}, 2, `--license-key (a license key): want a license key`},
		{"no instances", []string{"--license-key", "S-SIM", "--instances", "0"}, 2, "--instances 0: want 1 to 100000"},
		{"zero interval", []string{"--license-key", "S-SIM", "--interval", "0s"}, 2, "--interval 0s: want a positive duration"},
		{"negative duration", []string{"--license-key", "S-SIM", "--duration", "-1s"}, 2, "--duration -1s"},
		{"bad released-at", []string{"--license-key", "S-SIM", "--released-at", "March"}, 2, `--released-at "March": want an RFC 3339 instant`},
		{"bad url", []string{"--license-key", "S-SIM", "--url", "127.0.0.1:8080"}, 2, `--url "127.0.0.1:8080"`},
		{"unknown flag", []string{"--license-key", "S-SIM", "--seats", "3"}, 2, "flag provided but not defined: -seats"},
		{"stray argument", []string{"--license-key", "S-SIM", "now"}, 2, "unexpected arguments: [now]"},
		{"no ledger", []string{"--license-key", "S-SIM", "--url", "http://127.0.0.1:1"}, 1, "no ledger answers at http://127.0.0.1:1"},
		{"bad token", []string{"--license-key", "S-SIM", "--token", "not-a-token-of-this-ledger", "--duration", "5s"}, 1, "401 bad-token"},
		{"empty version", []string{"--license-key", "S-SIM", "--version", ""}, 2, "--version must not be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := simulate(t.Context(), l, tc.args...)
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, want %d; stderr lacks %q:\n%s\nstdout:\n%s", code, tc.wantCode, tc.wantErr, errOut, out)
			}
		})
	}
}

// The summary's text, as a person reads it at the end of a run.
func TestFleetSummaryText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sum  fleetSummary
		want string
	}{
		{"finished", fleetSummary{License: "subscription/S-1", Instances: 3, Seconds: 10.04, Activated: 2,
			Refused: tally{Refused: map[string]int{"too-many-instances": 1}}, Activations: tally{OK: 3, Refused: map[string]int{"too-many-instances": 9, "seat-released": 1}},
			CheckIns: tally{OK: 40, Refused: map[string]int{"seat-released": 1}}, CheckInsPerS: 4.1, P50ms: 1.234, P99ms: 5.5, MaxMs: 7, SeatsLost: 1, Deactivated: 2, answered: 41},
			"fleet simulate: 3 instances on subscription/S-1, ran 10.0s\n" +
				"instances:   2 activated, 1 refused (too-many-instances: 1)\n" +
				"activations: 3 accepted, 10 refused (too-many-instances: 9, seat-released: 1)\n" +
				"check-ins:   40 ok, 1 refused (seat-released: 1); 4.1 check-ins/s\n" +
				"latency:     p50 1.23ms, p99 5.50ms, max 7.00ms (check-ins)\n" +
				"seats:       1 lost on a check-in, 2 freed at exit\n"},
		{"interrupted before a check-in, seats kept", fleetSummary{License: "perpetual/P-1", Instances: 1, Seconds: 0.5, Activated: 1,
			Activations: tally{OK: 1}, Interrupted: true, KeptSeats: true},
			"fleet simulate: 1 instances on perpetual/P-1, interrupted after 0.5s\n" +
				"instances:   1 activated, 0 refused\n" +
				"activations: 1 accepted, 0 refused\n" +
				"check-ins:   0 ok, 0 refused; 0.0 check-ins/s\n" +
				"latency:     no check-in answered (the first comes one --interval after activation)\n" +
				"seats:       0 lost on a check-in, 1 kept at exit (--keep-seats)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := tc.sum.write(&b, false); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// Quantiles come from log-linear buckets: exact below 64µs, within 1/64
// above, and never above the largest sample.
func TestLatencyHistogram(t *testing.T) {
	t.Parallel()
	var h latencyHistogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * 10 * time.Microsecond) // 10µs .. 10ms
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 5 * time.Millisecond},
		{0.99, 9900 * time.Microsecond},
		{1, 10 * time.Millisecond},
		{0.001, 10 * time.Microsecond},
	} {
		got := h.quantile(tc.q)
		if diff := got - tc.want; diff < -tc.want/64 || diff > tc.want/64 {
			t.Errorf("q%.3f = %v, want %v ± 1/64", tc.q, got, tc.want)
		}
	}
	if got := (&latencyHistogram{}).quantile(0.5); got != 0 {
		t.Errorf("empty histogram p50 = %v, want 0", got)
	}
}
