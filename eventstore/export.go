package eventstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/licledger/licledger/domain"
)

// Export format: CloudEvents JSON lines (JSON Lines, one event per line,
// "\n" after each). A line is the event exactly as stored (its canonical
// JSON, the bytes whose domain.Digest the aggregate's next event carries
// as prevdigest) with one extension attribute put first:
//
//	{"streamseq":42,"specversion":"1.0","id":"01J...",...,"data":{...}}
//
// streamseq is the event's JetStream stream sequence (a JSON number): its
// position in the ledger's log. CloudEvents extension names are lowercase
// letters and digits, so the ledger's own log position is "streamseq".
// Removing `"streamseq":N,` gives back the stored bytes byte for byte, so
// an export verifies (every chain) without the ledger and an import
// stores exactly what was exported.

// ExportSeqAttribute is the CloudEvents extension attribute an export line
// carries its stream sequence in.
const ExportSeqAttribute = "streamseq"

const exportLinePrefix = `{"` + ExportSeqAttribute + `":`

// MaxExportLine bounds one export line a reader accepts: an event is at
// most a NATS message (1 MiB by default; a server may allow up to 64 MiB).
const MaxExportLine = 64<<20 + 64

// AppendExportLine appends rec as an export line, "\n" included, to dst.
// rec must be a record Read yielded without error. It fails (EINVALID) for
// stored bytes that are not one line of JSON object (never the case for
// events the ledger wrote).
func AppendExportLine(dst []byte, rec Record) ([]byte, error) {
	raw := rec.Raw
	if len(raw) < 2 || raw[0] != '{' || raw[1] != '"' || hasLineBreak(raw) {
		return dst, domain.Errorf(domain.EINVALID, "stream sequence %d: the stored event is not one line of JSON object and cannot be exported", rec.Seq)
	}
	dst = append(dst, exportLinePrefix...)
	dst = strconv.AppendUint(dst, rec.Seq, 10)
	dst = append(dst, ',')
	dst = append(dst, raw[1:]...)
	return append(dst, '\n'), nil
}

// hasLineBreak reports whether b holds "\n" or "\r": two IndexByte
// scans (vectorised) rather than one IndexAny, which goes byte by byte and
// was a tenth of an export's CPU.
func hasLineBreak(b []byte) bool {
	return bytes.IndexByte(b, '\n') >= 0 || bytes.IndexByte(b, '\r') >= 0
}

// DecodeExportLine decodes one export line (with or without its trailing
// "\n" or "\r\n") into the record it was written from: Seq is the
// exported streamseq, Raw the stored bytes, Event their decoding. Raw and
// Event share line's memory, and DecodeExportLine overwrites one byte of
// line (the comma after streamseq becomes the event's "{"): pass a copy
// to keep the line. Errors are EINVALID.
func DecodeExportLine(line []byte) (Record, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	rest, ok := bytes.CutPrefix(line, []byte(exportLinePrefix))
	if !ok {
		return Record{}, domain.Errorf(domain.EINVALID, "not an export line: it does not start with %s", exportLinePrefix)
	}
	comma := bytes.IndexByte(rest, ',')
	if comma < 0 {
		return Record{}, domain.Errorf(domain.EINVALID, "not an export line: no attribute after %s", ExportSeqAttribute)
	}
	seq, ok := parseDecimal(string(rest[:comma]))
	if !ok || seq == 0 || (comma > 1 && rest[0] == '0') {
		return Record{}, domain.Errorf(domain.EINVALID, "%s %q is not a stream sequence", ExportSeqAttribute, rest[:comma])
	}
	// The stored bytes are "{" and what follows the comma: overwrite the
	// comma in place rather than copy the event.
	raw := rest[comma:]
	raw[0] = '{'
	if hasLineBreak(raw) {
		return Record{}, domain.Errorf(domain.EINVALID, "an export line holds one event on one line")
	}
	ev, fast := decodeFast(raw)
	if !fast {
		var err error
		if ev, err = domain.DecodeEvent(raw); err != nil {
			return Record{}, err
		}
	}
	return Record{Seq: seq, Event: ev, Raw: raw}, nil
}

// ExportFilter selects what Export writes. The zero value is the whole log.
type ExportFilter struct {
	// Kinds, if set, keeps only aggregates of these kinds.
	Kinds []string
	// Aggregates, if set, keeps only these aggregates (and, with Kinds,
	// only those of its kinds).
	Aggregates []domain.Aggregate
	// FromSeq and ToSeq (0: unbounded) bound the stream sequences,
	// inclusive. Resume an interrupted export with FromSeq = the last
	// exported streamseq + 1.
	FromSeq, ToSeq uint64
	// Since and Until (zero: unbounded) bound the event times, inclusive.
	Since, Until time.Time
}

// ExportStats says what Export wrote.
type ExportStats struct {
	Events   uint64 `json:"events"`
	FirstSeq uint64 `json:"first_seq,omitempty"` // of the first event written
	LastSeq  uint64 `json:"last_seq,omitempty"`  // of the last event written
	// EndSeq is the log's last sequence the export covered (ToSeq, or the
	// stream's last sequence when it started): resume after it.
	EndSeq uint64 `json:"end_seq"`
}

// Export writes the events f selects, in stream order, as export lines to
// w (buffered here; w needs none), up to the stream's last sequence when
// it starts. Memory is constant: one event at a time. progress, if not
// nil, is called now and then with the stream sequence reached and the
// last one to export. A malformed message in the selection fails the
// export with its sequence (run `licledger audit verify`); an error of w
// or the context ends it, and the stats say how far it got.
func (s *Store) Export(ctx context.Context, w io.Writer, f ExportFilter, progress func(done, total uint64)) (ExportStats, error) {
	var st ExportStats
	for _, a := range f.Aggregates {
		if err := validAggregate(a); err != nil {
			return st, err
		}
	}
	end, err := s.LastSeq(ctx)
	if err != nil {
		return st, err
	}
	if f.ToSeq > 0 && f.ToSeq < end {
		end = f.ToSeq
	}
	st.EndSeq = end
	var opts []ReadOption
	switch {
	case len(f.Aggregates) > 0:
		aggs := f.Aggregates
		if len(f.Kinds) > 0 {
			aggs = slices.DeleteFunc(slices.Clone(aggs), func(a domain.Aggregate) bool { return !slices.Contains(f.Kinds, a.Kind) })
			if len(aggs) == 0 {
				return st, nil // no aggregate named is of a kind asked for
			}
		}
		opts = append(opts, OnlyAggregates(aggs...))
	case len(f.Kinds) > 0:
		opts = append(opts, OnlyKinds(f.Kinds...))
	}
	if !f.Until.IsZero() {
		opts = append(opts, UntilTime(f.Until))
	}
	if progress != nil {
		progress(0, end)
	}
	if end == 0 || f.FromSeq > end {
		return st, nil
	}
	opts = append(opts, UntilSeq(end))

	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	var n uint64
	for rec, err := range s.Read(ctx, f.FromSeq, opts...) {
		if err != nil {
			// What was counted is written, so the stats say where to
			// resume.
			if ferr := bw.Flush(); ferr != nil {
				return st, fmt.Errorf("write export: %w", ferr)
			}
			var derr *DecodeError
			if errors.As(err, &derr) {
				return st, domain.Errorf(domain.EINTERNAL, "stream sequence %d is not a valid event (%v); run `licledger audit verify`", derr.Seq, domain.ErrorMessage(derr.Err))
			}
			return st, err
		}
		n++
		if progress != nil && n%1000 == 0 {
			progress(rec.Seq, end)
		}
		if !f.Since.IsZero() && rec.Event.Time.Before(f.Since) {
			continue
		}
		if line, err = AppendExportLine(line[:0], rec); err != nil {
			return st, err
		}
		if _, err := bw.Write(line); err != nil {
			return st, fmt.Errorf("write export: %w", err)
		}
		if st.Events == 0 {
			st.FirstSeq = rec.Seq
		}
		st.Events++
		st.LastSeq = rec.Seq
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("write export: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	if progress != nil {
		progress(end, end)
	}
	return st, nil
}
