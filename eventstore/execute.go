package eventstore

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/licledger/licledger/domain"
)

// DefaultMaxRetries is how many times a command that lost an
// optimistic-concurrency race is retried, when ExecutorConfig.MaxRetries
// is 0.
const DefaultMaxRetries = 5

// guard is the Executor's concurrency discipline. It runs attempt holding
// this process's lock on agg (lock) and, each time attempt reports raced (its own Append failed with ECONFLICT
// "concurrent-update"), runs it again after a jittered backoff, up to
// maxRetries times (0 means DefaultMaxRetries, negative none). It returns
// attempt's last error. Other errors: EINVALID for a bad aggregate; the
// context's error, wrapped, when ctx ends while waiting.
func (s *Store) guard(ctx context.Context, agg domain.Aggregate, maxRetries int, attempt func() (raced bool, err error)) error {
	if err := validAggregate(agg); err != nil {
		return err
	}
	if maxRetries == 0 {
		maxRetries = DefaultMaxRetries
	}
	unlock, err := s.lock(ctx, agg)
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

// lock takes this process's write lock on agg, the one Executors hold,
// and returns its release. In-process writers of one aggregate queue on it instead of burning round trips on conflicts; a reader may
// take it to wait for a local writer's result rather than load the
// history itself. It must not be taken again by the holder (it is not
// reentrant; two aggregates may share one lock). Errors: the context's,
// wrapped, when ctx ends first.
func (s *Store) lock(ctx context.Context, agg domain.Aggregate) (func(), error) {
	unlock, err := s.locks.lock(ctx, subjectOf(agg))
	if err != nil {
		return nil, translate(err, "lock "+agg.String())
	}
	return unlock, nil
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
