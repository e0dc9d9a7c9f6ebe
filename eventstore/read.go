package eventstore

import (
	"context"
	"errors"
	"iter"
	"strings"
	"time"

	"github.com/licledger/licledger/domain"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// readPull is how many messages an ordered consumer asks for at once.
	// The benchmark's raw baseline uses the same value, so the ratio
	// measures the store's own cost.
	readPull = 1000
	// consumerIdle is when the server deletes a reader's ephemeral
	// consumer that was not deleted explicitly (a crashed reader).
	consumerIdle = time.Minute
	// readHeartbeat is how often an idle reader's consumer says it is
	// alive (see consume).
	readHeartbeat = time.Second
)

// ReadOption limits Read.
type ReadOption func(*readOptions)

type readOptions struct {
	untilTime time.Time
	untilSeq  uint64
	kinds     []string
	subjects  []string // single aggregates, as JetStream subjects
	// onMsg, if set, sees each message before its record is yielded:
	// how Verify reads the authorship mark header (withMsg).
	onMsg func(m jetstream.Msg)
}

// withMsg passes each message to f before its record is yielded.
func withMsg(f func(m jetstream.Msg)) ReadOption { return func(o *readOptions) { o.onMsg = f } }

// UntilTime leaves out events whose Time is after t ("as of t"). Ledger
// time is non-decreasing within an aggregate but not across aggregates
// (two writers race), so Read still scans to the end of the log and skips
// later events rather than stopping at the first one. Malformed messages
// have no trustworthy time and are always yielded as errors.
func UntilTime(t time.Time) ReadOption { return func(o *readOptions) { o.untilTime = t } }

// UntilSeq stops after stream sequence seq.
func UntilSeq(seq uint64) ReadOption { return func(o *readOptions) { o.untilSeq = seq } }

// OnlyKinds reads only the aggregates of the given kinds (e.g.
// domain.KindPlatform); the server filters, so the rest costs nothing.
func OnlyKinds(kinds ...string) ReadOption {
	return func(o *readOptions) { o.kinds = append(o.kinds, kinds...) }
}

// OnlyAggregates reads only the given aggregates (the server filters). With
// OnlyKinds as well, Read yields the union: every aggregate of those kinds
// and the aggregates named here.
func OnlyAggregates(aggs ...domain.Aggregate) ReadOption {
	return func(o *readOptions) {
		for _, a := range aggs {
			o.subjects = append(o.subjects, subjectOf(a))
		}
	}
}

// Read iterates the log in stream order from fromSeq (0 or 1 = the
// beginning) to the stream's last sequence as of the call. A message that
// is not a valid event is yielded as a *DecodeError together with a Record
// whose Seq and Raw are set, and iteration continues: a reader never stops
// on bad data. Any other error (EINTERNAL, or a wrapped context error) is
// yielded once and ends the iteration. Breaking out of the loop early is
// fine. Safe to run concurrently with appends and other readers.
func (s *Store) Read(ctx context.Context, fromSeq uint64, opts ...ReadOption) iter.Seq2[Record, error] {
	var o readOptions
	for _, opt := range opts {
		opt(&o)
	}
	return func(yield func(Record, error) bool) {
		end, err := s.LastSeq(ctx)
		if err != nil {
			yield(Record{}, err)
			return
		}
		if o.untilSeq > 0 && o.untilSeq < end {
			end = o.untilSeq
		}
		fromSeq = max(fromSeq, 1)
		if fromSeq > end {
			return
		}
		filter := o.filter()
		// The consumer's replica may be behind the leader that told us
		// end: its "nothing pending" is final only once the leader agrees.
		settled := func(from uint64) (bool, error) {
			more, err := s.leaderHasBetween(ctx, filter, from, end)
			return !more, err
		}
		s.consume(ctx, fromSeq, filter, func(m jetstream.Msg, seq, pending uint64) (bool, error) {
			if seq > end {
				return false, nil
			}
			if o.onMsg != nil {
				o.onMsg(m)
			}
			rec, err := decodeRecord(seq, m.Subject(), m.Data())
			skip := err == nil && !o.untilTime.IsZero() && rec.Event.Time.After(o.untilTime)
			if !skip && !yield(rec, err) {
				return false, nil
			}
			if seq >= end {
				return false, nil
			}
			if pending == 0 {
				done, err := settled(seq + 1)
				return !done, err
			}
			return true, nil
		}, func(err error) { yield(Record{}, err) }, settled)
	}
}

// leaderHasBetween asks the stream leader whether a message matching
// filter (nil: any) is stored at a sequence in [from, end].
func (s *Store) leaderHasBetween(ctx context.Context, filter []string, from, end uint64) (bool, error) {
	if len(filter) == 0 {
		filter = []string{SubjectPrefix + ".>"}
	}
	for _, f := range filter {
		m, err := s.leaderNext(ctx, f, from)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return false, translate(err, "read")
		}
		if m.Sequence <= end {
			return true, nil
		}
	}
	return false, nil
}

// Subscribe yields the events with sequence > afterSeq, first the backlog
// and then live ones as they are appended, until ctx is done (then it
// ends without an error). Malformed messages are yielded as *DecodeError
// and delivery continues; any other error is yielded once and ends the
// iteration (resubscribe after the last sequence seen). Delivery is in
// stream order with no gaps or repeats (an ordered consumer that the
// client recreates transparently if it falls behind or the server
// restarts).
func (s *Store) Subscribe(ctx context.Context, afterSeq uint64, opts ...ReadOption) iter.Seq2[Record, error] {
	var o readOptions
	for _, opt := range opts {
		opt(&o)
	}
	return func(yield func(Record, error) bool) {
		filter := o.filter()
		s.consume(ctx, afterSeq+1, filter, func(m jetstream.Msg, seq, _ uint64) (bool, error) {
			rec, err := decodeRecord(seq, m.Subject(), m.Data())
			return yield(rec, err), nil
		}, func(err error) {
			if ctx.Err() == nil {
				yield(Record{}, err)
			}
		}, nil)
	}
}

// filter is the consumer's subject filter (nil: everything). JetStream
// refuses overlapping filters, so repeats and aggregates of a kind already
// read whole are left out.
func (o *readOptions) filter() []string {
	f := subjectFilters(o.kinds)
	kinds := make(map[string]bool, len(o.kinds))
	for _, k := range o.kinds {
		kinds[k] = true
	}
	seen := make(map[string]bool, len(o.subjects))
	for _, s := range o.subjects {
		kind, _, _ := strings.Cut(strings.TrimPrefix(s, SubjectPrefix+"."), ".")
		if kinds[kind] || seen[s] {
			continue
		}
		seen[s] = true
		f = append(f, s)
	}
	return f
}

func subjectFilters(kinds []string) []string {
	if len(kinds) == 0 {
		return nil
	}
	f := make([]string, 0, len(kinds))
	seen := make(map[string]bool, len(kinds))
	for _, k := range kinds {
		if seen[k] {
			continue
		}
		seen[k] = true
		f = append(f, SubjectPrefix+"."+k+".>")
	}
	return f
}

// consume runs an ordered consumer from startSeq and calls handle for each
// message with its stream sequence and the number of messages pending
// after it (as the consumer's replica sees it), until handle returns
// false. Errors go to fail. When the consumer has nothing pending at the
// start, settled, if not nil, says whether that is final (Read must not
// wait for appends that may never come); with nil (Subscribe) it waits.
//
// The consumer sends a heartbeat every readHeartbeat while it has nothing
// to deliver; two missed ones make the client recreate it from the last
// delivered sequence. On a cluster an ordered consumer sometimes gets
// neither messages nor heartbeats (issue 13); the short heartbeat bounds
// that pause to about two seconds instead of ten.
func (s *Store) consume(ctx context.Context, startSeq uint64, filter []string,
	handle func(m jetstream.Msg, seq, pending uint64) (bool, error), fail func(error), settled func(from uint64) (bool, error)) {
	cons, err := s.js.OrderedConsumer(ctx, s.cfg.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects:    filter,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       startSeq,
		InactiveThreshold: consumerIdle,
	})
	if err != nil {
		fail(translate(err, "create reader"))
		return
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(readPull), jetstream.PullHeartbeat(readHeartbeat))
	if err != nil {
		fail(translate(err, "start reader"))
		return
	}
	defer func() {
		it.Stop()
		s.deleteConsumer(cons)
	}()
	if info := cons.CachedInfo(); settled != nil && info != nil && info.NumPending == 0 {
		done, err := settled(startSeq)
		if err != nil {
			fail(err)
			return
		}
		if done {
			return
		}
	}
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			fail(translate(err, "read"))
			return
		}
		seq, pending, err := msgPosition(m)
		if err != nil {
			fail(translate(err, "read"))
			return
		}
		more, err := handle(m, seq, pending)
		if err != nil {
			fail(err)
			return
		}
		if !more {
			return
		}
	}
}

// deleteConsumer removes a finished reader's ephemeral consumer now rather
// than after consumerIdle; best effort.
func (s *Store) deleteConsumer(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.js.DeleteConsumer(ctx, s.cfg.Stream, info.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		s.log.Debug("delete reader consumer", "consumer", info.Name, "err", err)
	}
}

// msgPosition returns a delivered message's stream sequence and the number
// of messages pending after it, read straight from its ack subject
// without allocating (jetstream.Msg.Metadata builds a struct and parses a
// timestamp per message, a visible cost on a full read). Subjects it does
// not recognise go through Metadata.
func msgPosition(m jetstream.Msg) (seq, pending uint64, err error) {
	if seq, pending, ok := parseAckSubject(m.Reply()); ok {
		return seq, pending, nil
	}
	md, err := m.Metadata()
	if err != nil {
		return 0, 0, err
	}
	return md.Sequence.Stream, md.NumPending, nil
}

// parseAckSubject reads the stream sequence and pending count of a
// JetStream ack subject:
//
//	v1: $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>
//	v2: $JS.ACK.<domain>.<acchash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>[.<token>...]
func parseAckSubject(subj string) (seq, pending uint64, ok bool) {
	const prefix = "$JS.ACK."
	if len(subj) < len(prefix) || subj[:len(prefix)] != prefix {
		return 0, 0, false
	}
	var tokens [12]string
	n := 0
	for start, i := 0, 0; i <= len(subj); i++ {
		if i == len(subj) || subj[i] == '.' {
			if n == len(tokens) {
				return 0, 0, false
			}
			tokens[n] = subj[start:i]
			n++
			start = i + 1
		}
	}
	var seqTok, pendTok string
	switch {
	case n == 9:
		seqTok, pendTok = tokens[5], tokens[8]
	case n >= 11:
		seqTok, pendTok = tokens[7], tokens[10]
	default:
		return 0, 0, false
	}
	seq, ok1 := parseDecimal(seqTok)
	pending, ok2 := parseDecimal(pendTok)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return seq, pending, true
}

func parseDecimal(s string) (uint64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n, true
}
