package billing

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// Environment of the child process TestTailSurvivesSIGKILL starts.
const (
	envChildNATS = "LICLEDGER_BILLING_CHILD_NATS"
	envChildOut  = "LICLEDGER_BILLING_CHILD_OUT"
	envChildSlow = "LICLEDGER_BILLING_CHILD_SLOW" // pause between write and ack
	envChildIdle = "LICLEDGER_BILLING_CHILD_EXIT_IDLE"
)

const crashAckWait = time.Second

// TestBillingChildProcess is not a test: it is the billing consumer that
// TestTailSurvivesSIGKILL runs (and kills) in a child process — the test
// binary re-executed with the environment above.
func TestBillingChildProcess(t *testing.T) {
	url := os.Getenv(envChildNATS)
	if url == "" {
		t.Skip("helper process of TestTailSurvivesSIGKILL")
	}
	ctx := context.Background()
	store, err := eventstore.Open(ctx, eventstore.Config{URL: url, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	file, _, err := OpenFileSink(os.Getenv(envChildOut))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var sink Sink = file
	if d, _ := time.ParseDuration(os.Getenv(envChildSlow)); d > 0 {
		sink = slowSink{file, d}
	}
	idle, _ := time.ParseDuration(os.Getenv(envChildIdle))
	if _, err := Tail(ctx, store, sink, Config{Consumer: "billing-crash",
		AckWait: crashAckWait, Poll: 200 * time.Millisecond, ExitIdle: idle, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
}

// slowSink pauses after each durable write, before Tail acks: a kill then
// most likely lands between the write and the ack, the worst moment.
type slowSink struct {
	Sink
	pause time.Duration
}

func (s slowSink) WriteEvent(raw []byte) error {
	err := s.Sink.WriteEvent(raw)
	time.Sleep(s.pause)
	return err
}

// R30: a billing consumer killed with SIGKILL mid-stream and restarted
// delivers every event — those appended before, during and after the
// crash — none missing, in order per aggregate; the one event in flight
// may come twice, recognisable by its id.
func TestTailSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	url := eventstoretest.MustRunJetStream(t)
	store := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url))
	l := newLedger(t, store)
	l.rounds(0, 20, 5)
	out := filepath.Join(t.TempDir(), "billing.jsonl")

	first := startChild(t, url, out, "25ms", "")
	l.rounds(20, 30, 5) // appended while billing runs
	waitForLines(t, out, len(l.billable)/3, 60*time.Second)
	if err := first.Process.Kill(); err != nil { // SIGKILL: no deferred code runs
		t.Fatal(err)
	}
	_ = first.Wait()
	killedAt := countLines(t, out)

	l.rounds(30, 40, 5) // appended while billing is down

	second := startChild(t, url, out, "", (4 * crashAckWait).String())
	done := make(chan error, 1)
	go func() { done <- second.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("restarted consumer: %v", err)
		}
	case <-time.After(120 * time.Second):
		_ = second.Process.Kill()
		t.Fatal("restarted consumer did not finish within 120s")
	}

	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if killedAt == 0 || killedAt >= len(l.billable) {
		t.Fatalf("killed after %d of %d events: not mid-stream", killedAt, len(l.billable))
	}
	dups := checkFeed(t, lines, l.billable)
	if dups > 1 {
		t.Errorf("%d duplicates; with one event in flight a crash can cause at most 1", dups)
	}
	t.Logf("%d billable events; killed after %d lines; %d duplicate(s) after restart", len(l.billable), killedAt, dups)
}

func startChild(t *testing.T, url, out, slow, exitIdle string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBillingChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChildNATS+"="+url, envChildOut+"="+out, envChildSlow+"="+slow, envChildIdle+"="+exitIdle)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Never leave a consumer running; the test (or its Wait goroutine)
	// reaps it.
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return bytes.Count(raw, []byte("\n"))
}

func waitForLines(t *testing.T, path string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for countLines(t, path) < n {
		if time.Now().After(deadline) {
			t.Fatalf("billing output has %d lines after %v, want %d", countLines(t, path), within, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
