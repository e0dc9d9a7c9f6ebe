package billing

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// memSink collects lines; after stopAfter writes (if set) it calls stop.
type memSink struct {
	mu        sync.Mutex
	lines     [][]byte
	stopAfter int
	stop      func()
}

func (m *memSink) WriteEvent(raw []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lines = append(m.lines, bytes.Clone(raw))
	if m.stopAfter > 0 && len(m.lines) == m.stopAfter {
		m.stop()
	}
	return nil
}

// untilAll passes events on to a sink and calls stop once every id that
// was missing has come.
type untilAll struct {
	Sink
	missing map[string]bool
	stop    func()
}

// newUntilAll waits for the ids of want that are not in have (the sink's
// output so far).
func newUntilAll(sink Sink, have [][]byte, want []eventstore.Record, stop func()) *untilAll {
	u := &untilAll{Sink: sink, missing: map[string]bool{}, stop: stop}
	for _, r := range want {
		u.missing[r.Event.ID] = true
	}
	for _, line := range have {
		if e, err := domain.DecodeEvent(line); err == nil {
			delete(u.missing, e.ID)
		}
	}
	return u
}

func (u *untilAll) WriteEvent(raw []byte) error {
	if err := u.Sink.WriteEvent(raw); err != nil {
		return err
	}
	if e, err := domain.DecodeEvent(raw); err == nil {
		delete(u.missing, e.ID)
	}
	if len(u.missing) == 0 {
		u.stop()
	}
	return nil
}

// tailAll runs the feed into sink until every event of want is there,
// failing if that takes longer than testWithin; then a catch-up run checks
// that nothing more comes. It returns how many events the first run
// delivered. Stopping on the last event rather than on idleness means no
// real idle time, and a slow machine cannot make the test fail.
func tailAll(t *testing.T, store *eventstore.Store, sink *memSink, consumer string, want []eventstore.Record) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWithin)
	defer cancel()
	u := newUntilAll(sink, sink.lines, want, cancel)
	n, err := Tail(ctx, store, u, Config{Consumer: consumer, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.missing) > 0 {
		t.Fatalf("%d of %d events did not reach billing within %v", len(u.missing), len(want), testWithin)
	}
	idleCtx, cancelIdle := context.WithTimeout(context.Background(), testWithin)
	defer cancelIdle()
	more, err := Tail(idleCtx, store, sink, catchUp(consumer))
	if err != nil || more > 0 {
		t.Fatalf("after every event, a catch-up run delivered %d more (%v)", more, err)
	}
	if idleCtx.Err() != nil {
		t.Fatalf("a catch-up run did not exit on idle within %v", testWithin)
	}
	return n
}

// checkFeed checks a billing output against what was appended (R30):
// every billable event is there, byte for byte as stored; nothing else is;
// per aggregate, once duplicates are dropped by id, the versions run
// 1, 2, 3… in order, and a duplicate only ever repeats the line before it
// of its aggregate. It returns the number of duplicate lines.
func checkFeed(t *testing.T, lines [][]byte, want []eventstore.Record) int {
	t.Helper()
	stored := map[string][]byte{}
	for _, r := range want {
		stored[r.Event.ID] = r.Raw
	}
	seen := map[string]bool{}
	next := map[string]uint64{}
	last := map[string]string{}
	dups := 0
	for i, line := range lines {
		e, err := domain.DecodeEvent(line)
		if err != nil {
			t.Fatalf("line %d is not an event: %v\n%s", i+1, err, line)
		}
		raw, ok := stored[e.ID]
		if !ok {
			t.Fatalf("line %d: event %s (%s %s) was not a billable append", i+1, e.ID, e.Subject, e.Type)
		}
		if !bytes.Equal(line, raw) {
			t.Fatalf("line %d: event %s differs from its stored bytes:\n%s\n%s", i+1, e.ID, line, raw)
		}
		if seen[e.ID] {
			dups++
			if last[e.Subject] != e.ID {
				t.Fatalf("line %d: duplicate of %s does not directly follow its original in %s", i+1, e.ID, e.Subject)
			}
			continue
		}
		seen[e.ID] = true
		if got, want := e.AggregateVersion, next[e.Subject]+1; got != want {
			t.Fatalf("line %d: %s version %d, want %d (order per aggregate broken)", i+1, e.Subject, got, want)
		}
		next[e.Subject] = e.AggregateVersion
		last[e.Subject] = e.ID
	}
	for _, r := range want {
		if !seen[r.Event.ID] {
			t.Fatalf("event %s (%s %s) never reached billing", r.Event.ID, r.Event.Subject, r.Event.Type)
		}
	}
	return dups
}

// Real waits the feed still has, kept short. JetStream's AckWait is real
// time (the server redelivers), so where a test needs a redelivery it sets
// AckWait small rather than sleeping; where none may happen it leaves the
// default, 30s, so that a spurious one could not pass unnoticed.
const (
	// testPoll is how long one wait for an event lasts in a catch-up run:
	// the real time a run spends noticing it is idle. JetStream answers a
	// pull in well under a millisecond when an event is there.
	testPoll = 200 * time.Millisecond
	// testExitIdle is the idle time a catch-up run exits after, on the
	// injected clock.
	testExitIdle = time.Hour
	// testWithin bounds a run expected to deliver everything. Below
	// DefaultAckWait: a run that passes did not wait for a redelivery.
	testWithin = 10 * time.Second
)

// catchUp configures a catch-up run (ExitIdle) on an injected clock that
// moves on by ExitIdle at every reading: the run exits after its first
// wait of testPoll that brings no event, with no real idle time. Tests use
// it to show that nothing (more) comes: on a machine too slow to answer
// within testPoll it would only check less, never fail.
func catchUp(consumer string) Config {
	clk := eventstoretest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	clk.Step = testExitIdle
	return Config{Consumer: consumer, Poll: testPoll, ExitIdle: testExitIdle, Now: clk.Now, Logger: quiet}
}

// R30: every subscription, perpetual and coupon event reaches billing, in
// order per aggregate, as stored (with its stable id); platform events
// do not.
func TestTailDeliversBillableEvents(t *testing.T) {
	t.Parallel()
	store := eventstoretest.MustOpenStore(t)
	l := newLedger(t, store)
	l.rounds(0, 12, 4)
	sink := &memSink{}
	n := tailAll(t, store, sink, "billing-a", l.billable)
	if got, want := n, len(l.billable); got != want {
		t.Errorf("delivered %d, want %d", got, want)
	}
	if dups := checkFeed(t, sink.lines, l.billable); dups != 0 {
		t.Errorf("%d duplicates without any crash", dups)
	}
	if l.platforms == 0 {
		t.Fatal("the history has no platform events to filter out")
	}
	types := map[string]bool{}
	for _, r := range l.billable {
		types[r.Event.Type] = true
	}
	for _, typ := range []string{domain.EventSubscriptionCreated, domain.EventSubscriptionPlanChanged, domain.EventSubscriptionInstancesAdded,
		domain.EventSubscriptionRenewed, domain.EventSubscriptionPastDue, domain.EventPerpetualPurchased,
		domain.EventPerpetualUpdatesRenewed, domain.EventCouponCreated, domain.EventCouponRedeemed} {
		if !types[typ] {
			t.Errorf("the history has no %s to deliver", typ)
		}
	}
}

// R30: a durable consumer stopped and restarted resumes where it stopped;
// a graceful stop acknowledges what it wrote, so nothing is repeated.
func TestTailResumesAfterStop(t *testing.T) {
	t.Parallel()
	store := eventstoretest.MustOpenStore(t)
	l := newLedger(t, store)
	l.rounds(0, 8, 3)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &memSink{stopAfter: len(l.billable) / 2, stop: cancel}
	if _, err := Tail(ctx, store, sink, Config{Consumer: "billing-b", Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if got, want := len(sink.lines), len(l.billable)/2; got != want {
		t.Fatalf("first run wrote %d, want %d", got, want)
	}
	l.rounds(8, 14, 3) // while billing is down

	tailAll(t, store, sink, "billing-b", l.billable)
	if dups := checkFeed(t, sink.lines, l.billable); dups != 0 {
		t.Errorf("%d duplicates after a graceful stop", dups)
	}
}

func TestTailConfig(t *testing.T) {
	t.Parallel()
	store := eventstoretest.MustOpenStore(t)
	tests := []struct {
		name string
		cfg  Config
		code string
	}{
		{"no consumer", Config{}, domain.EINVALID},
		{"bad consumer name", Config{Consumer: "billing.a"}, domain.EINVALID},
		{"exit-idle not above ack-wait", Config{Consumer: "b", AckWait: 5 * time.Second, ExitIdle: 5 * time.Second}, domain.EINVALID},
		{"exit-idle not above the default ack-wait", Config{Consumer: "b", ExitIdle: DefaultAckWait}, domain.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.Logger = quiet
			_, err := Tail(context.Background(), store, &memSink{}, tt.cfg)
			if got := domain.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q, want %q (%v)", got, tt.code, err)
			}
		})
	}
}

type failingSink struct{}

func (failingSink) WriteEvent([]byte) error { return errors.New("disk full") }

// A sink that fails stops the feed with the event unacknowledged: the next
// run delivers it — at once (testWithin), not after AckWait (the default,
// 30s): the feed gave it back.
func TestTailSinkFailureLosesNothing(t *testing.T) {
	t.Parallel()
	store := eventstoretest.MustOpenStore(t)
	l := newLedger(t, store)
	l.rounds(0, 2, 2)
	n, err := Tail(context.Background(), store, failingSink{}, Config{Consumer: "billing-c", Logger: quiet})
	if got, want := domain.ErrorCode(err), domain.EINTERNAL; got != want || n != 0 {
		t.Fatalf("failing sink: %d delivered, code %q (%v); want 0 and %q", n, got, err, want)
	}
	sink := &memSink{}
	tailAll(t, store, sink, "billing-c", l.billable)
	if dups := checkFeed(t, sink.lines, l.billable); dups != 0 {
		t.Errorf("%d duplicates: the failed write was not a delivery", dups)
	}
}

// A stored message on a billable subject that is not an event (written
// behind the ledger's back) stops the feed there, every run, at once
// (testWithin, below AckWait): billing never skips what it cannot read.
func TestTailStopsOnMalformedEvent(t *testing.T) {
	t.Parallel()
	store := eventstoretest.MustOpenStore(t)
	l := newLedger(t, store)
	l.rounds(0, 2, 2)
	if _, err := store.JetStream().Publish(context.Background(), "ledger.subscription.forged", []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	before := len(l.billable)
	l.rounds(2, 3, 2)

	sink := &memSink{}
	for run := 1; run <= 2; run++ {
		ctx, cancel := context.WithTimeout(context.Background(), testWithin)
		n, err := Tail(ctx, store, sink, Config{Consumer: "billing-d", Logger: quiet})
		cancel()
		if got, want := domain.ErrorCode(err), domain.EINTERNAL; got != want {
			t.Fatalf("run %d: code %q (%v), want %q", run, got, err, want)
		}
		if want := map[int]int{1: before, 2: 0}[run]; n != want {
			t.Fatalf("run %d delivered %d, want %d", run, n, want)
		}
	}
	checkFeed(t, sink.lines, l.billable[:before])
}

func TestFileSinkCutsTornLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, before, after string
		cut                 int64
	}{
		{"new file", "", "", 0},
		{"whole lines", "{\"a\":1}\n{\"b\":2}\n", "{\"a\":1}\n{\"b\":2}\n", 0},
		{"torn last line", "{\"a\":1}\n{\"b\"", "{\"a\":1}\n", 4},
		{"only a torn line", "{\"a\"", "", 4},
		{"torn line longer than a read chunk", "{}\n" + string(bytes.Repeat([]byte("x"), 200<<10)), "{}\n", 200 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "out.jsonl")
			if tt.before != "" {
				if err := os.WriteFile(path, []byte(tt.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s, cut, err := OpenFileSink(path)
			if err != nil {
				t.Fatal(err)
			}
			if cut != tt.cut {
				t.Errorf("cut %d bytes, want %d", cut, tt.cut)
			}
			if err := s.WriteEvent([]byte(`{"c":3}`)); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if want := tt.after + "{\"c\":3}\n"; string(got) != want {
				t.Fatalf("file = %q, want %q", got, want)
			}
		})
	}
}

func TestWriterSinkFlushesEachEvent(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	s := NewWriterSink(&buf)
	for _, line := range []string{`{"a":1}`, `{"b":2}`} {
		if err := s.WriteEvent([]byte(line)); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(buf.Bytes(), []byte(line+"\n")) {
			t.Fatalf("after WriteEvent(%s) the writer holds %q: not flushed", line, buf.String())
		}
	}
}
