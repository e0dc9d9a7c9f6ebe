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

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// billingLedger writes a stopped ledger to dir: one subscription event
// (billable) and one platform event (not), and returns the first's bytes.
func billingLedger(t *testing.T, dir string) []byte {
	t.Helper()
	ctx := context.Background()
	s, err := eventstore.Open(ctx, eventstore.Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sub := domain.Aggregate{Kind: domain.KindSubscription, ID: "S-1"}
	created, err := domain.NewEvent(sub.String(), domain.EventSubscriptionCreated, domain.SubscriptionCreated{Customer: "c", Period: domain.SubscriptionMonthly})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.Append(ctx, sub, 0, created)
	if err != nil {
		t.Fatal(err)
	}
	plat := domain.Aggregate{Kind: domain.KindPlatform, ID: "acme"}
	host, err := domain.NewEvent(plat.String(), domain.EventHostAdded, domain.HostAdded{Host: "h", Hypervisor: "kvm", Sockets: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, plat, 0, host); err != nil {
		t.Fatal(err)
	}
	return recs[0].Raw
}

// `licledger billing tail` wiring: it reads a stopped ledger read-only,
// writes the billable events to --out and exits on --exit-idle; it refuses
// a directory with no ledger rather than creating one.
func TestBillingTailCommand(t *testing.T) {
	t.Parallel()
	ledger := t.TempDir()
	raw := billingLedger(t, ledger)
	tests := []struct {
		name     string
		data     string
		consumer string
		code     int
		out      string
	}{
		{"billable events of a stopped ledger", ledger, "erp", 0, string(raw) + "\n"},
		{"no ledger in the directory", t.TempDir(), "erp", 1, ""},
		{"no consumer", ledger, "", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "billing.jsonl")
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// The shortest real waits the flags allow: JetStream's ack wait
			// is real time, and exit-idle must exceed it.
			code := dispatch(ctx, []string{"billing", "tail", "--consumer", tt.consumer, "--data", tt.data, "--out", out,
				"--ack-wait", "50ms", "--exit-idle", "100ms"}, &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			got, err := os.ReadFile(out)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if string(got) != tt.out {
				t.Fatalf("output %q, want %q", got, tt.out)
			}
			if entries, _ := os.ReadDir(tt.data); tt.data != ledger && len(entries) > 0 {
				t.Errorf("billing tail created %d entries in a directory with no ledger", len(entries))
			}
			if tt.code == 0 && !strings.Contains(stderr.String(), "delivered=1") {
				t.Errorf("no delivered=1 in the log:\n%s", stderr.String())
			}
		})
	}
}
