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
//
// The platform's history is first checked against the rules the ledger
// writes by (domain.CheckPlatformHistory, the guards DecidePlatform uses):
// a history the ledger would not have written, such as the deletion of a
// USB key's license (R14), is refused, naming the line, the event and the
// refusal's reason word, rather than evaluated as if it could happen.
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

	events, lines, err := readHistory(*eventsPath)
	if err != nil {
		return err
	}
	if err := checkHistory(*eventsPath, events, lines, *platform); err != nil {
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

// checkHistory refuses a platform history the ledger would not have
// written: EINVALID (the file is at fault) with the reason word the
// ledger's refusal carries, naming the file's line, the event and why.
func checkHistory(path string, events []domain.Event, lines []int, platform string) error {
	i, err := domain.CheckPlatformHistory(events, platform)
	if err == nil {
		return nil
	}
	e := events[i]
	return &domain.Error{Code: domain.EINVALID, Reason: domain.ErrorReason(err), Message: fmt.Sprintf(
		"%s: line %d: event %s (%s) breaks the ledger's rules, which refuse it with %q: %s",
		path, lines[i], e.ID, e.Type, domain.ErrorReason(err), domain.ErrorMessage(err))}
}

// readHistory parses a history file, or stdin for "-", and returns its
// events with their line numbers. Errors name the file and keep the domain
// code (a malformed line is EINVALID with its line number).
func readHistory(path string) ([]domain.Event, []int, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, domain.Errorf(domain.EINVALID, "cannot read the history: %v", err)
		}
		defer f.Close()
		r = f
	}
	events, lines, err := fixtures.ParseLines(r)
	if err != nil {
		return nil, nil, &domain.Error{Code: domain.ErrorCode(err), Reason: domain.ErrorReason(err), Message: path + ": " + domain.ErrorMessage(err)}
	}
	return events, lines, nil
}
