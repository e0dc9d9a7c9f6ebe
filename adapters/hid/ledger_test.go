package hid

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// ledger is a real embedded JetStream event store, the domain, and the
// command layer serve wires the watcher to.
type ledger struct {
	store *eventstore.Store
	clock *eventstoretest.Clock
	x     *eventstore.Executor[*domain.PlatformState]
}

func newLedger(t *testing.T) *ledger {
	clock := eventstoretest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	store := eventstoretest.MustOpenStore(t, eventstoretest.WithClock(clock.Now))
	return &ledger{store: store, clock: clock, x: eventstore.NewExecutor(store, eventstore.Platforms, eventstore.ExecutorConfig{})}
}

func (l *ledger) command(t *testing.T, cmd domain.PlatformCommand) {
	t.Helper()
	_, isRegister := cmd.(domain.RegisterPlatform)
	_, err := l.x.Execute(context.Background(), eventstore.Command[*domain.PlatformState]{ID: "acme", Creates: isRegister,
		Decide: func(s *domain.PlatformState, now time.Time) ([]domain.Event, error) {
			return domain.DecidePlatform(s, cmd, now)
		}})
	if err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
}

func (l *ledger) state(t *testing.T) *domain.PlatformState {
	t.Helper()
	s, err := l.x.Current(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// R15, R16, R17 and the key-state table of rules.md §3, end to end: two
// watchers with fake enumerators, one per management node, feed one real
// event store through LedgerEvents; after each change of the attached keys
// the platform's key state is the table's. Keys that move between nodes
// exercise the cross-node conflict and retry.
func TestTwoNodesKeyStateTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLedger(t)
	l.command(t, domain.RegisterPlatform{Platform: "acme", Nodes: []string{"mn-1"}})
	events := LedgerEvents{Platform: "acme", Source: "node/test", Platforms: l.x}
	var enum1, enum2 fakeEnum
	w1, err := NewWatcher(Config{Node: "mn-1", Debounce: 2, Logger: quietLogger()}, &enum1, events)
	if err != nil {
		t.Fatal(err)
	}
	var w2 *Watcher // mn-2 joins the platform half-way (R15)

	if got, want := domain.PlatformEntitlement(l.state(t), l.clock.Now()).USBKey.State, domain.KeyStateNone; got != want {
		t.Fatalf("before any key: state %s, want %s", got, want)
	}
	steps := []struct {
		nodes    int
		mn1, mn2 []string
		want     string
		auth     string // the key that authorizes (R16), "" when none does
	}{
		{1, []string{"K-1"}, nil, domain.KeyStateReady, "K-1"},
		{1, []string{"K-1", "K-2"}, nil, domain.KeyStateFault, ""},
		{1, nil, nil, domain.KeyStateMissing, ""},
		{1, []string{"K-1"}, nil, domain.KeyStateReady, "K-1"},
		// R15: the second node joins; the key on mn-1 keeps authorizing.
		{2, []string{"K-1"}, nil, domain.KeyStateReady, "K-1"},
		{2, []string{"K-1"}, []string{"K-2"}, domain.KeyStateAbnormal, "K-1"},
		{2, []string{"K-1"}, []string{"K-2", "K-3"}, domain.KeyStateAbnormal, "K-1"},
		{2, []string{"K-1", "K-4"}, nil, domain.KeyStateFault, ""},
		{2, []string{"K-1", "K-4"}, []string{"K-2", "K-3"}, domain.KeyStateFault, ""},
		{2, nil, nil, domain.KeyStateMissing, ""},
		// R15: one key on either node authorizes, also the one added later.
		{2, nil, []string{"K-1"}, domain.KeyStateReady, "K-1"},
		{2, []string{"K-2"}, []string{"K-1"}, domain.KeyStateAbnormal, "K-1"},
		// The key moves from mn-2 to mn-1 between two polls.
		{2, []string{"K-2", "K-1"}, nil, domain.KeyStateFault, ""},
		{2, []string{"K-1"}, []string{"K-2"}, domain.KeyStateAbnormal, "K-1"},
	}
	for i, st := range steps {
		l.clock.Advance(time.Hour)
		if st.nodes == 2 && w2 == nil {
			l.command(t, domain.AddNode{Node: "mn-2"})
			w2, err = NewWatcher(Config{Node: "mn-2", Debounce: 2, Logger: quietLogger()}, &enum2, events)
			if err != nil {
				t.Fatal(err)
			}
		}
		enum1.set(st.mn1...)
		enum2.set(st.mn2...)
		watchers := []*Watcher{w1}
		if w2 != nil {
			watchers = append(watchers, w2)
		}
		settle(ctx, t, watchers...)

		s := l.state(t)
		ks := domain.PlatformEntitlement(s, l.clock.Now()).USBKey
		if ks.State != st.want {
			t.Fatalf("step %d (mn-1 %v, mn-2 %v): state %s, want %s (inserted %+v)", i+1, st.mn1, st.mn2, ks.State, st.want, ks.Inserted)
		}
		auth := ""
		if ks.State == domain.KeyStateReady || ks.State == domain.KeyStateAbnormal {
			auth = ks.ActiveKey
		}
		if auth != st.auth {
			t.Fatalf("step %d: authorizing key %q, want %q", i+1, auth, st.auth)
		}
		for _, w := range watchers {
			node, want := w.Status().Node, st.mn1
			if node == "mn-2" {
				want = st.mn2
			}
			got := KeysOnNode(s, node)
			if !slices.Equal(sorted(got), sorted(want)) {
				t.Fatalf("step %d: ledger records %v on %s, want %v", i+1, got, node, want)
			}
		}
	}

	// A watcher restarted on a node starts from what the ledger records
	// there, and reports nothing for keys still attached.
	restarted, err := NewWatcher(Config{Node: "mn-2", Debounce: 1, Inserted: KeysOnNode(l.state(t), "mn-2"), Logger: quietLogger()}, &enum2, events)
	if err != nil {
		t.Fatal(err)
	}
	before := l.state(t).Version()
	if err := restarted.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if after := l.state(t).Version(); after != before {
		t.Fatalf("restarted watcher appended %d events for keys already recorded", after-before)
	}
}

// settle polls the watchers round-robin until none has a change pending
// and every delivery succeeded, as Run would over a few intervals.
func settle(ctx context.Context, t *testing.T, watchers ...*Watcher) {
	t.Helper()
	for round := 0; round < 20; round++ {
		done := true
		for _, w := range watchers {
			_ = w.Poll(ctx)
			st := w.Status()
			done = done && len(st.Pending) == 0 && st.State == StateOK
		}
		if done {
			return
		}
	}
	for _, w := range watchers {
		t.Logf("%+v", w.Status())
	}
	t.Fatal("watchers did not settle in 20 rounds")
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// LedgerEvents is idempotent: a delivery retried after it was recorded
// (the answer was lost) appends nothing and succeeds.
func TestLedgerEventsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLedger(t)
	l.command(t, domain.RegisterPlatform{Platform: "acme", Nodes: []string{"mn-1", "mn-2"}})
	ev := LedgerEvents{Platform: "acme", Source: "node/test", Platforms: l.x}
	steps := []struct {
		name    string
		call    func() error
		version uint64
		code    string
	}{
		{"insert", func() error { return ev.KeyInserted(ctx, "mn-1", "K-1", nil) }, 2, ""},
		{"insert again", func() error { return ev.KeyInserted(ctx, "mn-1", "K-1", nil) }, 2, ""},
		{"insert on the other node while still recorded here", func() error { return ev.KeyInserted(ctx, "mn-2", "K-1", nil) }, 2, domain.ECONFLICT},
		{"remove", func() error { return ev.KeyRemoved(ctx, "mn-1", "K-1") }, 3, ""},
		{"remove again", func() error { return ev.KeyRemoved(ctx, "mn-1", "K-1") }, 3, ""},
		{"unknown node", func() error { return ev.KeyInserted(ctx, "mn-9", "K-1", nil) }, 3, domain.ENOTFOUND},
	}
	for _, st := range steps {
		err := st.call()
		if got := domain.ErrorCode(err); got != st.code {
			t.Fatalf("%s: code %q, want %q (%v)", st.name, got, st.code, err)
		}
		if got := l.state(t).Version(); got != st.version {
			t.Fatalf("%s: version %d, want %d", st.name, got, st.version)
		}
	}
}
