package projections

import (
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
// one, else from the first event. It leaves the rungs it passes for the
// next question. The sequence answered is the last event folded.
func (q *Queries) prefixStateFrom(ctx context.Context, r querier, id string, to uint64, at time.Time, seq uint64) (*domain.PlatformState, uint64, error) {
	l, _, _ := q.ladders.Get(id)
	start, ok := l.below(at, seq)
	events, seqs, err := platformEventsIn(ctx, r, id, start.version, to, at)
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		// From the first event: the domain's own fold, which also says
		// whether the platform exists at that position.
		n := len(events)
		if seq != 0 {
			n = 0
			for n < len(seqs) && seqs[n] <= seq {
				n++
			}
		}
		st, last, err := prefixState(id, events[:n], seqs[:n], at)
		if err == nil {
			q.addRungs(id, l, &domain.PlatformState{}, 0, events, seqs)
		}
		return st, last, err
	}
	st, last := start.state.Clone(), start.seq
	for i, e := range events {
		if e.Time.After(at) || (seq != 0 && seqs[i] > seq) {
			break // time and sequence never go backwards within an aggregate
		}
		if err := domain.EvolvePlatform(st, e); err != nil {
			return nil, 0, foldErr(id, err)
		}
		last = seqs[i]
	}
	q.addRungs(id, l, start.state, start.version, events, seqs)
	return st, last, nil
}

// addRungs folds events (versions from+1, ...) onto a copy of base and
// keeps a rung at every multiple of rungEvery not yet on l. It costs one
// more fold of events, only when a rung is missing.
func (q *Queries) addRungs(id string, l ladder, base *domain.PlatformState, from uint64, events []domain.Event, seqs []uint64) {
	next := (from/rungEvery + 1) * rungEvery
	if uint64(len(events)) < next-from {
		return // no rung boundary among these events
	}
	if len(l) > 0 && l[len(l)-1].version >= from+uint64(len(events))/rungEvery*rungEvery {
		return // every boundary among them has its rung already
	}
	st := base.Clone()
	grown := slices.Clone(l)
	for i, e := range events {
		if err := domain.EvolvePlatform(st, e); err != nil {
			return // the answer's own fold reports it
		}
		v := from + uint64(i) + 1
		if v%rungEvery != 0 {
			continue
		}
		if _, have := slices.BinarySearchFunc(grown, v, func(r rung, v uint64) int { return compareUint(r.version, v) }); have {
			continue
		}
		grown = append(grown, rung{version: v, seq: seqs[i], last: e.Time, state: st.Clone()})
	}
	slices.SortFunc(grown, func(a, b rung) int { return compareUint(a.version, b.version) })
	q.ladders.Put(id, grown, grown[len(grown)-1].version)
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
