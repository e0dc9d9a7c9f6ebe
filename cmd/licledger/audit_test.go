package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

func auditRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = dispatch(ctx, append([]string{"audit", "verify"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// openAuditLedger opens a Mutable store on dir (so the test can tamper).
func openAuditLedger(t *testing.T, dir string) *eventstore.Store {
	t.Helper()
	s, err := eventstore.Open(context.Background(), eventstore.Config{DataDir: dir, Mutable: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// R33: `licledger audit verify` passes a clean log and fails, naming the
// sequence, once a message was deleted behind the ledger's back.
func TestAuditVerifyCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s := openAuditLedger(t, dir)
	agg := domain.Aggregate{Kind: domain.KindPlatform, ID: "acme"}
	for v := range uint64(3) {
		e, err := domain.NewEvent(agg.String(), domain.EventHostAdded, domain.HostAdded{Host: "h", Hypervisor: "kvm", Sockets: 2})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, agg, v, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := auditRun(t, "--data", dir, "--json")
	if code != 0 {
		t.Fatalf("exit %d on a clean log; stdout %s stderr %s", code, stdout, stderr)
	}
	var rep eventstore.VerifyReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json output is not a report: %v\n%s", err, stdout)
	}
	if got, want := rep, (eventstore.VerifyReport{Stream: "LEDGER", FirstSeq: 1, LastSeq: 3, Messages: 3, Events: 3, Aggregates: 1, Authorship: eventstore.AuthorshipNotChecked, Problems: []eventstore.Problem{}}); !equalReports(got, want) {
		t.Fatalf("report = %+v, want %+v", got, want)
	}
	if !strings.Contains(stderr, "verifying") {
		t.Errorf("no progress line on stderr: %q", stderr)
	}

	s = openAuditLedger(t, dir)
	stream, err := s.JetStream().Stream(ctx, s.StreamName())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.DeleteMsg(ctx, 2); err != nil {
		t.Fatal(err)
	}
	s.Close()

	code, stdout, stderr = auditRun(t, "--data", dir)
	if code != 1 {
		t.Fatalf("exit %d on a tampered log, want 1; stdout %s stderr %s", code, stdout, stderr)
	}
	for _, want := range []string{"seq 2", eventstore.ProblemMissing, eventstore.ProblemVersionGap} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report does not mention %q:\n%s", want, stdout)
		}
	}
}

func TestAuditVerifyRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"no ledger in the directory", []string{"--data", t.TempDir()}, 1},
		{"unknown flag", []string{"--bogus"}, 2},
		{"stray argument", []string{"extra"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, stderr := auditRun(t, tt.args...); code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.code, stderr)
			}
		})
	}
}

func equalReports(a, b eventstore.VerifyReport) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}
