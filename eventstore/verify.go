package eventstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/nats-io/nats.go/jetstream"
)

// Kinds of Problem that Verify reports.
const (
	// ProblemMissing: stream sequences that hold no message: deleted or
	// purged behind the ledger's back (the ledger never deletes, R31).
	ProblemMissing = "missing-sequence"
	// ProblemMalformed: a message that is not a valid event.
	ProblemMalformed = "malformed"
	// ProblemBrokenChain: an event whose prevdigest is not the digest of
	// the aggregate's previous event: that event was altered or replaced.
	ProblemBrokenChain = "broken-chain"
	// ProblemVersionGap: aggregate versions skipped (events removed).
	ProblemVersionGap = "version-gap"
	// ProblemVersionDuplicate: an aggregate version seen again or out of
	// order (an event inserted or replayed).
	ProblemVersionDuplicate = "version-duplicate"
	// ProblemTimeBackwards: an event earlier than the aggregate's previous
	// one (the ledger never stamps such a time).
	ProblemTimeBackwards = "time-backwards"
	// ProblemForeign: an event without a valid ledger mark after marking
	// began: the ledger did not write it (mark.go).
	ProblemForeign = "foreign"
)

// Problem is one finding of Verify, at a stream sequence.
type Problem struct {
	Seq     uint64 `json:"seq"`
	Subject string `json:"subject,omitempty"` // JetStream subject, or the aggregate
	Kind    string `json:"kind"`
	Detail  string `json:"detail"`
}

// VerifyReport is the result of Verify. OK reports whether it found no
// problem.
type VerifyReport struct {
	Stream     string `json:"stream"`
	FirstSeq   uint64 `json:"first_seq"`
	LastSeq    uint64 `json:"last_seq"`
	Messages   uint64 `json:"messages"`
	Events     uint64 `json:"events"`
	Aggregates int    `json:"aggregates"`
	// Authorship says whether marks were checked (AuthorshipChecked) or
	// why not; LegacyUnmarked counts the events before the first marked
	// one, written before marking existed (not a problem).
	Authorship     string    `json:"authorship"`
	LegacyUnmarked uint64    `json:"legacy_unmarked"`
	Problems       []Problem `json:"problems"`
}

// OK reports whether the log verified clean.
func (r VerifyReport) OK() bool { return len(r.Problems) == 0 }

// aggState is what Verify remembers of an aggregate's last good event.
type aggState struct {
	seq     uint64
	version uint64
	digest  string
	time    time.Time
}

// Verify walks the whole log and checks that nothing was removed, altered
// or reordered (R31, R33): stream sequences are contiguous from 1, every
// message is a valid event stored under its aggregate's subject, each
// aggregate's versions run 1, 2, 3... and each event's prevdigest is the
// digest of the aggregate's previous event's stored bytes, and time never
// goes backwards within an aggregate. It returns every problem found with
// its sequence; the error is only for failing to read the log.
//
// progress, if not nil, is called now and then with the stream sequence
// reached and the last sequence to check. Verify reads the log once; its memory is one
// small entry per aggregate.
//
// What the chain cannot show: the last event of an aggregate has no
// successor to vouch for it. It is still covered by the stream's sequence
// continuity: replacing it means deleting it (a missing sequence), and the
// stream refuses deletes unless created Mutable.
func (s *Store) Verify(ctx context.Context, progress func(done, total uint64)) (VerifyReport, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return VerifyReport{}, translate(err, "stream info")
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	rep := VerifyReport{Stream: s.cfg.Stream, FirstSeq: first, LastSeq: last, Authorship: AuthorshipNotChecked}
	w := newWalk(s.cfg.Mark)
	if w.auth != nil {
		rep.Authorship = AuthorshipChecked
	}
	if progress != nil {
		progress(0, last)
	}
	if last > 0 {
		var mark string
		opts := []ReadOption{UntilSeq(last)}
		if w.auth != nil {
			opts = append(opts, withMsg(func(m jetstream.Msg) { mark = m.Headers().Get(MarkHeader) }))
		}
		for rec, err := range s.Read(ctx, 1, opts...) {
			if err := w.add(rec, err, mark); err != nil {
				return rep, err
			}
			if progress != nil && w.messages%1000 == 0 {
				progress(rec.Seq, last)
			}
		}
	}
	w.end(last)
	w.fill(&rep)
	if progress != nil {
		progress(last, last)
	}
	return rep, nil
}

// Authorship states of a VerifyReport.
const (
	AuthorshipChecked    = "checked"
	AuthorshipNotChecked = "not checked: no ledger key (verify with --data on the ledger's data directory, or rely on a signed checkpoint's foreign list)"
)

// walk is one pass over the log in stream order, shared by Verify and the
// checkpoint code: sequence continuity, the per-aggregate chains, and,
// given the mark key, authorship.
type walk struct {
	aggs     map[string]aggState // by aggregate (the event subject)
	prev     uint64              // last sequence seen
	messages uint64
	events   uint64
	problems []Problem
	auth     *authorship
}

func newWalk(k *MarkKey) *walk {
	w := &walk{aggs: make(map[string]aggState)}
	if k != nil {
		w.auth = &authorship{key: k}
	}
	return w
}

func (w *walk) report(p Problem) { w.problems = append(w.problems, p) }

// add takes one item of Read (mark: the message's mark header, if read).
// It returns only an error that ends the walk (reading failed).
func (w *walk) add(rec Record, err error, mark string) error {
	var derr *DecodeError
	if err != nil && !errors.As(err, &derr) {
		return err
	}
	w.missing(w.prev+1, rec.Seq-1)
	w.prev = rec.Seq
	w.messages++
	if derr != nil {
		w.report(Problem{Seq: rec.Seq, Subject: derr.Subject, Kind: ProblemMalformed, Detail: domain.ErrorMessage(derr.Err)})
		return nil
	}
	w.events++
	checkEvent(w.aggs, rec, w.report)
	if w.auth != nil {
		if state, foreign := w.auth.see(rec.Seq, rec.Raw, mark); foreign {
			w.report(Problem{Seq: rec.Seq, Subject: rec.Event.Subject, Kind: ProblemForeign,
				Detail: fmt.Sprintf("event %s carries a %s ledger mark: the ledger did not write it (published straight to the stream)", rec.Event.ID, state)})
		}
	}
	return nil
}

// end reports the sequences after the last one seen up to last as missing.
func (w *walk) end(last uint64) { w.missing(w.prev+1, last) }

func (w *walk) missing(from, to uint64) {
	if from > to {
		return
	}
	p := Problem{Seq: from, Kind: ProblemMissing}
	if from == to {
		p.Detail = fmt.Sprintf("stream sequence %d holds no message: it was deleted", from)
	} else {
		p.Detail = fmt.Sprintf("stream sequences %d to %d (%d messages) hold no message: they were deleted or purged", from, to, to-from+1)
	}
	w.report(p)
}

func (w *walk) fill(rep *VerifyReport) {
	rep.Messages, rep.Events, rep.Aggregates, rep.Problems = w.messages, w.events, len(w.aggs), w.problems
	if w.auth != nil {
		rep.LegacyUnmarked = w.auth.legacy
	}
}

// heads returns every aggregate's chain head as of the walk.
func (w *walk) heads() []domain.ChainHead {
	hs := make([]domain.ChainHead, 0, len(w.aggs))
	for agg, st := range w.aggs {
		hs = append(hs, domain.ChainHead{Aggregate: agg, Version: st.version, Digest: st.digest})
	}
	return hs
}

// authorship follows the marks in stream order: events before the first
// valid mark are legacy (written before marking existed); after it, an
// event without a valid mark is foreign. A mark that does not verify is
// foreign wherever it is: nobody but the key's holder writes marks.
type authorship struct {
	key     *MarkKey
	started bool
	legacy  uint64
	foreign []uint64
}

func (a *authorship) see(seq uint64, raw []byte, mark string) (state string, foreign bool) {
	state = a.key.check(mark, raw)
	switch {
	case state == MarkValid:
		a.started = true
		return state, false
	case state == MarkMissing && !a.started:
		a.legacy++
		return state, false
	}
	a.foreign = append(a.foreign, seq)
	return state, true
}

// checkEvent checks one event against its aggregate's previous good event
// and records it as the new one when it extends the aggregate.
func checkEvent(aggs map[string]aggState, rec Record, report func(Problem)) {
	e := rec.Event
	st, seen := aggs[e.Subject]
	want := st.version + 1
	digest := domain.Digest(rec.Raw)
	p := Problem{Seq: rec.Seq, Subject: e.Subject}
	switch {
	case e.AggregateVersion < want:
		p.Kind = ProblemVersionDuplicate
		p.Detail = fmt.Sprintf("event %s claims version %d, but the aggregate is already at version %d (stream sequence %d)", e.ID, e.AggregateVersion, st.version, st.seq)
		report(p)
		return // keep following the chain of the events already seen
	case e.AggregateVersion > want:
		p.Kind = ProblemVersionGap
		p.Detail = fmt.Sprintf("event %s has version %d; versions %d to %d are missing", e.ID, e.AggregateVersion, want, e.AggregateVersion-1)
		report(p)
	case e.PrevDigest != st.digest:
		p.Kind = ProblemBrokenChain
		if seen {
			p.Detail = fmt.Sprintf("event %s (version %d) has prevdigest %q, but version %d at stream sequence %d digests to %q: an event was altered or replaced",
				e.ID, e.AggregateVersion, e.PrevDigest, st.version, st.seq, st.digest)
		} else {
			p.Detail = fmt.Sprintf("event %s is the aggregate's first but has prevdigest %q", e.ID, e.PrevDigest)
		}
		report(p)
	}
	if seen && e.Time.Before(st.time) {
		report(Problem{Seq: rec.Seq, Subject: e.Subject, Kind: ProblemTimeBackwards,
			Detail: fmt.Sprintf("event %s at %s is earlier than version %d at %s", e.ID, e.Time.Format(time.RFC3339Nano), st.version, st.time.Format(time.RFC3339Nano))})
	}
	aggs[e.Subject] = aggState{seq: rec.Seq, version: e.AggregateVersion, digest: digest, time: e.Time}
}

// VerifyRecords is Verify over a log read elsewhere (the lines of a full
// export, in stream order): the same checks, without authorship (an
// export carries no marks) and without the stream's end (a log cut at its
// tail still verifies here; a checkpoint catches that).
func VerifyRecords(log iter.Seq2[Record, error]) (VerifyReport, error) {
	w := newWalk(nil)
	rep := VerifyReport{Authorship: AuthorshipNotChecked}
	for rec, err := range log {
		if err := w.add(rec, err, ""); err != nil {
			return rep, err
		}
		if rep.FirstSeq == 0 {
			rep.FirstSeq = rec.Seq
		}
	}
	rep.LastSeq = w.prev
	w.fill(&rep)
	return rep, nil
}
