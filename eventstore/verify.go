package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/licledger/licledger/domain"
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
	Stream     string    `json:"stream"`
	FirstSeq   uint64    `json:"first_seq"`
	LastSeq    uint64    `json:"last_seq"`
	Messages   uint64    `json:"messages"`
	Events     uint64    `json:"events"`
	Aggregates int       `json:"aggregates"`
	Problems   []Problem `json:"problems"`
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
	rep := VerifyReport{Stream: s.cfg.Stream, FirstSeq: first, LastSeq: last}
	total := last
	report := func(p Problem) { rep.Problems = append(rep.Problems, p) }
	missing := func(from, to uint64) {
		if from > to {
			return
		}
		p := Problem{Seq: from, Kind: ProblemMissing}
		if from == to {
			p.Detail = fmt.Sprintf("stream sequence %d holds no message: it was deleted", from)
		} else {
			p.Detail = fmt.Sprintf("stream sequences %d to %d (%d messages) hold no message: they were deleted or purged", from, to, to-from+1)
		}
		report(p)
	}

	aggs := make(map[string]aggState)
	var prev uint64 // last sequence seen
	if progress != nil {
		progress(0, total)
	}
	if last > 0 {
		for rec, err := range s.Read(ctx, 1, UntilSeq(last)) {
			var derr *DecodeError
			if err != nil && !errors.As(err, &derr) {
				return rep, err
			}
			missing(prev+1, rec.Seq-1)
			prev = rec.Seq
			rep.Messages++
			if progress != nil && rep.Messages%1000 == 0 {
				progress(rec.Seq, total)
			}
			if derr != nil {
				report(Problem{Seq: rec.Seq, Subject: derr.Subject, Kind: ProblemMalformed, Detail: domain.ErrorMessage(derr.Err)})
				continue
			}
			rep.Events++
			checkEvent(aggs, rec, report)
		}
	}
	missing(prev+1, last)
	rep.Aggregates = len(aggs)
	if progress != nil {
		progress(total, total)
	}
	return rep, nil
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
