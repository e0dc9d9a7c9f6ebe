// Package billing is the billing feed (R30): a durable consumer of the
// event store (eventstore.Store.Consumer) that hands every billable event
// — every event of a subscription, perpetual license or coupon aggregate —
// to a Sink, at least once and in order, and acknowledges an event only
// once the sink has made it durable.
//
// Guarantees and how they are kept:
//
//   - At least once: the consumer is durable (its position lives in
//     JetStream, not in this process) with explicit acks; an event is acked
//     only after Sink.WriteEvent returned, i.e. after it was fsynced to a
//     file or flushed to a pipe. A crash between the write and the ack
//     makes JetStream redeliver it after AckWait: a duplicate, never a gap.
//     A failure the feed sees (the sink's, a malformed event) gives the
//     event back, so the next run starts with it at once.
//   - In order per subscription (and in fact in stream order overall): the
//     store's consumer has one event in flight (MaxAckPending 1), so the
//     next event is handed out only once the previous one is acknowledged,
//     and a redelivery can never be overtaken by a later event. The price
//     is one round trip and one fsync per event — hundreds of events a
//     second, plenty for billing (check-ins are bounded to 4 per instance
//     per day, see domain.InstanceCheckInRecordDivisor). Batching with more
//     in flight would let a later event overtake an unacknowledged
//     redelivery after a crash, breaking the order R30 promises.
//   - Duplicates are recognisable: each line is the event as stored, with
//     its stable CloudEvents id (a ULID); consumers de-duplicate by id. With
//     one event in flight a duplicate can only directly follow its original
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
)

// Defaults of Config.
const (
	DefaultAckWait = eventstore.DefaultAckWait
	DefaultPoll    = 5 * time.Second
)

// Kinds are the aggregate kinds of billable events: every kind that bills
// (R30).
func Kinds() []string {
	return []string{domain.KindSubscription, domain.KindPerpetual, domain.KindCoupon}
}

// Subjects are the JetStream subjects of billable events, for billing
// systems that read the stream with their own client (README.md,
// "Billing feed").
func Subjects() []string {
	kinds := Kinds()
	subjects := make([]string, len(kinds))
	for i, k := range kinds {
		subjects[i] = eventstore.SubjectPrefix + "." + k + ".>"
	}
	return subjects
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
	// Consumer is the durable consumer's name, one per billing system: its
	// position survives restarts. Letters, digits, '-' and '_'.
	Consumer string
	// AckWait is how long JetStream waits for an ack before redelivering;
	// after a crash the event in flight comes back this long after it was
	// delivered. Default DefaultAckWait.
	AckWait time.Duration
	// Poll is how long the feed waits for an event before it checks
	// ExitIdle again; default DefaultPoll. Without ExitIdle it has no
	// effect: an event is delivered as soon as it is stored, and a
	// cancelled ctx stops the wait at once.
	Poll time.Duration
	// ExitIdle, if positive, makes Tail return once no event has arrived
	// for this long (a catch-up run, e.g. from cron). It must exceed
	// AckWait, or the redelivery of an event in flight at a crash could be
	// missed by a run that exits too early.
	ExitIdle time.Duration
	// Now is the clock ExitIdle is measured with; default time.Now. Tests
	// inject one.
	Now func() time.Time
	// Logger; default slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.Now == nil {
		c.Now = time.Now
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

// minWait is the shortest wait for an event: shorter ones could give up
// before the server has answered.
const minWait = 10 * time.Millisecond

// Tail runs the feed on the store's durable consumer cfg.Consumer (created
// on first use, see eventstore.Store.Consumer) and delivers events to sink
// until ctx is done or, with ExitIdle, the feed has been idle that long;
// both return the number delivered and nil. Errors: EINVALID for a bad
// Config, ENOTFOUND when the stream does not exist, EINTERNAL when an
// event cannot be decoded (it is left unacknowledged: run `licledger audit
// verify`), the sink fails, or JetStream does.
func Tail(ctx context.Context, store *eventstore.Store, sink Sink, cfg Config) (int, error) {
	if err := cfg.validate(); err != nil {
		return 0, err
	}
	log := cfg.Logger.With("component", "billing", "consumer", cfg.Consumer)
	cons, err := store.Consumer(ctx, eventstore.ConsumerOptions{
		Durable:     cfg.Consumer,
		Kinds:       Kinds(),
		AckWait:     cfg.AckWait,
		Description: "licledger billing feed (R30)",
	})
	if err != nil {
		return 0, err
	}
	log.Info("billing feed started", "stream", store.StreamName(), "kinds", Kinds())
	delivered := 0
	lastEvent := cfg.Now()
	for {
		if ctx.Err() != nil {
			return delivered, nil
		}
		wait := cfg.Poll
		if cfg.ExitIdle > 0 {
			if left := cfg.ExitIdle - cfg.Now().Sub(lastEvent); left > 0 {
				wait = max(min(wait, left), minWait)
			}
		}
		waitCtx, cancel := context.WithTimeout(ctx, wait)
		d, err := cons.Next(waitCtx)
		cancel()
		var derr *eventstore.DecodeError
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return delivered, nil
		case errors.Is(err, context.DeadlineExceeded):
			// Idle for one wait. Only after one: a run never exits without
			// having asked for an event.
			if cfg.ExitIdle > 0 && cfg.Now().Sub(lastEvent) >= cfg.ExitIdle {
				log.Info("billing feed idle; exiting", "delivered", delivered, "idle", cfg.ExitIdle)
				return delivered, nil
			}
			continue
		case errors.As(err, &derr):
			giveBack(d, log)
			return delivered, domain.Errorf(domain.EINTERNAL, "billing feed: stream sequence %d on %s is not a valid event (%s); left unacknowledged — run `licledger audit verify`",
				derr.Seq, derr.Subject, domain.ErrorMessage(derr.Err))
		default:
			return delivered, err
		}
		if err := deliver(ctx, d, sink, log); err != nil {
			giveBack(d, log)
			return delivered, err
		}
		delivered++
		lastEvent = cfg.Now()
	}
}

// deliver writes one event to the sink and only then acknowledges it.
func deliver(ctx context.Context, d eventstore.Delivery, sink Sink, log *slog.Logger) error {
	e := d.Event
	line := d.Raw
	if bytes.ContainsAny(line, "\r\n") {
		// Stored events are compact JSON; keep the one-line framing even
		// for one written by another tool.
		var buf bytes.Buffer
		if err := json.Compact(&buf, line); err != nil {
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
	if err := d.Ack(ackCtx); err != nil {
		// Written but not acknowledged: JetStream redelivers it after
		// AckWait and the sink sees a duplicate with the same id.
		log.Warn("ack failed; the event will be delivered again", "id", e.ID, "seq", d.Seq, "err", err)
		return nil
	}
	log.Debug("billed", "id", e.ID, "type", e.Type, "subject", e.Subject, "seq", d.Seq, "deliveries", d.Deliveries)
	return nil
}

// giveBack returns an event the feed stops on, so that the next run gets it
// at once rather than after AckWait. Best effort: if the Nak is lost, the
// event still comes back after AckWait.
func giveBack(d eventstore.Delivery, log *slog.Logger) {
	if err := d.Nak(); err != nil {
		log.Warn("nak failed; the event will be delivered again after ack-wait", "seq", d.Seq, "err", err)
	}
}
