package projections

import (
	"context"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// Queries answers the questions that need the domain's fold on top of the
// tables: a platform's entitlement as of an instant and its USB key status.
//
// Why fold from SQLite rather than store an answer per platform: the answer
// depends on the instant asked (licenses and buffers expire with no event),
// so no stored row could serve "now". The events projection holds each
// platform's events; the platform's state is the domain's fold of them
// (domain.EvolvePlatform) and the answer is domain.PlatformEntitlement at
// the instant, printed by domain.MarshalEntitlement: the very functions
// `licledger replay` uses, so the bytes are the same (R32).
//
//   - At or after the platform's last event (the usual "now"), the latest
//     state answers. It is cached per platform and advanced by folding only
//     the events appended since, so a query costs one indexed SELECT and
//     the evaluation.
//   - Before the last event ("as of T"), the prefix of the history up to T
//     is folded from the events table with domain.PlatformAsOf.
//
// Reading from SQLite rather than the event store keeps queries off NATS
// and consistent with the other read models at the same checkpoint.
//
// Queries is safe for concurrent use. Errors: ENOTFOUND unknown-platform,
// EINTERNAL for storage failures or a history the domain cannot fold.
type Queries struct {
	db    *DB
	cache *eventstore.StateCache[cachedState]
}

type cachedState struct {
	gen     uint64 // DB generation at which version and last were read
	version uint64 // platforms.version the state was folded to
	lastSeq uint64 // platforms.last_seq: the stream sequence of its last event
	last    time.Time
	state   *domain.PlatformState
	// The last document served from this state, and its instant: requests
	// for the same instant (HTTP "now" is whole seconds) reuse the bytes.
	docAt time.Time
	doc   []byte
}

// maxCachedStates bounds the cache; beyond it an arbitrary entry is
// dropped (refolding is cheap; the bound only caps memory).
const maxCachedStates = 100_000

// NewQueries builds the query service over db. Its folded states live in
// the ledger's one kind of state cache (eventstore.StateCache), keyed by
// platform and versioned by the projection's platform version.
func NewQueries(db *DB) *Queries {
	return &Queries{db: db, cache: eventstore.NewStateCache[cachedState](maxCachedStates)}
}

// DB is the database the queries read.
func (q *Queries) DB() *DB { return q.db }

// Entitlement returns the entitlement document of a platform at instant
// at: EntitlementAt with no sequence bound.
func (q *Queries) Entitlement(ctx context.Context, id string, at time.Time) ([]byte, error) {
	return q.EntitlementAt(ctx, id, at, 0)
}

// EntitlementAt returns the entitlement document of a platform at instant
// at, folded from its events stamped at or before at and stored at or
// below stream sequence seq (0: no bound): the canonical bytes of
// domain.MarshalEntitlement, with the log position it stands at (as_of).
// The bytes may be shared with other callers: do not modify them.
func (q *Queries) EntitlementAt(ctx context.Context, id string, at time.Time, seq uint64) ([]byte, error) {
	st, last, err := q.stateAt(ctx, id, at, seq)
	if err != nil {
		return nil, err
	}
	c, _, ok := q.cache.Get(id)
	cached := ok && c.state == st
	if cached && c.doc != nil && c.docAt.Equal(at) {
		return c.doc, nil
	}
	ent := domain.PlatformEntitlement(st, at)
	ent.AsOf = domain.Position(at, last)
	if err := q.db.setSeqs(ctx, &ent); err != nil {
		return nil, err
	}
	doc, err := domain.MarshalEntitlement(ent)
	if err != nil {
		return nil, err
	}
	if cached {
		c.docAt, c.doc = at, doc
		q.cache.Put(id, c, c.version) // a racing writer's later version wins
	}
	return doc, nil
}

// EntitlementDoc is Entitlement as a struct, for callers that read it.
func (q *Queries) EntitlementDoc(ctx context.Context, id string, at time.Time) (domain.Entitlement, error) {
	return q.EntitlementDocAt(ctx, id, at, 0)
}

// EntitlementDocAt is EntitlementAt as a struct.
func (q *Queries) EntitlementDocAt(ctx context.Context, id string, at time.Time, seq uint64) (domain.Entitlement, error) {
	st, last, err := q.stateAt(ctx, id, at, seq)
	if err != nil {
		return domain.Entitlement{}, err
	}
	ent := domain.PlatformEntitlement(st, at)
	ent.AsOf = domain.Position(at, last)
	return ent, q.db.setSeqs(ctx, &ent)
}

// setSeqs fills in the stream sequence of every event the entitlement
// names (its provenance), from the events projection.
func (db *DB) setSeqs(ctx context.Context, ent *domain.Entitlement) error {
	seqs, err := db.EventSeqs(ctx, ent.EventIDs())
	if err == nil {
		ent.SetSeqs(seqs)
	}
	return err
}

// EventSeqs returns the stream sequence of each event id the events
// projection holds.
func (db *DB) EventSeqs(ctx context.Context, ids []string) (map[string]uint64, error) {
	seqs := make(map[string]uint64, len(ids))
	if len(ids) == 0 {
		return seqs, nil
	}
	args := make([]any, 0, len(ids))
	marks := make([]byte, 0, 2*len(ids))
	for _, id := range ids {
		if _, dup := seqs[id]; dup {
			continue
		}
		seqs[id] = 0
		args = append(args, id)
		marks = append(marks, ",?"...)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, seq FROM events WHERE id IN (`+string(marks[1:])+`)`, args...)
	if err != nil {
		return nil, sqlErr("read event sequences", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var seq uint64
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, sqlErr("read event sequences", err)
		}
		seqs[id] = seq
	}
	return seqs, sqlErr("read event sequences", rows.Err())
}

// PlatformAt returns the platform's state folded from its events stamped
// at or before at and stored at or below seq (0: no bound), and the
// sequence of the last event folded. The state may be shared: do not
// fold into it.
func (q *Queries) PlatformAt(ctx context.Context, id string, at time.Time, seq uint64) (*domain.PlatformState, uint64, error) {
	return q.stateAt(ctx, id, at, seq)
}

// stateAt returns the platform's state folded from the prefix of its
// history up to at and seq (0: no bound), and the stream sequence of the
// prefix's last event. The returned state may be shared: do not fold into
// it.
func (q *Queries) stateAt(ctx context.Context, id string, at time.Time, seq uint64) (*domain.PlatformState, uint64, error) {
	gen, trusted := q.db.generation()
	c, _, ok := q.cache.Get(id)
	if ok && trusted && c.gen == gen && !at.Before(c.last) && (seq == 0 || c.lastSeq <= seq) {
		return c.state, c.lastSeq, nil // nothing committed since: the row is unchanged
	}
	// gen is read before the row, so the row is at least that recent.
	version, lastSeq, last, err := q.db.platformHead(ctx, q.db.r, id)
	if err != nil {
		return nil, 0, err
	}
	if at.Before(last) || (seq != 0 && lastSeq > seq) {
		// Only the prefix up to at is decoded (ledger time never goes
		// backwards within an aggregate): an as-of answer costs the
		// history before at, not the whole history.
		events, seqs, err := platformEventsIn(ctx, q.db.r, id, 0, version, at)
		if err != nil {
			return nil, 0, err
		}
		return prefixState(id, events, seqs, at, seq)
	}
	if ok && c.version == version {
		if c.gen < gen {
			c.gen = gen
			q.cache.Put(id, c, version)
		}
		return c.state, c.lastSeq, nil
	}
	var st *domain.PlatformState
	from := uint64(0)
	if ok && c.version < version {
		st, from = c.state.Clone(), c.version
	} else {
		st = &domain.PlatformState{}
	}
	events, _, err := q.db.platformEvents(ctx, id, from, version)
	if err != nil {
		return nil, 0, err
	}
	for _, e := range events {
		if err := domain.EvolvePlatform(st, e); err != nil {
			return nil, 0, foldErr(id, err)
		}
	}
	q.cache.Put(id, cachedState{gen: gen, version: version, lastSeq: lastSeq, last: last, state: st}, version)
	return st, lastSeq, nil
}

// prefixState folds the events (with their stream sequences) stored at or
// below seq (0: no bound) and stamped at or before at, and returns the
// sequence of the last one folded. ENOTFOUND when none is stored at or
// below seq: at that position the platform did not exist.
func prefixState(id string, events []domain.Event, seqs []uint64, at time.Time, seq uint64) (*domain.PlatformState, uint64, error) {
	n := len(events)
	if seq != 0 {
		n = 0
		for n < len(seqs) && seqs[n] <= seq {
			n++
		}
	}
	st, err := domain.PlatformAsOf(events[:n], id, at)
	if err != nil {
		if domain.ErrorCode(err) == domain.ENOTFOUND {
			return nil, 0, unknownPlatform(id)
		}
		return nil, 0, foldErr(id, err)
	}
	last := uint64(0)
	for i := range n {
		if events[i].Time.After(at) {
			break
		}
		last = seqs[i]
	}
	return st, last, nil
}

// foldErr reports a history the domain refuses to fold: the ledger's data,
// not the caller's request, is at fault.
func foldErr(id string, err error) error {
	return domain.Errorf(domain.EINTERNAL, "platform %s: its history does not fold: %s; run `licledger audit verify`", id, domain.ErrorMessage(err))
}

// platformEvents returns the platform's events with from < version <= to,
// decoded, in order.
func (db *DB) platformEvents(ctx context.Context, id string, from, to uint64) ([]domain.Event, []uint64, error) {
	return platformEventsIn(ctx, db.r, id, from, to, time.Time{})
}

// platformEventsIn is platformEvents read through q (a read transaction,
// to see the events of one snapshot with other tables), with each
// event's stream sequence.
//
// A non-zero until stops after the first event later than until: the
// fold of "as of until" stops on that one anyway, and still learns from it
// that the platform exists.
func platformEventsIn(ctx context.Context, q querier, id string, from, to uint64, until time.Time) ([]domain.Event, []uint64, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, raw FROM events WHERE subject = ? AND version > ? AND version <= ? ORDER BY version`,
		domain.KindPlatform+"/"+id, from, to)
	if err != nil {
		return nil, nil, sqlErr("read platform events", err)
	}
	defer rows.Close()
	var out []domain.Event
	var seqs []uint64
	for rows.Next() {
		var seq uint64
		var raw []byte
		if err := rows.Scan(&seq, &raw); err != nil {
			return nil, nil, sqlErr("read platform events", err)
		}
		e, err := eventstore.DecodeStored(raw) // the read path's decoder: several times faster, as an as-of answer folds thousands
		if err != nil {
			return nil, nil, foldErr(id, err)
		}
		out, seqs = append(out, e), append(seqs, seq)
		if !until.IsZero() && e.Time.After(until) {
			break
		}
	}
	return out, seqs, sqlErr("read platform events", rows.Err())
}
