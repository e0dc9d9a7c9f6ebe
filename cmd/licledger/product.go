package main

// `licledger product run`: one product instance on the license client
// (adapters/licclient), as a product embeds it: activate (or resume from
// the state file), check periodically, print every state change, and
// deactivate on Ctrl-C. --once starts, prints the state and exits keeping
// the seat and the state file (what a product restart sees). It is the
// product side of the README walkthrough, and a way to watch a license
// from a shell.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/adapters/licclient"
	"github.com/licledger/licledger/domain"
)

func init() {
	register("product run", "run one product instance on the license client: activate or resume, check in, print its state", runProduct)
}

func runProduct(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := &fleetOptions{}
	fs := flag.NewFlagSet("product run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &envFlags{fs: fs}
	e.str(&o.url, "url", "LICLEDGER_URL", "http://127.0.0.1:8080", "base URL of the ledger")
	e.str(&o.token, "token", "LICLEDGER_TOKEN", "", "bearer token of the client role (only a legacy license name needs one)")
	fs.StringVar(&o.license, "license-key", "", "license key (required): lks.<id>.<secret> or lkp.<id>.<secret>")
	fs.StringVar(&o.version, "version", "1.0.0", "product version this instance runs")
	fs.StringVar(&o.releasedAt, "released-at", "", "release instant of --version (RFC 3339): perpetual licenses and fallbacks cover versions by it")
	fs.DurationVar(&o.interval, "interval", licclient.DefaultInterval, "time between check-ins (with jitter)")
	stateFile := fs.String("state-file", "", "where the instance and its last signed answer are kept (restarts, outages); none: in memory")
	once := fs.Bool("once", false, "start, print the state and exit, keeping the seat and the state file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.license == "" {
		return usageError(fs, "--license-key is required")
	}
	var released time.Time
	if o.releasedAt != "" {
		var err error
		if released, err = time.Parse(time.RFC3339, o.releasedAt); err != nil {
			return usageError(fs, "--released-at %q: want an RFC 3339 instant", o.releasedAt)
		}
	}
	opts := []httpclient.Option{httpclient.WithUserAgent("licledger-product/" + version)}
	if o.token != "" {
		opts = append(opts, httpclient.WithToken(o.token))
	}
	hc, err := httpclient.New(o.url, opts...)
	if err != nil {
		return domain.Errorf(domain.EINVALID, "--url %s: %v", o.url, err)
	}
	lc, err := licclient.New(licclient.Config{Client: hc, LicenseKey: o.license, ProductVersion: o.version, ReleasedAt: released,
		StateFile: *stateFile, Interval: o.interval,
		OnChange: func(s licclient.Status) {
			if !*once {
				printStatus(stdout, s)
			}
		}})
	if err != nil {
		return domain.Errorf(domain.EINVALID, "%v", err)
	}
	st, err := lc.Start(ctx)
	if err != nil {
		fmt.Fprintln(stderr, err)
	}
	if *once {
		printStatus(stdout, st)
		return nil
	}
	lc.Run(ctx) // until Ctrl-C
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := lc.Close(dctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deactivated %s: the seat is free\n", st.Instance)
	return nil
}

// printStatus prints one line a person reads.
func printStatus(w io.Writer, s licclient.Status) {
	a := s.Answer
	switch {
	case s.State == licclient.Active || s.State == licclient.Degraded:
		why := ""
		if s.State == licclient.Degraded {
			why = " (" + s.Reason + ")"
		}
		src := a.License
		if a.Fallback != "" {
			src += " via " + a.Fallback
		}
		fmt.Fprintf(w, "%s%s: instance %s on %s, plan %s (%d instances), version %s; runs %s more on the answer issued %s, signed by %s\n",
			s.State, why, s.Instance, src, a.Plan.Name, a.InstanceLimit, a.Version, s.TimeLeft.Round(time.Second), a.IssuedAt, a.KeyID)
	case s.Instance == "":
		fmt.Fprintf(w, "%s: %s (no instance); the product must stop\n", s.State, s.Reason)
	default:
		fmt.Fprintf(w, "%s: %s (instance %s); the product must stop\n", s.State, s.Reason, s.Instance)
	}
}
