package eventstore

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/nats-io/nats.go/jetstream"
)

// Projection snapshots live beside the log, in a JetStream object store
// bucket of their own (SnapshotBucket), so a replica starting on a new
// machine fetches one from the same cluster it reads the log from and
// only tails the log after the snapshot's sequence. The bucket is never
// the ledger: a snapshot is derived data, replaced by the next one
// (which purges the previous object's chunks, so the bucket, unlike the
// stream, allows purge), and losing it costs a rebuild from the log,
// nothing else.

// SnapshotTimeout bounds storing or fetching one snapshot when the
// caller's context has no deadline (the object store would otherwise
// give the whole transfer its default five seconds, too short for the
// hundreds of megabytes of a large ledger's projections; a gigabyte
// over a slow link still fits).
const SnapshotTimeout = 10 * time.Minute

// snapshotContext gives ctx SnapshotTimeout unless it has a deadline.
func snapshotContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, SnapshotTimeout)
}

// SnapshotBucket is the object store bucket of stream's snapshots.
func SnapshotBucket(stream string) string { return stream + "_SNAPSHOTS" }

// snapshotBucket opens the bucket, creating it with the stream's
// replicas when create is true and it does not exist.
func (s *Store) snapshotBucket(ctx context.Context, create bool) (jetstream.ObjectStore, error) {
	// A lookup is one request: it gets a short deadline of its own, so a
	// server that refuses the subject (a configuration without the
	// bucket's permissions, whose refusal never answers the request) costs
	// seconds, not the transfer's SnapshotTimeout.
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LoadTimeout)
	defer cancel()
	name := SnapshotBucket(s.cfg.Stream)
	obs, err := s.js.ObjectStore(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) && create {
		obs, err = s.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      name,
			Description: "licledger projection snapshots of stream " + s.cfg.Stream + ": derived data, rebuildable from the log",
			Storage:     jetstream.FileStorage,
			Replicas:    s.cfg.Replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) { // another replica made it first
			obs, err = s.js.ObjectStore(ctx, name)
		}
	}
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, domain.Errorf(domain.ENOTFOUND, "no snapshot bucket %s", name)
	}
	if err != nil {
		return nil, domain.Errorf(domain.EINTERNAL, "snapshot bucket %s: %v", name, err)
	}
	return obs, nil
}

// PutSnapshot stores r as the snapshot called name with its metadata
// (what it is and the log sequence it was taken at), replacing the
// previous one of that name once it is complete: a replica fetching
// meanwhile gets the old one whole.
func (s *Store) PutSnapshot(ctx context.Context, name string, meta map[string]string, r io.Reader) error {
	if s.cfg.ReadOnly {
		return domain.Errorf(domain.EFORBIDDEN, "the event store is open read-only")
	}
	ctx, cancel := snapshotContext(ctx)
	defer cancel()
	obs, err := s.snapshotBucket(ctx, true)
	if err != nil {
		return err
	}
	if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: name, Metadata: meta}, r); err != nil {
		return domain.Errorf(domain.EINTERNAL, "store snapshot %s: %v", name, err)
	}
	return nil
}

// SnapshotInfo is the metadata of the snapshot called name; ENOTFOUND
// when there is none.
func (s *Store) SnapshotInfo(ctx context.Context, name string) (map[string]string, error) {
	obs, err := s.snapshotBucket(ctx, false)
	if err != nil {
		return nil, err
	}
	info, err := obs.GetInfo(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, domain.Errorf(domain.ENOTFOUND, "no snapshot %s", name)
	}
	if err != nil {
		return nil, domain.Errorf(domain.EINTERNAL, "snapshot %s: %v", name, err)
	}
	return info.Metadata, nil
}

// GetSnapshot copies the snapshot called name to w and returns its
// metadata; ENOTFOUND when there is none. The object store checks the
// copy against the digest it stored, so a torn or corrupted transfer is
// an error, never a short file.
func (s *Store) GetSnapshot(ctx context.Context, name string, w io.Writer) (map[string]string, error) {
	ctx, cancel := snapshotContext(ctx)
	defer cancel()
	obs, err := s.snapshotBucket(ctx, false)
	if err != nil {
		return nil, err
	}
	res, err := obs.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, domain.Errorf(domain.ENOTFOUND, "no snapshot %s", name)
	}
	if err != nil {
		return nil, domain.Errorf(domain.EINTERNAL, "fetch snapshot %s: %v", name, err)
	}
	defer res.Close()
	info, err := res.Info()
	if err != nil {
		return nil, domain.Errorf(domain.EINTERNAL, "fetch snapshot %s: %v", name, err)
	}
	if _, err := io.Copy(w, res); err != nil {
		return nil, domain.Errorf(domain.EINTERNAL, "fetch snapshot %s: %v", name, err)
	}
	return info.Metadata, nil
}
