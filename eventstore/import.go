package eventstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/licledger/licledger/domain"
)

// AppendEncoded stores events that a ledger already stamped and encoded
// (an import of an export), verbatim: the stored bytes are raws, so their
// digests, and the chains through them, are the originals'. It is Append's
// counterpart with the same guarantees: all or none, and only when the
// aggregate is at expectedVersion (ECONFLICT otherwise). Each raw must be a
// valid event of agg that extends the aggregate: version expectedVersion+1,
// +2, ..., prevdigest the digest of the previous event's stored bytes, a
// time not before it (EINVALID otherwise, reason "broken-chain" for a
// wrong version or digest).
func (s *Store) AppendEncoded(ctx context.Context, agg domain.Aggregate, expectedVersion uint64, raws ...[]byte) ([]Record, error) {
	if s.cfg.ReadOnly {
		return nil, domain.Errorf(domain.EFORBIDDEN, "append to %s: the event store was opened read-only", agg)
	}
	if err := validAggregate(agg); err != nil {
		return nil, err
	}
	switch {
	case len(raws) == 0:
		return nil, domain.Errorf(domain.EINVALID, "append to %s: no events", agg)
	case len(raws) > MaxBatch:
		return nil, domain.Errorf(domain.EINVALID, "append to %s: %d events; at most %d go in one atomic append", agg, len(raws), MaxBatch)
	}
	subject := subjectOf(agg)
	recs := make([]Record, len(raws))
	for i, raw := range raws {
		rec, err := decodeRecord(0, subject, raw)
		if err != nil {
			var derr *DecodeError
			if errors.As(err, &derr) {
				err = derr.Err
			}
			return nil, domain.Errorf(domain.EINVALID, "append to %s: event %d: %s", agg, i+1, domain.ErrorMessage(err))
		}
		recs[i] = rec
	}

	hd, err := s.headAt(ctx, subject, expectedVersion)
	if err != nil {
		return nil, err
	}
	if hd.version != expectedVersion {
		return nil, domain.Reasonf(domain.ECONFLICT, domain.ReasonConcurrentUpdate,
			"%s is at version %d, not %d", agg, hd.version, expectedVersion)
	}
	last := hd
	for _, r := range recs {
		e := r.Event
		switch {
		case e.AggregateVersion != last.version+1:
			return nil, domain.Reasonf(domain.EINVALID, domain.ReasonBrokenChain, "append to %s: event %s has version %d, the aggregate is at %d", agg, e.ID, e.AggregateVersion, last.version)
		case e.PrevDigest != last.digest:
			return nil, domain.Reasonf(domain.EINVALID, domain.ReasonBrokenChain, "append to %s: event %s has prevdigest %q, but the aggregate's last event digests to %q", agg, e.ID, e.PrevDigest, last.digest)
		case e.Time.Before(last.time):
			return nil, domain.Errorf(domain.EINVALID, "append to %s: event %s at %s is earlier than the aggregate's last event (%s)", agg, e.ID,
				e.Time.Format(time.RFC3339Nano), last.time.Format(time.RFC3339Nano))
		}
		last = head{version: e.AggregateVersion, digest: domain.Digest(r.Raw), time: e.Time}
	}

	firstSeq, duplicate, err := s.publish(ctx, subject, hd.seq, recs)
	if err != nil {
		s.heads.invalidate(subject, hd)
		switch apiErrorCode(err) {
		case codeWrongLastSequence, codeWrongLastSequenceConstant, codeBatchDuplicateMsgID:
			return nil, domain.Reasonf(domain.ECONFLICT, domain.ReasonConcurrentUpdate, "append to %s: another writer appended first", agg)
		}
		return nil, translate(err, "append to "+agg.String())
	}
	if duplicate {
		s.heads.invalidate(subject, hd)
		return nil, domain.Reasonf(domain.EINVALID, domain.ReasonDuplicateID,
			"append to %s: event id %s is already used by another event", agg, recs[0].Event.ID)
	}
	for i := range recs {
		recs[i].Seq = firstSeq + uint64(i)
	}
	last.seq = recs[len(recs)-1].Seq
	s.heads.advance(subject, last)
	if f := s.appended.Load(); f != nil {
		(*f)(recs)
	}
	return recs, nil
}

// ImportError is Import's refusal of a line of its input.
type ImportError struct {
	Line uint64 // 1-based
	Err  error
}

func (e *ImportError) Error() string {
	return fmt.Sprintf("line %d: %s", e.Line, domain.ErrorMessage(e.Err))
}

func (e *ImportError) Unwrap() error { return e.Err }

// ImportStats says what Import stored.
type ImportStats struct {
	Events     uint64 `json:"events"`
	Aggregates int    `json:"aggregates"`
	LastSeq    uint64 `json:"last_seq"` // the target's last sequence
	// SeqsKept reports whether every event landed at the streamseq it was
	// exported with (true for a complete export of a log with no gaps).
	SeqsKept bool `json:"seqs_kept"`
}

// importAgg is what Import remembers of an aggregate's last event.
type importAgg struct {
	version uint64
	digest  string
	line    uint64
}

// Import stores an export (see AppendExportLine) into this store, which
// must hold no message (ECONFLICT otherwise, before anything is stored).
// Events are stored verbatim (AppendEncoded), in the export's order, one
// at a time, each only after its line checks: a valid export line, stream
// sequences increasing, and each aggregate's chain intact as exported (its
// versions run 1, 2, 3... and each prevdigest is the digest of the
// aggregate's previous line's event). The first bad line stops the import
// with an *ImportError naming it (what was stored before it stays: start
// again on an empty store). Memory is one small entry per aggregate.
// progress, if not nil, is called now and then with the number of events
// stored.
//
// An export filtered by time or sequence range generally starts
// aggregates mid-chain, and is refused: import a complete export, or one
// filtered by aggregate kind or id.
func (s *Store) Import(ctx context.Context, r io.Reader, progress func(events uint64)) (ImportStats, error) {
	st := ImportStats{SeqsKept: true}
	if s.cfg.ReadOnly {
		return st, domain.Errorf(domain.EFORBIDDEN, "import: the event store was opened read-only")
	}
	info, err := s.stream.Info(ctx)
	if err != nil {
		return st, translate(err, "stream info")
	}
	if info.State.Msgs > 0 || info.State.LastSeq > 0 {
		return st, domain.Errorf(domain.ECONFLICT, "import: stream %s is not empty (%d messages, last sequence %d); import only into a new, empty ledger",
			s.cfg.Stream, info.State.Msgs, info.State.LastSeq)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxExportLine)
	aggs := make(map[string]importAgg)
	var lineNo, prevSeq uint64
	fail := func(err error) (ImportStats, error) {
		st.Aggregates = len(aggs)
		return st, &ImportError{Line: lineNo, Err: err}
	}
	for sc.Scan() {
		lineNo++
		if err := ctx.Err(); err != nil {
			return st, err
		}
		line := sc.Bytes()
		if len(line) == 0 {
			return fail(domain.Errorf(domain.EINVALID, "empty line"))
		}
		// The store keeps Raw (heads, observers): not the scanner's buffer.
		rec, err := DecodeExportLine(append([]byte(nil), line...))
		if err != nil {
			return fail(err)
		}
		e := rec.Event
		if rec.Seq <= prevSeq {
			return fail(domain.Errorf(domain.EINVALID, "%s %d after %d: the lines are not in stream order", ExportSeqAttribute, rec.Seq, prevSeq))
		}
		prevSeq = rec.Seq
		agg, err := domain.ParseAggregate(e.Subject)
		if err != nil {
			return fail(err)
		}
		prev := aggs[e.Subject]
		switch {
		case e.AggregateVersion != prev.version+1 && prev.line == 0:
			return fail(domain.Reasonf(domain.EINVALID, domain.ReasonBrokenChain,
				"event %s is version %d of %s, but the export holds none of its earlier events (import a complete export)", e.ID, e.AggregateVersion, e.Subject))
		case e.AggregateVersion != prev.version+1:
			return fail(domain.Reasonf(domain.EINVALID, domain.ReasonBrokenChain,
				"event %s is version %d of %s, but the aggregate's previous event (line %d) is version %d", e.ID, e.AggregateVersion, e.Subject, prev.line, prev.version))
		case e.PrevDigest != prev.digest && prev.line == 0:
			return fail(domain.Reasonf(domain.EINVALID, domain.ReasonBrokenChain,
				"event %s is the first of %s but has prevdigest %q", e.ID, e.Subject, e.PrevDigest))
		case e.PrevDigest != prev.digest:
			return fail(domain.Reasonf(domain.EINVALID, domain.ReasonBrokenChain,
				"event %s has prevdigest %q, but the previous event of %s (line %d) digests to %q: line %d or this line was altered",
				e.ID, e.PrevDigest, e.Subject, prev.line, prev.digest, prev.line))
		}
		stored, err := s.AppendEncoded(ctx, agg, prev.version, rec.Raw)
		if err != nil {
			return fail(err)
		}
		aggs[e.Subject] = importAgg{version: e.AggregateVersion, digest: domain.Digest(rec.Raw), line: lineNo}
		st.Events++
		st.LastSeq = stored[0].Seq
		if stored[0].Seq != rec.Seq {
			st.SeqsKept = false
		}
		if progress != nil && st.Events%1000 == 0 {
			progress(st.Events)
		}
	}
	st.Aggregates = len(aggs)
	if err := sc.Err(); err != nil {
		lineNo++
		if errors.Is(err, bufio.ErrTooLong) {
			return fail(domain.Errorf(domain.EINVALID, "line longer than %d bytes", MaxExportLine))
		}
		return st, fmt.Errorf("read import: %w", err)
	}
	if progress != nil {
		progress(st.Events)
	}
	return st, nil
}
