package billing

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// Environment of the child process TestTailSurvivesSIGKILL starts.
const (
	envChildNATS   = "LICLEDGER_BILLING_CHILD_NATS"
	envChildOut    = "LICLEDGER_BILLING_CHILD_OUT"
	envChildHangAt = "LICLEDGER_BILLING_CHILD_HANG_AT" // 1-based event the child hangs on
	envChildHang   = "LICLEDGER_BILLING_CHILD_HANG"    // hangBeforeWrite or hangAfterWrite
)

// Where the child hangs, to be killed there.
const (
	hangBeforeWrite = "before-write" // delivered, not written
	hangAfterWrite  = "after-write"  // written and fsynced, not acknowledged: the worst moment
)

// childHung is the line the child prints on stdout once it hangs.
const childHung = "BILLING-CHILD-HUNG"

// crashAckWait is the consumer's AckWait in the crash test: how long the
// restarted feed waits, in JetStream's real time, for the event that was
// in flight at the kill. Short, so the test does not wait; it cannot cause
// a duplicate of its own, as the feed has no pull request out while it
// handles an event and a late ack cancels a pending redelivery.
const crashAckWait = 100 * time.Millisecond

// TestBillingChildProcess is not a test: it is the billing consumer that
// TestTailSurvivesSIGKILL runs (and kills) in a child process — the test
// binary re-executed with the environment above.
func TestBillingChildProcess(t *testing.T) {
	url := os.Getenv(envChildNATS)
	if url == "" {
		t.Skip("helper process of TestTailSurvivesSIGKILL")
	}
	ctx := context.Background()
	store, err := eventstore.Open(ctx, eventstore.Config{URL: url, ReadOnly: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	file, _, err := OpenFileSink(os.Getenv(envChildOut))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	at, err := strconv.Atoi(os.Getenv(envChildHangAt))
	if err != nil {
		t.Fatal(err)
	}
	sink := &hangingSink{Sink: file, at: at, before: os.Getenv(envChildHang) == hangBeforeWrite}
	if _, err := Tail(ctx, store, sink, Config{Consumer: "billing-crash", AckWait: crashAckWait, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
}

// hangingSink writes events until the at-th, where it announces on stdout
// that it hangs and never returns: before or after writing it, so the
// kill lands at a known point of the event's delivery.
type hangingSink struct {
	Sink
	at     int
	before bool
	n      int
}

func (s *hangingSink) WriteEvent(raw []byte) error {
	s.n++
	if s.n == s.at && s.before {
		hang()
	}
	if err := s.Sink.WriteEvent(raw); err != nil {
		return err
	}
	if s.n == s.at {
		hang()
	}
	return nil
}

func hang() {
	fmt.Println(childHung)
	for {
		time.Sleep(time.Hour)
	}
}

// R30: a billing consumer killed with SIGKILL mid-stream and restarted
// delivers every event — those appended before, during and after the
// crash — none missing, in order per aggregate; the one event in flight
// comes twice if it was written before the kill, recognisable by its id.
func TestTailSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts child processes")
	}
	tests := []struct {
		hang     string
		wantDups int
	}{
		{hangAfterWrite, 1},
		{hangBeforeWrite, 0},
	}
	for _, tt := range tests {
		t.Run("killed "+tt.hang, func(t *testing.T) {
			t.Parallel()
			url := eventstoretest.MustRunJetStream(t)
			store := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url))
			l := newLedger(t, store)
			l.rounds(0, 20, 5)
			out := filepath.Join(t.TempDir(), "billing.jsonl")
			hangAt := len(l.billable) / 2

			child, hung := startChild(t, url, out, hangAt, tt.hang)
			l.rounds(20, 30, 5) // appended while billing runs
			select {
			case <-hung:
			case <-time.After(60 * time.Second):
				t.Fatalf("the child did not reach event %d within 60s", hangAt)
			}
			if err := child.Process.Kill(); err != nil { // SIGKILL: no deferred code runs
				t.Fatal(err)
			}
			_ = child.Wait()
			wantKilledAt := map[string]int{hangAfterWrite: hangAt, hangBeforeWrite: hangAt - 1}[tt.hang]
			if got := countLines(t, out); got != wantKilledAt {
				t.Fatalf("killed with %d lines written, want %d", got, wantKilledAt)
			}

			l.rounds(30, 40, 5) // appended while billing is down

			// The restart: a new process would do the same as a new
			// connection does here. It stops once every event is there.
			restarted := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url), eventstoretest.WithConfig(func(c *eventstore.Config) { c.ReadOnly = true }))
			file, _, err := OpenFileSink(out)
			if err != nil {
				t.Fatal(err)
			}
			defer file.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			sink := newUntilAll(file, readLines(t, out), l.billable, cancel)
			if _, err := Tail(ctx, restarted, sink, Config{Consumer: "billing-crash", AckWait: crashAckWait, Logger: quiet}); err != nil {
				t.Fatal(err)
			}
			if len(sink.missing) > 0 {
				t.Fatalf("%d events did not reach billing within 60s of the restart", len(sink.missing))
			}

			dups := checkFeed(t, readLines(t, out), l.billable)
			if dups != tt.wantDups {
				t.Errorf("%d duplicates, want %d", dups, tt.wantDups)
			}
			t.Logf("%d billable events; killed after %d lines; %d duplicate(s) after restart", len(l.billable), wantKilledAt, dups)
		})
	}
}

// startChild starts the billing consumer in a child process; the channel
// closes once it hangs.
func startChild(t *testing.T, url, out string, hangAt int, hang string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBillingChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChildNATS+"="+url, envChildOut+"="+out,
		envChildHangAt+"="+strconv.Itoa(hangAt), envChildHang+"="+hang)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Never leave a consumer running; the test reaps it.
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	hung := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == childHung {
				close(hung)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // until the kill closes it
	}()
	return cmd, hung
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	return lines
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return bytes.Count(raw, []byte("\n"))
}
