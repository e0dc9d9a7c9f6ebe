package eventstore

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// head is what Append needs to know about an aggregate's last stored
// event: its stream sequence (for Nats-Expected-Last-Subject-Sequence), its
// aggregate version, the digest of its stored bytes (the next PrevDigest)
// and its time (the next event is never stamped earlier). The zero head is
// a brand-new aggregate.
type head struct {
	seq     uint64
	version uint64
	digest  string
	time    time.Time
}

// heads caches each aggregate's head so a single Append is one publish
// round trip. It is safe for concurrent use.
//
// Correctness never rests on the cache being fresh: every append carries
// the cached sequence as Nats-Expected-Last-Subject-Sequence, and the
// server refuses it unless that sequence really is the subject's last
// message. seq, version and digest are always set together from one stored
// message, so an accepted append chains onto exactly the message its
// PrevDigest was computed from. A stale entry therefore costs a conflict
// and a refetch, never a wrong chain.
type heads struct {
	mu sync.Mutex
	m  map[string]head // by JetStream subject
}

// maxHeads bounds the cache. When full it is simply emptied: a miss costs
// one direct get, and the aggregates still in use come back at once.
const maxHeads = 100_000

func (h *heads) get(subject string) (head, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hd, ok := h.m[subject]
	return hd, ok
}

// advance records hd unless the cache already holds a later head (another
// goroutine's append may have landed after ours and been recorded first,
// or hd was read from a replica that is behind), and returns the head it
// keeps: the later of the two.
func (h *heads) advance(subject string, hd head) head {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[string]head)
	}
	cur, ok := h.m[subject]
	if ok && cur.seq > hd.seq {
		return cur
	}
	if !ok && len(h.m) >= maxHeads {
		clear(h.m)
	}
	h.m[subject] = hd
	return hd
}

// invalidate drops the entry if it is still the one the caller used (a
// newer entry was recorded by a successful append and stays).
func (h *heads) invalidate(subject string, used head) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur, ok := h.m[subject]; ok && cur.seq <= used.seq {
		delete(h.m, subject)
	}
}

// lockTable serialises Execute calls on the same aggregate within one
// process, so in-process writers queue instead of burning round trips on
// conflicts; writers in other processes are still kept apart by the
// expected-sequence check. Aggregates hash onto a fixed set of stripes
// (two aggregates may share one: harmless, they just queue).
type lockTable struct {
	once    sync.Once
	seed    maphash.Seed
	stripes [256]chan struct{}
}

func (l *lockTable) init() {
	l.seed = maphash.MakeSeed()
	for i := range l.stripes {
		l.stripes[i] = make(chan struct{}, 1)
	}
}

// lock blocks until the stripe of key is free or ctx is done. The returned
// function releases it.
func (l *lockTable) lock(ctx context.Context, key string) (func(), error) {
	l.once.Do(l.init)
	ch := l.stripes[maphash.String(l.seed, key)%uint64(len(l.stripes))]
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
