package projections

import (
	"context"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// The statement-by-statement projections the batch models (batch*.go)
// replaced, kept here as their oracle: every event runs its SQL at once, so
// nothing depends on batch boundaries or on what a batch keeps in memory.
// They carry the real projections' names and tables, so their databases
// digest the same when the models are right (TestBatchModelsMatchSQL).

type refPlatforms struct{ platformsProjection }
type refLicenses struct{ licensesProjection }
type refUSBKeys struct{ usbKeysProjection }

func refProjections() []Projection {
	return []Projection{eventsProjection{}, refPlatforms{}, refLicenses{}, refUSBKeys{}, holdingsProjection{}}
}

func (refPlatforms) Apply(ctx context.Context, tx *Tx, rec eventstore.Record) error {
	id, data, ok, err := platformEvent(tx, rec)
	if err != nil || !ok {
		return err
	}
	e := rec.Event
	at := ts(e.Time)
	if _, err := tx.Exec(ctx, `INSERT INTO platforms (id, version, last_seq, last_event_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version, last_seq = excluded.last_seq, last_event_at = excluded.last_event_at`,
		id, e.AggregateVersion, rec.Seq, at); err != nil {
		return err
	}
	addNode := func(node string) error {
		_, err := tx.Exec(ctx, `INSERT INTO platform_nodes (platform, node, added_at, added_event) VALUES (?, ?, ?, ?)
			ON CONFLICT (platform, node) DO UPDATE SET added_at = excluded.added_at, added_event = excluded.added_event,
			removed_at = NULL, removed_event = NULL`, id, node, at, e.ID)
		return err
	}
	switch d := data.(type) {
	case *domain.PlatformRegistered:
		if _, err := tx.Exec(ctx, `UPDATE platforms SET registered_at = ?, registered_event = ?, request_code = ? WHERE id = ?`, at, e.ID, d.RequestCode, id); err != nil {
			return err
		}
		for _, n := range d.Nodes {
			if err := addNode(n); err != nil {
				return err
			}
		}
	case *domain.NodeChanged:
		if e.Type == domain.EventPlatformNodeAdded {
			return addNode(d.Node)
		}
		_, err := tx.Exec(ctx, `UPDATE platform_nodes SET removed_at = ?, removed_event = ? WHERE platform = ? AND node = ? AND removed_event IS NULL`,
			at, e.ID, id, d.Node)
		return err
	case *domain.HostAdded:
		_, err := tx.Exec(ctx, `INSERT INTO platform_hosts (platform, host, hypervisor, sockets, added_at, added_event) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (platform, host) DO UPDATE SET hypervisor = excluded.hypervisor, sockets = excluded.sockets,
			added_at = excluded.added_at, added_event = excluded.added_event, removed_at = NULL, removed_event = NULL`,
			id, d.Host, d.Hypervisor, d.Sockets, at, e.ID)
		return err
	case *domain.HostRemoved:
		_, err := tx.Exec(ctx, `UPDATE platform_hosts SET removed_at = ?, removed_event = ? WHERE platform = ? AND host = ? AND removed_event IS NULL`,
			at, e.ID, id, d.Host)
		return err
	}
	return nil
}

func (refLicenses) Apply(ctx context.Context, tx *Tx, rec eventstore.Record) error {
	id, data, ok, err := platformEvent(tx, rec)
	if err != nil || !ok {
		return err
	}
	e := rec.Event
	switch d := data.(type) {
	case *domain.LicenseUploaded:
		return refArrive(ctx, tx, id, rec, d.License, d.Source, d.KeyID, d.Bundle)
	case *domain.USBKeyInserted:
		for _, l := range d.Licenses {
			if err := refArrive(ctx, tx, id, rec, l, domain.SourceUSBKey, d.KeyID, ""); err != nil {
				return err
			}
		}
	case *domain.LicenseDeleted:
		n, err := tx.Exec(ctx, `UPDATE licenses SET deleted_event = ?, deleted_at = ? WHERE platform = ? AND license = ?`,
			e.ID, ts(e.Time), id, d.License)
		if err != nil {
			return err
		}
		if n == 0 {
			return poisonf("event %s deletes license %s, which platform %s never received", e.ID, d.License, id)
		}
	}
	return nil
}

// refArrive records a license reaching a platform. A license arriving again
// (a key re-inserted, a deleted license uploaded again) keeps its first
// arrival as recorded_* and takes the new one as arrived_*, which is what
// precedence goes by.
func refArrive(ctx context.Context, tx *Tx, platform string, rec eventstore.Record, l domain.License, source, keyID, bundle string) error {
	e := rec.Event
	at := ts(e.Time)
	_, err := tx.Exec(ctx, `INSERT INTO licenses (platform, license, kind, edition, module, slot, sockets, quantity, issued_at, expires_at,
			source, key_id, bundle, recorded_seq, recorded_event, recorded_at, arrived_seq, arrived_event, arrived_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (platform, license) DO UPDATE SET kind = excluded.kind, edition = excluded.edition, module = excluded.module,
			slot = excluded.slot, sockets = excluded.sockets, quantity = excluded.quantity, issued_at = excluded.issued_at,
			expires_at = excluded.expires_at, source = excluded.source, key_id = excluded.key_id, bundle = excluded.bundle,
			arrived_seq = excluded.arrived_seq, arrived_event = excluded.arrived_event, arrived_at = excluded.arrived_at,
			deleted_event = NULL, deleted_at = NULL`,
		platform, l.ID, l.Kind, l.Edition, l.Module, slotOf(l), l.Sockets, l.Quantity, ts(l.IssuedAt), tsPtr(l.ExpiresAt),
		source, keyID, bundle, rec.Seq, e.ID, at, rec.Seq, e.ID, at)
	return err
}

func (refUSBKeys) Apply(ctx context.Context, tx *Tx, rec eventstore.Record) error {
	id, data, ok, err := platformEvent(tx, rec)
	if err != nil || !ok {
		return err
	}
	e := rec.Event
	switch d := data.(type) {
	case *domain.USBKeyInserted:
		_, err := tx.Exec(ctx, `INSERT INTO usb_key_insertions (platform, seq, node, key_id, inserted_event, inserted_at, licenses)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, id, rec.Seq, d.Node, d.KeyID, e.ID, ts(e.Time), len(d.Licenses))
		return err
	case *domain.USBKeyRemoved:
		_, err := tx.Exec(ctx, `UPDATE usb_key_insertions INDEXED BY usb_key_open SET removed_seq = ?, removed_event = ?, removed_at = ?
			WHERE platform = ? AND node = ? AND key_id = ? AND removed_seq IS NULL`, rec.Seq, e.ID, ts(e.Time), id, d.Node, d.KeyID)
		return err
	}
	return nil
}
