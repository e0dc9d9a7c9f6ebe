package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/licledger/licledger/adapters/billing"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

func init() {
	register("billing tail", "deliver billable events (subscriptions, perpetual licenses, coupons) as JSON lines, at least once, in order", runBillingTail)
}

func runBillingTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("billing tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	consumer := fs.String("consumer", "", "durable consumer name, one per billing system (required); its position survives restarts")
	out := fs.String("out", "-", "file to append events to (fsynced before each ack), or - for stdout (flushed before each ack)")
	data := fs.String("data", "", "data directory of an embedded ledger that is not running")
	natsURL := fs.String("nats", "", "NATS URL of a running ledger (its --nats-listen) or cluster; sign in as a billing user with --nats-user")
	var natsAuth natsAuthFlags
	natsAuth.register(fs)
	stream := fs.String("stream", eventstore.DefaultStream, "the ledger's JetStream stream")
	ackWait := fs.Duration("ack-wait", billing.DefaultAckWait, "how long before an unacknowledged event is delivered again")
	exitIdle := fs.Duration("exit-idle", 0, "exit once no event arrived for this long (0: run until interrupted); must exceed --ack-wait")
	verbose := fs.Bool("v", false, "log every event delivered")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: licledger billing tail --consumer NAME [--out FILE|-] (--data DIR | --nats URL) [flags]")
		fmt.Fprintln(fs.Output(), "\nEach line is one event as stored (CloudEvents JSON). Delivery is at least once:")
		fmt.Fprintln(fs.Output(), "after a crash the event in flight may appear twice; de-duplicate by its \"id\".")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *consumer == "" {
		return domain.Errorf(domain.EINVALID, "--consumer is required")
	}
	if (*data == "") == (*natsURL == "") {
		return domain.Errorf(domain.EINVALID, "give exactly one of --data DIR or --nats URL")
	}
	creds, err := natsAuth.credentials(*natsURL)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var sink billing.Sink
	if *out == "-" {
		sink = billing.NewWriterSink(stdout)
	} else {
		file, cut, err := billing.OpenFileSink(*out)
		if err != nil {
			return err
		}
		defer file.Close()
		if cut > 0 {
			logger.Warn("cut a torn last line from the output; that event will be delivered again", "file", *out, "bytes", cut)
		}
		sink = file
	}

	// Read-only: billing never appends, must not create a ledger where
	// there is none, and must not reconfigure a running ledger's stream
	// (a default Open would reset e.g. its replicas to 1).
	store, err := eventstore.Open(ctx, eventstore.Config{DataDir: *data, URL: *natsURL, Credentials: creds, Stream: *stream, ReadOnly: true, Logger: logger})
	if err != nil {
		return err
	}
	defer store.Close()

	start := time.Now()
	n, err := billing.Tail(ctx, store, sink, billing.Config{
		Consumer: *consumer, AckWait: *ackWait, ExitIdle: *exitIdle, Logger: logger,
	})
	logger.Info("billing tail stopped", "delivered", n, "elapsed", time.Since(start).Round(time.Millisecond))
	return err
}
