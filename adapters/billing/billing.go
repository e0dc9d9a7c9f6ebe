// Package billing is the billing feed (R30): a durable JetStream pull
// consumer that hands every billable event — every event of a
// subscription, perpetual license or coupon aggregate — to a Sink, at
// least once and in order, and acknowledges an event only once the sink
// has made it durable.
//
// Guarantees and how they are kept:
//
//   - At least once: the consumer is durable (its position lives in
//     JetStream, not in this process) with explicit acks; an event is acked
//     only after Sink.WriteEvent returned, i.e. after it was fsynced to a
//     file or flushed to a pipe. A crash between the write and the ack
//     makes JetStream redeliver it after AckWait: a duplicate, never a gap.
//   - In order per subscription (and in fact in stream order overall): the
//     consumer has MaxAckPending 1, so JetStream hands out the next event
//     only once the previous one is acknowledged, and a redelivery can
//     never be overtaken by a later event. The price is one round trip and
//     one fsync per event — hundreds of events a second, plenty for billing
//     (check-ins are bounded to 4 per instance per day, see
//     domain.InstanceCheckInRecordDivisor). Batching with a larger
//     MaxAckPending would let a later event overtake an unacknowledged
//     redelivery after a crash, breaking the order R30 promises.
//   - Duplicates are recognisable: each line is the event as stored, with
//     its stable CloudEvents id (a ULID); consumers de-duplicate by id. With
//     MaxAckPending 1 a duplicate can only directly follow its original
//     (the one event in flight at a crash).
package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Config.
const (
	DefaultAckWait = 30 * time.Second
	DefaultPoll    = 5 * time.Second
)

// Subjects are the JetStream subjects of billable events: every aggregate
// kind that bills (R30).
func Subjects() []string {
	return []string{
		eventstore.SubjectPrefix + "." + domain.KindSubscription + ".>",
		eventstore.SubjectPrefix + "." + domain.KindPerpetual + ".>",
		eventstore.SubjectPrefix + "." + domain.KindCoupon + ".>",
	}
}

// Sink receives the feed. WriteEvent gets one event's stored bytes (one
// line of compact JSON, without the newline) and must return only once the
// event is durable: written and fsynced to a file, or flushed to a pipe.
// An error stops the feed with the event unacknowledged, so it is
// delivered again next time. Tail calls WriteEvent from one goroutine.
type Sink interface {
	WriteEvent(raw []byte) error
}

// Config configures Tail.
type Config struct {
	// Stream is the ledger's stream; default eventstore.DefaultStream.
	Stream string
	// Consumer is the durable consumer's name, one per billing system: its
	// position survives restarts. Letters, digits, '-' and '_'.
	Consumer string
	// AckWait is how long JetStream waits for an ack before redelivering;
	// after a crash the event in flight comes back this long after it was
	// delivered. Default DefaultAckWait.
	AckWait time.Duration
	// Poll is how long one pull request waits for an event; default
	// DefaultPoll. It only bounds how quickly an idle feed notices ctx.
	Poll time.Duration
	// ExitIdle, if positive, makes Tail return once no event has arrived
	// for this long (a catch-up run, e.g. from cron). It must exceed
	// AckWait, or the redelivery of an event in flight at a crash could be
	// missed by a run that exits too early.
	ExitIdle time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.Stream == "" {
		c.Stream = eventstore.DefaultStream
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Consumer == "" {
		return domain.Errorf(domain.EINVALID, "billing feed: a consumer name is required (one durable consumer per billing system)")
	}
	if err := domain.ValidateID(c.Consumer); err != nil {
		return domain.Errorf(domain.EINVALID, "billing feed: consumer name: %s", domain.ErrorMessage(err))
	}
	if c.ExitIdle > 0 && c.ExitIdle <= c.AckWait {
		return domain.Errorf(domain.EINVALID, "billing feed: exit-idle (%v) must be longer than ack-wait (%v), or a redelivered event could be missed", c.ExitIdle, c.AckWait)
	}
	return nil
}

// ConsumerConfig is the JetStream consumer the feed runs on. External
// billing systems that read the stream directly should use the same
// settings (see README.md, "Billing feed").
func ConsumerConfig(name string, ackWait time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        name,
		Description:    "licledger billing feed (R30)",
		FilterSubjects: Subjects(),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        ackWait,
		MaxDeliver:     -1, // never give up on an event: billing must see it
		MaxAckPending:  1,  // one in flight: order survives redelivery
	}
}

// Tail runs the feed: it creates (or updates) the durable consumer and
// delivers events to sink until ctx is done or, with ExitIdle, the feed has
// been idle that long; both return the number delivered and nil. Errors:
// EINVALID for a bad Config, ENOTFOUND when the stream does not exist,
// EINTERNAL when an event cannot be decoded (it is left unacknowledged:
// run `licledger audit verify`), the sink fails, or JetStream does.
func Tail(ctx context.Context, js jetstream.JetStream, sink Sink, cfg Config) (int, error) {
	if err := cfg.validate(); err != nil {
		return 0, err
	}
	log := cfg.Logger.With("component", "billing", "consumer", cfg.Consumer)
	cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, ConsumerConfig(cfg.Consumer, cfg.AckWait))
	if err != nil {
		return 0, translate(err, "create billing consumer "+cfg.Consumer)
	}
	log.Info("billing feed started", "stream", cfg.Stream, "subjects", Subjects())
	delivered := 0
	lastEvent := time.Now()
	for {
		if ctx.Err() != nil {
			return delivered, nil
		}
		if cfg.ExitIdle > 0 && time.Since(lastEvent) >= cfg.ExitIdle {
			log.Info("billing feed idle; exiting", "delivered", delivered, "idle", cfg.ExitIdle)
			return delivered, nil
		}
		wait := cfg.Poll
		if cfg.ExitIdle > 0 {
			wait = max(min(wait, cfg.ExitIdle-time.Since(lastEvent)), 10*time.Millisecond)
		}
		fetchCtx, cancel := context.WithTimeout(ctx, wait)
		batch, err := cons.Fetch(1, jetstream.FetchContext(fetchCtx))
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return delivered, nil
			}
			return delivered, translate(err, "fetch billing events")
		}
		for msg := range batch.Messages() {
			if err := deliver(ctx, msg, sink, log); err != nil {
				cancel()
				return delivered, err
			}
			delivered++
			lastEvent = time.Now()
		}
		err = batch.Error()
		cancel()
		switch {
		case err == nil, errors.Is(err, context.DeadlineExceeded):
		case ctx.Err() != nil:
			return delivered, nil
		default:
			return delivered, translate(err, "fetch billing events")
		}
	}
}

// deliver writes one event to the sink and only then acknowledges it.
func deliver(ctx context.Context, msg jetstream.Msg, sink Sink, log *slog.Logger) error {
	var seq, deliveries uint64
	if meta, err := msg.Metadata(); err == nil {
		seq, deliveries = meta.Sequence.Stream, meta.NumDelivered
	}
	raw := msg.Data()
	e, err := domain.DecodeEvent(raw)
	if err != nil {
		return domain.Errorf(domain.EINTERNAL, "billing feed: stream sequence %d on %s is not a valid event (%s); left unacknowledged — run `licledger audit verify`",
			seq, msg.Subject(), domain.ErrorMessage(err))
	}
	line := raw
	if bytes.ContainsAny(raw, "\r\n") {
		// Stored events are compact JSON; keep the one-line framing even
		// for one written by another tool.
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return domain.Errorf(domain.EINTERNAL, "billing feed: compact event %s: %v", e.ID, err)
		}
		line = buf.Bytes()
	}
	if err := sink.WriteEvent(line); err != nil {
		return domain.Errorf(domain.EINTERNAL, "billing feed: write event %s: %v (not acknowledged; it is delivered again on restart)", e.ID, err)
	}
	// The ack must not be lost to a cancellation that arrives after the
	// write, or a graceful stop would cause a needless duplicate.
	ackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := msg.DoubleAck(ackCtx); err != nil {
		// Written but not acknowledged: JetStream redelivers it after
		// AckWait and the sink sees a duplicate with the same id.
		log.Warn("ack failed; the event will be delivered again", "id", e.ID, "seq", seq, "err", err)
		return nil
	}
	log.Debug("billed", "id", e.ID, "type", e.Type, "subject", e.Subject, "seq", seq, "deliveries", deliveries)
	return nil
}

// translate maps JetStream errors onto domain codes.
func translate(err error, op string) error {
	var de *domain.Error
	switch {
	case errors.As(err, &de):
		return err
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return domain.Errorf(domain.ENOTFOUND, "%s: stream not found (has the ledger created it?)", op)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return domain.Errorf(domain.EINTERNAL, "%s: JetStream error %d: %s", op, apiErr.ErrorCode, apiErr.Description)
	}
	return domain.Errorf(domain.EINTERNAL, "%s: %v", op, err)
}
