package eventstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Append stores events at the end of an aggregate, all or none.
//
// expectedVersion is the aggregate version the caller decided on (0 for a
// brand-new aggregate); if the aggregate has moved on, Append fails with
// ECONFLICT and stores nothing. Append stamps each event: SpecVersion, ID
// (a ULID unless the caller set one), Source (unless set), Subject (the
// aggregate), Time (the caller's if set — the Executor sets the instant
// its command was decided at — else the ledger clock, in UTC; never
// earlier than the aggregate's last event: a time that went back is
// logged and the last event's time is used), AggregateVersion, PrevDigest (domain.Digest of the
// previous event's stored bytes) and SchemaVersion, and stores
// Event.Canonical. Several events are one atomic batch: a reader sees all
// of them or none.
//
// Retries are idempotent: when every event carries a caller-set ID and
// those events are already stored (a retry after a lost acknowledgement),
// Append returns the stored records and stores nothing.
//
// Errors: EINVALID for a bad aggregate or event (no type, wrong subject,
// data not JSON, too many or too large events, reason "duplicate-id" for a
// caller-set ID another event already has); ECONFLICT (reason
// "concurrent-update") when expectedVersion is stale; EFORBIDDEN on a
// ReadOnly store; EINTERNAL for infrastructure failures, or when the
// aggregate's last stored event is unreadable (run `licledger audit
// verify`). Safe for concurrent use.
func (s *Store) Append(ctx context.Context, agg domain.Aggregate, expectedVersion uint64, events ...domain.Event) ([]Record, error) {
	if s.cfg.ReadOnly {
		return nil, domain.Errorf(domain.EFORBIDDEN, "append to %s: the event store was opened read-only", agg)
	}
	if err := validAggregate(agg); err != nil {
		return nil, err
	}
	presetIDs, err := checkEvents(agg, events)
	if err != nil {
		return nil, err
	}
	subject := subjectOf(agg)
	if s.srv != nil && (s.wedged.Load() || !s.srv.JetStreamEnabled()) {
		// The last append failed as a write error makes it fail, or the
		// server shut JetStream down (out of space): mend the server, or
		// answer at once that nothing can be written.
		if err := s.embeddedHealth(); err != nil {
			return nil, err
		}
	}

	hd, err := s.headAt(ctx, subject, expectedVersion)
	if err != nil {
		return nil, err
	}
	if hd.version != expectedVersion {
		return s.alreadyStoredOr(ctx, agg, events, presetIDs, domain.Reasonf(domain.ECONFLICT, domain.ReasonConcurrentUpdate,
			"%s is at version %d, not %d; reload and retry", agg, hd.version, expectedVersion))
	}

	recs, last, err := s.stamp(agg, hd, events)
	if err != nil {
		return nil, err
	}
	firstSeq, duplicate, err := s.publish(ctx, subject, hd.seq, recs)
	if err != nil {
		// Whatever happened, the cached head may now be wrong: if the
		// publish landed but its ack was lost, the subject has moved on.
		s.heads.invalidate(subject, hd)
		switch apiErrorCode(err) {
		case codeWrongLastSequence, codeWrongLastSequenceConstant, codeBatchDuplicateMsgID:
			// Another writer got there first. Learn the subject's head
			// from the leader now, so the caller's retry decides on it
			// and not on a replica that has not applied it yet (best
			// effort: without it the retry may just conflict again).
			if _, err := s.leaderHead(ctx, subject); err != nil {
				s.log.Debug("append conflict: read the head from the stream leader", "aggregate", agg.String(), "err", err)
			}
			return s.alreadyStoredOr(ctx, agg, events, presetIDs, translate(err, "append to "+agg.String()))
		}
		ids := make([]string, len(recs))
		for i, r := range recs {
			ids[i] = r.Event.ID
		}
		err = publishFailed(err, "append to "+agg.String(), ids)
		s.noteWriteFailure(err)
		return nil, err
	}
	if duplicate {
		// JetStream dropped the message as a re-send of a stored id.
		s.heads.invalidate(subject, hd)
		return s.alreadyStoredOr(ctx, agg, events, presetIDs, domain.Reasonf(domain.EINVALID, domain.ReasonDuplicateID,
			"append to %s: event id %s is already used by another event", agg, events[0].ID))
	}
	for i := range recs {
		recs[i].Seq = firstSeq + uint64(i)
	}
	last.seq = recs[len(recs)-1].Seq
	s.heads.advance(subject, last)
	if s.srv != nil && s.restarts.Load() != 0 {
		s.restarts.Store(0) // writing again: a next write error restarts JetStream at once
	}
	if f := s.appended.Load(); f != nil {
		(*f)(recs)
	}
	return recs, nil
}

// OnAppend sets the observer told of the records of every append this
// Store makes from now on, whoever calls it (an HTTP handler, the USB key
// watcher, a CLI): metrics count events there. It is called synchronously
// after the append is acknowledged, from the appending goroutine, so it
// must be quick and safe for concurrent use; it is not called for a retry
// recognised as already stored, nor for appends of other processes. nil
// removes it; a later call replaces an earlier one.
func (s *Store) OnAppend(f func(recs []Record)) {
	if f == nil {
		s.appended.Store(nil)
		return
	}
	s.appended.Store(&f)
}

// checkEvents validates what the caller supplied and reports whether every
// event carries its own ID (then a conflict may be a retry of a stored
// append).
func checkEvents(agg domain.Aggregate, events []domain.Event) (presetIDs bool, err error) {
	switch {
	case len(events) == 0:
		return false, domain.Errorf(domain.EINVALID, "append to %s: no events", agg)
	case len(events) > MaxBatch:
		return false, domain.Errorf(domain.EINVALID, "append to %s: %d events; at most %d go in one atomic append", agg, len(events), MaxBatch)
	}
	name := agg.String()
	presetIDs = true
	ids := make(map[string]bool, len(events))
	for i, e := range events {
		if e.Type == "" {
			return false, domain.Errorf(domain.EINVALID, "append to %s: event %d has no type", agg, i+1)
		}
		if e.Subject != "" && e.Subject != name {
			return false, domain.Errorf(domain.EINVALID, "append to %s: event %d is for %q", agg, i+1, e.Subject)
		}
		if e.ID == "" {
			presetIDs = false
			continue
		}
		if err := domain.ValidateID(e.ID); err != nil {
			return false, domain.Errorf(domain.EINVALID, "append to %s: event %d id: %s", agg, i+1, domain.ErrorMessage(err))
		}
		if ids[e.ID] {
			return false, domain.Errorf(domain.EINVALID, "append to %s: event id %s appears twice", agg, e.ID)
		}
		ids[e.ID] = true
	}
	return presetIDs, nil
}

// Version returns the aggregate's current version (0 if it has no events)
// as the server has it now, in one round trip and without reading the
// history: what an HTTP ETag or a blind append needs. Errors: EINVALID for
// a bad aggregate; EINTERNAL when the last event is unreadable or on
// infrastructure failure.
func (s *Store) Version(ctx context.Context, agg domain.Aggregate) (uint64, error) {
	if err := validAggregate(agg); err != nil {
		return 0, err
	}
	hd, err := s.fetchHead(ctx, subjectOf(agg))
	return hd.version, err
}

// head returns the aggregate's head: the cached one when it is at the
// version the caller expects, otherwise a fresh one from the server (a
// mismatch may just mean another process appended since we cached).
func (s *Store) head(ctx context.Context, subject string, expectedVersion uint64) (head, error) {
	if hd, ok := s.heads.get(subject); ok && hd.version == expectedVersion {
		return hd, nil
	}
	return s.fetchHead(ctx, subject)
}

// fetchHead reads the subject's last message from the server (one direct
// get, which any replica of the stream may answer). A replica that has
// not yet applied a head this Store already knows (its own append, a
// moment ago) answers with an older one; fetchHead then returns the known
// head, so a Store never sees an aggregate go back.
//
// When no replica answers direct gets (a stream created a moment ago:
// replicas subscribe once they have caught up), it asks the leader.
// headAt is the head an append at expectedVersion checks against: the
// cached or fetched one, or the stream leader's when the replica that
// answered has seen less than the caller (only the leader's is final).
func (s *Store) headAt(ctx context.Context, subject string, expectedVersion uint64) (head, error) {
	hd, err := s.head(ctx, subject, expectedVersion)
	if err != nil || hd.version >= expectedVersion {
		return hd, err
	}
	return s.leaderHead(ctx, subject)
}

func (s *Store) fetchHead(ctx context.Context, subject string) (head, error) {
	if s.nc != nil && !s.nc.IsConnected() {
		// Every command starts here: with the connection down, answer
		// ledger-unavailable at once instead of after a request timeout.
		return head{}, translate(nats.ErrConnectionReconnecting, "read last event of "+subject)
	}
	if s.srv != nil && !s.srv.JetStreamEnabled() {
		// The embedded server stopped JetStream (out of space): start it
		// again if the space is back, or say so at once.
		if err := s.embeddedHealth(); err != nil {
			return head{}, err
		}
	}
	// One direct get, bounded like a Load's request: a replica that died
	// a moment ago may still be sent it (its interest not yet gone from
	// the routes) and never answer; the leader is asked then, instead
	// of the command waiting out its caller's deadline.
	actx, cancel := context.WithTimeout(ctx, loadAttempt)
	msg, err := s.stream.GetLastMsgForSubject(actx, subject)
	cancel()
	if errors.Is(err, nats.ErrNoResponders) || (ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout))) {
		return s.leaderHead(ctx, subject)
	}
	return s.headFrom(subject, msg, err)
}

// leaderHead is fetchHead from the stream leader, which has every
// acknowledged append: a round trip to it, for when a replica's answer is
// not good enough.
func (s *Store) leaderHead(ctx context.Context, subject string) (head, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LoadTimeout)
	defer cancel()
	msg, err := s.leaderGet(ctx, msgGetRequest{LastFor: subject})
	return s.headFrom(subject, msg, err)
}

// headFrom turns the answer to a get of the subject's last message into
// its head, and records it unless this Store knows a later one (then it
// returns that).
func (s *Store) headFrom(subject string, msg *jetstream.RawStreamMsg, err error) (head, error) {
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		hd, _ := s.heads.get(subject)
		return hd, nil
	}
	if err != nil {
		return head{}, translate(err, "read last event of "+subject)
	}
	if hd, ok := s.heads.get(subject); ok && hd.seq > msg.Sequence {
		return hd, nil
	}
	rec, err := decodeRecord(msg.Sequence, msg.Subject, msg.Data)
	if err != nil {
		return head{}, domain.Errorf(domain.EINTERNAL,
			"the last stored event of %s is unreadable, so nothing can be appended after it: %v; run `licledger audit verify`", subject, err)
	}
	hd := head{seq: msg.Sequence, version: rec.Event.AggregateVersion, digest: domain.Digest(msg.Data), time: rec.Event.Time}
	return s.heads.advance(subject, hd), nil
}

// stamp fills in the ledger's attributes and encodes each event; it
// returns the records (without sequences) and the head the last one makes.
func (s *Store) stamp(agg domain.Aggregate, prev head, events []domain.Event) ([]Record, head, error) {
	var now time.Time // read once, and only for events that carry no time
	name := agg.String()
	recs := make([]Record, len(events))
	for i, e := range events {
		t := e.Time.Round(0).UTC() // set: the command's instant (Executor), its answer was built on it
		if e.Time.IsZero() {
			if now.IsZero() {
				if now = s.cfg.Now().Round(0).UTC(); now.IsZero() {
					return nil, head{}, domain.Errorf(domain.EINTERNAL, "append to %s: the ledger clock returned the zero time", agg)
				}
			}
			t = now
		}
		if t.Before(prev.time) {
			s.log.Warn("ledger clock is behind the aggregate's last event; stamping the last event's time so time never goes backwards",
				"aggregate", name, "clock", t, "last_event_time", prev.time, "skew", prev.time.Sub(t))
			t = prev.time
		}
		e.SpecVersion = domain.SpecVersion
		if e.ID == "" {
			e.ID = newID(t)
		}
		if e.Source == "" {
			e.Source = s.cfg.Source
		}
		e.Subject = name
		e.Time = t
		e.AggregateVersion = prev.version + 1
		e.PrevDigest = prev.digest
		e.SchemaVersion = domain.SchemaVersion
		rec, err := encodeRecord(e)
		if err != nil {
			return nil, head{}, &domain.Error{Code: domain.ErrorCode(err),
				Message: fmt.Sprintf("append to %s: event %d: %s", agg, i+1, domain.ErrorMessage(err))}
		}
		recs[i] = rec
		prev = head{version: e.AggregateVersion, digest: domain.Digest(rec.Raw), time: t}
	}
	return recs, prev, nil
}

// encodeRecord encodes a stamped event; the record's Event is exactly what
// decoding the stored bytes gives back (data compacted, as Load returns
// it), so Append and Load return equal records.
func encodeRecord(e domain.Event) (Record, error) {
	e.Time = e.Time.UTC()
	if raw, dataAt, ok := encodeCanonical(e); ok {
		e.Data = json.RawMessage(raw[dataAt : len(raw)-1 : len(raw)-1])
		return Record{Event: e, Raw: raw}, nil
	}
	raw, err := e.Canonical()
	if err != nil {
		return Record{}, err
	}
	// Decode what will be stored: a writer never stores what a reader
	// rejects.
	stored, ok := decodeFast(raw)
	if !ok {
		if stored, err = domain.DecodeEvent(raw); err != nil {
			return Record{}, domain.Errorf(domain.EINVALID, "it would not be readable: %s", domain.ErrorMessage(err))
		}
	}
	return Record{Event: stored, Raw: raw}, nil
}

// newID returns a ULID whose time part is the event's ledger time, so ids
// sort with the log. DefaultEntropy is monotonic within a millisecond and
// safe for concurrent use.
func newID(t time.Time) string {
	id, err := ulid.New(ulid.Timestamp(t), ulid.DefaultEntropy())
	if err != nil { // monotonic entropy overflowed within one millisecond
		id = ulid.MustNew(ulid.Timestamp(t), rand.Reader)
	}
	return id.String()
}

// publish stores the records after the subject's message expectSeq and
// returns the stream sequence of the first; duplicate reports that
// JetStream dropped the message as a re-send within the duplicate window.
// One event is a plain publish (one round trip); several are one atomic
// batch.
func (s *Store) publish(ctx context.Context, subject string, expectSeq uint64, recs []Record) (first uint64, duplicate bool, err error) {
	if s.nc != nil && !s.nc.IsConnected() {
		// Not sent: a publish now would wait in the reconnect buffer
		// and might land after the caller was told it failed.
		return 0, false, nats.ErrConnectionReconnecting
	}
	expect := strconv.FormatUint(expectSeq, 10)
	if len(recs) == 1 {
		msg := &nats.Msg{Subject: subject, Data: recs[0].Raw, Header: nats.Header{
			jetstream.MsgIDHeader:               {recs[0].Event.ID},
			jetstream.ExpectedLastSubjSeqHeader: {expect},
		}}
		s.markMsg(msg)
		ack, err := s.js.PublishMsg(ctx, msg)
		if err != nil {
			return 0, false, err
		}
		return ack.Sequence, ack.Duplicate, nil
	}
	msgs := make([]*nats.Msg, len(recs))
	for i, r := range recs {
		msgs[i] = &nats.Msg{Subject: subject, Data: r.Raw, Header: nats.Header{jetstream.MsgIDHeader: {r.Event.ID}}}
		s.markMsg(msgs[i])
	}
	// Only the first message of an atomic batch may carry the expectation;
	// the server checks it when the batch commits.
	msgs[0].Header[jetstream.ExpectedLastSubjSeqHeader] = []string{expect}
	ack, err := jetstreamext.PublishMsgBatch(ctx, s.js, msgs)
	if err != nil {
		return 0, false, err
	}
	// An atomic batch is stored at consecutive sequences ending at the
	// acknowledged one.
	return ack.Sequence - uint64(len(recs)) + 1, false, nil
}

// alreadyStoredOr handles a refused append: if every event carried a
// caller-set ID and exactly those events are stored in the aggregate (a
// retried append), it returns the stored records; otherwise it returns
// cause.
func (s *Store) alreadyStoredOr(ctx context.Context, agg domain.Aggregate, events []domain.Event, presetIDs bool, cause error) ([]Record, error) {
	if !presetIDs {
		return nil, cause
	}
	history, err := s.Load(ctx, agg)
	if err != nil {
		return nil, err
	}
	for i, r := range history {
		if r.Event.ID != events[0].ID {
			continue
		}
		if len(history)-i < len(events) {
			return nil, cause
		}
		for j := range events {
			if history[i+j].Event.ID != events[j].ID {
				return nil, cause
			}
		}
		s.log.Debug("append already stored; returning the stored events", "aggregate", agg.String(), "first_id", events[0].ID, "events", len(events))
		return history[i : i+len(events) : i+len(events)], nil
	}
	return nil, cause
}
