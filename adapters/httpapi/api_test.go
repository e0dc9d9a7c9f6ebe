package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

// Every domain code maps to one status, and the reasons HTTP has a better
// status for override it.
func TestStatusTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want int
	}{
		{domain.Errorf(domain.EINVALID, "x"), 400},
		{domain.Errorf(domain.EUNAUTHORIZED, "x"), 401},
		{domain.Errorf(domain.EFORBIDDEN, "x"), 403},
		{domain.Errorf(domain.ENOTFOUND, "x"), 404},
		{domain.Errorf(domain.ECONFLICT, "x"), 409},
		{domain.Reasonf(domain.ECONFLICT, domain.ReasonVersionMismatch, "x"), 412},
		{domain.Reasonf(domain.EINVALID, domain.ReasonBodyTooLarge, "x"), 413},
		{domain.Reasonf(domain.EINVALID, domain.ReasonUnsupportedMedia, "x"), 415},
		{domain.Errorf(domain.EINTERNAL, "x"), 500},
		{fmt.Errorf("plain: %w", context.DeadlineExceeded), 500},
	}
	for _, tt := range tests {
		if got := Status(tt.err); got != tt.want {
			t.Errorf("Status(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// The walk through every command and query an admin does: register,
// upload a bundle (R10), insert and pull a key, hosts, nodes, delete; each
// answer carries the events and the new version as ETag, and queries see
// the command's effect at once (the command waits for the projections).
func TestCommandsAndQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerAcme()
	r := e.must(http.StatusCreated, "POST", "/v1/platforms/acme/licenses", bundleJSON)
	res := r.result(t)
	if got, want := len(res.Events), 2; got != want {
		t.Fatalf("bundle appended %d events, want %d (R10: one per license, one atomic append)", got, want)
	}
	if got, want := r.header.Get("ETag"), `"3"`; got != want {
		t.Errorf("ETag = %s, want %s", got, want)
	}
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/nodes", `{"node":"mn-2"}`)
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/nodes/mn-1/usb-keys",
		`{"key_id":"K-1","licenses":[{"id":"L-100","kind":"plus","module":"gpu","issued_at":"2026-01-01T00:00:00Z","expires_at":"2028-01-01T00:00:00Z"}]}`)
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/hosts", `{"host":"h-1","hypervisor":"kvm","sockets":2}`)

	var keys struct {
		Status struct{ State string } `json:"status"`
	}
	json.Unmarshal(e.must(http.StatusOK, "GET", "/v1/platforms/acme/usb-keys", "").body, &keys)
	if got, want := keys.Status.State, domain.KeyStateReady; got != want {
		t.Errorf("key state after insert = %q, want %q", got, want)
	}
	e.clock.Set(t0.Add(24 * time.Hour))
	e.must(http.StatusOK, "DELETE", "/v1/platforms/acme/nodes/mn-1/usb-keys/K-1", "")
	json.Unmarshal(e.must(http.StatusOK, "GET", "/v1/platforms/acme/usb-keys", "").body, &keys)
	if got, want := keys.Status.State, domain.KeyStateMissing; got != want {
		t.Errorf("key state after pull = %q, want %q", got, want)
	}
	e.must(http.StatusOK, "DELETE", "/v1/platforms/acme/hosts/h-1", "")
	e.must(http.StatusOK, "DELETE", "/v1/platforms/acme/licenses/L-2", "")
	e.must(http.StatusOK, "DELETE", "/v1/platforms/acme/nodes/mn-2", "")

	var p struct {
		Version uint64
		Nodes   []struct{ Node string }
	}
	r = e.must(http.StatusOK, "GET", "/v1/platforms/acme", "")
	json.Unmarshal(r.body, &p)
	if p.Version != 10 || r.header.Get("ETag") != `"10"` {
		t.Errorf("platform version %d, ETag %s; want 10", p.Version, r.header.Get("ETag"))
	}
	var lics struct {
		Licenses []struct{ ID, State string }
	}
	json.Unmarshal(e.must(http.StatusOK, "GET", "/v1/platforms/acme/licenses", "").body, &lics)
	states := map[string]string{}
	for _, l := range lics.Licenses {
		states[l.ID] = l.State
	}
	if states["L-1"] != "current" || states["L-2"] != "deleted" || states["L-100"] != "current" {
		t.Errorf("license states = %v", states)
	}
	var tl struct {
		Entries   []struct{ Summary string }
		NextAfter uint64 `json:"next_after"`
	}
	json.Unmarshal(e.must(http.StatusOK, "GET", "/v1/platforms/acme/timeline?limit=4", "").body, &tl)
	if len(tl.Entries) != 4 || tl.NextAfter != 4 {
		t.Errorf("timeline page: %d entries, next_after %d; want 4 and 4", len(tl.Entries), tl.NextAfter)
	}
	ev := e.must(http.StatusOK, "GET", "/v1/events/"+res.Events[0].ID, "")
	if ct := ev.header.Get("Content-Type"); ct != "application/cloudevents+json" {
		t.Errorf("event Content-Type = %q", ct)
	}
	got, err := domain.DecodeEvent(ev.body)
	if err != nil || got.ID != res.Events[0].ID || got.Type != domain.EventLicenseUploaded {
		t.Errorf("GET event = %+v, %v", got, err)
	}
}

// R32: the entitlement endpoint serves the bytes the domain prints for the
// same history (what `licledger replay` prints), now and as of an earlier
// instant.
func TestEntitlementIsReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerAcme()
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/licenses", bundleJSON)
	e.clock.Set(t0.AddDate(0, 1, 0))
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/nodes/mn-1/usb-keys",
		`{"key_id":"K-1","licenses":[{"id":"L-100","kind":"base","edition":"standard","sockets":4,"issued_at":"2026-01-01T00:00:00Z","expires_at":"2028-01-01T00:00:00Z"}]}`)
	var log []domain.Event
	var seqs []uint64
	for rec, err := range e.store.Read(context.Background(), 1) {
		if err != nil {
			t.Fatal(err)
		}
		log, seqs = append(log, rec.Event), append(seqs, rec.Seq)
	}
	// replay prints the entitlement with its log position: the last
	// event at or before at.
	replay := func(st *domain.PlatformState, at time.Time) []byte {
		ent := domain.PlatformEntitlement(st, at)
		ent.AsOf = domain.Position(at, 0)
		byID := map[string]uint64{}
		for i, ev := range log {
			if !ev.Time.After(at) {
				ent.AsOf.Seq = seqs[i]
			}
			byID[ev.ID] = seqs[i]
		}
		ent.SetSeqs(byID)
		b, _ := domain.MarshalEntitlement(ent)
		return b
	}
	for _, at := range []time.Time{t0.Add(time.Hour), t0.AddDate(0, 2, 0)} {
		st, err := domain.PlatformAsOf(log, "acme", at)
		if err != nil {
			t.Fatal(err)
		}
		want := replay(st, at)
		got := e.do("GET", "/v1/platforms/acme/entitlement?at="+at.Format(time.RFC3339), clientToken, nil)
		if got.status != 200 || !bytes.Equal(got.body, want) {
			t.Errorf("entitlement at %s: %d\n%s\nwant\n%s", at, got.status, got.body, want)
		}
	}
	// Without ?at= the API's clock is "now".
	e.clock.Set(t0.AddDate(0, 3, 0))
	st, _ := domain.PlatformAsOf(log, "acme", time.Time{})
	want := replay(st, t0.AddDate(0, 3, 0))
	if got := e.do("GET", "/v1/platforms/acme/entitlement", clientToken, nil); !bytes.Equal(got.body, want) {
		t.Errorf("entitlement now:\n%s\nwant\n%s", got.body, want)
	}
}

// A retried command with the same Idempotency-Key changes nothing and gets
// the same answer; If-Match with a stale version is 412 with nothing
// appended; the current version goes through.
func TestIdempotencyAndIfMatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerAcme()
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/licenses", bundleJSON)
	host := `{"host":"h-1","hypervisor":"kvm","sockets":2}`
	first := e.must(http.StatusCreated, "POST", "/v1/platforms/acme/hosts", host, "Idempotency-Key: req-1")
	seq := e.lastSeq()
	again := e.must(http.StatusCreated, "POST", "/v1/platforms/acme/hosts", host, "Idempotency-Key: req-1")
	if !bytes.Equal(first.body, again.body) || first.header.Get("ETag") != again.header.Get("ETag") {
		t.Errorf("retried command answered differently:\n%s\n%s", first.body, again.body)
	}
	if got := e.lastSeq(); got != seq {
		t.Errorf("retried command appended: last seq %d, want %d", got, seq)
	}
	// Without the key, the same command is a new one, and the domain
	// refuses a second h-1.
	if r := e.do("POST", "/v1/platforms/acme/hosts", adminToken, []byte(host)); r.status != http.StatusConflict {
		t.Errorf("duplicate host without a key: %d %s, want 409", r.status, r.body)
	}

	stale := e.do("POST", "/v1/platforms/acme/nodes", adminToken, []byte(`{"node":"mn-2"}`), `If-Match: "2"`)
	if stale.status != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %d %s, want 412", stale.status, stale.body)
	}
	if d := stale.errorBody(t); d.Code != domain.ECONFLICT || d.Reason != domain.ReasonVersionMismatch {
		t.Errorf("stale If-Match error = %+v, want conflict/version-mismatch", d)
	}
	if got := e.lastSeq(); got != seq {
		t.Errorf("412 appended: last seq %d, want %d", got, seq)
	}
	cur := e.must(http.StatusOK, "GET", "/v1/platforms/acme", "").header.Get("ETag")
	e.must(http.StatusCreated, "POST", "/v1/platforms/acme/nodes", `{"node":"mn-2"}`, "If-Match: "+cur)
}

// R11: a refused upload answers with its error and is recorded as an
// audit event (who, why, digest); a retry with the same key gets the same
// answer without a second record.
func TestUploadRejectedIsRecorded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerAcme()
	seq := e.lastSeq()
	bad := `{"id":"L-9","kind":"base","edition":"bogus","issued_at":"2026-01-01T00:00:00Z"}`
	r := e.do("POST", "/v1/platforms/acme/licenses", adminToken, []byte(bad), "Idempotency-Key: up-1")
	if r.status != http.StatusBadRequest {
		t.Fatalf("bad license: %d %s, want 400", r.status, r.body)
	}
	d := r.errorBody(t)
	if d.Code != domain.EINVALID || d.Reason != domain.ReasonInvalidLicense {
		t.Errorf("error = %+v, want invalid/invalid-license", d)
	}
	if got, want := e.lastSeq(), seq+1; got != want {
		t.Fatalf("last seq %d, want %d (one upload_rejected event)", got, want)
	}
	ev := e.must(http.StatusOK, "GET", "/v1/events/"+r.header.Get("X-Licledger-Event"), "")
	var got struct {
		Type string
		Data domain.LicenseUploadRejected
	}
	json.Unmarshal(ev.body, &got)
	if got.Type != domain.EventLicenseUploadRejected || got.Data.Actor != "admin#"+actorSuffix(adminToken) || got.Data.Digest != domain.Digest([]byte(bad)) {
		t.Errorf("recorded rejection = %+v", got)
	}
	r2 := e.do("POST", "/v1/platforms/acme/licenses", adminToken, []byte(bad), "Idempotency-Key: up-1")
	if r2.status != r.status || !bytes.Equal(r2.body, r.body) || e.lastSeq() != seq+1 {
		t.Errorf("retried rejected upload: %d %s (last seq %d)", r2.status, r2.body, e.lastSeq())
	}
	// Not JSON at all is refused the same way.
	if r := e.do("POST", "/v1/platforms/acme/licenses", adminToken, []byte("%PDF-1.4")); r.status != 400 || r.errorBody(t).Reason != domain.ReasonMalformed {
		t.Errorf("non-JSON upload: %d %s", r.status, r.body)
	}
}

// Uploads also come as the file part of a multipart form.
func TestUploadMultipart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerAcme()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "licenses.json")
	fw.Write([]byte(bundleJSON))
	mw.Close()
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/platforms/acme/licenses", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("multipart upload: %d", resp.StatusCode)
	}
	var lics struct{ Licenses []struct{ ID string } }
	json.Unmarshal(e.must(http.StatusOK, "GET", "/v1/platforms/acme/licenses", "").body, &lics)
	if len(lics.Licenses) != 2 {
		t.Errorf("licenses after multipart upload: %+v", lics)
	}
}

func actorSuffix(token string) string {
	c, _ := mustTokens(token).Lookup(token)
	return strings.TrimPrefix(c.Actor, "admin#")
}

func mustTokens(token string) *Tokens {
	t, err := ParseTokens([]byte("admin " + token))
	if err != nil {
		panic(err)
	}
	return t
}

// Bad input gets its documented status and error code, and appends
// nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes, c.MaxUploadBytes = 1024, 1536 })
	e.registerAcme()
	big := `{"id":"x","nodes":["` + strings.Repeat("n", 2000) + `"]}`
	tests := []struct {
		name, method, path, token, body string
		headers                         []string
		status                          int
		code, reason                    string
	}{
		{"oversized body", "POST", "/v1/platforms", adminToken, big, nil, 413, domain.EINVALID, domain.ReasonBodyTooLarge},
		{"oversized upload", "POST", "/v1/platforms/acme/licenses", adminToken, big, nil, 413, domain.EINVALID, domain.ReasonBodyTooLarge},
		{"malformed JSON", "POST", "/v1/platforms", adminToken, `{"id":`, nil, 400, domain.EINVALID, domain.ReasonMalformedJSON},
		{"two JSON values", "POST", "/v1/platforms", adminToken, `{"id":"a","nodes":["n"]}{}`, nil, 400, domain.EINVALID, domain.ReasonMalformedJSON},
		{"empty body", "POST", "/v1/platforms/acme/nodes", adminToken, ``, nil, 400, domain.EINVALID, domain.ReasonMalformedJSON},
		{"wrong JSON type", "POST", "/v1/platforms/acme/hosts", adminToken, `{"host":"h","hypervisor":"kvm","sockets":"two"}`, nil, 400, domain.EINVALID, domain.ReasonMalformedJSON},
		{"unknown field", "POST", "/v1/platforms", adminToken, `{"id":"b","nodes":["n"],"colour":"red"}`, nil, 400, domain.EINVALID, domain.ReasonUnknownField},
		{"wrong content type", "POST", "/v1/platforms", adminToken, `{"id":"b","nodes":["n"]}`, []string{"Content-Type: text/plain"}, 415, domain.EINVALID, domain.ReasonUnsupportedMedia},
		{"invalid id", "POST", "/v1/platforms", adminToken, `{"id":"a.b","nodes":["n"]}`, nil, 400, domain.EINVALID, domain.ReasonInvalidID},
		{"invalid path id", "GET", "/v1/platforms/a.b/entitlement", adminToken, ``, nil, 400, domain.EINVALID, domain.ReasonInvalidID},
		{"unknown platform query", "GET", "/v1/platforms/nope/entitlement", adminToken, ``, nil, 404, domain.ENOTFOUND, "unknown-platform"},
		{"unknown platform command", "POST", "/v1/platforms/nope/nodes", adminToken, `{"node":"n"}`, nil, 404, domain.ENOTFOUND, domain.ReasonUnknownPlatform},
		{"unknown event", "GET", "/v1/events/nope", adminToken, ``, nil, 404, domain.ENOTFOUND, "unknown-event"},
		{"bad at", "GET", "/v1/platforms/acme/entitlement?at=yesterday", adminToken, ``, nil, 400, domain.EINVALID, domain.ReasonBadParameter},
		{"bad limit", "GET", "/v1/platforms/acme/timeline?limit=0", adminToken, ``, nil, 400, domain.EINVALID, domain.ReasonBadParameter},
		{"bad If-Match", "POST", "/v1/platforms/acme/nodes", adminToken, `{"node":"n"}`, []string{"If-Match: soon"}, 400, domain.EINVALID, domain.ReasonBadParameter},
		{"bad Idempotency-Key", "POST", "/v1/platforms/acme/nodes", adminToken, `{"node":"n"}`, []string{"Idempotency-Key: a b"}, 400, domain.EINVALID, domain.ReasonBadParameter},
		{"domain refusal", "POST", "/v1/platforms", adminToken, `{"id":"acme","nodes":["mn-1"]}`, nil, 409, domain.ECONFLICT, domain.ReasonAlreadyRegistered},
		{"missing token", "POST", "/v1/platforms/acme/nodes", "", `{"node":"n"}`, nil, 401, domain.EUNAUTHORIZED, domain.ReasonMissingToken},
		{"bad token", "GET", "/v1/platforms/acme/entitlement", "not-a-token-at-all-xx", ``, nil, 401, domain.EUNAUTHORIZED, domain.ReasonBadToken},
		{"not bearer", "GET", "/v1/platforms/acme/entitlement", "", ``, []string{"Authorization: Basic YWRtaW46eA=="}, 401, domain.EUNAUTHORIZED, domain.ReasonBadToken},
		{"auditor command", "POST", "/v1/platforms/acme/nodes", auditorToken, `{"node":"n"}`, nil, 403, domain.EFORBIDDEN, domain.ReasonRole},
		{"client timeline", "GET", "/v1/platforms/acme/timeline", clientToken, ``, nil, 403, domain.EFORBIDDEN, domain.ReasonRole},
		{"billing usb keys", "GET", "/v1/platforms/acme/usb-keys", billingToken, ``, nil, 403, domain.EFORBIDDEN, domain.ReasonRole},
		{"unknown route", "GET", "/v2/everything", adminToken, ``, nil, 404, domain.ENOTFOUND, domain.ReasonNoRoute},
		{"wrong method", "PUT", "/v1/platforms", adminToken, `{}`, nil, 405, domain.EMETHOD, domain.ReasonMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.lastSeq()
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			r := e.do(tt.method, tt.path, tt.token, body, tt.headers...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			d := r.errorBody(t)
			if d.Code != tt.code || d.Reason != tt.reason || d.Message == "" {
				t.Errorf("error %+v, want code %s reason %s and a message", d, tt.code, tt.reason)
			}
			if got := e.lastSeq(); got != before {
				t.Errorf("last seq moved from %d to %d: bad input appended", before, got)
			}
			if tt.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

// Internal errors answer 500 with a generic message: nothing of the
// failure (paths, SQL, NATS) reaches the client.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerAcme()
	e.db.Close() // every query now fails inside SQLite
	r := e.do("GET", "/v1/platforms/acme/licenses", adminToken, nil)
	if r.status != 500 {
		t.Fatalf("status %d, want 500: %s", r.status, r.body)
	}
	d := r.errorBody(t)
	if d.Code != domain.EINTERNAL || strings.Contains(d.Message, "sql") || strings.Contains(d.Message, "projections") {
		t.Errorf("500 body leaks or misses the code: %+v", d)
	}
}

// Public endpoints need no token; metrics count requests by route pattern
// and status, commands' append latency and events, and the projection lag.
func TestHealthReadyMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.registerAcme()
	e.do("GET", "/v1/platforms/nope/entitlement", clientToken, nil)
	for _, p := range []string{"/healthz", "/readyz", "/openapi.json"} {
		if r := e.do("GET", p, "", nil); r.status != 200 {
			t.Errorf("GET %s: %d %s", p, r.status, r.body)
		}
	}
	var ready struct {
		Status      string
		Projections struct {
			CaughtUp bool `json:"caught_up"`
		}
	}
	json.Unmarshal(e.do("GET", "/readyz", "", nil).body, &ready)
	if ready.Status != "ready" || !ready.Projections.CaughtUp {
		t.Errorf("readyz = %+v", ready)
	}
	m := string(e.do("GET", "/metrics", "", nil).body)
	for _, want := range []string{
		`licledger_http_requests_total{code="201",reason="",route="POST /v1/platforms"} 1`,
		`licledger_http_requests_total{code="404",reason="unknown-platform",route="GET /v1/platforms/{id}/entitlement"} 1`,
		`licledger_events_appended_total{type="platform.registered"} 1`,
		`licledger_append_duration_seconds_count{command="register_platform"} 1`,
		`licledger_projection_lag_events 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// The OpenAPI description documents every registered route and nothing
// else, so /openapi.json stays true.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(e.do("GET", "/openapi.json", "", nil).body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	var described []string
	for path, ops := range doc.Paths {
		for method := range ops {
			described = append(described, strings.ToUpper(method)+" "+path)
		}
	}
	registered := e.api.Patterns()
	sort.Strings(described)
	sort.Strings(registered)
	if got, want := strings.Join(described, "\n"), strings.Join(registered, "\n"); got != want {
		t.Errorf("OpenAPI paths differ from the routes:\ndescribed:\n%s\nregistered:\n%s", got, want)
	}
}

// Without tokens every request is the local admin (serve only allows
// that on loopback).
func TestNoTokensIsLocalAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Tokens = nil })
	if r := e.do("POST", "/v1/platforms", "", []byte(`{"id":"acme","nodes":["mn-1"]}`)); r.status != 201 {
		t.Fatalf("tokenless register: %d %s", r.status, r.body)
	}
	var tl struct{ Entries []struct{ Source string } }
	json.Unmarshal(e.do("GET", "/v1/platforms/acme/timeline", "", nil).body, &tl)
	if len(tl.Entries) != 1 || tl.Entries[0].Source != "api/local-admin" {
		t.Errorf("timeline = %+v, want one event by api/local-admin", tl)
	}
}
