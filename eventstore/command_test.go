package eventstore_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// hosts is a test aggregate state: the hosts added, in order. It keeps
// the Executor's tests about the command loop, not about a domain's rules.
type hosts struct {
	version uint64
	names   []string
}

func hostsKind() eventstore.Kind[*hosts] {
	return eventstore.Kind[*hosts]{
		Name: domain.KindPlatform,
		New:  func() *hosts { return &hosts{} },
		Evolve: func(s *hosts, e domain.Event) error {
			var h domain.HostAdded
			if err := json.Unmarshal(e.Data, &h); err != nil {
				return err
			}
			s.names = append(s.names, h.Host)
			s.version++
			return nil
		},
		Clone:   func(s *hosts) *hosts { return &hosts{version: s.version, names: slices.Clone(s.names)} },
		Version: func(s *hosts) uint64 { return s.version },
		Exists:  func(s *hosts) bool { return s.version > 0 },
		Missing: func(id string) error {
			return domain.Reasonf(domain.ENOTFOUND, domain.ReasonUnknownPlatform, "no %s", id)
		},
	}
}

// addHost is a decide function: it appends one host.added, counting calls.
func addHost(t testing.TB, agg domain.Aggregate, host string, calls *atomic.Int32) func(*hosts, time.Time) ([]domain.Event, error) {
	return func(*hosts, time.Time) ([]domain.Event, error) {
		calls.Add(1)
		return []domain.Event{hostAdded(t, agg, host)}, nil
	}
}

func testExecutor(t *testing.T, be backend) {
	clock := eventstoretest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC))
	clock.Step = time.Millisecond // every reading differs: a second reading would show
	s := be.open(t, eventstoretest.WithClock(clock.Now))
	x := eventstore.NewExecutor(s, hostsKind(), eventstore.ExecutorConfig{})
	agg := platform("acme")
	var calls atomic.Int32
	cmd := func(host, key string, ifMatch uint64) eventstore.Command[*hosts] {
		return eventstore.Command[*hosts]{ID: "acme", Source: "test", Creates: true, IdempotencyKey: key, IfMatch: ifMatch, Decide: addHost(t, agg, host, &calls)}
	}

	first, err := x.Execute(testCtx(t), cmd("h-1", "req-1", 0))
	mustDo(t, err)
	if len(first.Records) != 1 || first.Records[0].Event.IdempotencyKey != "req-1" || first.Records[0].Event.AggregateVersion != 1 {
		t.Fatalf("first execute = %+v, want one event at version 1 carrying the key", first.Records)
	}

	t.Run("one clock reading per command, carried by its events", func(t *testing.T) {
		before := clock.Now()
		res, err := x.Execute(testCtx(t), cmd("h-clock", "", 0))
		mustDo(t, err)
		after := clock.Now()
		if got, want := after.Sub(before), 2*time.Millisecond; got != want {
			t.Errorf("the clock moved %v during the command, want %v (one reading)", got-time.Millisecond, time.Millisecond)
		}
		if got, want := res.Records[0].Event.Time, res.At; !got.Equal(want) {
			t.Errorf("stored event time %v, want the command's instant %v", got, want)
		}
		if got, want := res.At, before.Add(time.Millisecond).Round(0); !got.Equal(want) {
			t.Errorf("command instant %v, want the one reading %v", got, want)
		}
	})

	t.Run("idempotency key returns the original result", func(t *testing.T) {
		before := calls.Load()
		again, err := x.Execute(testCtx(t), cmd("h-1", "req-1", 0))
		mustDo(t, err)
		if !again.Replayed || len(again.Records) != 1 || again.Records[0].Event.ID != first.Records[0].Event.ID {
			t.Fatalf("retried command returned %+v, want the original event %s replayed", again, first.Records[0].Event.ID)
		}
		if got := calls.Load() - before; got != 0 {
			t.Fatalf("decide ran %d times for a replay, want 0", got)
		}
		if got, want := again.Version(x.Kind()), uint64(1); got != want {
			t.Fatalf("replay version = %d, want the original's %d", got, want)
		}
	})

	t.Run("if-match mismatch", func(t *testing.T) {
		before := calls.Load()
		_, err := x.Execute(testCtx(t), cmd("h-3", "", 1))
		wantCode(t, err, domain.ECONFLICT, domain.ReasonVersionMismatch)
		if calls.Load() != before {
			t.Fatal("decide ran despite the If-Match mismatch")
		}
	})

	t.Run("if-match match", func(t *testing.T) {
		res, err := x.Execute(testCtx(t), cmd("h-3", "", 2))
		mustDo(t, err)
		if got, want := res.Records[0].Event.AggregateVersion, uint64(3); got != want {
			t.Fatalf("version = %d, want %d", got, want)
		}
	})

	t.Run("decide errors are returned unchanged", func(t *testing.T) {
		want := domain.Reasonf(domain.ECONFLICT, domain.ReasonKeyNotInserted, "no USB key")
		_, err := x.Execute(testCtx(t), eventstore.Command[*hosts]{ID: "acme", Decide: func(*hosts, time.Time) ([]domain.Event, error) { return nil, want }})
		if err != want {
			t.Fatalf("error = %v, want decide's error itself", err)
		}
	})

	t.Run("no events, no append", func(t *testing.T) {
		before := mustLastSeq(t, s)
		res, err := x.Execute(testCtx(t), eventstore.Command[*hosts]{ID: "acme", Decide: func(*hosts, time.Time) ([]domain.Event, error) { return nil, nil }})
		if err != nil || len(res.Records) != 0 || mustLastSeq(t, s) != before {
			t.Fatalf("Execute with no events = %v, %v; last seq moved: %v", res.Records, err, mustLastSeq(t, s) != before)
		}
	})

	t.Run("decide sees the state", func(t *testing.T) {
		var seen []string
		_, err := x.Execute(testCtx(t), eventstore.Command[*hosts]{ID: "acme", Decide: func(st *hosts, _ time.Time) ([]domain.Event, error) {
			seen = slices.Clone(st.names)
			return nil, nil
		}})
		mustDo(t, err)
		if want := []string{"h-1", "h-clock", "h-3"}; !reflect.DeepEqual(seen, want) {
			t.Fatalf("state = %v, want %v", seen, want)
		}
	})

	t.Run("a command on a missing aggregate is refused unless it creates it", func(t *testing.T) {
		before := calls.Load()
		_, err := x.Execute(testCtx(t), eventstore.Command[*hosts]{ID: "nowhere", Decide: addHost(t, platform("nowhere"), "h", &calls)})
		wantCode(t, err, domain.ENOTFOUND, domain.ReasonUnknownPlatform)
		if calls.Load() != before {
			t.Fatal("decide ran on a missing aggregate")
		}
	})

	t.Run("current and as of", func(t *testing.T) {
		cur, err := x.Current(testCtx(t), "acme")
		mustDo(t, err)
		if got, want := cur.names, []string{"h-1", "h-clock", "h-3"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("current = %v, want %v", got, want)
		}
		old, err := x.AsOf(testCtx(t), "acme", first.Records[0].Event.Time)
		mustDo(t, err)
		if got, want := old.names, []string{"h-1"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("as of the first event = %v, want %v", got, want)
		}
	})

	// R32: a view names the sequence of the last event it folds, and a
	// sequence bound folds no further, whatever the instant.
	t.Run("view at a log position", func(t *testing.T) {
		recs := checkContiguous(t, s, agg, 3)
		far := clock.Now().Add(time.Hour)
		tests := []struct {
			name    string
			at      time.Time
			seq     uint64
			want    []string
			wantSeq uint64
		}{
			{"now: the cached state", far, 0, []string{"h-1", "h-clock", "h-3"}, recs[2].Seq},
			{"bounded by sequence", far, recs[1].Seq, []string{"h-1", "h-clock"}, recs[1].Seq},
			{"bounded by instant", recs[0].Event.Time, 0, []string{"h-1"}, recs[0].Seq},
			{"both, the instant first", recs[0].Event.Time, recs[2].Seq, []string{"h-1"}, recs[0].Seq},
			{"before the first event", recs[0].Event.Time.Add(-time.Nanosecond), 0, nil, 0},
		}
		for _, tt := range tests {
			st, seq, err := x.View(testCtx(t), "acme", tt.at, tt.seq)
			mustDo(t, err)
			if !reflect.DeepEqual(st.names, tt.want) || seq != tt.wantSeq {
				t.Errorf("%s: View = %v at seq %d, want %v at seq %d", tt.name, st.names, seq, tt.want, tt.wantSeq)
			}
		}
	})
}

// Another process wins the race: the Executor decides again on fresh
// state (with the same instant) and appends after the other's event.
func testExecutorRetriesOnConflict(t *testing.T, be backend) {
	a := be.open(t)
	b := be.peer(t, a)
	x := eventstore.NewExecutor(a, hostsKind(), eventstore.ExecutorConfig{})
	agg := platform("acme")

	var seen []int
	var instants []time.Time
	res, err := x.Execute(testCtx(t), eventstore.Command[*hosts]{ID: "acme", Creates: true, IdempotencyKey: "req-a",
		Decide: func(st *hosts, now time.Time) ([]domain.Event, error) {
			seen = append(seen, len(st.names))
			instants = append(instants, now)
			if len(seen) == 2 { // after the lock-free decision, before the append: the other process sneaks in
				mustAppend(t, b, agg, uint64(len(st.names)), hostAdded(t, agg, "h-b"))
			}
			return []domain.Event{hostAdded(t, agg, "h-a")}, nil
		}})
	mustDo(t, err)
	if want := []int{0, 0, 1}; !reflect.DeepEqual(seen, want) {
		t.Fatalf("decide saw states of %v hosts, want %v", seen, want)
	}
	if !instants[0].Equal(instants[2]) && instants[2].Before(instants[0]) {
		t.Fatalf("the retry decided at %v, before the command's instant %v", instants[2], instants[0])
	}
	if got, want := res.Records[0].Event.AggregateVersion, uint64(2); got != want {
		t.Fatalf("version = %d, want %d", got, want)
	}

	// When the race is lost every time, the Executor gives up with ECONFLICT.
	x2 := eventstore.NewExecutor(a, hostsKind(), eventstore.ExecutorConfig{MaxRetries: 2})
	var attempts int
	_, err = x2.Execute(testCtx(t), eventstore.Command[*hosts]{ID: "acme", Decide: func(st *hosts, _ time.Time) ([]domain.Event, error) {
		attempts++
		if attempts > 1 {
			mustAppend(t, b, agg, st.version, hostAdded(t, agg, fmt.Sprintf("h-b%d", attempts)))
		}
		return []domain.Event{hostAdded(t, agg, "h-a2")}, nil
	}})
	wantCode(t, err, domain.ECONFLICT, domain.ReasonConcurrentUpdate)
	if got, want := attempts, 4; got != want {
		t.Fatalf("decide ran %d times, want %d (lock-free, then 1 + 2 retries)", got, want)
	}
}

// A refusal of decide's is the answer on this state, even when it is
// coded ECONFLICT: the Executor returns it at once.
func testExecutorDoesNotRetryRefusals(t *testing.T, be backend) {
	s := be.open(t)
	x := eventstore.NewExecutor(s, hostsKind(), eventstore.ExecutorConfig{})
	refusal := domain.Reasonf(domain.ECONFLICT, domain.ReasonKeyInserted, "key K-1 is already inserted")
	var attempts int
	_, err := x.Execute(testCtx(t), eventstore.Command[*hosts]{ID: "acme", Creates: true, Decide: func(*hosts, time.Time) ([]domain.Event, error) {
		attempts++
		return nil, refusal
	}})
	wantCode(t, err, domain.ECONFLICT, domain.ReasonKeyInserted)
	if attempts != 1 {
		t.Fatalf("decide ran %d times, want 1", attempts)
	}
}

// Many writers on one aggregate: every event lands exactly once, versions
// run 1..N with no gap, and the chain verifies. Run with -race.
func testConcurrentAppendsToOneAggregate(t *testing.T, be backend) {
	writers, perWriter := 16, 25
	if be.small {
		writers, perWriter = 8, 8
	}
	s := be.open(t)
	agg := platform("hot")
	ctx := testCtx(t)

	var wg sync.WaitGroup
	var conflicts atomic.Int64
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				e := hostAdded(t, agg, fmt.Sprintf("w%d-%d", w, i))
				for {
					version, err := s.Version(ctx, agg)
					if err != nil {
						errs <- err
						return
					}
					_, err = s.Append(ctx, agg, version, e)
					if err == nil {
						break
					}
					if domain.ErrorCode(err) != domain.ECONFLICT {
						errs <- err
						return
					}
					conflicts.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkContiguous(t, s, agg, writers*perWriter)
	t.Logf("%d conflicts retried", conflicts.Load())
}

// The same through Executors in two processes sharing one stream: writers
// in one process queue, the processes race. The first commands of one
// writer in each process decide together before either appends, so at
// least one race is certainly lost and retried.
func testConcurrentExecuteFromTwoProcesses(t *testing.T, be backend) {
	const writers, perWriter = 8, 10
	one := be.open(t)
	var xs []*eventstore.Executor[*hosts]
	for i := range 2 {
		s := one
		if i > 0 {
			s = be.peer(t, one)
		}
		xs = append(xs, eventstore.NewExecutor(s, hostsKind(), eventstore.ExecutorConfig{MaxRetries: 100}))
	}
	agg := platform("hot")
	ctx := testCtx(t)

	var (
		wg        sync.WaitGroup
		together  sync.WaitGroup // writers 0 and 1 (one per process) decide together once, under their locks
		first     [2]sync.Once
		decisions atomic.Int64
	)
	together.Add(2)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := xs[w%len(xs)]
			for i := range perWriter {
				key := fmt.Sprintf("w%d-%d", w, i)
				lockFree := true
				_, err := x.Execute(ctx, eventstore.Command[*hosts]{ID: "hot", Creates: true, IdempotencyKey: key,
					Decide: func(*hosts, time.Time) ([]domain.Event, error) {
						decisions.Add(1)
						if w < 2 && !lockFree {
							first[w].Do(func() { together.Done(); together.Wait() })
						}
						lockFree = false
						return []domain.Event{hostAdded(t, agg, key)}, nil
					}})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	recs := checkContiguous(t, be.peer(t, one), agg, writers*perWriter)
	keys := make(map[string]int)
	for _, r := range recs {
		keys[r.Event.IdempotencyKey]++
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("command %s stored %d times", k, n)
		}
	}
	if got, want := len(keys), writers*perWriter; got != want {
		t.Errorf("%d distinct commands stored, want %d", got, want)
	}
	// Each command decides at least twice (lock-free, then locked).
	if retries := decisions.Load() - 2*writers*perWriter; retries < 1 {
		t.Errorf("%d commands were decided again after losing a race, want at least 1: the test raced nothing", retries)
	}
}

// checkContiguous checks the aggregate holds n events at versions 1..n,
// every host exactly once, and that Verify finds nothing.
func checkContiguous(t *testing.T, s *eventstore.Store, agg domain.Aggregate, n int) []eventstore.Record {
	t.Helper()
	recs := mustLoad(t, s, agg)
	if len(recs) != n {
		t.Fatalf("%d events stored, want %d", len(recs), n)
	}
	seen := make(map[string]bool)
	for i, r := range recs {
		if r.Event.AggregateVersion != uint64(i+1) {
			t.Fatalf("event %d has version %d", i+1, r.Event.AggregateVersion)
		}
		var h domain.HostAdded
		if err := json.Unmarshal(r.Event.Data, &h); err != nil {
			t.Fatal(err)
		}
		if seen[h.Host] {
			t.Fatalf("host %s stored twice", h.Host)
		}
		seen[h.Host] = true
	}
	rep := mustVerify(t, s)
	if !rep.OK() {
		t.Fatalf("Verify: %+v", rep.Problems)
	}
	return recs
}
