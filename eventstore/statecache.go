package eventstore

import "sync"

// StateCache keeps folded states (or anything derived from a prefix of an
// aggregate's history) by key, each with the aggregate version it was
// folded to. It is the one bounded cache of folded states: the command
// Executors keep theirs in it, and so do the projections' queries.
//
// Values are shared between goroutines and must be treated as immutable:
// to fold more events, fold into a copy and Put the copy. Bounded: when
// full, an arbitrary entry is evicted (it is only a cache; the log is the
// truth). Safe for concurrent use.
type StateCache[V any] struct {
	mu  sync.RWMutex
	m   map[string]versioned[V]
	max int
}

type versioned[V any] struct {
	v       V
	version uint64
}

// NewStateCache returns a cache of at most max entries (DefaultStateCacheSize
// when max <= 0).
func NewStateCache[V any](max int) *StateCache[V] {
	if max <= 0 {
		max = DefaultStateCacheSize
	}
	return &StateCache[V]{m: make(map[string]versioned[V]), max: max}
}

// Get returns the value cached under key and its version.
func (c *StateCache[V]) Get(key string) (V, uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.m[key]
	return e.v, e.version, ok
}

// Put records v at version unless the cache holds a later version (a
// reader may finish folding an older version after a writer advanced).
// Version 0 (an aggregate with no events) is not kept, so requests naming
// unknown ids cannot flush real entries.
func (c *StateCache[V]) Put(key string, v V, version uint64) {
	if version == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.m[key]; ok {
		if cur.version > version {
			return
		}
	} else if len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = versioned[V]{v: v, version: version}
}
