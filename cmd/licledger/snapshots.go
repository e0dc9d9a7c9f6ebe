package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/projections"
)

// DefaultSnapshotEvery is how often serve on an external NATS (--nats)
// stores a projections snapshot for new replicas: often enough that a
// replica starting from one tails at most an hour of the log, rarely
// enough that the copy (a few seconds at a million events) does not
// matter.
const DefaultSnapshotEvery = time.Hour

// restoreSnapshot starts a replica that has no projections database yet
// from the snapshot stored beside the log, when there is one: the
// projector then applies only the events after it. Anything wrong with
// the snapshot is logged and the projector builds from the start of the
// log, as it always could.
func (m *Main) restoreSnapshot(ctx context.Context) {
	path := m.Config.ProjectionsPath
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return
	}
	start := time.Now()
	head, err := m.Store.LastSeq(ctx)
	if err != nil || head == 0 {
		return
	}
	seq, err := projections.RestoreSnapshot(ctx, m.Store, path, head)
	switch {
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		m.log.Info("no projections snapshot stored: building the projections from the start of the log", "log_head", head)
	case err != nil:
		m.log.Warn("could not start from the projections snapshot: building the projections from the start of the log", "err", err)
	default:
		m.Restored = seq
		m.log.Info("projections restored from a snapshot; applying the log after it", "snapshot_seq", seq, "log_head", head,
			"took", time.Since(start).Round(time.Millisecond))
	}
}

// Snapshot stores a snapshot of this replica's projections beside the log
// for new replicas, unless the stored one is as recent already (several
// replicas on one log take turns instead of each uploading the same
// state), and returns the sequence the stored snapshot is at.
func (m *Main) Snapshot(ctx context.Context) (uint64, error) {
	applied := m.Runner.Applied()
	if meta, err := m.Store.SnapshotInfo(ctx, projections.SnapshotName); err == nil {
		if seq, _ := strconv.ParseUint(meta["seq"], 10, 64); seq >= applied {
			return seq, nil
		}
	}
	start := time.Now()
	seq, err := projections.TakeSnapshot(ctx, m.DB, m.Store, filepath.Dir(m.Config.ProjectionsPath))
	if err != nil {
		return 0, err
	}
	m.log.Info("projections snapshot stored for new replicas", "seq", seq, "took", time.Since(start).Round(time.Millisecond))
	return seq, nil
}

// snapshotLoop stores a snapshot every interval until ctx is done. A
// failure (the projector between checkpoints, NATS away) is logged and
// waits for the next turn: snapshots only speed up new replicas.
func (m *Main) snapshotLoop(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := m.Snapshot(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("projections snapshot not stored; trying again at the next interval", "err", err, "in", every)
		}
	}
}

// parseSnapshotEvery reads --snapshot-every: a duration, 0 for never,
// empty for the default (DefaultSnapshotEvery on an external NATS, where
// replicas share the log; never with the embedded store, whose one
// replica keeps its projections beside its log).
func parseSnapshotEvery(v, natsURL string) (time.Duration, error) {
	if v == "" {
		if natsURL == "" {
			return 0, nil
		}
		return DefaultSnapshotEvery, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, domain.Errorf(domain.EINVALID, "--snapshot-every %q: want a duration like 30m or 1h, or 0 for never", v)
	}
	return d, nil
}
