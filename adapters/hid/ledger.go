package hid

import (
	"context"
	"slices"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// Platforms is what the watcher needs of the ledger's command layer
// (eventstore.Executor[*domain.PlatformState] is one): run a command on a
// platform, and read a platform's current state.
type Platforms interface {
	Execute(ctx context.Context, cmd eventstore.Command[*domain.PlatformState]) (eventstore.Result[*domain.PlatformState], error)
	Current(ctx context.Context, id string) (*domain.PlatformState, error)
}

// LedgerEvents is the KeyEvents that records a watcher's changes on a
// platform through the command layer, with Source as the events' source
// ("node/<id>"): a removal as domain.RemoveUSBKey, an insertion with the
// files the key stores as domain.DecideKeyInsertion, in one append: a
// usb_key.inserted carrying the licenses of the files Verifier accepts,
// and a license.upload_rejected (R11, actor Source) with the digest and
// reason of each file it refuses. A key that stores no files, or a watcher
// that reads none, records the bare insertion.
//
// It is idempotent as KeyEvents requires: inserting a key the platform
// already records on that node, or removing one it does not, appends
// nothing and succeeds. A key still recorded on the other node (moved
// faster than that node's watcher noticed) is refused by the domain with
// ECONFLICT, and the watcher retries until the other node records the
// removal. Safe for concurrent use.
type LedgerEvents struct {
	Platform  string
	Source    string
	Platforms Platforms
	// Verifier checks the files a key stores; required when the watcher
	// reads them (Config.Files).
	Verifier KeyFileVerifier
}

// KeyInserted records keyID inserted on node with the licenses of the
// files it stores. The files are verified before the command runs; a
// verifier failure that is not a refusal of the file (internal) records
// nothing and is returned, so the watcher retries.
func (l LedgerEvents) KeyInserted(ctx context.Context, node, keyID string, files [][]byte) error {
	if len(files) > 0 && l.Verifier == nil {
		return domain.Errorf(domain.EINTERNAL, "USB key %s stores %d license files, but no verifier is configured to check them", keyID, len(files))
	}
	in := domain.KeyInsertion{Node: node, KeyID: keyID, Files: make([]domain.KeyFile, len(files)), Actor: l.Source}
	for i, raw := range files {
		f := &in.Files[i]
		f.Digest = domain.Digest(raw)
		f.License, f.Refused = l.Verifier.VerifyKeyFile(raw, keyID)
	}
	return l.exec(ctx, func(s *domain.PlatformState, now time.Time) ([]domain.Event, error) {
		if slices.Contains(KeysOnNode(s, node), keyID) {
			return nil, nil
		}
		return domain.DecideKeyInsertion(s, in, now)
	})
}

// KeyRemoved records keyID pulled from node.
func (l LedgerEvents) KeyRemoved(ctx context.Context, node, keyID string) error {
	return l.exec(ctx, func(s *domain.PlatformState, now time.Time) ([]domain.Event, error) {
		if !slices.Contains(KeysOnNode(s, node), keyID) {
			return nil, nil
		}
		return domain.DecidePlatform(s, domain.RemoveUSBKey{Node: node, KeyID: keyID}, now)
	})
}

func (l LedgerEvents) exec(ctx context.Context, decide func(*domain.PlatformState, time.Time) ([]domain.Event, error)) error {
	_, err := l.Platforms.Execute(ctx, eventstore.Command[*domain.PlatformState]{ID: l.Platform, Source: l.Source, Decide: decide})
	return err
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
