package hid

import (
	"context"
	"slices"
	"time"

	"github.com/licledger/licledger/domain"
)

// PlatformExecutor runs decide on a platform's current state at the
// decision instant and appends the events it returns, retrying on a lost
// optimistic-concurrency race (so decide may run more than once). decide
// has the shape of httpapi.PlatformDecider, so httpapi.ExecutePlatform
// wrapped in a closure is one (README.md shows it); it is the same type as
// licensefile.PlatformExecutor, so one function serves both.
type PlatformExecutor func(ctx context.Context, platform string, decide func(s *domain.PlatformState, now time.Time) ([]domain.Event, error)) error

// LedgerEvents is the KeyEvents that records a watcher's changes on a
// platform as domain.InsertUSBKey / domain.RemoveUSBKey. The insertion
// carries no licenses: a key's licenses arrive as signed files bound to its
// id (see the package comment).
//
// It is idempotent as KeyEvents requires: inserting a key the platform
// already records on that node, or removing one it does not, appends
// nothing and succeeds. A key still recorded on the other node (moved
// faster than that node's watcher noticed) is refused by the domain with
// ECONFLICT, and the watcher retries until the other node records the
// removal. Safe for concurrent use if Exec is.
type LedgerEvents struct {
	Platform string
	Exec     PlatformExecutor
}

// KeyInserted records keyID inserted on node.
func (l LedgerEvents) KeyInserted(ctx context.Context, node, keyID string) error {
	return l.Exec(ctx, l.Platform, func(s *domain.PlatformState, now time.Time) ([]domain.Event, error) {
		if slices.Contains(KeysOnNode(s, node), keyID) {
			return nil, nil
		}
		return domain.DecidePlatform(s, domain.InsertUSBKey{Node: node, KeyID: keyID}, now)
	})
}

// KeyRemoved records keyID pulled from node.
func (l LedgerEvents) KeyRemoved(ctx context.Context, node, keyID string) error {
	return l.Exec(ctx, l.Platform, func(s *domain.PlatformState, now time.Time) ([]domain.Event, error) {
		if !slices.Contains(KeysOnNode(s, node), keyID) {
			return nil, nil
		}
		return domain.DecidePlatform(s, domain.RemoveUSBKey{Node: node, KeyID: keyID}, now)
	})
}

// KeysOnNode returns the keys the platform records as inserted on node, in
// insertion order: what a watcher starting on node passes as
// Config.Inserted.
func KeysOnNode(s *domain.PlatformState, node string) []string {
	var out []string
	for _, slot := range domain.PlatformEntitlement(s, s.LastEventTime()).USBKey.Inserted {
		if slot.Node == node {
			out = append(out, slot.KeyID)
		}
	}
	return out
}
