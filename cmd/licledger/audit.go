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
	register("audit verify", "check the event log (live or an export): hash chains, authorship marks, and, with --checkpoint, that it still holds what a signed checkpoint sealed", runAuditVerify)
}

// runAuditVerify opens the ledger read-only (it never creates or
// reconfigures the stream) and walks the whole log with Store.Verify, or
// the lines of --export; with --checkpoint it checks the log against a
// signed checkpoint instead (auditcheckpoint.go). It exits non-zero when a
// problem is found, so a cron job or CI step fails.
func runAuditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "./data", "data directory of the embedded event store (the ledger must not be running on it; use --nats then); its ledger.key, if there, checks authorship marks")
	natsURL := fs.String("nats", "", "NATS URL of a running ledger (its --nats-listen) or cluster, instead of opening --data; sign in as an auditor with --nats-user")
	var natsAuth natsAuthFlags
	natsAuth.register(fs)
	stream := fs.String("stream", eventstore.DefaultStream, "the ledger's JetStream stream")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	cpFile := fs.String("checkpoint", "", "a signed checkpoint (JSON, as `licledger audit checkpoint` or GET /v1/audit/checkpoints/latest answers): prove the log still holds exactly what it sealed")
	exportFile := fs.String("export", "", "verify this export file (licledger export, GET /v1/export; the whole log) instead of a live ledger")
	pubFile := fs.String("public-key", "", "the ledger's public keys (the JSON of GET /v1/ledger/keys or `licledger ledger-key list --json`) to check the checkpoint's signature with; default the keys of --data")
	keyFile := fs.String("ledger-key", "", "the ledger's key file (default DATA/ledger.key when it exists): checks authorship marks on a live log")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: licledger audit verify [--data DIR | --nats URL [--nats-user NAME --nats-password-file FILE] | --export FILE]")
		fmt.Fprintln(stderr, "                              [--checkpoint FILE [--public-key FILE]] [--json]")
		fmt.Fprintln(stderr, "\nChecks that nothing was removed, altered or reordered in the event log and, with the ledger key, that the")
		fmt.Fprintln(stderr, "ledger wrote every event; with --checkpoint, that the log still holds exactly what the checkpoint sealed")
		fmt.Fprintln(stderr, "(no rewrite, no cut tail) and which events are not yet sealed. Exits 1 when a problem is found.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if *exportFile != "" && (given["data"] || *natsURL != "") {
		return domain.Errorf(domain.EINVALID, "--export verifies a file: give no --data or --nats with it")
	}
	keys, err := auditLedgerKey(*keyFile, *dataDir, *exportFile == "" && *natsURL == "")
	if err != nil {
		return err
	}
	if *cpFile != "" {
		return runCheckpointVerify(ctx, checkpointVerify{cpFile: *cpFile, exportFile: *exportFile, pubFile: *pubFile, keys: keys,
			dataDir: *dataDir, natsURL: *natsURL, natsAuth: natsAuth, stream: *stream, asJSON: *asJSON}, stdout, stderr)
	}

	var rep eventstore.VerifyReport
	if *exportFile != "" {
		if rep, err = verifyExportFile(*exportFile); err != nil {
			return err
		}
	} else {
		creds, err := natsAuth.credentials(*natsURL)
		if err != nil {
			return err
		}
		cfg := eventstore.Config{DataDir: *dataDir, URL: *natsURL, Credentials: creds, Stream: *stream, ReadOnly: true,
			Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
		if keys != nil {
			cfg.Mark = markKey(keys.Root())
		}
		store, err := eventstore.Open(ctx, cfg)
		if err != nil {
			return err
		}
		defer store.Close()
		progress := newProgress(stderr, "verifying")
		rep, err = store.Verify(ctx, progress.update)
		progress.finish()
		if err != nil {
			return err
		}
	}
	if rep.Problems == nil {
		rep.Problems = []eventstore.Problem{} // [] rather than null
	}
	if err := printReport(stdout, *asJSON, rep, func() { printAuditReport(stdout, rep) }); err != nil {
		return err
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
	name := rep.Stream
	if name == "" {
		name = "(export)"
	}
	fmt.Fprintf(w, "stream %s: %s, %d messages, %d events, %d aggregates\n", name, span, rep.Messages, rep.Events, rep.Aggregates)
	if rep.Authorship == eventstore.AuthorshipChecked {
		fmt.Fprintf(w, "authorship: marks checked; %d legacy event(s) written before marking existed\n", rep.LegacyUnmarked)
	} else {
		fmt.Fprintf(w, "authorship: %s\n", rep.Authorship)
	}
	if rep.OK() {
		fmt.Fprintln(w, "OK: every chain verifies; nothing removed, altered or reordered")
		return
	}
	printProblems(w, rep.Problems)
}

// printProblems lists problems one a line, with their sequence.
func printProblems(w io.Writer, problems []eventstore.Problem) {
	fmt.Fprintf(w, "%d PROBLEM(S):\n", len(problems))
	for _, p := range problems {
		subject := p.Subject
		if subject == "" {
			subject = "-"
		}
		fmt.Fprintf(w, "  seq %-8d %-18s %-28s %s\n", p.Seq, p.Kind, subject, p.Detail)
	}
}

// printReport writes v as indented JSON, or as text with printText.
func printReport(w io.Writer, asJSON bool, v any, printText func()) error {
	if !asJSON {
		printText()
		return nil
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
