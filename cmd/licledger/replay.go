package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/fixtures"
)

// stdin is where "--events -" reads; tests replace it.
var stdin io.Reader = os.Stdin

func init() {
	register("replay", "print a platform's entitlement as of an instant from an event history file (no server)", runReplay)
}

// runReplay folds a JSON-lines history (the fixture format, see
// fixtures/README.md) with the domain alone and prints the platform's
// entitlement: the same bytes as the HTTP API and the golden files.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	eventsPath := fs.String("events", "", "JSON-lines event history to replay, `FILE` or - for stdin (required)")
	platform := fs.String("platform", "", "platform `ID` to evaluate (required)")
	atFlag := fs.String("at", "", "`INSTANT` to evaluate, RFC 3339 (default: the time of the platform's last event)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: licledger replay --events FILE --platform ID [--at INSTANT]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *eventsPath == "" || *platform == "" {
		fmt.Fprintln(stderr, "replay: --events and --platform are required")
		fs.Usage()
		return errUsage
	}
	var at time.Time
	if *atFlag != "" {
		t, err := time.Parse(time.RFC3339, *atFlag)
		if err != nil {
			return domain.Errorf(domain.EINVALID, "--at %q is not an RFC 3339 instant (e.g. 2026-03-01T00:00:00Z)", *atFlag)
		}
		at = t.UTC()
	}

	events, err := readHistory(*eventsPath)
	if err != nil {
		return err
	}
	if at.IsZero() {
		last, ok := domain.PlatformLastEventTime(events, *platform)
		if !ok {
			return domain.Reasonf(domain.ENOTFOUND, domain.ReasonUnknownPlatform, "%s holds no event of platform %q", *eventsPath, *platform)
		}
		at = last
	}
	s, err := domain.PlatformAsOf(events, *platform, at)
	if err != nil {
		return err
	}
	out, err := domain.MarshalEntitlement(domain.PlatformEntitlement(s, at))
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// readHistory parses a history file, or stdin for "-". Errors name the
// file and keep the domain code (a malformed line is EINVALID with its
// line number).
func readHistory(path string) ([]domain.Event, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, domain.Errorf(domain.EINVALID, "cannot read the history: %v", err)
		}
		defer f.Close()
		r = f
	}
	events, err := fixtures.Parse(r)
	if err != nil {
		return nil, &domain.Error{Code: domain.ErrorCode(err), Reason: domain.ErrorReason(err), Message: path + ": " + domain.ErrorMessage(err)}
	}
	return events, nil
}
