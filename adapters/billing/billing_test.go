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

// R30: every subscription, perpetual and coupon event reaches billing, in
// order per aggregate, as stored (with its stable id); platform events
// do not.
func TestTailDeliversBillableEvents(t *testing.T) {
	store := eventstoretest.MustOpenStore(t)
	l := newLedger(t, store)
	l.rounds(0, 12, 4)
	sink := &memSink{}
	n, err := Tail(context.Background(), store, sink,
		Config{Consumer: "billing-a", AckWait: time.Second, Poll: 200 * time.Millisecond, ExitIdle: 1500 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
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
	store := eventstoretest.MustOpenStore(t)
	l := newLedger(t, store)
	l.rounds(0, 8, 3)
	cfg := Config{Consumer: "billing-b", AckWait: time.Second, Poll: 200 * time.Millisecond, Logger: quiet}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &memSink{stopAfter: len(l.billable) / 2, stop: cancel}
	if _, err := Tail(ctx, store, sink, cfg); err != nil {
		t.Fatal(err)
	}
	if got, want := len(sink.lines), len(l.billable)/2; got != want {
		t.Fatalf("first run wrote %d, want %d", got, want)
	}
	l.rounds(8, 14, 3) // while billing is down

	cfg.ExitIdle = 2 * time.Second
	if _, err := Tail(context.Background(), store, sink, cfg); err != nil {
		t.Fatal(err)
	}
	if dups := checkFeed(t, sink.lines, l.billable); dups != 0 {
		t.Errorf("%d duplicates after a graceful stop", dups)
	}
}

func TestTailConfig(t *testing.T) {
	store := eventstoretest.MustOpenStore(t)
	tests := []struct {
		name string
		cfg  Config
		code string
	}{
		{"no consumer", Config{}, domain.EINVALID},
		{"bad consumer name", Config{Consumer: "billing.a"}, domain.EINVALID},
		{"exit-idle not above ack-wait", Config{Consumer: "b", AckWait: 5 * time.Second, ExitIdle: 5 * time.Second}, domain.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
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
// run delivers it.
func TestTailSinkFailureLosesNothing(t *testing.T) {
	store := eventstoretest.MustOpenStore(t)
	l := newLedger(t, store)
	l.rounds(0, 2, 2)
	cfg := Config{Consumer: "billing-c", AckWait: time.Second, Poll: 200 * time.Millisecond, ExitIdle: 2 * time.Second, Logger: quiet}
	n, err := Tail(context.Background(), store, failingSink{}, cfg)
	if got, want := domain.ErrorCode(err), domain.EINTERNAL; got != want || n != 0 {
		t.Fatalf("failing sink: %d delivered, code %q (%v); want 0 and %q", n, got, err, want)
	}
	sink := &memSink{}
	if _, err := Tail(context.Background(), store, sink, cfg); err != nil {
		t.Fatal(err)
	}
	checkFeed(t, sink.lines, l.billable)
}

func TestFileSinkCutsTornLine(t *testing.T) {
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
