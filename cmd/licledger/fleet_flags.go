package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/licledger/licledger/domain"
)

// fleetOptions are the parsed flags of fleet simulate.
type fleetOptions struct {
	url, token, license, version, releasedAt string
	name                                     string // the license's name (subject) for output: the key is a secret
	instances                                int
	interval, duration, progress             time.Duration
	keepSeats, json                          bool
}

// fleetMaxInstances bounds --instances: each instance is a goroutine and a
// kept-alive connection.
const fleetMaxInstances = 100_000

// fleetMessages bounds the per-instance lines (activated, refused, seat
// lost) on stderr; the progress lines and the summary count the rest.
const fleetMessages = 50

func fleetFlags(stderr io.Writer) (*flag.FlagSet, *fleetOptions, *envFlags) {
	o := &fleetOptions{}
	fs := flag.NewFlagSet("fleet simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &envFlags{fs: fs}
	e.str(&o.url, "url", "LICLEDGER_URL", "http://127.0.0.1:8080", "base URL of a running licledger serve")
	e.str(&o.token, "token", "LICLEDGER_TOKEN", "", "bearer token of the client role (none: a serve without tokens, loopback only)")
	fs.StringVar(&o.license, "license-key", "", "license key (required): the key the ledger issued (lks.<id>.<secret>, lkp.<id>.<secret>); a legacy license's name (a subscription id, subscription/<id>, perpetual/<id>) with a client --token")
	fs.IntVar(&o.instances, "instances", 10, "simulated instances")
	fs.StringVar(&o.version, "version", "1.0.0", "product version the instances run")
	fs.StringVar(&o.releasedAt, "released-at", "", "release instant of --version (RFC 3339); perpetual licenses need it unless serve has a release list")
	fs.DurationVar(&o.interval, "interval", time.Second, "time between an instance's check-ins (and its activation retries while it has no seat)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long to run; 0 runs until Ctrl-C")
	fs.DurationVar(&o.progress, "progress", 5*time.Second, "time between progress lines on stderr; 0 for none")
	fs.BoolVar(&o.keepSeats, "keep-seats", false, "leave the seats held at exit (default: the instances deactivate, freeing them)")
	fs.BoolVar(&o.json, "json", false, "print the summary as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: licledger fleet simulate --license-key ID [flags]")
		fmt.Fprintln(stderr, "\nRuns --instances simulated product instances against a running ledger. Each activates with")
		fmt.Fprintln(stderr, "the license key, then checks in every --interval; an instance without a seat (refused, e.g.")
		fmt.Fprintln(stderr, "too-many-instances, or its seat released) tries to activate again every --interval. Progress")
		fmt.Fprintln(stderr, "goes to stderr; at the end (--duration, or Ctrl-C) the instances deactivate and a summary goes")
		fmt.Fprintln(stderr, "to stdout: activations and check-ins by reason code, check-ins/s, p50/p99 check-in latency.")
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	return fs, o, e
}

// usageError reports a bad flag value the way the flag package reports
// a bad flag, and makes dispatch exit 2.
func usageError(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), "licledger %s: %s\nRun 'licledger %s --help' for its flags.\n", fs.Name(), fmt.Sprintf(format, args...), fs.Name())
	return errUsage
}

// parseFleetFlags parses and checks the flags; the license key comes back
// in its API form (subscription/<id> or perpetual/<id>).
func parseFleetFlags(args []string, stderr io.Writer) (*fleetOptions, error) {
	fs, o, e := fleetFlags(stderr)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if len(e.errs) > 0 {
		return nil, usageError(fs, "%s", strings.Join(e.errs, "; "))
	}
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError(fs, "--url %q: want the ledger's base URL, e.g. http://127.0.0.1:8080", o.url)
	}
	o.url = strings.TrimRight(o.url, "/")
	switch {
	case o.license == "":
		return nil, usageError(fs, "--license-key is required: the license key the instances activate with (lks.<id>.<secret>)")
	case !strings.ContainsAny(o.license, "/."):
		o.license = domain.Aggregate{Kind: domain.KindSubscription, ID: o.license}.String()
	}
	key, err := domain.ParseLicenseKey(o.license)
	if err != nil {
		shown := o.license
		if strings.Contains(shown, ".") {
			shown = "(a license key)" // never echo a secret
		}
		return nil, usageError(fs, "--license-key %s: want a license key like lks.S-ACME.<secret>, or a legacy subscription id like S-ACME", shown)
	}
	o.name = key.Aggregate.String()
	switch {
	case o.instances < 1 || o.instances > fleetMaxInstances:
		return nil, usageError(fs, "--instances %d: want 1 to %d", o.instances, fleetMaxInstances)
	case o.interval <= 0:
		return nil, usageError(fs, "--interval %v: want a positive duration, e.g. 1s", o.interval)
	case o.duration < 0:
		return nil, usageError(fs, "--duration %v: want a positive duration, or 0 to run until Ctrl-C", o.duration)
	case o.progress < 0:
		return nil, usageError(fs, "--progress %v: want a positive duration, or 0 for no progress lines", o.progress)
	case o.version == "":
		return nil, usageError(fs, "--version must not be empty")
	}
	if o.releasedAt != "" {
		if _, err := time.Parse(time.RFC3339, o.releasedAt); err != nil {
			return nil, usageError(fs, "--released-at %q: want an RFC 3339 instant, e.g. 2026-03-01T00:00:00Z", o.releasedAt)
		}
	}
	return o, nil
}
