package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/licledger/licledger/projections"
)

func init() {
	register("projections verify", "rebuild the projections into a scratch database and compare every table with the live one (R32)", runProjectionsVerify)
}

// errDifferences makes `projections verify` exit 1 after printing its
// report.
var errDifferences = errors.New("the projections differ from a rebuild of the log; run `licledger rebuild`")

func runProjectionsVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("projections verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c cliStoreFlags
	c.register(fs)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: licledger projections verify [flags]")
		fmt.Fprintln(stderr, "\nRebuilds the projections from the log, up to the live database's checkpoint, into a scratch database")
		fmt.Fprintln(stderr, "and compares a digest of every table (R32). Exit status 0 when identical, 1 when a table differs.")
		fmt.Fprintln(stderr, "With the embedded store, stop `licledger serve` first (or ask a running server: GET /v1/projections/verify).")
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
	path := c.projectionsPath()
	live, err := projections.OpenReadOnly(ctx, path)
	if err != nil {
		return err
	}
	defer live.Close()
	scratch, err := os.MkdirTemp(filepath.Dir(path), ".verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	p := newProgress(stderr, "verify")
	rep, err := projections.Verify(ctx, live, store, scratch, log, p.update)
	p.finish()
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		printVerifyReport(stdout, rep)
	}
	if !rep.Clean {
		return errDifferences
	}
	return nil
}

func printVerifyReport(w io.Writer, rep projections.VerifyReport) {
	if rep.Clean {
		fmt.Fprintf(w, "projections verified at sequence %d: %d tables identical to a rebuild from the log\n", rep.Seq, len(rep.Tables))
		return
	}
	diffs := rep.Differences()
	fmt.Fprintf(w, "projections at sequence %d: %d of %d tables differ from a rebuild from the log\n", rep.Seq, len(diffs), len(rep.Tables))
	for _, t := range diffs {
		fmt.Fprintf(w, "  %s: live %d rows (%.12s), rebuilt %d rows (%.12s)\n", t.Table, t.LiveRows, t.LiveDigest, t.RebuiltRows, t.RebuiltDigest)
		for _, r := range t.OnlyLive {
			fmt.Fprintf(w, "    only live:    %s\n", r)
		}
		for _, r := range t.OnlyRebuilt {
			fmt.Fprintf(w, "    only rebuilt: %s\n", r)
		}
	}
}
