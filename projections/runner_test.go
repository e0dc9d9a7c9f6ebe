package projections

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// counting is a test projection that counts how many times each event is
// applied to it, so double application or a skip is visible. failAt, when
// set, makes Apply fail like a crashed process at that sequence.
type counting struct {
	name   string
	failAt uint64
}

func (c counting) Name() string     { return c.name }
func (c counting) Tables() []string { return []string{"applied_" + c.name} }

func (c counting) Apply(ctx context.Context, tx *Tx, rec eventstore.Record) error {
	if rec.Seq == c.failAt {
		return errors.New("simulated crash")
	}
	_, err := tx.Exec(ctx, `INSERT INTO applied_`+c.name+` (seq, n) VALUES (?, 1) ON CONFLICT (seq) DO UPDATE SET n = n + 1`, rec.Seq)
	return err
}

func createCounting(t *testing.T, db *DB, name string) {
	t.Helper()
	if _, err := db.w.Exec(`CREATE TABLE applied_` + name + ` (seq INTEGER PRIMARY KEY, n INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
}

// appliedCounts returns seq -> number of applications.
func appliedCounts(t *testing.T, db *DB, name string) map[uint64]int {
	t.Helper()
	rows, err := db.r.Query(`SELECT seq, n FROM applied_` + name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[uint64]int{}
	for rows.Next() {
		var seq uint64
		var n int
		if err := rows.Scan(&seq, &n); err != nil {
			t.Fatal(err)
		}
		got[seq] = n
	}
	return got
}

func appendN(l *ledger, n int) {
	l.t.Helper()
	for i := 0; i < n; i++ {
		l.append("coupon/C"+string(rune('A'+i%26)), ev("coupon.created", map[string]any{"i": i}))
	}
}

// A crash in the middle of a batch leaves the projection at the previous
// batch boundary: the checkpoint and the rows move together, so the
// restarted runner neither applies an event twice nor skips one.
func TestRunnerCheckpointAtomicity(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	appendN(l, 50)
	db := openDB(t, "p.db")
	createCounting(t, db, "c")

	r := NewRunner(db, l.store, discard(), counting{name: "c", failAt: 25})
	r.BatchSize = 10
	_, err := r.CatchUp(context.Background(), 0, nil)
	if err == nil || !strings.Contains(err.Error(), "simulated crash") {
		t.Fatalf("CatchUp error = %v, want the simulated crash", err)
	}
	cp, err := db.Checkpoint(context.Background(), "c")
	if err != nil {
		t.Fatal(err)
	}
	// Batches are at most 10 events; whichever batch held seq 25 was
	// rolled back whole, so the checkpoint is below 25 and every event up
	// to it was applied exactly once.
	if cp >= 25 {
		t.Fatalf("checkpoint after the crash = %d, want < 25", cp)
	}
	counts := appliedCounts(t, db, "c")
	if got, want := len(counts), int(cp); got != want {
		t.Errorf("rows applied = %d, want the checkpoint %d", got, want)
	}

	// Restart without the fault: resumes after the checkpoint.
	r2 := NewRunner(db, l.store, discard(), counting{name: "c"})
	r2.BatchSize = 10
	seq, err := r2.CatchUp(context.Background(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := seq, uint64(50); got != want {
		t.Fatalf("resumed to %d, want %d", got, want)
	}
	counts = appliedCounts(t, db, "c")
	for s := uint64(1); s <= 50; s++ {
		if got, want := counts[s], 1; got != want {
			t.Errorf("event %d applied %d times, want %d", s, got, want)
		}
	}
}

// Cancelling between batches (a shutdown, or a kill after a commit) and
// starting again also applies everything exactly once.
func TestRunnerResume(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	appendN(l, 30)
	db := openDB(t, "p.db")
	createCounting(t, db, "c")
	ctx, cancel := context.WithCancel(context.Background())
	r := NewRunner(db, l.store, discard(), counting{name: "c"})
	r.BatchSize = 7
	_, err := r.CatchUp(ctx, 0, func(done, total uint64) {
		if done >= 14 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("CatchUp error = %v, want context.Canceled", err)
	}
	appendN(l, 5)
	if got, want := catchUp(t, db, l.store, counting{name: "c"}), uint64(35); got != want {
		t.Fatalf("caught up to %d, want %d", got, want)
	}
	counts := appliedCounts(t, db, "c")
	for s := uint64(1); s <= 35; s++ {
		if counts[s] != 1 {
			t.Errorf("event %d applied %d times, want 1", s, counts[s])
		}
	}
}

// Run follows the log live: events appended after it started are applied,
// WaitFor returns once they are, and Status reports caught up.
func TestRunnerLive(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	appendN(l, 3)
	db := openDB(t, "p.db")
	createCounting(t, db, "c")
	r := NewRunner(db, l.store, discard(), counting{name: "c"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	recs := l.append("platform/live", ev(domain.EventPlatformRegistered, domain.PlatformRegistered{Nodes: []string{"n"}}))
	appendN(l, 4)
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := r.WaitFor(wctx, recs[0].Seq+4); err != nil {
		t.Fatalf("WaitFor: %v", err)
	}
	st, err := r.Status(wctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st, (Status{Applied: 8, Head: 8, CaughtUp: true, Live: true}); got != want {
		t.Errorf("Status = %+v, want %+v", got, want)
	}
	if got, want := len(appliedCounts(t, db, "c")), 8; got != want {
		t.Errorf("applied %d events, want %d", got, want)
	}
}

// A projection added later (or renamed, which is the same thing) starts
// from the beginning of the log while the others carry on from theirs, and
// a renamed projection's tables are emptied first.
func TestRunnerNewProjectionCatchesUp(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	appendN(l, 10)
	db := openDB(t, "p.db")
	createCounting(t, db, "a")
	createCounting(t, db, "b")
	catchUp(t, db, l.store, counting{name: "a"})
	// Leftover rows of a previous life of "b" must go.
	if _, err := db.w.Exec(`INSERT INTO applied_b (seq, n) VALUES (999, 1)`); err != nil {
		t.Fatal(err)
	}
	appendN(l, 5)
	catchUp(t, db, l.store, counting{name: "a"}, counting{name: "b"})
	for _, name := range []string{"a", "b"} {
		counts := appliedCounts(t, db, name)
		if got, want := len(counts), 15; got != want {
			t.Errorf("%s: %d events applied, want %d", name, got, want)
		}
		for s, n := range counts {
			if n != 1 || s > 15 {
				t.Errorf("%s: event %d applied %d times", name, s, n)
			}
		}
	}
}

// Malformed messages never stop the projector: an undecodable envelope
// and an event whose data is malformed are recorded in the poison table
// with their sequence and error, and the events after them are applied.
func TestRunnerPoison(t *testing.T) {
	t.Parallel()
	l := newLedger(t, func(c *eventstore.Config) { c.Mutable = true })
	l.append("platform/p", ev(domain.EventPlatformRegistered, domain.PlatformRegistered{Nodes: []string{"n1"}}))
	js := l.store.JetStream()
	ctx := context.Background()
	// Seq 2: not an event at all.
	if _, err := js.Publish(ctx, "ledger.platform.junk", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	// Seq 3: a valid envelope whose data the platform projections cannot
	// use (a license that is a number).
	bad := domain.Event{SpecVersion: "1.0", ID: "bad-data", Source: "test", Type: domain.EventLicenseUploaded,
		Subject: "platform/q", Time: t0, AggregateVersion: 1, SchemaVersion: 1, Data: []byte(`{"source":"request-code","license":5}`)}
	raw, err := bad.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "ledger.platform.q", raw); err != nil {
		t.Fatal(err)
	}
	l.append("platform/p", ev(domain.EventPlatformNodeAdded, domain.NodeChanged{Node: "n2"}))
	// Seq 5: a second copy of seq 1 (same id, same version), as a
	// misbehaving writer could store: the events index (and so the
	// timeline, read from it) refuses the duplicate (found by the row-by-row fallback of a bulk
	// batch), the rest of the batch still commits.
	var first []byte
	for rec, err := range l.store.Read(ctx, 1, eventstore.UntilSeq(1)) {
		if err != nil {
			t.Fatal(err)
		}
		first = rec.Raw
	}
	if _, err := js.Publish(ctx, "ledger.platform.p", first); err != nil {
		t.Fatal(err)
	}
	l.append("platform/r", ev(domain.EventPlatformRegistered, domain.PlatformRegistered{Nodes: []string{"n1"}}))

	db := openDB(t, "p.db")
	if got, want := catchUp(t, db, l.store), uint64(6); got != want {
		t.Fatalf("caught up to %d, want %d", got, want)
	}
	poison, err := db.Poison(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bySeq := map[uint64][]string{}
	for _, p := range poison {
		bySeq[p.Seq] = append(bySeq[p.Seq], p.Projection)
		if p.Error == "" {
			t.Errorf("poison row %d/%s has no error text", p.Seq, p.Projection)
		}
	}
	if got, want := len(bySeq[2]), len(All()); got != want {
		t.Errorf("undecodable seq 2 recorded for %d projections, want all %d", got, want)
	}
	// The events index keeps the malformed-data event (its envelope is
	// fine); the four platform projections poison it.
	if got, want := strings.Join(bySeq[3], ","), "licenses-2,platforms,usb_keys"; got != want {
		t.Errorf("seq 3 poisoned for %q, want %q", got, want)
	}
	if got, want := strings.Join(bySeq[5], ","), "events"; got != want {
		t.Errorf("duplicate seq 5 poisoned for %q, want %q", got, want)
	}
	// Platform q's only event is unusable, so q was never registered; the
	// timeline would describe the event as unreadable. It lists the
	// duplicate once.
	if _, err := db.Timeline(ctx, "q", 0, 0); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Errorf("timeline of q: error %v, want not_found", err)
	}
	if got := timelineSummary(bad); !strings.Contains(got, "cannot be read") {
		t.Errorf("summary of the malformed-data event = %q, want it to say its data cannot be read", got)
	}
	tl, err := db.Timeline(ctx, "p", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(tl), 2; got != want {
		t.Errorf("timeline of p has %d entries, want %d (the duplicate copy is not listed)", got, want)
	}
	if _, err := db.GetPlatform(ctx, "r"); err != nil {
		t.Errorf("the event after the duplicate was not applied: %v", err)
	}
	if _, err := db.Event(ctx, "bad-data"); err != nil {
		t.Errorf("events index lost the malformed-data event: %v", err)
	}
	p, err := db.GetPlatform(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(p.Nodes), 2; got != want {
		t.Errorf("platform p has %d nodes after the poison, want %d (the later event must apply)", got, want)
	}
	// Determinism holds with poison too.
	assertSameAsRebuild(t, db, l.store, "the database with poison")
}

func digestString(ds []TableDigest) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.Table + " " + d.Digest + "\n")
	}
	return b.String()
}
