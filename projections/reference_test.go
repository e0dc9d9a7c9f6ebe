package projections

import (
	"context"
	"database/sql"

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
	var arrived []domain.License
	switch d := data.(type) {
	case *domain.LicenseUploaded:
		if err := refArrive(ctx, tx, id, rec, d.License, d.Source, d.KeyID, d.Bundle); err != nil {
			return err
		}
		arrived = append(arrived, d.License)
	case *domain.USBKeyInserted:
		for _, l := range d.Licenses {
			if err := refArrive(ctx, tx, id, rec, l, domain.SourceUSBKey, d.KeyID, ""); err != nil {
				return err
			}
			arrived = append(arrived, l)
		}
	case *domain.LicenseDeleted:
		return refDeleteLicense(ctx, tx, id, e, d.License)
	}
	// The licenses this event brought are the latest in their slots (R13:
	// by log position); within the event, ties go to the greatest id, as
	// in deleteLicense.
	winners := map[string]string{}
	var order []string
	for _, l := range arrived {
		slot := slotOf(l)
		w, seen := winners[slot]
		if !seen {
			order = append(order, slot)
		}
		if !seen || l.ID > w {
			winners[slot] = l.ID
		}
	}
	for _, slot := range order {
		if err := refSupersedeBy(ctx, tx, id, slot, winners[slot], e.ID, ts(e.Time)); err != nil {
			return err
		}
	}
	return nil
}

// supersedeBy makes lic, which arrived with event at instant at, the
// current license of its slot: every other live license of the slot is
// superseded by it (R13), and it is superseded by none.
func refSupersedeBy(ctx context.Context, tx *Tx, platform, slot, lic, event, at string) error {
	// INDEXED BY: without statistics the planner would scan all of the
	// platform's licenses by primary key rather than the slot's live ones.
	if _, err := tx.Exec(ctx, `UPDATE licenses INDEXED BY licenses_live_by_slot
		SET superseded_by = ?, superseded_event = ?, superseded_at = ?
		WHERE platform = ? AND slot = ? AND deleted_event IS NULL AND license != ?
			AND (superseded_by IS NOT ? OR superseded_event IS NOT ?)`,
		lic, event, at, platform, slot, lic, lic, event); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE licenses SET superseded_by = NULL, superseded_event = NULL, superseded_at = NULL
		WHERE platform = ? AND license = ? AND superseded_by IS NOT NULL`, platform, lic)
	return err
}

// deleteLicense records a deletion. A deleted license takes no part in
// precedence (R14) and keeps its own supersession as history; when it was
// its slot's current license, the latest other live one becomes current.
func refDeleteLicense(ctx context.Context, tx *Tx, platform string, e domain.Event, lic string) error {
	var slot string
	var current bool
	err := tx.QueryRow(ctx, `SELECT slot, superseded_by IS NULL AND deleted_event IS NULL FROM licenses WHERE platform = ? AND license = ?`,
		platform, lic).Scan(&slot, &current)
	if err == sql.ErrNoRows {
		return poisonf("event %s deletes license %s, which platform %s never received", e.ID, lic, platform)
	}
	if err != nil {
		return sqlErr("read license", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE licenses SET deleted_event = ?, deleted_at = ? WHERE platform = ? AND license = ?`,
		e.ID, ts(e.Time), platform, lic); err != nil {
		return err
	}
	if !current {
		return nil
	}
	var next, event, at string
	err = tx.QueryRow(ctx, `SELECT license, arrived_event, arrived_at FROM licenses INDEXED BY licenses_live_by_slot
		WHERE platform = ? AND slot = ? AND deleted_event IS NULL ORDER BY arrived_seq DESC, license DESC LIMIT 1`,
		platform, slot).Scan(&next, &event, &at)
	if err == sql.ErrNoRows {
		return nil // the slot is empty now
	}
	if err != nil {
		return sqlErr("read licenses", err)
	}
	return refSupersedeBy(ctx, tx, platform, slot, next, event, at)
}

// arrive records a license reaching a platform. A license arriving again
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
