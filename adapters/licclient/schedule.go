package licclient

import (
	"context"
	"math"
	"time"
)

// When the client checks: the product's check-ins are spread (jitter) so
// a fleet that booted together does not check in together, and back off
// when the ledger is away so a fleet does not hammer it when it returns.

// NextDelay is the wait before the next attempt: Interval ± Jitter after
// a success (or a refusal: the ledger may change its mind, e.g. on a
// renewal), else an exponential backoff from MinBackoff to MaxBackoff with
// jitter, and never less than the ledger's Retry-After.
func (c *Client) NextDelay() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	jitter := 1 + c.cfg.Jitter*(2*c.cfg.Rand()-1)
	if c.failures == 0 {
		return time.Duration(float64(c.cfg.Interval) * jitter)
	}
	d := float64(c.cfg.MinBackoff) * math.Pow(2, float64(c.failures-1))
	d = math.Min(d, float64(c.cfg.MaxBackoff)) * jitter
	return max(time.Duration(d), c.retry)
}

// Run checks at NextDelay intervals until ctx ends (Start first). It
// also wakes when the held answer expires, so the product learns it at
// once.
func (c *Client) Run(ctx context.Context) {
	for {
		d := c.NextDelay()
		c.mu.Lock()
		if left := c.expiresLocked().Sub(c.cfg.Now()); !c.refused && left > 0 && left < d {
			d = left
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-c.cfg.After(d):
		}
		c.CheckNow(ctx)
	}
}
