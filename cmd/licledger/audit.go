package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

func init() {
	register("audit verify", "check the event log: hash chains, versions, deleted or malformed messages", runAuditVerify)
}

// runAuditVerify opens the ledger read-only (it never creates or
// reconfigures the stream) and walks the whole log with Store.Verify. It
// exits non-zero when a problem is found, so a cron job or CI step fails.
func runAuditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "./data", "data directory of the embedded event store (the ledger must not be running on it; use --nats then)")
	natsURL := fs.String("nats", "", "NATS URL of a running ledger (its --nats-listen) or cluster, instead of opening --data; sign in as an auditor with --nats-user")
	var natsAuth natsAuthFlags
	natsAuth.register(fs)
	stream := fs.String("stream", eventstore.DefaultStream, "the ledger's JetStream stream")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: licledger audit verify [--data DIR | --nats URL [--nats-user NAME --nats-password-file FILE]] [--json]")
		fmt.Fprintln(stderr, "\nChecks that nothing was removed, altered or reordered in the event log; exits 1 when a problem is found.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	creds, err := natsAuth.credentials(*natsURL)
	if err != nil {
		return err
	}

	store, err := eventstore.Open(ctx, eventstore.Config{
		DataDir:     *dataDir,
		URL:         *natsURL,
		Credentials: creds,
		Stream:      *stream,
		ReadOnly:    true,
		Logger:      slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	defer store.Close()

	progress := newProgress(stderr, "verifying")
	rep, err := store.Verify(ctx, progress.update)
	progress.finish()
	if err != nil {
		return err
	}
	if *asJSON {
		if rep.Problems == nil {
			rep.Problems = []eventstore.Problem{} // [] rather than null
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printAuditReport(stdout, rep)
	}
	if !rep.OK() {
		return domain.Errorf(domain.EINTERNAL, "%d problem(s) found in stream %s", len(rep.Problems), rep.Stream)
	}
	return nil
}

func printAuditReport(w io.Writer, rep eventstore.VerifyReport) {
	span := "empty"
	if rep.LastSeq > 0 {
		span = fmt.Sprintf("sequences %d..%d", rep.FirstSeq, rep.LastSeq)
	}
	fmt.Fprintf(w, "stream %s: %s, %d messages, %d events, %d aggregates\n", rep.Stream, span, rep.Messages, rep.Events, rep.Aggregates)
	if rep.OK() {
		fmt.Fprintln(w, "OK: every chain verifies; nothing removed, altered or reordered")
		return
	}
	fmt.Fprintf(w, "%d PROBLEM(S):\n", len(rep.Problems))
	for _, p := range rep.Problems {
		subject := p.Subject
		if subject == "" {
			subject = "-"
		}
		fmt.Fprintf(w, "  seq %-8d %-18s %-28s %s\n", p.Seq, p.Kind, subject, p.Detail)
	}
}
