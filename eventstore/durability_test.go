package eventstore_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// childDirEnv tells the test binary, re-executed, to act as the writer
// process of the durability test on the directory it names.
const childDirEnv = "LICLEDGER_EVENTSTORE_DURABILITY_DIR"

// TestDurabilityChild is not a test on its own: it is the process the
// durability test kills. It appends in a loop (single events and batches)
// and prints "ACK <id>" for every event once Append has returned.
func TestDurabilityChild(t *testing.T) {
	t.Parallel()
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("helper process for TestAcknowledgedAppendsSurviveSIGKILL")
	}
	ctx := context.Background()
	s, err := eventstore.Open(ctx, eventstore.Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	agg := platform("durable")
	out := bufio.NewWriter(os.Stdout)
	var version uint64
	for i := 0; ; i++ {
		n := 1
		if i%5 == 4 {
			n = 3 // an atomic batch now and then
		}
		events := make([]domain.Event, n)
		for j := range events {
			events[j] = hostAdded(t, agg, fmt.Sprintf("h-%d-%d", i, j))
		}
		recs, err := s.Append(ctx, agg, version, events...)
		if err != nil {
			fmt.Fprintln(os.Stderr, "append:", err)
			os.Exit(4)
		}
		version += uint64(n)
		for _, r := range recs {
			fmt.Fprintf(out, "ACK %s\n", r.Event.ID)
		}
		// Flush per append: a line printed is an append acknowledged.
		if err := out.Flush(); err != nil {
			os.Exit(5)
		}
	}
}

// Nothing lost: every append acknowledged before the writer process is
// killed with SIGKILL (no shutdown, no flush, no deferred code) is there
// when the data directory is opened again, and the log verifies clean.
// This is the guarantee of the default sync setting (write(2) before the
// acknowledgement); a power loss is beyond what a test can stage.
func TestAcknowledgedAppendsSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDirEnv) != "" {
		t.Skip("in the child")
	}
	const killAfter = 300
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDurabilityChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Never leave the child behind, whatever happens below.
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	watchdog := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer watchdog.Stop()

	var acked []string
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "ACK ")
		if !ok {
			continue
		}
		acked = append(acked, id)
		if len(acked) >= killAfter && !killed {
			// SIGKILL mid-stream; lines already written still come through.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("writer stopped after %d acks before being killed: %v\nstderr:\n%s", len(acked), err, stderr.String())
	}

	s := eventstoretest.MustOpenStore(t, eventstoretest.WithDataDir(dir))
	stored := make(map[string]bool)
	for _, r := range mustLoad(t, s, platform("durable")) {
		stored[r.Event.ID] = true
	}
	var lost []string
	for _, id := range acked {
		if !stored[id] {
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d acknowledged events lost after SIGKILL: %v", len(lost), len(acked), lost)
	}
	if rep := mustVerify(t, s); !rep.OK() {
		t.Fatalf("Verify after SIGKILL: %+v", rep.Problems)
	}
	// And the ledger carries on where the dead process stopped.
	n := uint64(len(stored))
	mustAppend(t, s, platform("durable"), n, hostAdded(t, platform("durable"), "after"))
	t.Logf("%d acknowledged before SIGKILL, %d stored", len(acked), len(stored))
}
