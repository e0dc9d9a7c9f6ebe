package projections

import (
	"context"
	"database/sql"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// This file holds the projections' Apply side: how each event changes the
// read models. The query side is in queries.go.

// Projection names. They key the checkpoints: change one only to rebuild
// that projection from scratch (see Projection).
const (
	NameEvents    = "events"
	NamePlatforms = "platforms"
	NameLicenses  = "licenses"
	NameUSBKeys   = "usb_keys"
	NameTimeline  = "timeline"
)

// platformEvent returns the platform id and decoded data of a platform
// event; ok is false for other aggregates. An event type this build does
// not know yields data nil and no error (a newer writer may add types; the
// projections that do not need it ignore it), malformed data an EINVALID.
func platformEvent(rec eventstore.Record) (id string, data any, ok bool, err error) {
	agg, err := domain.ParseAggregate(rec.Event.Subject)
	if err != nil {
		return "", nil, false, poisonf("%s", domain.ErrorMessage(err))
	}
	if agg.Kind != domain.KindPlatform {
		return "", nil, false, nil
	}
	data, err = domain.PlatformEventData(rec.Event)
	if err != nil {
		if domain.ErrorReason(err) == "unknown-event-type" {
			return agg.ID, nil, true, nil
		}
		return "", nil, false, poisonf("%s", domain.ErrorMessage(err))
	}
	return agg.ID, data, true, nil
}

// eventsProjection indexes every event by sequence and id.
type eventsProjection struct{}

func (eventsProjection) Name() string     { return NameEvents }
func (eventsProjection) Tables() []string { return []string{"events"} }

func (eventsProjection) Apply(ctx context.Context, tx *Tx, rec eventstore.Record) error {
	e := rec.Event
	n, err := tx.Exec(ctx, `INSERT INTO events (seq, id, type, subject, version, time, raw) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, rec.Seq, e.ID, e.Type, e.Subject, e.AggregateVersion, ts(e.Time), rec.Raw)
	if err != nil {
		return err
	}
	if n == 0 {
		return poisonf("event id %s is stored twice; this copy is ignored", e.ID)
	}
	return nil
}

// platformsProjection keeps one row per platform with its nodes and hosts.
type platformsProjection struct{}

func (platformsProjection) Name() string { return NamePlatforms }
func (platformsProjection) Tables() []string {
	return []string{"platforms", "platform_nodes", "platform_hosts"}
}

func (platformsProjection) Apply(ctx context.Context, tx *Tx, rec eventstore.Record) error {
	id, data, ok, err := platformEvent(rec)
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
		if _, err := tx.Exec(ctx, `UPDATE platforms SET registered_at = ?, registered_event = ?, request_code = ? WHERE id = ?`,
			at, e.ID, d.RequestCode, id); err != nil {
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

// licensesProjection is the license inventory with provenance.
type licensesProjection struct{}

func (licensesProjection) Name() string     { return NameLicenses }
func (licensesProjection) Tables() []string { return []string{"licenses"} }

// slotOf is the precedence slot of a license (R13): one Base slot, one
// slot per Plus module.
func slotOf(l domain.License) string {
	if l.Kind == domain.KindBase {
		return "base"
	}
	return "plus:" + l.Module
}

func (licensesProjection) Apply(ctx context.Context, tx *Tx, rec eventstore.Record) error {
	id, data, ok, err := platformEvent(rec)
	if err != nil || !ok {
		return err
	}
	e := rec.Event
	var slots []string
	switch d := data.(type) {
	case *domain.LicenseUploaded:
		if err := arrive(ctx, tx, id, rec, d.License, d.Source, d.KeyID, d.Bundle); err != nil {
			return err
		}
		slots = append(slots, slotOf(d.License))
	case *domain.USBKeyInserted:
		for _, l := range d.Licenses {
			if err := arrive(ctx, tx, id, rec, l, domain.SourceUSBKey, d.KeyID, ""); err != nil {
				return err
			}
			slots = append(slots, slotOf(l))
		}
	case *domain.LicenseDeleted:
		var slot string
		err := tx.QueryRow(ctx, `SELECT slot FROM licenses WHERE platform = ? AND license = ?`, id, d.License).Scan(&slot)
		if err == sql.ErrNoRows {
			return poisonf("event %s deletes license %s, which platform %s never received", e.ID, d.License, id)
		}
		if err != nil {
			return sqlErr("read license", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE licenses SET deleted_event = ?, deleted_at = ? WHERE platform = ? AND license = ?`,
			e.ID, ts(e.Time), id, d.License); err != nil {
			return err
		}
		slots = append(slots, slot)
	}
	done := map[string]bool{}
	for _, s := range slots {
		if !done[s] {
			done[s] = true
			if err := resupersede(ctx, tx, id, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// arrive records a license reaching a platform. A license arriving again
// (a key re-inserted, a deleted license uploaded again) keeps its first
// arrival as recorded_* and takes the new one as arrived_*, which is what
// precedence goes by.
func arrive(ctx context.Context, tx *Tx, platform string, rec eventstore.Record, l domain.License, source, keyID, bundle string) error {
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

// resupersede recomputes who superseded whom in one slot: among the
// licenses not deleted, in arrival order, each is superseded by the next
// (R13: latest by log position wins; R14: a deleted one takes no part).
func resupersede(ctx context.Context, tx *Tx, platform, slot string) error {
	type row struct {
		id, event, at string
		by, byEvent   sql.NullString
	}
	rows, err := tx.Query(ctx, `SELECT license, arrived_event, arrived_at, superseded_by, superseded_event FROM licenses
		WHERE platform = ? AND slot = ? AND deleted_event IS NULL ORDER BY arrived_seq, license`, platform, slot)
	if err != nil {
		return err
	}
	var live []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.event, &r.at, &r.by, &r.byEvent); err != nil {
			rows.Close()
			return sqlErr("read licenses", err)
		}
		live = append(live, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sqlErr("read licenses", err)
	}
	for i, r := range live {
		var by, byEvent, byAt any
		if i+1 < len(live) {
			next := live[i+1]
			if r.by.String == next.id && r.byEvent.String == next.event {
				continue
			}
			by, byEvent, byAt = next.id, next.event, next.at
		} else if !r.by.Valid {
			continue
		}
		if _, err := tx.Exec(ctx, `UPDATE licenses SET superseded_by = ?, superseded_event = ?, superseded_at = ? WHERE platform = ? AND license = ?`,
			by, byEvent, byAt, platform, r.id); err != nil {
			return err
		}
	}
	return nil
}

// usbKeysProjection records each insertion of a key on a node and its end.
type usbKeysProjection struct{}

func (usbKeysProjection) Name() string     { return NameUSBKeys }
func (usbKeysProjection) Tables() []string { return []string{"usb_key_insertions"} }

func (usbKeysProjection) Apply(ctx context.Context, tx *Tx, rec eventstore.Record) error {
	id, data, ok, err := platformEvent(rec)
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
		_, err := tx.Exec(ctx, `UPDATE usb_key_insertions SET removed_seq = ?, removed_event = ?, removed_at = ?
			WHERE platform = ? AND node = ? AND key_id = ? AND removed_seq IS NULL`, rec.Seq, e.ID, ts(e.Time), id, d.Node, d.KeyID)
		return err
	}
	return nil
}

// timelineProjection describes each platform event in human terms.
type timelineProjection struct{}

func (timelineProjection) Name() string     { return NameTimeline }
func (timelineProjection) Tables() []string { return []string{"timeline"} }

func (timelineProjection) Apply(ctx context.Context, tx *Tx, rec eventstore.Record) error {
	id, data, ok, err := platformEvent(rec)
	if err != nil || !ok {
		return err
	}
	e := rec.Event
	n, err := tx.Exec(ctx, `INSERT INTO timeline (platform, version, seq, event, time, type, source, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (platform, version) DO NOTHING`,
		id, e.AggregateVersion, rec.Seq, e.ID, ts(e.Time), e.Type, e.Source, summarize(e.Type, data))
	if err != nil {
		return err
	}
	if n == 0 {
		return poisonf("event %s repeats version %d of platform %s; this copy is ignored", e.ID, e.AggregateVersion, id)
	}
	return nil
}
