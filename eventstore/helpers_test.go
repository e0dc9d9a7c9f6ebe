package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// testCtx is a context bounded well below the package's time budget.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func platform(id string) domain.Aggregate {
	return domain.Aggregate{Kind: domain.KindPlatform, ID: id}
}

// hostAdded builds a host.added event for agg, as a decide function would.
func hostAdded(t testing.TB, agg domain.Aggregate, host string) domain.Event {
	t.Helper()
	e, err := domain.NewEvent(agg.String(), domain.EventHostAdded, domain.HostAdded{Host: host, Hypervisor: domain.HypervisorKVM, Sockets: 2})
	if err != nil {
		t.Fatalf("new event: %v", err)
	}
	return e
}

func bufferLogger(buf *eventstoretest.SyncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func mustAppend(t testing.TB, s *eventstore.Store, agg domain.Aggregate, expected uint64, events ...domain.Event) []eventstore.Record {
	t.Helper()
	recs, err := s.Append(testCtx(t), agg, expected, events...)
	if err != nil {
		t.Fatalf("append %d events to %s at version %d: %v", len(events), agg, expected, err)
	}
	return recs
}

func mustLoad(t testing.TB, s *eventstore.Store, agg domain.Aggregate) []eventstore.Record {
	t.Helper()
	recs, err := s.Load(testCtx(t), agg)
	if err != nil {
		t.Fatalf("load %s: %v", agg, err)
	}
	return recs
}

func mustLastSeq(t testing.TB, s *eventstore.Store) uint64 {
	t.Helper()
	seq, err := s.LastSeq(testCtx(t))
	if err != nil {
		t.Fatalf("last seq: %v", err)
	}
	return seq
}

func mustVerify(t testing.TB, s *eventstore.Store) eventstore.VerifyReport {
	t.Helper()
	rep, err := s.Verify(testCtx(t), nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

// readAll collects Read's records and errors.
func readAll(t testing.TB, s *eventstore.Store, from uint64, opts ...eventstore.ReadOption) ([]eventstore.Record, []error) {
	t.Helper()
	var recs []eventstore.Record
	var errs []error
	for rec, err := range s.Read(testCtx(t), from, opts...) {
		var derr *eventstore.DecodeError
		if err != nil && !errors.As(err, &derr) {
			t.Fatalf("read: %v", err)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		recs = append(recs, rec)
	}
	return recs, errs
}

func wantCode(t testing.TB, err error, code, reason string) {
	t.Helper()
	if got := domain.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
	if reason != "" {
		if got := domain.ErrorReason(err); got != reason {
			t.Fatalf("error reason = %q (%v), want %q", got, err, reason)
		}
	}
}

// canonicalEvent encodes an event as the store would, for tests that
// forge messages behind the store's back.
func canonicalEvent(t testing.TB, e domain.Event) []byte {
	t.Helper()
	raw, err := e.Canonical()
	if err != nil {
		t.Fatalf("canonical: %v", err)
	}
	return raw
}

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
