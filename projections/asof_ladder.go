package projections

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// An as-of answer folds a platform's history up to an instant. Folding
// from the first event costs the whole prefix (10k events: ~20 ms, most of
// it reading and decoding rows), so the fold leaves rungs behind: a copy
// of the state every rungEvery events. The next as-of question on that
// platform starts from the highest rung at or before its position and
// folds at most rungEvery events more. A rung is a fold of an immutable
// prefix of the log, so it never goes stale.
const (
	rungEvery = 512
	// maxLadders bounds the platforms whose rungs are kept; a ladder of a
	// 10k-event platform holds ~20 states.
	maxLadders = 256
)

// rung is the state folded through version, whose last event has stream
// sequence seq and time last.
type rung struct {
	version, seq uint64
	last         time.Time
	state        *domain.PlatformState // immutable: fold into a Clone
}

// ladder is a platform's rungs in ascending version; shared, never
// modified (a longer ladder replaces it).
type ladder []rung

func newLadders() *eventstore.StateCache[ladder] {
	return eventstore.NewStateCache[ladder](maxLadders)
}

// below returns the highest rung at or before (at, seq): its last event
// at or before at, its sequence at or below seq (0: no bound).
func (l ladder) below(at time.Time, seq uint64) (rung, bool) {
	for i := len(l) - 1; i >= 0; i-- {
		if !l[i].last.After(at) && (seq == 0 || l[i].seq <= seq) {
			return l[i], true
		}
	}
	return rung{}, false
}

// prefixStateFrom answers the platform's state as of (at, seq) through
// version to: from the highest rung below that position when there is
// one, else from the first event, keeping a rung at each boundary the
// fold passes (one fold: the rungs are copies taken on the way). The
// sequence answered is the last event folded. Without ladders (q.ladders
// nil) it is the domain's own fold from the first event, the reference
// the rungs are tested against.
func (q *Queries) prefixStateFrom(ctx context.Context, r querier, id string, to uint64, at time.Time, seq uint64) (*domain.PlatformState, uint64, error) {
	var l ladder
	if q.ladders != nil {
		l, _, _ = q.ladders.Get(id)
	}
	start, ok := l.below(at, seq)
	events, seqs, err := platformEventsIn(ctx, r, id, start.version, to, at)
	if err != nil {
		return nil, 0, err
	}
	n := 0 // the events at or before the position
	for n < len(events) && !events[n].Time.After(at) && (seq == 0 || seqs[n] <= seq) {
		n++
	}
	if !ok && (n == 0 || q.ladders == nil) {
		// The domain's fold, which also says whether the platform exists
		// at that position (nothing folded: registered later, or never).
		cut := n
		for cut < len(events) && (seq == 0 || seqs[cut] <= seq) {
			cut++
		}
		return prefixState(id, events[:cut], seqs[:cut], at)
	}
	st, last := &domain.PlatformState{}, uint64(0)
	if ok {
		st, last = start.state.Clone(), start.seq
	}
	var rungs []rung
	for i, e := range events[:n] {
		if err := domain.EvolvePlatform(st, e); err != nil {
			return nil, 0, foldErr(id, err)
		}
		last = seqs[i]
		if v := start.version + uint64(i) + 1; v%rungEvery == 0 && !l.has(v) {
			rungs = append(rungs, rung{version: v, seq: seqs[i], last: e.Time, state: st.Clone()})
		}
	}
	if len(rungs) > 0 {
		grown := append(slices.Clone(l), rungs...)
		slices.SortFunc(grown, func(a, b rung) int { return cmp.Compare(a.version, b.version) })
		q.ladders.Put(id, grown, grown[len(grown)-1].version)
	}
	return st, last, nil
}

// has reports whether l holds a rung at version v.
func (l ladder) has(v uint64) bool {
	_, found := slices.BinarySearchFunc(l, v, func(r rung, v uint64) int { return cmp.Compare(r.version, v) })
	return found
}
