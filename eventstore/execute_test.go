package eventstore_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// addHost is a decide function: it appends one host.added.
func addHost(t testing.TB, agg domain.Aggregate, host string, calls *atomic.Int32) func([]eventstore.Record) ([]domain.Event, error) {
	return func([]eventstore.Record) ([]domain.Event, error) {
		calls.Add(1)
		return []domain.Event{hostAdded(t, agg, host)}, nil
	}
}

func TestExecute(t *testing.T) {
	s := eventstoretest.MustOpenStore(t)
	agg := platform("acme")
	var calls atomic.Int32

	first, err := s.Execute(testCtx(t), agg, eventstore.ExecuteOptions{IdempotencyKey: "req-1"}, addHost(t, agg, "h-1", &calls))
	mustDo(t, err)
	if len(first) != 1 || first[0].Event.IdempotencyKey != "req-1" || first[0].Event.AggregateVersion != 1 {
		t.Fatalf("first execute = %+v, want one event at version 1 carrying the key", first)
	}

	t.Run("idempotency key returns the original result", func(t *testing.T) {
		before := calls.Load()
		mustDo(t, func() error {
			_, err := s.Execute(testCtx(t), agg, eventstore.ExecuteOptions{}, addHost(t, agg, "h-2", &calls)) // someone else's command
			return err
		}())
		again, err := s.Execute(testCtx(t), agg, eventstore.ExecuteOptions{IdempotencyKey: "req-1"}, addHost(t, agg, "h-1", &calls))
		mustDo(t, err)
		if !reflect.DeepEqual(again, first) {
			t.Fatalf("retried command returned\n%+v\nwant the original\n%+v", again, first)
		}
		if got := calls.Load() - before; got != 1 {
			t.Fatalf("decide ran %d times, want 1 (only for the other command)", got)
		}
	})

	t.Run("if-match mismatch", func(t *testing.T) {
		before := calls.Load()
		_, err := s.Execute(testCtx(t), agg, eventstore.ExecuteOptions{IfMatch: 1}, addHost(t, agg, "h-3", &calls))
		wantCode(t, err, domain.ECONFLICT, "version-mismatch")
		if calls.Load() != before {
			t.Fatal("decide ran despite the If-Match mismatch")
		}
	})

	t.Run("if-match match", func(t *testing.T) {
		recs, err := s.Execute(testCtx(t), agg, eventstore.ExecuteOptions{IfMatch: 2}, addHost(t, agg, "h-3", &calls))
		mustDo(t, err)
		if got := recs[0].Event.AggregateVersion; got != 3 {
			t.Fatalf("version = %d, want 3", got)
		}
	})

	t.Run("decide errors are returned unchanged", func(t *testing.T) {
		want := domain.Reasonf(domain.EINVALID, "key-not-inserted", "no USB key")
		_, err := s.Execute(testCtx(t), agg, eventstore.ExecuteOptions{}, func([]eventstore.Record) ([]domain.Event, error) { return nil, want })
		if err != want {
			t.Fatalf("error = %v, want decide's error itself", err)
		}
	})

	t.Run("no events, no append", func(t *testing.T) {
		before := mustLastSeq(t, s)
		recs, err := s.Execute(testCtx(t), agg, eventstore.ExecuteOptions{}, func([]eventstore.Record) ([]domain.Event, error) { return nil, nil })
		if err != nil || len(recs) != 0 || mustLastSeq(t, s) != before {
			t.Fatalf("Execute with no events = %v, %v; last seq moved: %v", recs, err, mustLastSeq(t, s) != before)
		}
	})

	t.Run("decide sees the history", func(t *testing.T) {
		var seen []uint64
		_, err := s.Execute(testCtx(t), agg, eventstore.ExecuteOptions{}, func(h []eventstore.Record) ([]domain.Event, error) {
			for _, r := range h {
				seen = append(seen, r.Event.AggregateVersion)
			}
			return nil, nil
		})
		mustDo(t, err)
		if want := []uint64{1, 2, 3}; !reflect.DeepEqual(seen, want) {
			t.Fatalf("history versions = %v, want %v", seen, want)
		}
	})
}

// Another process wins the race while decide runs: Execute retries on
// fresh state and decide runs again with the other process's event in the
// history.
func TestExecuteRetriesOnConflict(t *testing.T) {
	url := eventstoretest.MustRunJetStream(t)
	a := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url))
	b := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url))
	agg := platform("acme")

	var histories []int
	recs, err := a.Execute(testCtx(t), agg, eventstore.ExecuteOptions{IdempotencyKey: "req-a"}, func(h []eventstore.Record) ([]domain.Event, error) {
		histories = append(histories, len(h))
		if len(histories) == 1 { // the other process sneaks in
			mustAppend(t, b, agg, uint64(len(h)), hostAdded(t, agg, "h-b"))
		}
		return []domain.Event{hostAdded(t, agg, "h-a")}, nil
	})
	mustDo(t, err)
	if want := []int{0, 1}; !reflect.DeepEqual(histories, want) {
		t.Fatalf("decide saw histories of length %v, want %v", histories, want)
	}
	if got := recs[0].Event.AggregateVersion; got != 2 {
		t.Fatalf("version = %d, want 2", got)
	}

	// When the race is lost every time, Execute gives up with ECONFLICT.
	var attempts int
	_, err = a.Execute(testCtx(t), agg, eventstore.ExecuteOptions{MaxRetries: 2}, func(h []eventstore.Record) ([]domain.Event, error) {
		attempts++
		mustAppend(t, b, agg, uint64(len(h)), hostAdded(t, agg, "h-b"))
		return []domain.Event{hostAdded(t, agg, "h-a")}, nil
	})
	wantCode(t, err, domain.ECONFLICT, "concurrent-update")
	if attempts != 3 {
		t.Fatalf("decide ran %d times, want 3 (1 + 2 retries)", attempts)
	}
}

// A refusal of decide's is the answer on this state, even when it is
// coded ECONFLICT (a key already inserted): Execute returns it at once
// instead of deciding again and again on the same history.
func TestExecuteDoesNotRetryRefusals(t *testing.T) {
	s := eventstoretest.MustOpenStore(t)
	agg := platform("acme")
	refusal := domain.Reasonf(domain.ECONFLICT, "key-already-inserted", "key K-1 is already inserted")
	var attempts int
	_, err := s.Execute(testCtx(t), agg, eventstore.ExecuteOptions{}, func(h []eventstore.Record) ([]domain.Event, error) {
		attempts++
		return nil, refusal
	})
	wantCode(t, err, domain.ECONFLICT, "key-already-inserted")
	if attempts != 1 {
		t.Fatalf("decide ran %d times, want 1", attempts)
	}
}

// Many writers on one aggregate: every event lands exactly once, versions
// run 1..N with no gap, and the chain verifies. Run with -race.
func TestConcurrentAppendsToOneAggregate(t *testing.T) {
	const writers, perWriter = 16, 25
	s := eventstoretest.MustOpenStore(t)
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

// The same through Execute, from two stores (two processes) sharing one
// stream: writers in one process queue, the processes race. The first
// commands of one writer in each process decide together before either
// appends, so at least one race is certainly lost and retried.
func TestConcurrentExecuteFromTwoProcesses(t *testing.T) {
	// Fewer commands than above: each Execute reads the whole history.
	const writers, perWriter = 8, 10
	url := eventstoretest.MustRunJetStream(t)
	stores := []*eventstore.Store{
		eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url)),
		eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url)),
	}
	agg := platform("hot")
	ctx := testCtx(t)

	var (
		wg        sync.WaitGroup
		together  sync.WaitGroup // writers 0 and 1 (one per process) decide together once
		first     [2]sync.Once
		decisions atomic.Int64
	)
	together.Add(2)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%len(stores)]
			for i := range perWriter {
				key := fmt.Sprintf("w%d-%d", w, i)
				_, err := s.Execute(ctx, agg, eventstore.ExecuteOptions{IdempotencyKey: key, MaxRetries: 100},
					func([]eventstore.Record) ([]domain.Event, error) {
						decisions.Add(1)
						if w < 2 {
							first[w].Do(func() { together.Done(); together.Wait() })
						}
						return []domain.Event{hostAdded(t, agg, key)}, nil
					})
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
	recs := checkContiguous(t, stores[0], agg, writers*perWriter)
	keys := make(map[string]int)
	for _, r := range recs {
		keys[r.Event.IdempotencyKey]++
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("command %s stored %d times", k, n)
		}
	}
	if len(keys) != writers*perWriter {
		t.Errorf("%d distinct commands stored, want %d", len(keys), writers*perWriter)
	}
	if retries := decisions.Load() - writers*perWriter; retries < 1 {
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
	hosts := make(map[string]bool)
	for i, r := range recs {
		if r.Event.AggregateVersion != uint64(i+1) {
			t.Fatalf("event %d has version %d", i+1, r.Event.AggregateVersion)
		}
		var h domain.HostAdded
		if err := json.Unmarshal(r.Event.Data, &h); err != nil {
			t.Fatal(err)
		}
		if hosts[h.Host] {
			t.Fatalf("host %s stored twice", h.Host)
		}
		hosts[h.Host] = true
	}
	rep := mustVerify(t, s)
	if !rep.OK() {
		t.Fatalf("Verify: %+v", rep.Problems)
	}
	return recs
}

// Guard retries an attempt only while it reports a lost race, at most
// maxRetries times, and returns the last attempt's error.
func TestGuardRetriesOnlyRaces(t *testing.T) {
	s := eventstoretest.MustOpenStore(t)
	raceErr := domain.Reasonf(domain.ECONFLICT, "concurrent-update", "lost")
	refusal := domain.Errorf(domain.EINVALID, "refused")
	tests := []struct {
		name       string
		maxRetries int
		raceFirst  int   // attempts that report a race before the last one
		last       error // what the attempt after the races returns
		wantCalls  int32
		wantErr    error
	}{
		{"success at once", 0, 0, nil, 1, nil},
		{"refusal not retried", 0, 0, refusal, 1, refusal},
		{"two races then success", 0, 2, nil, 3, nil},
		{"races past the bound", 2, 10, nil, 3, raceErr},
		{"no retries", -1, 10, nil, 1, raceErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			err := s.Guard(testCtx(t), platform("guard"), tt.maxRetries, func() (bool, error) {
				if int(calls.Add(1)) <= tt.raceFirst {
					return true, raceErr
				}
				return false, tt.last
			})
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("attempts = %d, want %d", got, tt.wantCalls)
			}
			if err != tt.wantErr {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
