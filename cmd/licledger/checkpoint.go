package main

import (
	"context"
	"time"

	"github.com/licledger/licledger/adapters/ledgerkey"
	"github.com/licledger/licledger/eventstore"
)

// DefaultCheckpointEvery is serve's --checkpoint-every: often enough that
// an auditor's latest checkpoint is at most minutes old, rarely enough
// that sealing (one read of the log) stays a small part of the load.
const DefaultCheckpointEvery = 10 * time.Minute

// checkpointTimeout bounds one checkpoint, so a shutdown with the store
// unreachable does not hang on it.
const checkpointTimeout = 30 * time.Second

// markKey is what the store marks the events it writes with: a secret
// derived from the ledger's root key (ledgerkey.Ring.Root) for that
// purpose alone, so marks keep verifying across signing-key rotations.
// Checkpoints are signed with the current signing key.
func markKey(k *ledgerkey.Key) *eventstore.MarkKey {
	return &eventstore.MarkKey{ID: k.ID(), Secret: k.Derive(eventstore.MarkPurpose)}
}

// checkpointEvery signs a checkpoint every d while the log grows, until
// ctx is done.
func (m *Main) checkpointEvery(ctx context.Context, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.checkpoint(ctx, "periodic")
		}
	}
}

// checkpoint signs one if the log grew since the last, and logs the
// outcome: a failure is the operator's to look at, never fatal.
func (m *Main) checkpoint(ctx context.Context, why string) {
	ctx, cancel := context.WithTimeout(ctx, checkpointTimeout)
	defer cancel()
	cp, written, err := m.Store.CheckpointIfGrown(ctx, m.LedgerKeys.Current())
	switch {
	case err != nil:
		m.log.Error("checkpoint failed", "why", why, "err", err)
	case written:
		m.log.Info("signed a checkpoint", "why", why, "last_seq", cp.LastSeq, "aggregates", cp.Aggregates, "root", cp.Root, "foreign", len(cp.Foreign))
	}
}
