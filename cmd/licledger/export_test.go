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
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

func cliRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = dispatch(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// exportHistory builds a history through the HTTP API of a real ledger
// (platform, license upload batch, USB key, subscription, plan change,
// coupon), stops it and returns its data directory.
func exportHistory(t *testing.T) string {
	t.Helper()
	ctx := t.Context()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := eventstoretest.NewClock(t0)
	l := mustRunMain(t, withClock(clock), withArgs("--insecure-json-licenses"))
	steps := []func() error{
		func() error {
			_, err := l.API.RegisterPlatform(ctx, httpclient.RegisterRequest{ID: "acme", Nodes: []string{"mn-1", "mn-2"}, RequestCode: "RC-7F3A"})
			return err
		},
		func() error {
			_, err := l.API.UploadLicense(ctx, "acme", []byte(`{"licenses":[
		{"id":"L-1","kind":"base","edition":"standard","sockets":8,"issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"},
		{"id":"L-2","kind":"plus","module":"gpu","issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}]}`), "application/json")
			return err
		},
		func() error {
			_, err := l.API.InsertUSBKey(ctx, "acme", "mn-1", httpclient.USBKeyRequest{KeyID: "K-1"})
			return err
		},
		func() error {
			_, err := l.API.CreateSubscription(ctx, httpclient.SubscriptionRequest{ID: "S-1", Customer: "acme",
				Plan: httpclient.InstancePlan{Name: "team", Instances: 3}, Period: "annual", LeaseSeconds: 3600})
			return err
		},
		func() error {
			_, err := l.API.RemoveUSBKey(ctx, "acme", "mn-1", "K-1")
			return err
		},
		func() error {
			_, err := l.API.ChangePlan(ctx, "S-1", httpclient.InstancePlan{Name: "business", Instances: 4})
			return err
		},
		func() error {
			_, err := l.API.CreateCoupon(ctx, httpclient.CouponRequest{Code: "SPRING", Partner: "p-1", DiscountPercent: 10,
				RedemptionLimit: 5, ExpiresAt: t0.AddDate(1, 0, 0)})
			return err
		},
	}
	for i, step := range steps {
		clock.Set(t0.Add(time.Duration(i) * 36 * time.Hour))
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return l.Dir
}

func mustCLI(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := cliRun(t, args...)
	if code != 0 {
		t.Fatalf("licledger %v: exit %d\nstdout %s\nstderr %s", args, code, stdout, stderr)
	}
	return stdout, stderr
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Backup and restore: export → import into a new ledger → export gives the
// same bytes; the import verifies clean; a tampered export is refused with
// its line number; a non-empty target is refused.
func TestExportImportCommands(t *testing.T) {
	t.Parallel()
	src := exportHistory(t)
	tmp := t.TempDir()
	first := filepath.Join(tmp, "first.jsonl")
	_, stderr := mustCLI(t, "export", "--data", src, "--out", first)
	if !strings.Contains(stderr, "exported ") {
		t.Errorf("no summary on stderr: %q", stderr)
	}
	exported := readFile(t, first)
	lines := bytes.SplitAfter(exported, []byte("\n"))
	lines = lines[:len(lines)-1] // after the last "\n"
	if len(lines) < 8 {
		t.Fatalf("export has %d lines:\n%s", len(lines), exported)
	}
	for i, l := range lines {
		if !bytes.HasPrefix(l, []byte(`{"streamseq":`)) {
			t.Fatalf("line %d: %s", i+1, l)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, ".first.jsonl.tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	restored := filepath.Join(tmp, "restored")
	stdout, _ := mustCLI(t, "import", "--in", first, "--data", restored)
	for _, want := range []string{"imported ", "as exported", "OK: every chain verifies"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("import output does not say %q:\n%s", want, stdout)
		}
	}
	second := filepath.Join(tmp, "second.jsonl")
	mustCLI(t, "export", "--data", restored, "--out", second)
	if got := readFile(t, second); !bytes.Equal(got, exported) {
		t.Fatalf("export → import → export differs:\n%s\nwant\n%s", got, exported)
	}
	s, err := eventstore.Open(t.Context(), eventstore.Config{DataDir: restored, ReadOnly: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify(t.Context(), nil)
	s.Close()
	if err != nil || !rep.OK() || rep.Events != uint64(len(lines)) {
		t.Fatalf("Verify of the restored ledger: %+v, %v", rep, err)
	}

	// A non-empty target is refused, nothing is added.
	if code, _, stderr := cliRun(t, "import", "--in", first, "--data", restored); code != 1 || !strings.Contains(stderr, "not empty") {
		t.Fatalf("import into a non-empty ledger: exit %d, stderr %s", code, stderr)
	}

	// The registration (line 1) edited: its successor in the platform's
	// chain, line 2, no longer verifies, and the error names both lines.
	tampered := filepath.Join(tmp, "tampered.jsonl")
	edited := bytes.Replace(lines[0], []byte(`"RC-7F3A"`), []byte(`"RC-0000"`), 1)
	if bytes.Equal(edited, lines[0]) {
		t.Fatalf("line 1 has no request code to edit: %s", lines[0])
	}
	writeFile(t, tampered, string(bytes.Join(append([][]byte{edited}, lines[1:]...), nil)))
	code, _, stderr := cliRun(t, "import", "--in", tampered, "--data", filepath.Join(tmp, "tampered"))
	if code == 0 || !strings.Contains(stderr, "line 2:") || !strings.Contains(stderr, "line 1 or this line was altered") {
		t.Fatalf("tampered import: exit %d, stderr %s", code, stderr)
	}
}

func TestExportCommandFilters(t *testing.T) {
	t.Parallel()
	src := exportHistory(t)
	all, _ := mustCLI(t, "export", "--data", src)
	allLines := strings.SplitAfter(all, "\n")
	allLines = allLines[:len(allLines)-1]
	keep := func(sub string) string {
		var b strings.Builder
		for _, l := range allLines {
			if strings.Contains(l, sub) {
				b.WriteString(l)
			}
		}
		return b.String()
	}
	if n := len(allLines); n < 8 {
		t.Fatalf("the history has %d events", n)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"kind", []string{"--kind", "subscription"}, keep(`"subject":"subscription/`)},
		{"kinds, comma-separated", []string{"--kind", "subscription,coupon"}, keep(`"subject":"subscription/`) + keep(`"subject":"coupon/`)},
		{"aggregate", []string{"--aggregate", "platform/acme"}, keep(`"subject":"platform/acme"`)},
		{"sequence range", []string{"--from-seq", "2", "--to-seq", "3"}, allLines[1] + allLines[2]},
		{"resume after the end", []string{"--from-seq", "1000"}, ""},
		{"until before everything", []string{"--until", "2025-12-31T00:00:00Z"}, ""},
		{"since the last day", []string{"--since", "2026-01-10T00:00:00Z"}, allLines[len(allLines)-1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == "" && !strings.Contains(tt.name, "after the end") && !strings.Contains(tt.name, "before everything") {
				t.Fatal("the history has no event this filter selects")
			}
			got, _ := mustCLI(t, append([]string{"export", "--data", src}, tt.args...)...)
			if got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestExportImportRefuse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"export: no source", []string{"export"}, 2, "exactly one of --data"},
		{"export: both sources", []string{"export", "--data", "x", "--nats", "nats://127.0.0.1:1"}, 2, "exactly one of --data"},
		{"export: bad --since", []string{"export", "--data", "x", "--since", "yesterday"}, 2, "RFC 3339"},
		{"export: bad --aggregate", []string{"export", "--data", "x", "--aggregate", "acme"}, 2, "not kind/id"},
		{"export: from after to", []string{"export", "--data", "x", "--from-seq", "5", "--to-seq", "2"}, 2, "after --to-seq"},
		{"export: no ledger", []string{"export", "--data", t.TempDir()}, 1, "no ledger data"},
		{"import: no --in", []string{"import", "--data", t.TempDir()}, 2, "--in FILE is required"},
		{"import: missing file", []string{"import", "--in", filepath.Join(t.TempDir(), "nope"), "--data", t.TempDir()}, 2, "open the export"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := cliRun(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
}
