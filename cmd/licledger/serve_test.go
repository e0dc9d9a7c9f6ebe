package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// The whole ledger through Main, end to end on a real embedded JetStream
// and SQLite: register, upload, insert and pull a key, query entitlement
// now and as of an earlier instant (R32); restart on the same directory
// and get identical answers; `projections verify` and `rebuild` on the
// stopped data directory.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := eventstoretest.NewClock(t0)
	serve := withArgs("--insecure-json-licenses")
	l := mustRunMain(t, withClock(clock), serve)

	if _, err := l.API.RegisterPlatform(ctx, httpclient.RegisterRequest{ID: "acme", Nodes: []string{"mn-1", "mn-2"}, RequestCode: "RC-7F3A"}); err != nil {
		t.Fatal(err)
	}
	res, err := l.API.UploadLicense(ctx, "acme", []byte(`{"licenses":[
		{"id":"L-1","kind":"base","edition":"standard","sockets":8,"issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"},
		{"id":"L-2","kind":"plus","module":"gpu","issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}]}`), "application/json")
	if err != nil || len(res.Events) != 2 {
		t.Fatalf("upload: %v %+v, want two licenses recorded", err, res)
	}
	clock.Set(t0.AddDate(0, 1, 0))
	key := httpclient.USBKeyRequest{KeyID: "K-1", Licenses: []httpclient.License{{ID: "L-100", Kind: "base", Edition: "enterprise", Sockets: 32,
		IssuedAt: t0, ExpiresAt: new(t0.AddDate(2, 0, 0))}}}
	if _, err := l.API.InsertUSBKey(ctx, "acme", "mn-1", key); err != nil {
		t.Fatal(err)
	}
	clock.Set(t0.AddDate(0, 2, 0))
	if _, err := l.API.RemoveUSBKey(ctx, "acme", "mn-1", "K-1"); err != nil {
		t.Fatal(err)
	}
	clock.Set(t0.AddDate(0, 2, 10))

	ent, err := l.API.Entitlement(ctx, "acme", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// R19: the key was pulled while in force: a buffer keeps the
	// enterprise Base usable for 30 days.
	if ent.Status != domain.StatusGrace || ent.Base == nil || ent.Base.Edition != domain.EditionEnterprise {
		t.Errorf("entitlement now: status %s base %+v, want grace on the key's enterprise Base", ent.Status, ent.Base)
	}
	before, err := l.API.Entitlement(ctx, "acme", time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if before.Status != domain.StatusLicensed || before.Base == nil || before.Base.Edition != domain.EditionStandard {
		t.Errorf("entitlement as of 2026-01-15: status %s base %+v, want licensed on the standard Base", before.Status, before.Base)
	}

	// R32, byte for byte: the typed client decodes leniently, so the
	// answers are compared raw (and the client has no method for some).
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
		answers[q] = rawHTTP(t, "GET", l.URL+q, "", nil).want(t, 200)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	l2 := mustRunMain(t, withDataDir(l.Dir), withClock(clock), serve)
	for _, q := range queries {
		if got := rawHTTP(t, "GET", l2.URL+q, "", nil).want(t, 200); !bytes.Equal(got, answers[q]) {
			t.Errorf("after restart, GET %s differs:\n%s\nwant\n%s", q, got, answers[q])
		}
	}
	var rep struct{ Clean bool }
	decode(t, rawHTTP(t, "GET", l2.URL+"/v1/projections/verify", "", nil).want(t, 200), &rep)
	if !rep.Clean {
		t.Error("GET /v1/projections/verify: not clean")
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"projections", "verify", "--data", l.Dir},
		{"rebuild", "--data", l.Dir},
		{"projections", "verify", "--data", l.Dir, "--json"},
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
	t.Parallel()
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
