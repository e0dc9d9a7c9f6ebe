package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/projections"
)

func init() {
	register("rebuild", "rebuild every projection from the log into a fresh database and swap it in", runRebuild)
}

// cliStoreFlags are the flags rebuild and projections verify share with
// serve (same names, same environment variables).
type cliStoreFlags struct {
	data, nats, stream, projections string
	natsAuth                        natsAuthFlags
}

func (c *cliStoreFlags) register(fs *flag.FlagSet) {
	e := &envFlags{fs: fs}
	e.str(&c.data, "data", "LICLEDGER_DATA", "./data", "data directory of the ledger")
	e.str(&c.nats, "nats", "LICLEDGER_NATS", "", "NATS URL of an external server or a running ledger's --nats-listen (read only: sign in as an auditor or billing user); empty opens the embedded store in the data directory")
	e.str(&c.stream, "stream", "LICLEDGER_STREAM", "LEDGER", "JetStream stream name")
	e.str(&c.projections, "projections", "LICLEDGER_PROJECTIONS", "", "projections SQLite database (default DATA/projections.db)")
	c.natsAuth.register(fs)
}

// openStore opens the event store read-only, as the flags say.
func (c *cliStoreFlags) openStore(ctx context.Context, log *slog.Logger) (*eventstore.Store, error) {
	creds, err := c.natsAuth.credentials(c.nats)
	if err != nil {
		return nil, err
	}
	return openStoreForCLI(ctx, c.data, c.nats, creds, c.stream, log)
}

func (c *cliStoreFlags) projectionsPath() string {
	if c.projections != "" {
		return c.projections
	}
	return filepath.Join(c.data, "projections.db")
}

func runRebuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c cliStoreFlags
	c.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: licledger rebuild [flags]")
		fmt.Fprintln(stderr, "\nRebuilds every projection from the event log into a fresh database file and atomically renames it")
		fmt.Fprintln(stderr, "over the old one. Stop `licledger serve` first: the database is locked while it runs.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := c.openStore(ctx, log)
	if err != nil {
		return err
	}
	defer store.Close()
	p := newProgress(stderr, "rebuild")
	res, err := projections.Rebuild(ctx, store, c.projectionsPath(), log, p.update)
	p.finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rebuilt %s up to sequence %d in %s\n", res.Path, res.Seq, res.Elapsed.Round(1e6))
	return nil
}
