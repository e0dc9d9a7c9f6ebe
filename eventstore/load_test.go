package eventstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Issue 13: Load cannot hang. When the server stops answering (a frozen
// proxy: no byte either way, no connection closed), Load gives up at its
// own deadline, Config.LoadTimeout, or at the caller's when that comes
// first; and once the server answers again the same store loads.
func TestLoadReturnsByItsDeadline(t *testing.T) {
	t.Parallel()
	const short = 300 * time.Millisecond
	tests := []struct {
		name        string
		loadTimeout time.Duration
		callerWait  time.Duration
		wantCtxErr  bool // the caller's deadline, not the store's
	}{
		{"the store's deadline", short, time.Minute, false},
		{"the caller's deadline first", time.Minute, short, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			proxy := eventstoretest.MustRunProxy(t, eventstoretest.MustRunJetStream(t))
			s := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(proxy.URL()),
				eventstoretest.WithConfig(func(c *eventstore.Config) { c.LoadTimeout = tt.loadTimeout }))
			agg := platform("acme")
			mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1"))

			proxy.Freeze()
			ctx, cancel := context.WithTimeout(testCtx(t), tt.callerWait)
			start := time.Now()
			recs, err := s.Load(ctx, agg)
			took := time.Since(start)
			cancel()
			proxy.Thaw()

			if err == nil {
				t.Fatalf("Load with no answer from the server returned %d records and no error", len(recs))
			}
			wantCode(t, err, domain.EUNAVAILABLE, domain.ReasonLedgerUnavailable)
			if got := errors.Is(err, context.DeadlineExceeded); got != tt.wantCtxErr {
				t.Errorf("error %v: is the caller's context error = %v, want %v", err, got, tt.wantCtxErr)
			}
			// Generous: the point is "returns", not the exact instant.
			if limit := short + 5*time.Second; took > limit {
				t.Errorf("Load took %v with a %v deadline", took, short)
			}
			if got := len(mustLoad(t, s, agg)); got != 1 {
				t.Fatalf("after the server answers again Load = %d events, want 1", got)
			}
		})
	}
}

// Load asks replicas by subject (direct get), which a stream allows only
// with AllowDirect. A stream made without it (by hand, by another tool)
// keeps working: a ReadOnly store, which changes nothing, reads it from
// the stream leader, and a writing store's Open turns AllowDirect on.
func TestStreamWithoutDirectGet(t *testing.T) {
	t.Parallel()
	url := eventstoretest.MustRunJetStream(t)
	nc, err := nats.Connect(url)
	mustDo(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	mustDo(t, err)
	ctx := testCtx(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: eventstore.DefaultStream, Subjects: []string{eventstore.SubjectPrefix + ".>"}, Storage: jetstream.FileStorage,
	}); err != nil {
		t.Fatal(err)
	}
	agg := platform("acme")
	first := hostAdded(t, agg, "h-1")
	first.SpecVersion, first.ID, first.Source, first.Time, first.AggregateVersion, first.SchemaVersion =
		domain.SpecVersion, "01J00000000000000000000001", "elsewhere", t0, 1, domain.SchemaVersion
	if _, err := js.Publish(ctx, "ledger.platform.acme", canonicalEvent(t, first)); err != nil {
		t.Fatal(err)
	}
	allowDirect := func() bool {
		t.Helper()
		info, err := js.Stream(ctx, eventstore.DefaultStream)
		mustDo(t, err)
		return info.CachedInfo().Config.AllowDirect
	}

	ro := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url), eventstoretest.WithConfig(func(c *eventstore.Config) { c.ReadOnly = true }))
	if got := mustLoad(t, ro, agg); len(got) != 1 || got[0].Event.ID != first.ID {
		t.Fatalf("read-only Load of a stream without direct get = %+v, want the one event", got)
	}
	if allowDirect() {
		t.Fatal("a read-only store turned AllowDirect on")
	}

	s := eventstoretest.MustOpenStore(t, eventstoretest.WithURL(url))
	if !allowDirect() {
		t.Fatal("Open left AllowDirect off")
	}
	mustAppend(t, s, agg, 1, hostAdded(t, agg, "h-2"))
	for _, st := range []*eventstore.Store{s, ro} {
		if got := len(mustLoad(t, st, agg)); got != 2 {
			t.Fatalf("Load after the update = %d events, want 2", got)
		}
	}
}
