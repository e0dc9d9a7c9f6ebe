package projections

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// Issue 13: verify beside a live server said "building it from the start
// of the log" once per projection, which read like a rebuild of live
// data. It says once that it builds a scratch copy, and the scratch
// copy's per-projection notes are debug only.
func TestVerifyLogsItBuildsAScratchCopy(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	history(l)
	live := openDB(t, "live.db")
	catchUp(t, live, l.store)
	var out eventstoretest.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rep, err := Verify(context.Background(), live, l.store, t.TempDir(), logger, nil)
	if err != nil || !rep.Clean {
		t.Fatalf("verify: clean %v, %v", rep.Clean, err)
	}
	log := out.String()
	if got := strings.Count(log, "building a scratch copy"); got != 1 {
		t.Errorf("verify said %d times that it builds a scratch copy, want once:\n%s", got, log)
	}
	if strings.Contains(log, "no checkpoint") {
		t.Errorf("verify's log reads like a rebuild of the live projections:\n%s", log)
	}
}

// A first start says once which projections it builds from the start of
// the log, not one line per projection.
func TestFirstStartSaysOnceWhatItBuilds(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	history(l)
	db := openDB(t, "live.db")
	var out eventstoretest.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if _, err := NewRunner(db, l.store, logger).load(context.Background()); err != nil {
		t.Fatal(err)
	}
	log := out.String()
	if got := strings.Count(log, "from the start of the log"); got != 1 {
		t.Errorf("said %d times that it builds from the start of the log, want once:\n%s", got, log)
	}
	for _, p := range All() {
		if !strings.Contains(log, p.Name()) {
			t.Errorf("the line does not name projection %s:\n%s", p.Name(), log)
		}
	}
}
