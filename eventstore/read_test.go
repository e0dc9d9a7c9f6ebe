package eventstore_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// seedLog appends, at one-minute steps from t0: acme v1, beta v1, acme v2
// (with v3 in one batch), sub-1 v1. Sequences 1..5.
func seedLog(t *testing.T, s *eventstore.Store, clk *eventstoretest.Clock) {
	t.Helper()
	acme, beta := platform("acme"), platform("beta")
	sub := domain.Aggregate{Kind: domain.KindSubscription, ID: "sub-1"}
	created := domain.Event{Type: "subscription.created", Data: []byte(`{"plan":"pro"}`)}
	steps := []func(){
		func() { mustAppend(t, s, acme, 0, hostAdded(t, acme, "h-1")) },
		func() { mustAppend(t, s, beta, 0, hostAdded(t, beta, "h-1")) },
		func() { mustAppend(t, s, acme, 1, hostAdded(t, acme, "h-2"), hostAdded(t, acme, "h-3")) },
		func() { mustAppend(t, s, sub, 0, created) },
	}
	for i, step := range steps {
		clk.Set(t0.Add(time.Duration(i) * time.Minute))
		step()
	}
}

func seqs(recs []eventstore.Record) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

func testRead(t *testing.T, be backend) {
	clk := eventstoretest.NewClock(t0)
	s := be.open(t, eventstoretest.WithClock(clk.Now))
	seedLog(t, s, clk)

	tests := []struct {
		name string
		from uint64
		opts []eventstore.ReadOption
		want []uint64
	}{
		{"everything", 0, nil, []uint64{1, 2, 3, 4, 5}},
		{"from 1", 1, nil, []uint64{1, 2, 3, 4, 5}},
		{"from the middle", 3, nil, []uint64{3, 4, 5}},
		{"past the end", 6, nil, nil},
		{"until seq", 1, []eventstore.ReadOption{eventstore.UntilSeq(3)}, []uint64{1, 2, 3}},
		{"until an instant between events", 1, []eventstore.ReadOption{eventstore.UntilTime(t0.Add(90 * time.Second))}, []uint64{1, 2}},
		{"until the instant of an event (inclusive)", 1, []eventstore.ReadOption{eventstore.UntilTime(t0.Add(2 * time.Minute))}, []uint64{1, 2, 3, 4}},
		{"until before everything", 1, []eventstore.ReadOption{eventstore.UntilTime(t0.Add(-time.Second))}, nil},
		{"only platforms", 1, []eventstore.ReadOption{eventstore.OnlyKinds(domain.KindPlatform)}, []uint64{1, 2, 3, 4}},
		{"only subscriptions", 1, []eventstore.ReadOption{eventstore.OnlyKinds(domain.KindSubscription)}, []uint64{5}},
		{"only coupons (none)", 1, []eventstore.ReadOption{eventstore.OnlyKinds(domain.KindCoupon)}, nil},
		{"one aggregate", 1, []eventstore.ReadOption{eventstore.OnlyAggregates(platform("acme"))}, []uint64{1, 3, 4}},
		{"a kind and an aggregate of another kind", 1, []eventstore.ReadOption{eventstore.OnlyKinds(domain.KindSubscription), eventstore.OnlyAggregates(platform("beta"))}, []uint64{2, 5}},
		{"an aggregate of a kind read whole, repeated", 1, []eventstore.ReadOption{eventstore.OnlyKinds(domain.KindPlatform), eventstore.OnlyAggregates(platform("acme"), platform("acme"))}, []uint64{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, errs := readAll(t, s, tt.from, tt.opts...)
			if len(errs) > 0 {
				t.Fatalf("read errors: %v", errs)
			}
			if got := seqs(recs); !reflect.DeepEqual(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Fatalf("sequences = %v, want %v", got, tt.want)
			}
		})
	}

	// Read yields the same records Load does.
	all, _ := readAll(t, s, 1)
	acme := mustLoad(t, s, platform("acme"))
	if got, want := []eventstore.Record{all[0], all[2], all[3]}, acme; !reflect.DeepEqual(got, want) {
		t.Fatalf("Read records differ from Load's:\n%+v\n%+v", got, want)
	}
}

func testReadEmptyStream(t *testing.T, be backend) {
	s := be.open(t)
	recs, errs := readAll(t, s, 1)
	if len(recs) != 0 || len(errs) != 0 {
		t.Fatalf("Read of an empty stream yielded %d records and %v", len(recs), errs)
	}
}

// Read ends at the last sequence as of the call, even while appends go on.
func testReadStopsAtLastSeqOfTheCall(t *testing.T, be backend) {
	s := be.open(t)
	agg := platform("acme")
	mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1"), hostAdded(t, agg, "h-2"))
	var got []uint64
	for rec, err := range s.Read(testCtx(t), 1) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.Seq)
		if rec.Seq == 1 {
			mustAppend(t, s, agg, 2, hostAdded(t, agg, "h-3"))
		}
	}
	if want := []uint64{1, 2}; !reflect.DeepEqual(got, want) {
		t.Fatalf("sequences = %v, want %v", got, want)
	}
}

// Bad input: a malformed message on a ledger subject is yielded by Read as
// a *DecodeError with its sequence, reading continues, Verify reports it,
// and Load of that aggregate fails closed with a clear error.
func testMalformedMessageNeverCrashesAReader(t *testing.T, be backend) {
	s := be.open(t, eventstoretest.Mutable())
	agg := platform("x")
	mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1"))

	forgedOther := canonicalEvent(t, domain.Event{SpecVersion: "1.0", ID: "f1", Source: "evil", Type: "host.added",
		Subject: "platform/other", Time: t0, AggregateVersion: 1, SchemaVersion: 1, Data: []byte(`{}`)})
	future := canonicalEvent(t, domain.Event{SpecVersion: "1.0", ID: "f2", Source: "evil", Type: "host.added",
		Subject: "platform/x", Time: t0, AggregateVersion: 2, SchemaVersion: 99, Data: []byte(`{}`)})
	raws := []struct {
		subject string
		data    []byte
	}{
		{"ledger.platform.x", []byte("not json at all")},          // seq 2
		{"ledger.platform.x", []byte(`{"specversion":"1.0"}`)},    // seq 3: missing attributes
		{"ledger.platform.x", forgedOther},                        // seq 4: stored under another aggregate's subject
		{"ledger.platform.x", future},                             // seq 5: unsupported schema version
		{"ledger.nonsense", []byte(`{}`)},                         // seq 6: not ledger.<kind>.<id>
		{"ledger.platform.x", []byte{0xff, 0xfe, '{', '"', 0x00}}, // seq 7: binary garbage
	}
	for _, r := range raws {
		if _, err := s.JetStream().Publish(testCtx(t), r.subject, r.data); err != nil {
			t.Fatalf("publish raw: %v", err)
		}
	}
	mustAppend(t, s, platform("y"), 0, hostAdded(t, platform("y"), "h-1")) // seq 8

	var good []uint64
	var bad []uint64
	for rec, err := range s.Read(testCtx(t), 1) {
		var derr *eventstore.DecodeError
		switch {
		case errors.As(err, &derr):
			if derr.Seq != rec.Seq || len(rec.Raw) == 0 {
				t.Errorf("DecodeError seq %d, record seq %d, raw %q: want both set", derr.Seq, rec.Seq, rec.Raw)
			}
			if domain.ErrorCode(err) != domain.EINVALID {
				t.Errorf("DecodeError code = %s, want invalid", domain.ErrorCode(err))
			}
			bad = append(bad, derr.Seq)
		case err != nil:
			t.Fatalf("read: %v", err)
		default:
			good = append(good, rec.Seq)
		}
	}
	if want := []uint64{1, 8}; !reflect.DeepEqual(good, want) {
		t.Errorf("valid events at %v, want %v", good, want)
	}
	if want := []uint64{2, 3, 4, 5, 6, 7}; !reflect.DeepEqual(bad, want) {
		t.Errorf("decode errors at %v, want %v", bad, want)
	}

	rep := mustVerify(t, s)
	var malformed []uint64
	for _, p := range rep.Problems {
		if p.Kind == eventstore.ProblemMalformed {
			malformed = append(malformed, p.Seq)
		}
	}
	if want := []uint64{2, 3, 4, 5, 6, 7}; !reflect.DeepEqual(malformed, want) {
		t.Errorf("Verify malformed at %v, want %v (report %+v)", malformed, want, rep.Problems)
	}

	_, err := s.Load(testCtx(t), agg)
	wantCode(t, err, domain.EINTERNAL, "")
	// Commands on that aggregate are refused, not decided on a guess.
	x := eventstore.NewExecutor(s, eventstore.Platforms, eventstore.ExecutorConfig{})
	_, err = x.Execute(testCtx(t), eventstore.Command[*domain.PlatformState]{ID: agg.ID, Decide: func(*domain.PlatformState, time.Time) ([]domain.Event, error) {
		t.Fatal("decide called on a damaged history")
		return nil, nil
	}})
	wantCode(t, err, domain.EINTERNAL, "")
	// A raw Append first learns the subject moved on (its cached head is
	// stale: a conflict), then that the new last message is unreadable.
	_, err = s.Append(testCtx(t), agg, 1, hostAdded(t, agg, "h-2"))
	wantCode(t, err, domain.ECONFLICT, "")
	_, err = s.Append(testCtx(t), agg, 1, hostAdded(t, agg, "h-2"))
	wantCode(t, err, domain.EINTERNAL, "")
}

func testSubscribe(t *testing.T, be backend) {
	s := be.open(t)
	agg := platform("acme")
	mustAppend(t, s, agg, 0, hostAdded(t, agg, "h-1"), hostAdded(t, agg, "h-2"), hostAdded(t, agg, "h-3"))

	ctx, cancel := context.WithTimeout(testCtx(t), 20*time.Second)
	defer cancel()
	var got []uint64
	for rec, err := range s.Subscribe(ctx, 1) {
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		got = append(got, rec.Seq)
		if rec.Seq == 3 { // backlog done: append live ones
			mustAppend(t, s, agg, 3, hostAdded(t, agg, "h-4"))
			mustAppend(t, s, agg, 4, hostAdded(t, agg, "h-5"))
		}
		if rec.Seq == 5 {
			cancel()
		}
	}
	if want := []uint64{2, 3, 4, 5}; !reflect.DeepEqual(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}

// Subscribe ends quietly when its context ends, even with nothing to
// deliver.
func testSubscribeEndsWithContext(t *testing.T, be backend) {
	s := be.open(t)
	ctx, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancel()
	for rec, err := range s.Subscribe(ctx, 0) {
		t.Fatalf("delivered %+v, %v from an empty stream", rec, err)
	}
	if ctx.Err() == nil {
		t.Fatal("Subscribe returned before its context ended")
	}
}
