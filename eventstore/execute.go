package eventstore

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/licledger/licledger/domain"
)

// DefaultMaxRetries is how many times Execute retries a command that lost
// an optimistic-concurrency race, when ExecuteOptions.MaxRetries is 0.
const DefaultMaxRetries = 5

// ExecuteOptions tunes Execute.
type ExecuteOptions struct {
	// IdempotencyKey, if set, is stamped on every event the command
	// appends; a later Execute with the same key on the same aggregate
	// returns those events instead of deciding again. It makes a retried
	// command safe beyond the stream's duplicate window.
	IdempotencyKey string
	// IfMatch, if > 0, is the aggregate version the caller last saw (an
	// HTTP If-Match): Execute fails with ECONFLICT, reason
	// "version-mismatch", when the aggregate is at another version.
	IfMatch uint64
	// MaxRetries bounds the retries after a conflict; 0 means
	// DefaultMaxRetries, negative means none.
	MaxRetries int
}

// Execute is the command loop every adapter uses. It loads the
// aggregate's history; if an event in it carries opts.IdempotencyKey it
// returns those events (the original result) without deciding again;
// otherwise it calls decide with the history, stamps the key on the events
// decide returns, and appends them with the history's length as the
// expected version. When another writer got there first (ECONFLICT) it
// waits a short jittered backoff and starts over on fresh state, up to
// MaxRetries times, then returns the ECONFLICT.
//
// decide must be a pure function of the history (it may run several
// times) and must not call Execute on the same aggregate (it would wait
// for itself); its errors are returned unchanged. If it returns no events,
// Execute returns no records and no error. Within one process, Execute
// calls on the same aggregate run one at a time, so they queue instead of
// conflicting; other processes are kept apart by optimistic concurrency.
//
// Errors: decide's; ECONFLICT (reason "version-mismatch") for IfMatch;
// ECONFLICT (reason "concurrent-update") after the retries; Append's and
// Load's errors otherwise. Safe for concurrent use.
func (s *Store) Execute(ctx context.Context, agg domain.Aggregate, opts ExecuteOptions, decide func(history []Record) ([]domain.Event, error)) ([]Record, error) {
	var recs []Record
	err := s.Guard(ctx, agg, opts.MaxRetries, func() (raced bool, err error) {
		recs, raced, err = s.executeOnce(ctx, agg, opts, decide)
		return raced, err
	})
	return recs, err
}

// Guard is Execute's concurrency discipline, for writers that decide on a
// state of their own (a cache of folded states) instead of the loaded
// history. It runs attempt holding this process's lock on agg (Lock) and,
// each time attempt reports raced (its own Append failed with ECONFLICT
// "concurrent-update"), runs it again after a jittered backoff, up to
// maxRetries times (0 means DefaultMaxRetries, negative none). It returns
// attempt's last error. Other errors: EINVALID for a bad aggregate; the
// context's error, wrapped, when ctx ends while waiting.
func (s *Store) Guard(ctx context.Context, agg domain.Aggregate, maxRetries int, attempt func() (raced bool, err error)) error {
	if err := validAggregate(agg); err != nil {
		return err
	}
	if maxRetries == 0 {
		maxRetries = DefaultMaxRetries
	}
	unlock, err := s.Lock(ctx, agg)
	if err != nil {
		return err
	}
	defer unlock()
	for n := 0; ; n++ {
		raced, err := attempt()
		if !raced || n >= maxRetries {
			return err
		}
		s.log.Debug("command lost a concurrency race; retrying on fresh state", "aggregate", agg.String(), "attempt", n+1)
		if err := sleep(ctx, backoff(n)); err != nil {
			return translate(err, "execute on "+agg.String())
		}
	}
}

// Lock takes this process's write lock on agg, the one Execute and Guard
// hold, and returns its release. In-process writers of one aggregate
// queue on it instead of burning round trips on conflicts; a reader may
// take it to wait for a local writer's result rather than load the
// history itself. It must not be taken again by the holder (it is not
// reentrant; two aggregates may share one lock). Errors: the context's,
// wrapped, when ctx ends first.
func (s *Store) Lock(ctx context.Context, agg domain.Aggregate) (func(), error) {
	unlock, err := s.locks.lock(ctx, subjectOf(agg))
	if err != nil {
		return nil, translate(err, "lock "+agg.String())
	}
	return unlock, nil
}

// executeOnce is one attempt. raced reports that the append lost to another
// writer (a stale expected version), the only failure worth a retry: a
// refusal of decide's, even one coded ECONFLICT (a key already inserted, a
// duplicate license), is the answer on this state and is returned as is.
func (s *Store) executeOnce(ctx context.Context, agg domain.Aggregate, opts ExecuteOptions, decide func([]Record) ([]domain.Event, error)) (recs []Record, raced bool, err error) {
	history, err := s.Load(ctx, agg)
	if err != nil {
		return nil, false, err
	}
	if key := opts.IdempotencyKey; key != "" {
		var done []Record
		for _, r := range history {
			if r.Event.IdempotencyKey == key {
				done = append(done, r)
			}
		}
		if len(done) > 0 {
			return done, false, nil
		}
	}
	version := uint64(len(history))
	if opts.IfMatch > 0 && opts.IfMatch != version {
		return nil, false, domain.Reasonf(domain.ECONFLICT, "version-mismatch",
			"%s is at version %d, not the version %d you last saw; reload it and try again", agg, version, opts.IfMatch)
	}
	events, err := decide(history)
	if err != nil || len(events) == 0 {
		return nil, false, err
	}
	if opts.IdempotencyKey != "" {
		for i := range events {
			events[i].IdempotencyKey = opts.IdempotencyKey
		}
	}
	recs, err = s.Append(ctx, agg, version, events...)
	return recs, isConflict(err) && domain.ErrorReason(err) == "concurrent-update", err
}

// backoff is a jittered, growing pause: 1-2ms, 2-4ms, 4-8ms... capped at
// 100ms, so racing writers spread out instead of colliding again.
func backoff(attempt int) time.Duration {
	base := time.Millisecond << min(attempt, 7)
	base = min(base, 100*time.Millisecond)
	return base + rand.N(base)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
