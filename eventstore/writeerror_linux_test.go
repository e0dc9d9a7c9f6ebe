//go:build linux

package eventstore_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// writeErrorEnv tells the re-executed test binary to run the write-error
// scenario: it lowers its own file size limit, which no other test of the
// package must share.
const writeErrorEnv = "LICLEDGER_EVENTSTORE_WRITE_ERROR_CHILD"

// fileSizeLimit is the largest file the child may write: the stream's
// first message block reaches it after a few hundred events, and the
// kernel then refuses the write (EFBIG), as a full disk refuses it
// (ENOSPC): a real write error in the embedded file store, reached
// without root or a special file system.
const fileSizeLimit = 256 << 10

// The embedded store hits a real write error (a file size limit the
// kernel enforces, standing in for a full disk): appends answer 503
// reasons (outcome-unknown for the one that got no answer, storage-full
// after it, at once), Health says storage-full; once the limit is lifted
// (space freed) the store writes again without a restart, and every
// acknowledged event is in the log exactly once, the unconfirmed one at
// most once after its retry with the same ids.
func TestEmbeddedStoreRecoversFromAWriteError(t *testing.T) {
	t.Parallel()
	if os.Getenv(writeErrorEnv) == "" {
		// The parent: run the scenario in a process of its own.
		cmd := exec.Command(os.Args[0], "-test.run=^TestEmbeddedStoreRecoversFromAWriteError$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), writeErrorEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestEmbeddedStoreRecoversFromAWriteError") {
			t.Fatalf("write-error scenario failed (%v):\n%s", err, out)
		}
		t.Logf("write-error scenario:\n%s", out)
		return
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	lowered := lim
	lowered.Cur = fileSizeLimit
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lowered); err != nil {
		t.Fatalf("lower the file size limit: %v", err)
	}
	var logs eventstoretest.SyncBuffer
	s := eventstoretest.MustOpenStore(t, eventstoretest.WithLogger(bufferLogger(&logs)))

	acked := map[string]int{} // event id -> times acknowledged
	var unconfirmed []domain.Event
	agg := platform("full")
	version := uint64(0)
	refused := 0 // appends answered storage-full
	for i := 0; refused < 3; i++ {
		if i > 2000 {
			t.Fatalf("%d appends and %d answered storage-full: is the file size limit enforced?\n%s", i, refused, logs.String())
		}
		ev := hostAdded(t, agg, fmt.Sprintf("h-%d", i))
		ev.ID = fmt.Sprintf("evt-full-%06d", i)
		ctx, cancel := context.WithTimeout(testCtx(t), 2*time.Second) // far above an in-process append, even under -race
		start := time.Now()
		recs, err := s.Append(ctx, agg, version, ev)
		took := time.Since(start)
		cancel()
		switch domain.ErrorReason(err) {
		case "":
			if err != nil {
				t.Fatalf("append %d: %v", i, err)
			}
			version++
			acked[recs[0].Event.ID]++
		case domain.ReasonOutcomeUnknown:
			// The write that hit the error (or the first after a restart
			// of JetStream while the disk is still full) gets no answer.
			t.Logf("append %d after %s: %v", i, took.Round(time.Millisecond), err)
			unconfirmed = append(unconfirmed, ev)
		case domain.ReasonStorageFull:
			// Once the store knows, it answers at once, not after a deadline.
			if took > 500*time.Millisecond {
				t.Errorf("append %d answered storage-full after %s, want at once", i, took)
			}
			refused++
		default:
			t.Fatalf("append %d: %v, want outcome-unknown or storage-full", i, err)
		}
	}
	wantCode(t, s.Health(testCtx(t)), domain.EUNAVAILABLE, domain.ReasonStorageFull)

	// Free the space: lift the limit. The store mends itself.
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatalf("restore the file size limit: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for err := s.Health(testCtx(t)); err != nil; err = s.Health(testCtx(t)) {
		if time.Now().After(deadline) {
			t.Fatalf("still unhealthy 30s after the limit was lifted: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond) // polls the store's own recovery; no test clock involved
	}
	// The unconfirmed appends, retried with the same ids, are stored once.
	for _, ev := range unconfirmed {
		recs, err := s.Append(testCtx(t), agg, version, ev)
		if err != nil {
			t.Fatalf("retry of unconfirmed event %s after recovery: %v", ev.ID, err)
		}
		version = recs[0].Event.AggregateVersion
		acked[recs[0].Event.ID]++
	}
	for i := range 5 {
		ev := hostAdded(t, agg, fmt.Sprintf("after-%d", i))
		recs := mustAppend(t, s, agg, version, ev)
		version++
		acked[recs[0].Event.ID]++
	}

	stored := map[string]int{}
	for _, r := range mustLoad(t, s, agg) {
		stored[r.Event.ID]++
	}
	for id, n := range acked {
		if stored[id] != 1 || n != 1 {
			t.Errorf("event %s acknowledged %d times, stored %d times; want 1 and 1", id, n, stored[id])
		}
	}
	if len(stored) != len(acked) {
		t.Errorf("log holds %d events, %d were acknowledged", len(stored), len(acked))
	}
	if rep := mustVerify(t, s); !rep.OK() {
		t.Errorf("Verify after the recovery: %+v", rep.Problems)
	}
	if !strings.Contains(logs.String(), "restarting JetStream") {
		t.Errorf("the log does not say the store restarted JetStream:\n%s", logs.String())
	}
}
