package eventstore

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/licledger/licledger/domain"
)

// guard retries an attempt only while it reports a lost race, at most
// maxRetries times, and returns the last attempt's error.
func TestGuardRetriesOnlyRaces(t *testing.T) {
	t.Parallel()
	s := &Store{log: slog.New(slog.DiscardHandler)}
	raceErr := domain.Reasonf(domain.ECONFLICT, domain.ReasonConcurrentUpdate, "lost")
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
			agg := domain.Aggregate{Kind: domain.KindPlatform, ID: "guard"}
			err := s.guard(context.Background(), agg, tt.maxRetries, func() (bool, error) {
				if int(calls.Add(1)) <= tt.raceFirst {
					return true, raceErr
				}
				return false, tt.last
			})
			if got, want := calls.Load(), tt.wantCalls; got != want {
				t.Errorf("attempts = %d, want %d", got, want)
			}
			if got, want := err, tt.wantErr; got != want {
				t.Errorf("error = %v, want %v", got, want)
			}
		})
	}
}
