package main

// `licledger fleet simulate`: a fleet of simulated product instances
// against a running `licledger serve`, over HTTP exactly as real
// instances talk to it (the client role): each activates with the license
// key (R26), checks in every interval (R27), and goes back to activating
// when it has no seat — refused at activation (too-many-instances: seats
// float, R25), or its seat released. It is a demo and a load generator:
// the summary counts every answer by reason code, and the check-in rate
// and latency are the server's as a client sees them.
//
// Each simulated instance is an adapters/licclient.Client, the license
// client products embed: the simulator activates, checks in, verifies
// every signed answer and deactivates exactly as shipped products do. It
// drives the attempts itself (CheckNow at its interval) to count them.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/adapters/licclient"
	"github.com/licledger/licledger/domain"
)

func init() {
	register("fleet simulate", "run simulated product instances against a running serve: activate, check in, report", runFleetSimulate)
}

func runFleetSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFleetFlags(args, stderr)
	if err != nil {
		return err
	}
	f, err := newFleet(o, stderr)
	if err != nil {
		return err
	}
	if err := f.probe(ctx); err != nil {
		return err
	}
	until := "until Ctrl-C"
	if o.duration > 0 {
		until = "for " + o.duration.String() + " (Ctrl-C stops early)"
	}
	fmt.Fprintf(stderr, "fleet simulate: %d instances on %s at %s, version %s, checking in every %v, %s\n",
		o.instances, o.name, o.url, o.version, o.interval, until)
	sum, err := f.run(ctx)
	if werr := sum.write(stdout, o.json); werr != nil && err == nil {
		err = werr
	}
	return err
}

// fleet is one simulation run.
type fleet struct {
	o      *fleetOptions
	client *httpclient.Client
	runID  string // makes activation Idempotency-Keys unique to this run
	stats  fleetStats
	sims   []*simulated

	logMu    sync.Mutex
	log      io.Writer
	messages int
}

// simulated is one product instance. Only its own goroutine touches it
// until the run ends.
type simulated struct {
	name   string
	lc     *licclient.Client
	id     string // the instance holding a seat; empty without one
	reason string // why it has no seat (last refusal)
}

func newFleet(o *fleetOptions, stderr io.Writer) (*fleet, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// One kept-alive connection per instance (up to a bound): the default
	// of two idle connections per host would open and close a connection
	// per request under load, measuring TCP set-up instead of the ledger.
	tr.MaxIdleConns = min(o.instances, 1024)
	tr.MaxIdleConnsPerHost = tr.MaxIdleConns
	client, err := httpclient.New(o.url, httpclient.WithToken(o.token),
		httpclient.WithHTTPClient(&http.Client{Transport: tr, Timeout: 30 * time.Second}),
		httpclient.WithUserAgent("licledger-fleet-simulate/"+version))
	if err != nil {
		return nil, domain.Errorf(domain.EINVALID, "--url %s: %v", o.url, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	f := &fleet{o: o, client: client, runID: hex.EncodeToString(b), log: stderr}
	return f, nil
}

// newSims makes the fleet's instances, each a license client trusting
// the keys the ledger publishes (fetched once for the fleet, as a product
// ships them).
func (f *fleet) newSims(keys map[string]ed25519.PublicKey) error {
	var released time.Time
	if f.o.releasedAt != "" {
		released, _ = time.Parse(time.RFC3339, f.o.releasedAt) // checked with the flags
	}
	width := len(fmt.Sprint(f.o.instances))
	for i := range f.o.instances {
		name := fmt.Sprintf("sim-%0*d", width, i+1)
		lc, err := licclient.New(licclient.Config{Client: f.client, LicenseKey: f.o.license, ProductVersion: f.o.version, ReleasedAt: released,
			Keys: keys, IdempotencyPrefix: fmt.Sprintf("fleet-%s-%s", f.runID, name)})
		if err != nil {
			return err
		}
		f.sims = append(f.sims, &simulated{name: name, lc: lc})
	}
	return nil
}

// printf writes a line to stderr; lines of concurrent instances never
// interleave.
func (f *fleet) printf(format string, args ...any) {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	fmt.Fprintf(f.log, format, args...)
}

// say prints one per-instance line, up to fleetMessages of them.
func (f *fleet) say(format string, args ...any) {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	f.messages++
	switch {
	case f.messages <= fleetMessages:
		fmt.Fprintf(f.log, format+"\n", args...)
	case f.messages == fleetMessages+1:
		fmt.Fprintf(f.log, "(more instance messages left out; the progress lines and the summary count them)\n")
	}
}

// probe fails fast, with a hint, when nothing answers at --url; then it
// reads the ledger's public keys and makes the instances.
func (f *fleet) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := f.client.Health(ctx)
	if err == nil {
		var ks *httpclient.LedgerKeys
		if ks, err = f.client.LedgerKeys(ctx); err == nil {
			keys := map[string]ed25519.PublicKey{}
			for _, k := range ks.Keys {
				keys[k.ID] = k.Key
			}
			return f.newSims(keys)
		}
	}
	if status := httpclient.Status(err); status != 0 {
		return fmt.Errorf("%s/healthz answered %d %s: is this a licledger serve?", f.o.url, status, http.StatusText(status))
	}
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue // names the URL already
		}
		return fmt.Errorf("no ledger answers at %s (is `licledger serve` running there?): %v", f.o.url, err)
	}
	return nil
}

// errFatal is an answer no retry can change (a missing or bad token, a
// role that may not activate, a request the ledger finds malformed): the
// run stops and reports it.
type errFatal struct{ msg string }

func (e errFatal) Error() string { return e.msg }

// refused reads a request's error: the reason code the counts use for an
// answered refusal (the API's reason, else its code, else http-<status>
// for an answer not in the API's error shape), "" when the request got no
// answer or succeeded; and an errFatal when the refusal is one every
// instance would get again.
func refused(err error) (reason string, fatal error) {
	e, ok := errors.AsType[*httpclient.Error](err)
	switch {
	case !ok:
		return "", nil
	case e.Code == "":
		return fmt.Sprintf("http-%d", e.Status), nil
	case e.Reason != "":
		reason = e.Reason
	default:
		reason = e.Code
	}
	if fatalRefusal(e.Status, reason) {
		return reason, errFatal{fmt.Sprintf("the ledger refused the simulator's %s: %d %s: %s", e.Path, e.Status, reason, e.Message)}
	}
	return reason, nil
}

// fatalRefusal reports whether a refusal is the simulator's own fault,
// which every instance would get again: the token (not an instance's
// secret: bad-secret is one instance's refusal), or a request the ledger
// finds malformed.
func fatalRefusal(status int, reason string) bool {
	switch reason {
	case domain.ReasonMissingToken, domain.ReasonBadToken, domain.ReasonRole, domain.ReasonNoRoute:
		return true
	}
	return status == http.StatusBadRequest
}

// failure names a request that got no answer, for the counts.
func failure(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection-refused"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	default:
		return "no-answer"
	}
}

// fleetDrain bounds how long the requests in flight when the run ends may
// take to finish.
const fleetDrain = 5 * time.Second

// run drives the fleet until the duration passes or ctx ends, then frees
// the seats (unless --keep-seats) and returns the summary. Its error is a
// fatal answer, which also ends the run.
//
// Ending the run stops new requests; those in flight finish (up to
// fleetDrain) and count, rather than being cut off: a cut-off request is
// one the server was serving, and a clean stop should not make it fail.
func (f *fleet) run(ctx context.Context) (fleetSummary, error) {
	interrupted := ctx
	var cancelDuration context.CancelFunc = func() {}
	if f.o.duration > 0 {
		ctx, cancelDuration = context.WithTimeout(ctx, f.o.duration)
	}
	defer cancelDuration()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	reqs, cancelReqs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReqs()
	drain := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(fleetDrain, cancelReqs)
		<-reqs.Done()
		t.Stop()
	})
	defer drain()

	start := time.Now()
	var wg sync.WaitGroup
	for i, s := range f.sims {
		wg.Go(func() {
			// Spread the instances over the first interval, as a real fleet
			// that did not all boot at the same instant.
			offset := f.o.interval * time.Duration(i) / time.Duration(len(f.sims))
			if err := f.live(ctx, reqs, s, offset); err != nil {
				stop(err)
			}
		})
	}
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		f.progress(ctx, start)
	}()
	wg.Wait()
	elapsed := time.Since(start)
	stop(nil)
	cancelReqs()
	<-progressDone

	sum := f.summary(elapsed)
	sum.Interrupted = interrupted.Err() != nil
	if !f.o.keepSeats {
		sum.Deactivated, sum.DeactivateErr = f.deactivateAll(context.WithoutCancel(interrupted))
	}
	var fe errFatal
	if err := context.Cause(ctx); errors.As(err, &fe) {
		return sum, fe
	}
	return sum, nil
}

// live is one instance's life: activate (again) while it has no seat,
// check in while it has one, every interval, until run ends. Requests go
// out under reqs, which outlives run by the drain.
func (f *fleet) live(run, reqs context.Context, s *simulated, offset time.Duration) error {
	t := time.NewTimer(offset)
	defer t.Stop()
	for {
		select {
		case <-run.Done():
			return nil
		case <-t.C:
		}
		var err error
		if s.lc.NeedsActivation() {
			err = f.activate(reqs, s)
		} else {
			err = f.check(reqs, s)
		}
		if err != nil {
			return err
		}
		t.Reset(f.o.interval)
	}
}

func (f *fleet) activate(ctx context.Context, s *simulated) error {
	// The client keeps the Idempotency-Key until an attempt is answered:
	// a request that got no answer is retried with its key, so an
	// activation that was stored but whose answer was lost hands back the
	// same instance and secret instead of taking a second seat.
	st, err := s.lc.CheckNow(ctx)
	if ctx.Err() != nil {
		return nil // cut off after the drain; it does not count
	}
	reason, fatal := refused(err)
	switch {
	case fatal != nil:
		return fatal
	case badAnswer(err):
		f.stats.activation("bad-answer")
		f.noSeat(s, "activation answer unreadable or unverified", "bad-answer")
		return nil
	case err != nil && reason == "":
		f.stats.activation(failure(err))
		f.noSeat(s, "activation failed", failure(err))
		return nil
	case reason != "":
		f.stats.activation(reason)
		f.noSeat(s, "activation refused", reason)
		return nil
	}
	f.stats.activation("")
	s.id, s.reason = st.Instance, ""
	f.say("%s: activated as instance %s, plan %s (%d instances), answer valid until %s", s.name, st.Instance, st.Answer.Plan.Name, st.Answer.InstanceLimit, st.Answer.ValidUntil)
	return nil
}

// badAnswer reports an answer the license client could not read or
// verify (malformed, unsigned, forged): the ledger answered, but nothing
// a product may run on.
func badAnswer(err error) bool {
	return errors.Is(err, httpclient.ErrMalformedResponse) || domain.ErrorReason(err) == domain.ReasonBadAnswerSignature
}

func (f *fleet) check(ctx context.Context, s *simulated) error {
	start := time.Now()
	_, err := s.lc.CheckNow(ctx)
	took := time.Since(start)
	if ctx.Err() != nil {
		return nil
	}
	reason, fatal := refused(err)
	switch {
	case fatal != nil:
		return fatal
	case err == nil:
		f.stats.checkIn("", took, false)
	case badAnswer(err):
		// Answered, but unreadable or unverified: counted, the seat kept
		// (the product runs on its last good answer).
		f.stats.checkIn("bad-answer", took, false)
	case reason != "":
		// Refused (seat-released, subscription-not-active, ...): the seat
		// is gone, or unusable; the client activates again when a new
		// instance can get a seat.
		f.stats.checkIn(reason, took, s.id != "") // a seat is lost once
		s.id = ""
		f.noSeat(s, "check-in refused, seat lost", reason)
	default:
		// No answer: the product keeps running on its last good check (the
		// client-side grace of R27) and tries again next interval.
		f.stats.mu.Lock()
		f.stats.checkIns.refuse(failure(err))
		f.stats.mu.Unlock()
	}
	return nil
}

// noSeat records why s has no seat, saying so when the reason changes.
func (f *fleet) noSeat(s *simulated, what, reason string) {
	if s.reason != reason {
		f.say("%s: %s: %s", s.name, what, reason)
	}
	s.reason = reason
}

// progress prints a line every --progress until ctx ends.
func (f *fleet) progress(ctx context.Context, start time.Time) {
	if f.o.progress <= 0 {
		return
	}
	tick := time.NewTicker(f.o.progress)
	defer tick.Stop()
	last, lastAt := 0, start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			f.stats.mu.Lock()
			checks := f.stats.checkIns.OK + f.stats.checkIns.refusedTotal()
			held := f.stats.activations.OK - f.stats.seatsLost
			p99 := f.stats.window.quantile(0.99)
			refused := f.stats.activations.refusedTotal()
			f.stats.window = latencyHistogram{}
			f.stats.mu.Unlock()
			rate := float64(checks-last) / now.Sub(lastAt).Seconds()
			f.printf("%6.1fs  seats held %d/%d  check-ins %d (%.0f/s, p99 %.2fms)  activations refused %d\n",
				now.Sub(start).Seconds(), held, len(f.sims), checks, rate, ms(p99), refused)
			last, lastAt = checks, now
		}
	}
}

// summary gathers the counts once every instance has stopped.
func (f *fleet) summary(elapsed time.Duration) fleetSummary {
	f.stats.mu.Lock()
	defer f.stats.mu.Unlock()
	s := fleetSummary{License: f.o.name, Instances: len(f.sims), Seconds: elapsed.Seconds(),
		Activations: f.stats.activations, CheckIns: f.stats.checkIns, SeatsLost: f.stats.seatsLost, KeptSeats: f.o.keepSeats,
		P50ms: ms(f.stats.lat.quantile(0.5)), P99ms: ms(f.stats.lat.quantile(0.99)), MaxMs: ms(f.stats.lat.max),
		answered: f.stats.lat.n}
	checks := s.CheckIns.OK + s.CheckIns.refusedTotal()
	if elapsed > 0 {
		s.CheckInsPerS = float64(checks) / elapsed.Seconds()
	}
	for _, sim := range f.sims {
		switch {
		case sim.id != "":
			s.Activated++
		case sim.reason != "":
			s.Refused.refuse(sim.reason)
		default:
			s.Refused.refuse("never-answered")
		}
	}
	return s
}

// deactivateAll frees the held seats (the product shutting down cleanly),
// a few at a time, within 10 seconds. It runs after an interrupt too.
func (f *fleet) deactivateAll(ctx context.Context) (freed, failed int) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, s := range f.sims {
		if s.id == "" {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := s.lc.Close(ctx) // as a product's clean shutdown does
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				freed++
				return
			}
			failed++
			if failed == 1 {
				why, fatal := refused(err)
				switch {
				case fatal != nil:
					why = fatal.Error()
				case why == "":
					why = err.Error()
				}
				f.printf("%s: could not deactivate instance %s: %s\n", s.name, s.id, why)
			}
		})
	}
	wg.Wait()
	return freed, failed
}
