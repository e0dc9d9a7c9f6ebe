package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/licledger/licledger/fixtures"
)

func replayRun(t *testing.T, in string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(in)
	defer func() { stdin = old }()
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), append([]string{"replay"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// The command prints, for any instant of a fixture, exactly the bytes the
// golden file holds for it (R32: the CLI, the goldens and the HTTP API
// print one document).
func TestReplayCommand(t *testing.T) {
	f, err := fixtures.Load("r19-first-pull")
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range f.Instants {
		code, out, errs := replayRun(t, "", "--events", "../../fixtures/r19-first-pull.jsonl", "--platform", f.Platform, "--at", at.Format(time.RFC3339))
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		if !bytes.Contains(f.Golden, []byte(out)) || !strings.HasPrefix(out, "{\n") {
			t.Fatalf("--at %s printed what the golden file does not hold:\n%s", at.Format(time.RFC3339), out)
		}
	}
	// --at defaults to the platform's last event; "-" reads stdin; a
	// complete stored log (ids, versions, digests given) replays the same.
	last := f.Events[len(f.Events)-1].Time
	want, err := fixtures.Render(f.Events, f.Platform, []time.Time{last})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := replayRun(t, canonicalLog(t, f), "--events", "-", "--platform", f.Platform)
	if code != 0 || out != string(want) {
		t.Fatalf("exit %d (%s), printed\n%s\nwant\n%s", code, errs, out, want)
	}
}

func TestReplayCommandRefuses(t *testing.T) {
	good := `{"type":"platform.registered","subject":"platform/p","time":"2026-01-01T00:00:00Z","data":{"nodes":["mn-1"]}}` + "\n"
	tests := []struct {
		name     string
		in       string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no flags", good, nil, 2, "--events and one of --aggregate, --platform or --all are required"},
		{"malformed line", good + "# note\n{\"type\":\n", []string{"--events", "-", "--platform", "p"}, 2, "-: line 3: not an event object"},
		{"unknown type", good + `{"type":"platform.exploded","subject":"platform/p","time":"2026-01-02T00:00:00Z","data":{}}` + "\n",
			[]string{"--events", "-", "--platform", "p"}, 2, `line 2: unknown event type "platform.exploded"`},
		{"bad instant", good, []string{"--events", "-", "--platform", "p", "--at", "yesterday"}, 2, "not an RFC 3339 instant"},
		{"unknown platform", good, []string{"--events", "-", "--platform", "q"}, 1, `no event of platform "q"`},
		{"missing file", "", []string{"--events", "no-such.jsonl", "--platform", "p"}, 2, "cannot read the history"},
		{"extra argument", good, []string{"--events", "-", "--platform", "p", "now"}, 2, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := replayRun(t, tt.in, tt.args...)
			if code != tt.wantCode || !strings.Contains(errs, tt.wantErr) || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d mentioning %q", code, out, errs, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// canonicalLog writes a fixture's events as the ledger stores them.
func canonicalLog(t *testing.T, f fixtures.Fixture) string {
	t.Helper()
	var b strings.Builder
	for _, e := range f.Events {
		raw, err := e.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		b.Write(raw)
		b.WriteByte('\n')
	}
	return b.String()
}

// Replay checks a history against the rules the ledger writes by: an event
// the ledger would have refused fails the replay, naming the file's line,
// the event and the reason word the command path gives.
func TestReplayRefusesWhatTheLedgerWouldNotWrite(t *testing.T) {
	raw, err := os.ReadFile("../../fixtures/r14-delete.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	fixture := string(raw)
	lines := strings.Count(fixture, "\n")
	ev := func(typ, time, data string) string {
		return `{"type":"` + typ + `","subject":"platform/r14-delete","time":"` + time + `","data":` + data + "}\n"
	}
	tests := []struct {
		name   string
		extra  []string // appended to the fixture; the last one is refused
		reason string
		words  []string
	}{
		// R14: the key's vmware license cannot be deleted.
		{"R14 deleting a USB key's license", []string{ev("license.deleted", "2026-02-02T00:00:00Z", `{"license":"L-K-VMW"}`)},
			domain.ReasonKeyLicense, []string{"L-K-VMW", "K-14", "R14"}},
		// R14: a deleted license is gone; deleting it again names no license.
		{"R14 deleting a deleted license", []string{ev("license.deleted", "2026-02-02T00:00:00Z", `{"license":"L-RC-TEN"}`)},
			domain.ReasonUnknownLicense, []string{"L-RC-TEN"}},
		{"pulling a key from a node it is not on", []string{
			ev("platform.node_added", "2026-02-02T00:00:00Z", `{"node":"mn-2"}`),
			ev("usb_key.removed", "2026-02-03T00:00:00Z", `{"node":"mn-2","key_id":"K-14"}`)},
			domain.ReasonUnknownKey, []string{"K-14", "mn-2"}},
		// R15: one or two management nodes.
		{"R15 a third management node", []string{
			ev("platform.node_added", "2026-02-02T00:00:00Z", `{"node":"mn-2"}`),
			ev("platform.node_added", "2026-02-02T00:00:00Z", `{"node":"mn-3"}`)},
			domain.ReasonNodeCount, []string{"R15"}},
		// R2: the standard Base's 16 sockets.
		{"R2 a host beyond the socket quota", []string{
			ev("host.added", "2026-02-02T00:00:00Z", `{"host":"h-1","hypervisor":"kvm","sockets":12}`),
			ev("host.added", "2026-02-02T00:00:00Z", `{"host":"h-2","hypervisor":"kvm","sockets":8}`)},
			domain.ReasonCapacityExceeded, []string{"h-2"}},
		// R12: a key-bound upload needs its key inserted.
		{"R12 a license bound to a key not inserted", []string{ev("license.uploaded", "2026-02-02T00:00:00Z",
			`{"source":"usb-key","key_id":"K-99","license":{"id":"L-K99","kind":"plus","module":"cdp","issued_at":"2026-01-01T00:00:00Z"}}`)},
			domain.ReasonWrongKey, []string{"K-99", "R12"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := fixture + strings.Join(tt.extra, "")
			code, out, errs := replayRun(t, in, "--events", "-", "--platform", "r14-delete")
			wantLine := fmt.Sprintf("-: line %d: event ", lines+len(tt.extra))
			if code != 2 || out != "" || !strings.Contains(errs, wantLine) || !strings.Contains(errs, tt.reason) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 naming %q and %q", code, out, errs, wantLine, tt.reason)
			}
			for _, w := range tt.words {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q does not mention %q", errs, w)
				}
			}
		})
	}
}

// replayHistory builds a history through the HTTP API of a real ledger
// (a platform, a subscription with a plan change and an activation, a
// perpetual license, a coupon with a redemption) on a clock stepped a day
// per command, and returns the ledger (still serving) and its admin token.
func replayHistory(t *testing.T, t0 time.Time, opts ...mainOption) (*testLedger, string) {
	t.Helper()
	ctx := t.Context()
	const admin = "admin-token-0123456789"
	clock := eventstoretest.NewClock(t0)
	l := mustRunMain(t, append([]mainOption{withClock(clock), withToken("admin", admin)}, opts...)...)
	var subKey string
	steps := []struct {
		name string
		do   func() error
	}{
		{"register platform", func() error {
			_, err := l.API.RegisterPlatform(ctx, httpclient.RegisterRequest{ID: "acme", Nodes: []string{"mn-1"}, RequestCode: "RC-1"})
			return err
		}},
		{"create subscription", func() error {
			r, err := l.API.CreateSubscription(ctx, httpclient.SubscriptionRequest{ID: "S-1", Customer: "acme",
				Plan: httpclient.InstancePlan{Name: "team", Instances: 3}, Period: "annual", LeaseSeconds: 3600})
			if err == nil {
				subKey = r.LicenseKey
			}
			return err
		}},
		{"activate", func() error {
			_, err := l.API.Activate(ctx, httpclient.ActivateRequest{LicenseKey: subKey, ProductVersion: "5.2.0"})
			return err
		}},
		{"change plan", func() error {
			_, err := l.API.ChangePlan(ctx, "S-1", httpclient.InstancePlan{Name: "business", Instances: 4})
			return err
		}},
		{"purchase perpetual", func() error {
			_, err := l.API.PurchasePerpetual(ctx, httpclient.PerpetualRequest{ID: "P-1", Customer: "acme",
				Plan: httpclient.InstancePlan{Name: "pro", Instances: 1}})
			return err
		}},
		{"create coupon", func() error {
			_, err := l.API.CreateCoupon(ctx, httpclient.CouponRequest{Code: "SPRING", Partner: "p-1", DiscountPercent: 10,
				RedemptionLimit: 5, ExpiresAt: t0.AddDate(1, 0, 0)})
			return err
		}},
		{"redeem coupon", func() error {
			_, err := l.API.RedeemCoupon(ctx, "SPRING", "S-1")
			return err
		}},
	}
	for i, step := range steps {
		clock.Set(t0.Add(time.Duration(i) * 24 * time.Hour))
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
	}
	return l, admin
}

// adminGET is the raw body of an admin GET (the exact bytes served).
func adminGET(t *testing.T, url, token string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d: %s", url, resp.StatusCode, b)
	}
	return b
}

// R32: replaying an export of a real ledger prints, for every aggregate
// kind and instant, the bytes the live API answers for that view then.
func TestReplayAggregateMatchesAPI(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l, admin := replayHistory(t, t0)
	var export bytes.Buffer
	if _, err := l.Store.Export(t.Context(), &export, eventstore.ExportFilter{}, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(export.String(), `{"streamseq":`) {
		t.Fatalf("not an export:\n%s", export.String())
	}
	file := filepath.Join(t.TempDir(), "export.jsonl")
	writeFile(t, file, export.String())

	mid := t0.Add(60 * time.Hour)     // after the activation, before the plan change
	end := t0.Add(7 * 24 * time.Hour) // after every event
	tests := []struct {
		aggregate, path string
		at              time.Time
		mentions        string // the view must show it: the history is in it
	}{
		{"subscription/S-1", "/v1/subscriptions/S-1", mid, `"team"`},
		{"subscription/S-1", "/v1/subscriptions/S-1", t0.Add(48*time.Hour + time.Minute), `"held"`}, // the activation's lease
		{"subscription/S-1", "/v1/subscriptions/S-1", end, `"business"`},
		{"perpetual/P-1", "/v1/perpetual/P-1", end, `"P-1"`},
		{"coupon/SPRING", "/v1/coupons/SPRING", t0.Add(5*24*time.Hour + time.Hour), `"SPRING"`}, // before the redemption
		{"coupon/SPRING", "/v1/coupons/SPRING", end, `"S-1"`},
		{"platform/acme", "/v1/platforms/acme/entitlement", end, `"acme"`},
	}
	for _, tt := range tests {
		at := tt.at.Format(time.RFC3339)
		t.Run(tt.aggregate+"@"+at, func(t *testing.T) {
			want := adminGET(t, l.URL+tt.path+"?at="+at, admin)
			if !bytes.Contains(want, []byte(tt.mentions)) {
				t.Fatalf("the API's view does not mention %s:\n%s", tt.mentions, want)
			}
			code, got, errs := replayRun(t, "", "--events", file, "--aggregate", tt.aggregate, "--at", at)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if got != string(want) {
				t.Fatalf("replay printed\n%s\nthe API answered\n%s", got, want)
			}
		})
	}

	// Before its creation a subscription is unknown, as the API's 404 says.
	code, out, errs := replayRun(t, "", "--events", file, "--aggregate", "subscription/S-1", "--at", t0.Format(time.RFC3339))
	if code != 1 || out != "" || !strings.Contains(errs, domain.ReasonSubscriptionUnknown) {
		t.Fatalf("before creation: exit %d, stdout %q, stderr %q; want exit 1 with %s", code, out, errs, domain.ReasonSubscriptionUnknown)
	}

	// --platform is --aggregate platform/ID.
	_, viaAgg, _ := replayRun(t, "", "--events", file, "--aggregate", "platform/acme")
	code, viaFlag, errs := replayRun(t, "", "--events", file, "--platform", "acme")
	if code != 0 || viaFlag != viaAgg {
		t.Fatalf("--platform: exit %d (%s)\n%s\nwant\n%s", code, errs, viaFlag, viaAgg)
	}

	// --all: every aggregate's view, keyed by subject, the same documents.
	at := end.Format(time.RFC3339)
	code, out, errs = replayRun(t, "", "--events", file, "--all", "--at", at)
	if code != 0 {
		t.Fatalf("--all: exit %d: %s", code, errs)
	}
	var all map[string]json.RawMessage
	decode(t, []byte(out), &all)
	subjects := slices.Sorted(maps.Keys(all))
	wantSubjects := []string{"coupon/SPRING", "perpetual/P-1", "platform/acme", "subscription/S-1"}
	if !slices.Equal(subjects, wantSubjects) {
		t.Fatalf("--all keys %v, want %v", subjects, wantSubjects)
	}
	for _, tt := range tests {
		if !tt.at.Equal(end) {
			continue
		}
		var got, want bytes.Buffer
		if err := json.Compact(&got, all[tt.aggregate]); err != nil {
			t.Fatal(err)
		}
		if err := json.Compact(&want, adminGET(t, l.URL+tt.path+"?at="+at, admin)); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("--all %s:\n%s\nwant\n%s", tt.aggregate, got.String(), want.String())
		}
	}
	// Before the perpetual's purchase only what existed then is printed.
	_, early, _ := replayRun(t, "", "--events", file, "--all", "--at", mid.Format(time.RFC3339))
	var some map[string]json.RawMessage
	decode(t, []byte(early), &some)
	if got := slices.Sorted(maps.Keys(some)); !slices.Equal(got, []string{"platform/acme", "subscription/S-1"}) {
		t.Errorf("--all at %s: keys %v", mid.Format(time.RFC3339), got)
	}
}

// Unknown aggregates exit with the API's not-found reason; a bad export
// line is named.
func TestReplayAggregateRefuses(t *testing.T) {
	good := `{"type":"platform.registered","subject":"platform/p","time":"2026-01-01T00:00:00Z","data":{"nodes":["mn-1"]}}` + "\n"
	tests := []struct {
		name     string
		in       string // good when empty
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown subscription", "", []string{"--aggregate", "subscription/S-9"}, 1, domain.ReasonSubscriptionUnknown},
		{"unknown perpetual", "", []string{"--aggregate", "perpetual/P-9"}, 1, domain.ReasonPerpetualUnknown},
		{"unknown coupon", "", []string{"--aggregate", "coupon/NOPE", "--at", "2026-02-01T00:00:00Z"}, 1, domain.ReasonCouponUnknown},
		{"unknown platform", "", []string{"--aggregate", "platform/q"}, 1, domain.ReasonUnknownPlatform},
		{"unknown kind", "", []string{"--aggregate", "server/x"}, 2, "unknown aggregate kind"},
		{"two selections", "", []string{"--aggregate", "platform/p", "--all"}, 2, "one of --aggregate"},
		{"bad export line", good + `{"streamseq":0,"specversion":"1.0"}` + "\n", []string{"--aggregate", "platform/p"}, 2,
			`-: line 2: streamseq "0" is not a stream sequence`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if in == "" {
				in = good
			}
			code, out, errs := replayRun(t, in, append([]string{"--events", "-"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(errs, tt.wantErr) || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d mentioning %q", code, out, errs, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// What-if offline: `replay --with FILE` decides and folds hypothetical
// commands on an export's history with the ledger's rules and prints the
// view the API's simulate answers for the same commands; a refused one
// names its index and reason.
func TestReplayWithMatchesSimulate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// The CLI reads license JSON (as the ledger does with this flag).
	l, admin := replayHistory(t, t0, withArgs("--insecure-json-licenses"))
	var export bytes.Buffer
	if _, err := l.Store.Export(t.Context(), &export, eventstore.ExportFilter{}, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "export.jsonl")
	writeFile(t, file, export.String())
	at := t0.Add(7 * 24 * time.Hour).Format(time.RFC3339)
	cmds := `[{"upload_license":{"id":"L-1","kind":"base","edition":"standard","sockets":8,"issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}},
		{"add_host":{"host":"h-1","hypervisor":"kvm","sockets":2}}]`
	with := filepath.Join(dir, "with.json")
	writeFile(t, with, cmds)

	code, got, errs := replayRun(t, "", "--events", file, "--aggregate", "platform/acme", "--at", at, "--with", with)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, l.URL+"/v1/platforms/acme/entitlement/simulate",
		strings.NewReader(`{"at":"`+at+`","commands":`+cmds+`}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var api struct{ View domain.Entitlement }
	if err := json.NewDecoder(resp.Body).Decode(&api); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("simulate: %d %v", resp.StatusCode, err)
	}
	want, err := domain.MarshalEntitlement(api.View)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) || !strings.Contains(got, `"status": "licensed"`) {
		t.Errorf("replay --with printed\n%s\nthe API simulated\n%s", got, want)
	}

	writeFile(t, with, `[{"add_host":{"host":"h-1","hypervisor":"kvm","sockets":2}}]`) // no Base: admits no host (R2)
	code, _, errs = replayRun(t, "", "--events", file, "--aggregate", "platform/acme", "--with", with)
	if code == 0 || !strings.Contains(errs, domain.ReasonNoBase) || !strings.Contains(errs, "hypothetical command 0") {
		t.Errorf("refused hypothetical command: exit %d: %s", code, errs)
	}
}
