package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/licledger/licledger/adapters/httpapi"
	"github.com/licledger/licledger/adapters/licensefile"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/fixtures"
)

// stdin is where "--events -" reads; tests replace it.
var stdin io.Reader = os.Stdin

func init() {
	register("replay", "print an aggregate's view (or every one's) as of an instant from an event history or export file (no server)", runReplay)
}

// runReplay folds a JSON-lines history (the fixture format, see
// fixtures/README.md, or the lines of `licledger export`) with the domain
// alone and prints what the HTTP API answers for the same history and
// instant, byte for byte: a platform's entitlement (GET
// /v1/platforms/{id}/entitlement), a subscription, perpetual license or
// coupon view (GET /v1/subscriptions/{id}, /v1/perpetual/{id},
// /v1/coupons/{code} with ?at=), or with --all every aggregate's view in
// one JSON object keyed by subject.
//
// A platform's history is first checked against the rules the ledger
// writes by (domain.CheckPlatformHistory, the guards DecidePlatform uses):
// a history the ledger would not have written, such as the deletion of a
// USB key's license (R14), is refused, naming the line, the event and the
// refusal's reason word, rather than evaluated as if it could happen.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	eventsPath := fs.String("events", "", "JSON-lines event history or `licledger export` file to replay, `FILE` or - for stdin (required)")
	platform := fs.String("platform", "", "platform `ID` to evaluate (the same as --aggregate platform/ID)")
	aggFlag := fs.String("aggregate", "", "aggregate to evaluate, `KIND/ID`: platform/ID, subscription/ID, perpetual/ID or coupon/CODE")
	all := fs.Bool("all", false, "print every aggregate's view as one JSON object keyed by subject (sorted)")
	atFlag := fs.String("at", "", "`INSTANT` to evaluate, RFC 3339 (default: the time of the aggregate's last event; with --all, of the log's)")
	trusted := fs.String("trusted-keys", "", "with --with: vendor public key `FILE_OR_DIR`; upload_license and upload_bundle then take signed license files and bundles, verified as serve --trusted-keys does (default: license JSON)")
	withFlag := fs.String("with", "", "JSON `FILE`: a list of hypothetical commands (the commands of POST .../simulate) to decide and fold at the instant; prints the view after them (platforms and subscriptions)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: licledger replay --events FILE (--aggregate KIND/ID | --platform ID | --all) [--at INSTANT] [--with FILE [--trusted-keys FILE_OR_DIR]]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	chosen := 0
	for _, set := range []bool{*platform != "", *aggFlag != "", *all} {
		if set {
			chosen++
		}
	}
	if *eventsPath == "" || chosen != 1 {
		fmt.Fprintln(stderr, "replay: --events and one of --aggregate, --platform or --all are required")
		fs.Usage()
		return errUsage
	}
	var agg domain.Aggregate
	switch {
	case *platform != "":
		agg = domain.Aggregate{Kind: domain.KindPlatform, ID: *platform}
	case *aggFlag != "":
		a, err := domain.ParseAggregate(*aggFlag)
		if err != nil {
			return domain.Errorf(domain.EINVALID, "--aggregate %q: %s (want platform/ID, subscription/ID, perpetual/ID or coupon/CODE)", *aggFlag, domain.ErrorMessage(err))
		}
		agg = a
	}
	var at time.Time
	if *atFlag != "" {
		t, err := time.Parse(time.RFC3339, *atFlag)
		if err != nil {
			return domain.Errorf(domain.EINVALID, "--at %q is not an RFC 3339 instant (e.g. 2026-03-01T00:00:00Z)", *atFlag)
		}
		at = t.UTC()
	}

	h, err := readHistory(*eventsPath)
	if err != nil {
		return err
	}
	var out []byte
	switch {
	case *withFlag != "" && *all:
		return domain.Errorf(domain.EINVALID, "--with simulates one aggregate: give --aggregate, not --all")
	case *withFlag != "":
		var verifier httpapi.LicenseVerifier
		if *trusted != "" {
			keys, err := licensefile.LoadPublicKeys(*trusted)
			if err != nil {
				return err
			}
			v, err := licensefile.NewVerifier(keys, licensefile.Limits{})
			if err != nil {
				return domain.Errorf(domain.EINVALID, "--trusted-keys %s: %s", *trusted, domain.ErrorMessage(err))
			}
			verifier = signedLicenses{v: v}
		}
		out, err = replayWith(*eventsPath, h, agg, at, *withFlag, verifier)
	case *all:
		out, err = replayAll(*eventsPath, h, at)
	default:
		out, err = replayOne(*eventsPath, h, agg, at)
	}
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

// replayOne renders one aggregate's view as of at (zero: its last event).
// An aggregate the history holds no event of is ENOTFOUND with the
// reason the API gives for it.
func replayOne(path string, h history, agg domain.Aggregate, at time.Time) ([]byte, error) {
	events := h.events
	if agg.Kind == domain.KindPlatform {
		if err := checkHistory(path, events, h.lines, agg.ID); err != nil {
			return nil, err
		}
	}
	if at.IsZero() {
		last, ok := lastEventTime(events, agg.String())
		if !ok {
			return nil, missing(path, agg)
		}
		at = last
	} else if _, ok := lastEventTime(events, agg.String()); !ok {
		return nil, missing(path, agg)
	}
	return renderView(h, agg, at)
}

// replayWith folds the aggregate's history up to at (zero: its last
// event), decides and folds the hypothetical commands of file on it at
// that instant with the domain's own rules (what POST .../simulate does),
// and prints the view after them, as the API prints the view. A refused
// command is the ledger's refusal, naming its index.
func replayWith(path string, h history, agg domain.Aggregate, at time.Time, file string, verifier httpapi.LicenseVerifier) ([]byte, error) {
	last, ok := lastEventTime(h.events, agg.String())
	if !ok {
		return nil, missing(path, agg)
	}
	if at.IsZero() {
		at = last
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, domain.Errorf(domain.EINVALID, "--with: %v", err)
	}
	bad := func(err error) error {
		return domain.Errorf(domain.EINVALID, "--with %s: not a JSON list of hypothetical commands: %v", file, err)
	}
	switch agg.Kind {
	case domain.KindPlatform:
		if err := checkHistory(path, h.events, h.lines, agg.ID); err != nil {
			return nil, err
		}
		var cmds []httpapi.PlatformWhatIf
		if err := json.Unmarshal(raw, &cmds); err != nil {
			return nil, bad(err)
		}
		deciders, err := httpapi.PlatformDeciders(cmds, verifier)
		if err != nil {
			return nil, err
		}
		st, err := domain.PlatformAsOf(h.events, agg.ID, at)
		if err != nil {
			return nil, err
		}
		sim, err := httpapi.SimulatePlatform(st, at, deciders)
		if err != nil {
			return nil, err
		}
		ent := sim.After()
		ent.AsOf = h.position(agg, at)
		ent.SetSeqs(h.seqsByID())
		return domain.MarshalEntitlement(ent)
	case domain.KindSubscription:
		var cmds []httpapi.SubscriptionWhatIf
		if err := json.Unmarshal(raw, &cmds); err != nil {
			return nil, bad(err)
		}
		deciders, err := httpapi.SubscriptionDeciders(cmds)
		if err != nil {
			return nil, err
		}
		st, err := domain.SubscriptionAsOf(h.events, agg.ID, at)
		if err != nil {
			return nil, err
		}
		sim, err := domain.Simulate(st, (*domain.SubscriptionState).Clone, domain.EvolveSubscription, at, deciders)
		if err != nil {
			return nil, err
		}
		doc, err := domain.SubscriptionView(sim, at)
		if err != nil {
			return nil, err
		}
		return indentView(agg, doc)
	}
	return nil, domain.Errorf(domain.EINVALID, "--with simulates platforms and subscriptions, not %s", agg.Kind)
}

// missing is the refusal of an aggregate the history does not hold: the
// command layer's not-found refusal of its kind (the API's 404), naming
// the file.
func missing(path string, agg domain.Aggregate) error {
	var err error
	switch agg.Kind {
	case domain.KindPlatform:
		err = eventstore.Platforms.Missing(agg.ID)
	case domain.KindSubscription:
		err = eventstore.Subscriptions.Missing(agg.ID)
	case domain.KindPerpetual:
		err = eventstore.Perpetuals.Missing(agg.ID)
	default:
		err = eventstore.Coupons.Missing(agg.ID)
	}
	return &domain.Error{Code: domain.ErrorCode(err), Reason: domain.ErrorReason(err), Message: fmt.Sprintf("%s holds no event of %s %q", path, agg.Kind, agg.ID)}
}

// renderView is the document the HTTP API answers for the aggregate as
// of at: the bytes of domain.MarshalEntitlement for a platform, the
// indented JSON of the domain's view (writeJSON's) for the others; with
// the log position (as_of) when the history is an export, whose lines
// carry their stream sequences.
func renderView(h history, agg domain.Aggregate, at time.Time) ([]byte, error) {
	var (
		doc any
		err error
	)
	events, pos := h.events, h.position(agg, at)
	switch agg.Kind {
	case domain.KindPlatform:
		s, err := domain.PlatformAsOf(events, agg.ID, at)
		if err != nil {
			return nil, err
		}
		ent := domain.PlatformEntitlement(s, at)
		ent.AsOf = pos
		ent.SetSeqs(h.seqsByID())
		return domain.MarshalEntitlement(ent)
	case domain.KindSubscription:
		var s *domain.SubscriptionState
		if s, err = domain.SubscriptionAsOf(events, agg.ID, at); err == nil {
			var d domain.SubscriptionDoc
			d, err = domain.SubscriptionView(s, at)
			d.AsOf = pos
			doc = d
		}
	case domain.KindPerpetual:
		var s *domain.PerpetualState
		if s, err = domain.PerpetualAsOf(events, agg.ID, at); err == nil {
			var d domain.PerpetualDoc
			d, err = domain.PerpetualView(s, at)
			d.AsOf = pos
			doc = d
		}
	case domain.KindCoupon:
		var s *domain.CouponState
		if s, err = domain.CouponAsOf(events, agg.ID, at); err == nil {
			var d domain.CouponDoc
			d, err = domain.CouponView(s, at)
			d.AsOf = pos
			doc = d
		}
	default:
		return nil, domain.Errorf(domain.EINVALID, "unknown aggregate kind %q", agg.Kind)
	}
	if err != nil {
		return nil, err
	}
	return indentView(agg, doc)
}

// indentView prints a view as the API's writeJSON does.
func indentView(agg domain.Aggregate, doc any) ([]byte, error) {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, domain.Errorf(domain.EINTERNAL, "encode the view of %s: %v", agg, err)
	}
	return append(b, '\n'), nil
}

// replayAll renders, as one indented JSON object keyed by subject (in
// sorted order), the view of every aggregate with an event at or before
// at (zero: the log's last event); aggregates that do not exist yet then
// are left out.
func replayAll(path string, h history, at time.Time) ([]byte, error) {
	events := h.events
	if at.IsZero() && len(events) > 0 {
		at = events[len(events)-1].Time.UTC()
	}
	views := map[string]json.RawMessage{}
	for _, e := range events {
		if e.Time.After(at) {
			break // times never go backwards in a history (ParseLines)
		}
		if _, done := views[e.Subject]; done {
			continue
		}
		agg, err := domain.ParseAggregate(e.Subject)
		if err != nil {
			return nil, err
		}
		if agg.Kind == domain.KindPlatform {
			if err := checkHistory(path, events, h.lines, agg.ID); err != nil {
				return nil, err
			}
		}
		b, err := renderView(h, agg, at)
		if err != nil {
			return nil, &domain.Error{Code: domain.ErrorCode(err), Reason: domain.ErrorReason(err), Message: e.Subject + ": " + domain.ErrorMessage(err)}
		}
		views[e.Subject] = b
	}
	b, err := json.MarshalIndent(views, "", "  ") // map keys are sorted
	if err != nil {
		return nil, domain.Errorf(domain.EINTERNAL, "encode the views: %v", err)
	}
	return append(b, '\n'), nil
}

// lastEventTime is the time of subject's last event in a log, and false
// if it has none.
func lastEventTime(events []domain.Event, subject string) (time.Time, bool) {
	for _, e := range slices.Backward(events) {
		if e.Subject == subject {
			return e.Time.UTC(), true
		}
	}
	return time.Time{}, false
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

// history is a parsed history file: its events, their line numbers and,
// for an export, their stream sequences (nil otherwise).
type history struct {
	events []domain.Event
	lines  []int
	seqs   []uint64
}

// position is the log position of agg's view as of at: the sequence of
// its last event at or before at; nil when the history has no sequences.
func (h history) position(agg domain.Aggregate, at time.Time) *domain.LogPosition {
	if h.seqs == nil {
		return nil
	}
	pos := domain.Position(at, 0)
	for i, e := range h.events {
		if e.Subject == agg.String() && !e.Time.After(at) {
			pos.Seq = h.seqs[i]
		}
	}
	return pos
}

// seqsByID is the stream sequence of each event by id (empty without
// sequences).
func (h history) seqsByID() map[string]uint64 {
	out := make(map[string]uint64, len(h.seqs))
	for i, seq := range h.seqs {
		out[h.events[i].ID] = seq
	}
	return out
}

// readHistory parses a history file, or stdin for "-", and returns its
// events with their line numbers (and sequences, for an export). Errors
// name the file and keep the domain code (a malformed line is EINVALID
// with its line number).
//
// Lines of `licledger export` (eventstore's export format: a stored event
// with a leading "streamseq" attribute) are accepted too: the attribute is
// checked and removed, which gives back the stored event, and the result
// is parsed (and its versions and digest chain checked) as a history line.
func readHistory(path string) (history, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return history{}, domain.Errorf(domain.EINVALID, "cannot read the history: %v", err)
		}
		defer f.Close()
		r = f
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return history{}, domain.Errorf(domain.EINVALID, "cannot read the history: %v", err)
	}
	raw, seqByLine, err := stripExportSeq(raw)
	if err != nil {
		return history{}, &domain.Error{Code: domain.ErrorCode(err), Reason: domain.ErrorReason(err), Message: path + ": " + domain.ErrorMessage(err)}
	}
	events, lines, err := fixtures.ParseLines(bytes.NewReader(raw))
	if err != nil {
		return history{}, &domain.Error{Code: domain.ErrorCode(err), Reason: domain.ErrorReason(err), Message: path + ": " + domain.ErrorMessage(err)}
	}
	h := history{events: events, lines: lines}
	if len(seqByLine) > 0 {
		h.seqs = make([]uint64, len(events))
		for i, n := range lines {
			h.seqs[i] = seqByLine[n]
		}
	}
	return h, nil
}

// exportPrefix starts every export line.
var exportPrefix = []byte(`{"` + eventstore.ExportSeqAttribute + `":`)

// stripExportSeq turns export lines into the stored events they carry,
// keeping every other line and the line count as they are, and returns
// the stream sequence of each export line by line number.
func stripExportSeq(raw []byte) ([]byte, map[int]uint64, error) {
	if !bytes.Contains(raw, exportPrefix) {
		return raw, nil, nil
	}
	var out []byte
	seqs := map[int]uint64{}
	for n, line := range bytes.SplitAfter(raw, []byte("\n")) {
		text := bytes.TrimLeft(line, " \t")
		if !bytes.HasPrefix(text, exportPrefix) {
			out = append(out, line...)
			continue
		}
		rec, err := eventstore.DecodeExportLine(bytes.Clone(bytes.TrimRight(text, " \t\r\n")))
		if err != nil {
			return nil, nil, domain.Errorf(domain.EINVALID, "line %d: %s", n+1, domain.ErrorMessage(err))
		}
		seqs[n+1] = rec.Seq
		out = append(out, rec.Raw...)
		out = append(out, '\n')
	}
	return out, seqs, nil
}
