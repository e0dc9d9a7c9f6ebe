package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// startMain runs a Main on 127.0.0.1:0 over dir without tokens.
func startMain(t *testing.T, dir string, clock *eventstoretest.Clock) *Main {
	t.Helper()
	m := NewMain()
	m.Config.DataDir = dir
	m.Config.HTTPAddr = "127.0.0.1:0"
	m.Config.Now = clock.Now
	m.Config.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatalf("Main.Run: %v", err)
	}
	return m
}

// call sends one request to a running server and returns status and body.
func call(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func mustCall(t *testing.T, want int, method, url, body string) []byte {
	t.Helper()
	status, b := call(t, method, url, body)
	if status != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, url, status, want, b)
	}
	return b
}

// The whole ledger through Main, end to end on a real embedded JetStream
// and SQLite: register, upload, insert and pull a key, query entitlement
// now and as of an earlier instant (R32); restart on the same directory
// and get identical answers; `projections verify` and `rebuild` on the
// stopped data directory.
func TestServeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := eventstoretest.NewClock(t0)
	m := startMain(t, dir, clock)
	base := "http://" + m.Addr()

	mustCall(t, 201, "POST", base+"/v1/platforms", `{"id":"acme","nodes":["mn-1","mn-2"],"request_code":"RC-7F3A"}`)
	mustCall(t, 201, "POST", base+"/v1/platforms/acme/licenses", `{"licenses":[
		{"id":"L-1","kind":"base","edition":"standard","sockets":8,"issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"},
		{"id":"L-2","kind":"plus","module":"gpu","issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}]}`)
	clock.Set(t0.AddDate(0, 1, 0))
	mustCall(t, 201, "POST", base+"/v1/platforms/acme/nodes/mn-1/usb-keys",
		`{"key_id":"K-1","licenses":[{"id":"L-100","kind":"base","edition":"enterprise","sockets":32,"issued_at":"2026-01-01T00:00:00Z","expires_at":"2028-01-01T00:00:00Z"}]}`)
	clock.Set(t0.AddDate(0, 2, 0))
	mustCall(t, 200, "DELETE", base+"/v1/platforms/acme/nodes/mn-1/usb-keys/K-1", "")
	clock.Set(t0.AddDate(0, 2, 10))

	queries := []string{
		"/v1/platforms/acme/entitlement",
		"/v1/platforms/acme/entitlement?at=2026-01-15T00:00:00Z",
		"/v1/platforms/acme/entitlement?at=2026-02-15T00:00:00Z",
		"/v1/platforms/acme/licenses",
		"/v1/platforms/acme/usb-keys",
		"/v1/platforms/acme/timeline",
		"/v1/platforms/acme",
	}
	answers := map[string][]byte{}
	for _, q := range queries {
		answers[q] = mustCall(t, 200, "GET", base+q, "")
	}
	var ent domain.Entitlement
	if err := json.Unmarshal(answers[queries[0]], &ent); err != nil {
		t.Fatal(err)
	}
	// R19: the key was pulled while in force: a buffer keeps the
	// enterprise Base usable for 30 days.
	if ent.Status != domain.StatusGrace || ent.Base == nil || ent.Base.Edition != domain.EditionEnterprise {
		t.Errorf("entitlement now: status %s base %+v, want grace on the key's enterprise Base", ent.Status, ent.Base)
	}
	var before domain.Entitlement
	json.Unmarshal(answers[queries[1]], &before)
	if before.Status != domain.StatusLicensed || before.Base == nil || before.Base.Edition != domain.EditionStandard {
		t.Errorf("entitlement as of 2026-01-15: status %s base %+v, want licensed on the standard Base", before.Status, before.Base)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	m2 := startMain(t, dir, clock)
	base2 := "http://" + m2.Addr()
	for _, q := range queries {
		if got := mustCall(t, 200, "GET", base2+q, ""); !bytes.Equal(got, answers[q]) {
			t.Errorf("after restart, GET %s differs:\n%s\nwant\n%s", q, got, answers[q])
		}
	}
	var rep struct{ Clean bool }
	json.Unmarshal(mustCall(t, 200, "GET", base2+"/v1/projections/verify", ""), &rep)
	if !rep.Clean {
		t.Error("GET /v1/projections/verify: not clean")
	}
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	for _, args := range [][]string{
		{"projections", "verify", "--data", dir},
		{"rebuild", "--data", dir},
		{"projections", "verify", "--data", dir, "--json"},
	} {
		var stdout, stderr bytes.Buffer
		if code := dispatch(ctx, args, &stdout, &stderr); code != 0 {
			t.Fatalf("licledger %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
		}
		if args[0] == "projections" && !strings.Contains(stdout.String(), "identical") && !strings.Contains(stdout.String(), `"clean": true`) {
			t.Errorf("licledger %s printed %q, want no difference", strings.Join(args, " "), stdout.String())
		}
	}
}

// Without tokens, serve refuses anything but loopback.
func TestServeRefusesOpenNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8080"} {
		m := NewMain()
		m.Config.DataDir = t.TempDir()
		m.Config.HTTPAddr = addr
		m.Config.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		err := m.Run(context.Background())
		if domain.ErrorCode(err) != domain.EINVALID || !strings.Contains(err.Error(), "without tokens") {
			t.Errorf("Run on %s without tokens: %v, want a refusal", addr, err)
		}
		m.Close()
	}
}

// Flags win over environment variables, which win over the defaults.
func TestServeFlagsAndEnv(t *testing.T) {
	t.Setenv("LICLEDGER_DATA", "/env/data")
	t.Setenv("LICLEDGER_HTTP", "127.0.0.1:9999")
	t.Setenv("LICLEDGER_TOKENS", "client:client-token-0123456789")
	tokens := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, tokens, "admin admin-token-0123456789\n")
	t.Setenv("LICLEDGER_TOKENS_FILE", tokens)
	var stderr bytes.Buffer
	m, err := mainFromFlags([]string{"--http", "127.0.0.1:7777"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.DataDir != "/env/data" || c.HTTPAddr != "127.0.0.1:7777" || c.Tokens.Len() != 2 || c.NATSURL != "" {
		t.Errorf("config = data %q http %q tokens %d nats %q", c.DataDir, c.HTTPAddr, c.Tokens.Len(), c.NATSURL)
	}
	t.Setenv("LICLEDGER_SYNC_ALWAYS", "maybe")
	if _, err := mainFromFlags(nil, &stderr); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("bad LICLEDGER_SYNC_ALWAYS: %v, want invalid", err)
	}
	var help bytes.Buffer
	if code := dispatch(context.Background(), []string{"serve", "--help"}, io.Discard, &help); code != 0 {
		t.Errorf("serve --help exit %d", code)
	}
	for _, env := range []string{"LICLEDGER_DATA", "LICLEDGER_HTTP", "LICLEDGER_NATS", "LICLEDGER_TOKENS_FILE", "LICLEDGER_TOKENS"} {
		if !strings.Contains(help.String(), env) {
			t.Errorf("serve --help does not document %s", env)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitReady polls /readyz until the projections have caught up.
func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never became ready", base)
}
