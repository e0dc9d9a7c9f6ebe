package eventstore_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
	"github.com/nats-io/nats.go/jetstream"
)

// quietWait is how long a test lets Next wait to show that nothing (more)
// is handed out: JetStream answers a pull in well under a millisecond when
// a record is available.
const quietWait = 100 * time.Millisecond

func mustConsumer(t testing.TB, s *eventstore.Store, opts eventstore.ConsumerOptions) *eventstore.Consumer {
	t.Helper()
	c, err := s.Consumer(testCtx(t), opts)
	if err != nil {
		t.Fatalf("consumer %s: %v", opts.Durable, err)
	}
	return c
}

func mustNext(t testing.TB, c *eventstore.Consumer) eventstore.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Second)
	defer cancel()
	d, err := c.Next(ctx)
	if err != nil {
		t.Fatalf("next of %s: %v", c.Name(), err)
	}
	return d
}

func mustAck(t testing.TB, d eventstore.Delivery) {
	t.Helper()
	if err := d.Ack(testCtx(t)); err != nil {
		t.Fatalf("ack seq %d: %v", d.Seq, err)
	}
}

// wantNothingNext checks that Next hands out nothing within quietWait.
func wantNothingNext(t testing.TB, c *eventstore.Consumer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), quietWait)
	defer cancel()
	d, err := c.Next(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("next of %s = seq %d, %v; want nothing (context.DeadlineExceeded)", c.Name(), d.Seq, err)
	}
}

// sameRecord checks a delivered record against the one Read returns.
func sameRecord(t testing.TB, got, want eventstore.Record) {
	t.Helper()
	if got.Seq != want.Seq || got.Event.ID != want.Event.ID || !bytes.Equal(got.Raw, want.Raw) {
		t.Fatalf("delivered seq %d id %s, want seq %d id %s (raw %s, want %s)", got.Seq, got.Event.ID, want.Seq, want.Event.ID, got.Raw, want.Raw)
	}
	if !reflect.DeepEqual(got.Event, want.Event) {
		t.Fatalf("seq %d decoded as\n%+v\nwant\n%+v", got.Seq, got.Event, want.Event)
	}
}

// A consumer hands out every record of its kinds, decoded as Read decodes
// them, in stream order, once each when acknowledged; then nothing.
func TestConsumerDeliversInStreamOrder(t *testing.T) {
	t.Parallel()
	clk := eventstoretest.NewClock(t0)
	s := eventstoretest.MustOpenStore(t, eventstoretest.WithClock(clk.Now))
	seedLog(t, s, clk)
	all, _ := readAll(t, s, 1)

	tests := []struct {
		name  string
		kinds []string
		want  []uint64
	}{
		{"every kind", nil, []uint64{1, 2, 3, 4, 5}},
		{"subscriptions", []string{domain.KindSubscription}, []uint64{5}},
		{"platforms", []string{domain.KindPlatform}, []uint64{1, 2, 3, 4}},
		{"two kinds", []string{domain.KindPlatform, domain.KindSubscription}, []uint64{1, 2, 3, 4, 5}},
		{"a kind with no events", []string{domain.KindCoupon}, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustConsumer(t, s, eventstore.ConsumerOptions{Durable: "order-" + string(rune('a'+i)), Kinds: tt.kinds})
			var got []uint64
			for range tt.want {
				d := mustNext(t, c)
				sameRecord(t, d.Record, all[d.Seq-1])
				if d.Deliveries != 1 {
					t.Errorf("seq %d: deliveries %d, want 1", d.Seq, d.Deliveries)
				}
				got = append(got, d.Seq)
				mustAck(t, d)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("delivered seqs %v, want %v", got, tt.want)
			}
			wantNothingNext(t, c)
		})
	}
}

// The position is durable: a consumer reopened under the same name, on a
// reopened (even read-only) store, resumes after the last record acked,
// and then hands out records appended later.
func TestConsumerResumesAfterReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clk := eventstoretest.NewClock(t0)
	s := eventstoretest.MustOpenStore(t, eventstoretest.WithDataDir(dir), eventstoretest.WithClock(clk.Now))
	seedLog(t, s, clk)
	c := mustConsumer(t, s, eventstore.ConsumerOptions{Durable: "resume"})
	for _, want := range []uint64{1, 2} {
		d := mustNext(t, c)
		if d.Seq != want {
			t.Fatalf("seq %d, want %d", d.Seq, want)
		}
		mustAck(t, d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	ro := eventstoretest.MustOpenStore(t, eventstoretest.WithDataDir(dir), eventstoretest.WithConfig(func(c *eventstore.Config) { c.ReadOnly = true }))
	c = mustConsumer(t, ro, eventstore.ConsumerOptions{Durable: "resume"})
	for _, want := range []uint64{3, 4, 5} {
		d := mustNext(t, c)
		if d.Seq != want || d.Deliveries != 1 {
			t.Fatalf("seq %d (deliveries %d), want %d (1)", d.Seq, d.Deliveries, want)
		}
		mustAck(t, d)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}

	rw := eventstoretest.MustOpenStore(t, eventstoretest.WithDataDir(dir))
	c = mustConsumer(t, rw, eventstore.ConsumerOptions{Durable: "resume"})
	got := make(chan eventstore.Delivery, 1)
	go func() {
		ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Second)
		defer cancel()
		d, err := c.Next(ctx) // waiting before the append: a live record
		if err != nil {
			t.Error(err)
		}
		got <- d
	}()
	recs := mustAppend(t, rw, platform("late"), 0, hostAdded(t, platform("late"), "h-1"))
	d := <-got
	if d.Seq != recs[0].Seq || d.Event.ID != recs[0].Event.ID {
		t.Fatalf("live record seq %d id %s, want seq %d id %s", d.Seq, d.Event.ID, recs[0].Seq, recs[0].Event.ID)
	}
}

// A record not acknowledged comes back — at once after a Nak, after
// AckWait otherwise, to the same handle or another one on the same
// consumer (a restarted process) — with the same id and bytes, before
// anything after it.
func TestConsumerRedeliversUnackedFirst(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ackWait time.Duration
		// giveBack leaves the first delivery unacknowledged and returns the
		// handle that should get it again.
		giveBack func(t *testing.T, s *eventstore.Store, c *eventstore.Consumer, d eventstore.Delivery) *eventstore.Consumer
	}{
		{"nak: at once", time.Hour, func(t *testing.T, _ *eventstore.Store, c *eventstore.Consumer, d eventstore.Delivery) *eventstore.Consumer {
			if err := d.Nak(); err != nil {
				t.Fatal(err)
			}
			return c
		}},
		{"no ack: after ack wait", quietWait, func(_ *testing.T, _ *eventstore.Store, c *eventstore.Consumer, _ eventstore.Delivery) *eventstore.Consumer {
			return c
		}},
		{"crash: another handle after ack wait", quietWait, func(t *testing.T, s *eventstore.Store, c *eventstore.Consumer, _ eventstore.Delivery) *eventstore.Consumer {
			return mustConsumer(t, s, eventstore.ConsumerOptions{Durable: c.Name(), AckWait: quietWait})
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := eventstoretest.NewClock(t0)
			s := eventstoretest.MustOpenStore(t, eventstoretest.WithClock(clk.Now))
			seedLog(t, s, clk)
			c := mustConsumer(t, s, eventstore.ConsumerOptions{Durable: "redeliver-" + string(rune('a'+i)), AckWait: tt.ackWait})
			first := mustNext(t, c)
			c = tt.giveBack(t, s, c, first)
			// With ack wait an hour, this only passes if a Nak needs no wait.
			again := mustNext(t, c)
			sameRecord(t, again.Record, first.Record)
			if again.Deliveries != 2 {
				t.Errorf("deliveries %d, want 2", again.Deliveries)
			}
			mustAck(t, again)
			if d := mustNext(t, c); d.Seq != first.Seq+1 {
				t.Fatalf("after the redelivery: seq %d, want %d", d.Seq, first.Seq+1)
			}
		})
	}
}

// A stored message that is not an event is handed out as a *DecodeError
// with its Seq and Raw; acknowledging it moves on.
func TestConsumerDecodeError(t *testing.T) {
	t.Parallel()
	s := eventstoretest.MustOpenStore(t)
	garbage := []byte("not json at all")
	if _, err := s.JetStream().Publish(testCtx(t), "ledger.subscription.x", garbage); err != nil {
		t.Fatal(err)
	}
	sub := domain.Aggregate{Kind: domain.KindSubscription, ID: "y"}
	good := mustAppend(t, s, sub, 0, domain.Event{Type: "subscription.created", Data: []byte(`{}`)})

	c := mustConsumer(t, s, eventstore.ConsumerOptions{Durable: "decode", Kinds: []string{domain.KindSubscription}})
	d, err := c.Next(testCtx(t))
	var derr *eventstore.DecodeError
	if !errors.As(err, &derr) {
		t.Fatalf("next = %v, want a *DecodeError", err)
	}
	if derr.Seq != 1 || d.Seq != 1 || !bytes.Equal(d.Raw, garbage) {
		t.Fatalf("decode error seq %d, delivery seq %d raw %q; want 1, 1, %q", derr.Seq, d.Seq, d.Raw, garbage)
	}
	mustAck(t, d)
	sameRecord(t, mustNext(t, c).Record, good[0])
}

func TestConsumerOptionsInvalid(t *testing.T) {
	t.Parallel()
	s := eventstoretest.MustOpenStore(t)
	tests := []struct {
		name string
		opts eventstore.ConsumerOptions
	}{
		{"no name", eventstore.ConsumerOptions{}},
		{"dot in name", eventstore.ConsumerOptions{Durable: "billing.a"}},
		{"wildcard in name", eventstore.ConsumerOptions{Durable: "b*"}},
		{"unknown kind", eventstore.ConsumerOptions{Durable: "b", Kinds: []string{"subscriptions"}}},
		{"wildcard kind", eventstore.ConsumerOptions{Durable: "b", Kinds: []string{">"}}},
		{"negative ack wait", eventstore.ConsumerOptions{Durable: "b", AckWait: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.Consumer(testCtx(t), tt.opts)
			wantCode(t, err, domain.EINVALID, "")
		})
	}
}

func TestConsumerNoStream(t *testing.T) {
	t.Parallel()
	s := eventstoretest.MustOpenStore(t)
	if err := s.JetStream().DeleteStream(testCtx(t), s.StreamName()); err != nil {
		t.Fatal(err)
	}
	_, err := s.Consumer(testCtx(t), eventstore.ConsumerOptions{Durable: "b"})
	wantCode(t, err, domain.ENOTFOUND, "")
}

// Next ends with ctx, returning its error.
func TestConsumerNextContext(t *testing.T) {
	t.Parallel()
	s := eventstoretest.MustOpenStore(t)
	c := mustConsumer(t, s, eventstore.ConsumerOptions{Durable: "ctx"})
	canceled, cancel := context.WithCancel(testCtx(t))
	cancel()
	expired, cancel2 := context.WithDeadline(testCtx(t), time.Now().Add(-time.Second))
	defer cancel2()
	tests := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"canceled", canceled, context.Canceled},
		{"deadline passed", expired, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Next(tt.ctx); !errors.Is(err, tt.want) {
				t.Fatalf("next = %v, want %v", err, tt.want)
			}
		})
	}
	wantNothingNext(t, c) // a live deadline on an empty log
}

// The consumer is the one the package documents, so that other JetStream
// clients can share it; reopening updates AckWait and keeps the position.
func TestConsumerSettings(t *testing.T) {
	t.Parallel()
	clk := eventstoretest.NewClock(t0)
	s := eventstoretest.MustOpenStore(t, eventstoretest.WithClock(clk.Now))
	seedLog(t, s, clk)
	c := mustConsumer(t, s, eventstore.ConsumerOptions{Durable: "erp", Kinds: []string{domain.KindSubscription, domain.KindCoupon}, Description: "billing"})
	mustAck(t, mustNext(t, c))
	mustConsumer(t, s, eventstore.ConsumerOptions{Durable: "erp", Kinds: []string{domain.KindSubscription, domain.KindCoupon}, AckWait: time.Minute})

	cons, err := s.JetStream().Consumer(testCtx(t), s.StreamName(), "erp")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	got := info.Config
	want := jetstream.ConsumerConfig{
		Durable:        "erp",
		FilterSubjects: []string{"ledger.subscription.>", "ledger.coupon.>"},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        time.Minute,
		MaxDeliver:     -1,
		MaxAckPending:  1,
	}
	if got.Durable != want.Durable || !reflect.DeepEqual(got.FilterSubjects, want.FilterSubjects) || got.DeliverPolicy != want.DeliverPolicy ||
		got.AckPolicy != want.AckPolicy || got.AckWait != want.AckWait || got.MaxDeliver != want.MaxDeliver || got.MaxAckPending != want.MaxAckPending {
		t.Fatalf("consumer config\n%+v\nwant\n%+v", got, want)
	}
	if info.AckFloor.Stream != 5 || info.NumPending != 0 {
		t.Fatalf("ack floor %d, pending %d; want 5 and 0 (position kept)", info.AckFloor.Stream, info.NumPending)
	}
}
