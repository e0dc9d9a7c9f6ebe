package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

func init() {
	register("export", "write the event log as CloudEvents JSON lines (backup, audit, moving to a cluster)", runExport)
	register("import", "load an export into a new, empty ledger, verifying every hash chain", runImport)
}

// listFlag is a repeatable, comma-separated string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// timeFlag is an RFC 3339 instant; zero when not given.
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339Nano)
}

func (f *timeFlag) Set(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("not an RFC 3339 instant (e.g. 2026-11-27T17:04:59Z): %q", v)
	}
	f.t = t
	return nil
}

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "", "data directory of an embedded ledger that is not running (use --nats for a running one)")
	natsURL := fs.String("nats", "", "NATS URL of a running ledger (its --nats-listen) or cluster; sign in as an auditor with --nats-user")
	var natsAuth natsAuthFlags
	natsAuth.register(fs)
	stream := fs.String("stream", eventstore.DefaultStream, "the ledger's JetStream stream")
	out := fs.String("out", "-", "file to write (to a temporary file, renamed when complete), or - for stdout")
	var kinds, aggs listFlag
	fs.Var(&kinds, "kind", "only aggregates of this kind (platform, subscription, perpetual, coupon); repeatable or comma-separated")
	fs.Var(&aggs, "aggregate", "only this aggregate, kind/id (e.g. subscription/S-1); repeatable or comma-separated")
	fromSeq := fs.Uint64("from-seq", 0, "first stream sequence to export (resume an export with the last streamseq written + 1)")
	toSeq := fs.Uint64("to-seq", 0, "last stream sequence to export (0: the log's end when the export starts)")
	var since, until timeFlag
	fs.Var(&since, "since", "only events at or after this instant (RFC 3339)")
	fs.Var(&until, "until", "only events at or before this instant (RFC 3339)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: licledger export (--data DIR | --nats URL [--nats-user NAME ...]) [--out FILE] [--kind K] [--aggregate kind/id] [--from-seq N] [--to-seq N] [--since T] [--until T]")
		fmt.Fprintln(stderr, "\nWrites the log in stream order as CloudEvents JSON lines: each line is an event exactly as stored,")
		fmt.Fprintln(stderr, "with its stream sequence first as the extension attribute \"streamseq\". Progress goes to stderr.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*dataDir == "") == (*natsURL == "") {
		return domain.Errorf(domain.EINVALID, "give exactly one of --data DIR or --nats URL")
	}
	if *toSeq > 0 && *fromSeq > *toSeq {
		return domain.Errorf(domain.EINVALID, "--from-seq %d is after --to-seq %d", *fromSeq, *toSeq)
	}
	if !since.t.IsZero() && !until.t.IsZero() && until.t.Before(since.t) {
		return domain.Errorf(domain.EINVALID, "--until is before --since")
	}
	filter := eventstore.ExportFilter{Kinds: kinds, FromSeq: *fromSeq, ToSeq: *toSeq, Since: since.t, Until: until.t}
	for _, a := range aggs {
		agg, err := domain.ParseAggregate(a)
		if err != nil {
			return domain.Errorf(domain.EINVALID, "--aggregate: %s", domain.ErrorMessage(err))
		}
		filter.Aggregates = append(filter.Aggregates, agg)
	}
	creds, err := natsAuth.credentials(*natsURL)
	if err != nil {
		return err
	}
	store, err := openStoreForCLI(ctx, *dataDir, *natsURL, creds, *stream,
		slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer store.Close()

	w := stdout
	var tmp *os.File
	if *out != "-" {
		if tmp, err = os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".tmp-*"); err != nil {
			return err
		}
		defer os.Remove(tmp.Name()) // a no-op once renamed
		defer tmp.Close()
		w = tmp
	}
	progress := newProgress(stderr, "exporting")
	st, err := store.Export(ctx, w, filter, progress.update)
	progress.finish()
	if err == nil && tmp != nil {
		if err = tmp.Sync(); err == nil {
			if err = tmp.Close(); err == nil {
				err = os.Rename(tmp.Name(), *out)
			}
		}
	}
	if err != nil {
		if st.Events > 0 {
			where := "above"
			if tmp != nil {
				// Keep what was written for a resumed export to follow.
				where = *out + ".partial"
				if rerr := os.Rename(tmp.Name(), where); rerr != nil {
					where = "nowhere (" + rerr.Error() + ")"
				}
			}
			fmt.Fprintf(stderr, "export stopped after %d events (stream sequences %d..%d, written %s); resume with --from-seq %d\n",
				st.Events, st.FirstSeq, st.LastSeq, where, st.LastSeq+1)
		}
		return err
	}
	span := "none"
	if st.Events > 0 {
		span = fmt.Sprintf("%d..%d", st.FirstSeq, st.LastSeq)
	}
	fmt.Fprintf(stderr, "exported %d events (stream sequences %s) up to sequence %d; continue later with --from-seq %d\n",
		st.Events, span, st.EndSeq, st.EndSeq+1)
	return nil
}

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "export file to import (licledger export), or - for stdin (required)")
	dataDir := fs.String("data", "", "data directory of the new embedded ledger (created if missing; must hold no events)")
	natsURL := fs.String("nats", "", "NATS URL of the server or cluster of the new ledger, instead of --data; sign in as the ledger's user")
	var natsAuth natsAuthFlags
	natsAuth.register(fs)
	stream := fs.String("stream", eventstore.DefaultStream, "the JetStream stream to import into (created if missing; must hold no events)")
	replicas := fs.Int("replicas", 1, "with --nats: replicas of the stream if the import creates it (3 on a three-node cluster)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: licledger import --in FILE (--data DIR | --nats URL [--nats-user NAME ...] [--replicas N])")
		fmt.Fprintln(stderr, "\nStores an export verbatim into an empty ledger, in order, keeping ids, times and versions. Every")
		fmt.Fprintln(stderr, "aggregate's hash chain is checked as it goes; the first bad line stops the import with its number.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *in == "" {
		return domain.Errorf(domain.EINVALID, "--in FILE is required")
	}
	if (*dataDir == "") == (*natsURL == "") {
		return domain.Errorf(domain.EINVALID, "give exactly one of --data DIR or --nats URL")
	}
	if *replicas > 1 && *natsURL == "" {
		return domain.Errorf(domain.EINVALID, "--replicas more than 1 needs a NATS cluster (--nats)")
	}
	creds, err := natsAuth.credentials(*natsURL)
	if err != nil {
		return err
	}
	var r io.Reader = stdin
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			return domain.Errorf(domain.EINVALID, "open the export: %v", err)
		}
		defer f.Close()
		r = f
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := eventstore.Open(ctx, eventstore.Config{DataDir: *dataDir, URL: *natsURL, Credentials: creds, Stream: *stream, Replicas: *replicas, Logger: logger})
	if err != nil {
		return err
	}
	defer store.Close()

	progress := newProgress(stderr, "importing")
	st, err := store.Import(ctx, r, func(n uint64) { progress.update(n, 0) })
	progress.finish()
	if err != nil {
		if st.Events > 0 {
			fmt.Fprintf(stderr, "%d events were stored before the refusal; import again into a new, empty ledger\n", st.Events)
		}
		return err
	}
	seqs := "as exported"
	if !st.SeqsKept {
		seqs = "renumbered: the export was filtered or the log had gaps"
	}
	fmt.Fprintf(stdout, "imported %d events of %d aggregates into stream %s (stream sequences %s)\n", st.Events, st.Aggregates, store.StreamName(), seqs)

	// Read back what was stored: the same check `licledger audit verify` makes.
	vprogress := newProgress(stderr, "verifying")
	rep, err := store.Verify(ctx, vprogress.update)
	vprogress.finish()
	if err != nil {
		return err
	}
	printAuditReport(stdout, rep)
	if !rep.OK() {
		return domain.Errorf(domain.EINTERNAL, "%d problem(s) found in stream %s after the import", len(rep.Problems), rep.Stream)
	}
	return nil
}
