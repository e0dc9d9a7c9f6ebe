package eventstoretest

import (
	"sync"
	"time"
)

// Clock is a settable clock for tests: the ledger's (WithClock(c.Now))
// and whatever else the test wants to share it with. Now returns the
// instant set, then moves it on by Step (zero: it stays until Set or
// Advance), so a Step gives every event its own time. Safe for
// concurrent use.
type Clock struct {
	Step time.Duration

	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.Step)
	return t
}

// Set moves the clock to t (backwards too: to test clock rollback).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
