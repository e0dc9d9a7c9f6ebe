package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/licledger/licledger/projections"
)

// Tokens of the test server, one per role.
const (
	adminToken   = "admin-token-0123456789"
	auditorToken = "auditor-token-0123456789"
	billingToken = "billing-token-0123456789"
	clientToken  = "client-token-0123456789"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// env is a running API over a real embedded JetStream and a real SQLite
// projections database, with the projector following the log live.
type env struct {
	t      testing.TB
	store  *eventstore.Store
	db     *projections.DB
	q      *projections.Queries
	runner *projections.Runner
	api    *Server
	srv    *httptest.Server
	clock  *eventstoretest.Clock
}

func newEnv(t testing.TB, mutate ...func(*Config)) *env {
	t.Helper()
	clock := eventstoretest.NewClock(t0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := eventstoretest.MustOpenStore(t, eventstoretest.WithClock(clock.Now))
	ctx := context.Background()
	db, err := projections.Open(ctx, filepath.Join(t.TempDir(), "projections.db"))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := ParseTokens([]byte("admin " + adminToken + "\nauditor " + auditorToken + "\nbilling " + billingToken + "\nclient " + clientToken))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: store, Queries: projections.NewQueries(db), Tokens: tokens, Logger: log, Now: clock.Now}
	for _, m := range mutate {
		m(&cfg)
	}
	// The projector follows the store the server writes to (a mutation may
	// have replaced it).
	runner := projections.NewRunner(db, cfg.Store, log)
	cfg.Runner = runner
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runner.Run(rctx)
	}()
	api, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		db.Close()
	})
	return &env{t: t, store: store, db: db, q: cfg.Queries, runner: runner, api: api, srv: srv, clock: clock}
}

// response is a finished request.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) errorBody(t *testing.T) ErrorDetail {
	t.Helper()
	var b ErrorBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return b.Error
}

func (r response) result(t *testing.T) CommandResult {
	t.Helper()
	var res CommandResult
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatalf("command result %q: %v", r.body, err)
	}
	return res
}

// do sends a request with a token ("" for none) and optional headers
// given as "Name: value" strings.
func (e *env) do(method, path, token string, body []byte, headers ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// must sends an admin request and fails the test unless the status is want.
func (e *env) must(want int, method, path string, body string, headers ...string) response {
	e.t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	r := e.do(method, path, adminToken, b, headers...)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

func (e *env) lastSeq() uint64 {
	e.t.Helper()
	seq, err := e.store.LastSeq(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return seq
}

// registerAcme registers platform acme with one node and a request code.
func (e *env) registerAcme() {
	e.t.Helper()
	e.must(http.StatusCreated, "POST", "/v1/platforms", `{"id":"acme","nodes":["mn-1"],"request_code":"RC-7F3A"}`)
}

const bundleJSON = `{"licenses":[
 {"id":"L-1","kind":"base","edition":"enterprise","sockets":16,"issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"},
 {"id":"L-2","kind":"plus","module":"vmware","quantity":8,"issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}]}`
