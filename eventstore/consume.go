package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultAckWait is ConsumerOptions.AckWait's default.
const DefaultAckWait = 30 * time.Second

// consumerPull bounds one pull request of Consumer.Next. A record is handed
// out as soon as it is available whatever this is; it only limits how long
// a request lost by the server (a restart, a leader change) goes unnoticed.
// Below 10s the client asks for no heartbeats.
const consumerPull = 5 * time.Second

// ConsumerOptions configures Store.Consumer.
type ConsumerOptions struct {
	// Durable names the consumer, one per downstream system (e.g. a billing
	// system): its position lives in JetStream, so it survives restarts of
	// this process and of the server. Required; letters, digits, '-' and
	// '_'. Opening the same name again resumes where it stopped.
	Durable string
	// Kinds limits the consumer to the aggregates of these kinds (e.g.
	// domain.KindSubscription); the server filters. Empty: every event.
	Kinds []string
	// AckWait is how long after handing a record out JetStream waits for
	// its Ack before handing it out again: after a crash, the record that
	// was in flight comes back this long after it was delivered. Default
	// DefaultAckWait. It must exceed the time the caller takes between Next
	// and Ack, or a slow record is delivered twice.
	AckWait time.Duration
	// Description is shown by NATS tools (`nats consumer info`).
	Description string
}

// Consumer is a durable, at-least-once, ordered subscription to the log,
// created by Store.Consumer. Next hands out one record at a time, in stream
// order, and hands out the next only once that one is acknowledged:
//
//   - At least once: a record is done only when Delivery.Ack returns nil.
//     A record not acknowledged — the caller crashed, failed, or called
//     Nak — is handed out again (to this or the next Consumer of the same
//     name), after AckWait or, after a Nak, at once. Records are never
//     given up on.
//   - In order: with one record in flight, a record handed out again can
//     never be overtaken by a later one, so the caller sees the log in
//     stream order (hence per aggregate in version order). A duplicate can
//     only directly follow its original, and carries the same Event.ID and
//     Raw bytes: callers de-duplicate by Event.ID.
//
// One record in flight costs a round trip per record (hundreds a second),
// the price of that order. A Consumer is for one goroutine at a time.
type Consumer struct {
	name string
	cons jetstream.Consumer
}

// Delivery is one record handed out by Consumer.Next. Record.Raw is the
// event exactly as stored.
type Delivery struct {
	Record
	// Deliveries counts how often the record has been handed out: 1 the
	// first time; more means an earlier delivery may already have been
	// processed (de-duplicate by Event.ID).
	Deliveries uint64

	msg jetstream.Msg
}

// Consumer creates the durable consumer opts.Durable on the ledger stream,
// or updates its AckWait, Kinds and Description when it exists (its
// position is kept), and returns a handle on it. A new consumer starts at
// the beginning of the log. It works on a ReadOnly store too: it records a
// position, never an event. Errors: EINVALID for bad options, ENOTFOUND when
// the stream does not exist, EINTERNAL for infrastructure failures.
//
// A JetStream client outside this package can share the consumer (same
// name, same settings): explicit acks, AckWait, MaxAckPending 1, no
// MaxDeliver, deliver all, filtered on ledger.<kind>.> per kind.
func (s *Store) Consumer(ctx context.Context, opts ConsumerOptions) (*Consumer, error) {
	if opts.Durable == "" {
		return nil, domain.Errorf(domain.EINVALID, "consumer: a durable name is required")
	}
	if err := domain.ValidateID(opts.Durable); err != nil {
		return nil, domain.Errorf(domain.EINVALID, "consumer name: %s", domain.ErrorMessage(err))
	}
	for _, k := range opts.Kinds {
		// ParseAggregate holds the one list of aggregate kinds.
		if _, err := domain.ParseAggregate(k + "/x"); err != nil {
			return nil, domain.Errorf(domain.EINVALID, "consumer %s: unknown aggregate kind %q", opts.Durable, k)
		}
	}
	if opts.AckWait < 0 {
		return nil, domain.Errorf(domain.EINVALID, "consumer %s: negative ack wait %v", opts.Durable, opts.AckWait)
	}
	if opts.AckWait == 0 {
		opts.AckWait = DefaultAckWait
	}
	cons, err := s.js.CreateOrUpdateConsumer(ctx, s.cfg.Stream, jetstream.ConsumerConfig{
		Durable:        opts.Durable,
		Description:    opts.Description,
		FilterSubjects: subjectFilters(opts.Kinds),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        opts.AckWait,
		MaxDeliver:     -1, // never give up on a record
		MaxAckPending:  1,  // one in flight: order survives redelivery
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, domain.Errorf(domain.ENOTFOUND, "consumer %s: no stream %s (has the ledger created it?)", opts.Durable, s.cfg.Stream)
	}
	if err != nil {
		return nil, translate(err, "create consumer "+opts.Durable)
	}
	return &Consumer{name: opts.Durable, cons: cons}, nil
}

// Name returns the consumer's durable name.
func (c *Consumer) Name() string { return c.name }

// Next waits for the next record and hands it out; the caller processes
// it and then calls Ack (or Nak). Until then Next hands out nothing else:
// a second Next waits until this record comes back after AckWait, and
// returns it again.
//
// When ctx ends first, Next returns its error wrapped (test it with
// errors.Is(err, context.DeadlineExceeded) for "nothing arrived in time").
// A stored message that is not a valid event is returned as a *DecodeError
// together with a Delivery whose Seq and Raw are set: Ack skips it, Nak
// or no Ack leaves it (and so the consumer) where it is until it is dealt
// with (`licledger audit verify` reports it). Other errors are EINTERNAL.
// A record the server sent just as ctx ended is not lost: it comes again
// after AckWait.
func (c *Consumer) Next(ctx context.Context) (Delivery, error) {
	op := "next record of consumer " + c.name
	for {
		if err := ctx.Err(); err != nil {
			return Delivery{}, fmt.Errorf("%s: %w", op, err)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < time.Millisecond {
			// Too close to the deadline for a pull request (FetchContext
			// refuses an expired one).
			return Delivery{}, fmt.Errorf("%s: %w", op, context.DeadlineExceeded)
		}
		pullCtx, cancel := context.WithTimeout(ctx, consumerPull)
		d, ok, err := c.pull(pullCtx)
		cancel()
		switch {
		case ok:
			return d, err // nil or a *DecodeError
		case err != nil && ctx.Err() != nil:
			return Delivery{}, fmt.Errorf("%s: %w", op, ctx.Err())
		case err != nil:
			return Delivery{}, translate(err, op)
		}
	}
}

// pull sends one pull request for one record and waits for it until ctx
// ends; ok is false when none came.
func (c *Consumer) pull(ctx context.Context) (d Delivery, ok bool, err error) {
	batch, err := c.cons.Fetch(1, jetstream.FetchContext(ctx))
	if err != nil {
		return Delivery{}, false, err
	}
	msg, ok := <-batch.Messages()
	if !ok {
		// The request expired (the server answers 408 at 90% of ctx's
		// time, or ctx ended first): nothing to hand out.
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			return Delivery{}, false, err
		}
		return Delivery{}, false, nil
	}
	md, err := msg.Metadata()
	if err != nil {
		// Unacknowledged: it comes back after AckWait.
		return Delivery{}, false, err
	}
	rec, derr := decodeRecord(md.Sequence.Stream, msg.Subject(), msg.Data())
	d = Delivery{Record: rec, Deliveries: md.NumDelivered, msg: msg}
	if derr != nil {
		return d, true, derr
	}
	return d, true, nil
}

// Ack marks the record done and returns once JetStream has confirmed it:
// it is never handed out again to this consumer, and Next moves on. Call
// it only once the record is durable on the caller's side. An Ack that
// fails (an error; ctx ended first) leaves the record to be handed out
// again after AckWait: a duplicate, never a gap. So that a graceful stop
// does not cause a needless duplicate, ack with a context the stop does
// not cancel (context.WithoutCancel plus a timeout).
func (d Delivery) Ack(ctx context.Context) error {
	if d.msg == nil {
		return domain.Errorf(domain.EINVALID, "ack: not a delivered record")
	}
	if err := d.msg.DoubleAck(ctx); err != nil {
		return translate(err, fmt.Sprintf("ack stream sequence %d", d.Seq))
	}
	return nil
}

// Nak gives the record back: the consumer hands it out again at once (to
// the next Next, here or in the next process using the consumer), before
// anything after it. It is best effort — if the Nak is lost, the record
// comes back after AckWait instead.
func (d Delivery) Nak() error {
	if d.msg == nil {
		return domain.Errorf(domain.EINVALID, "nak: not a delivered record")
	}
	if err := d.msg.Nak(); err != nil {
		return translate(err, fmt.Sprintf("nak stream sequence %d", d.Seq))
	}
	return nil
}
