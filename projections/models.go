package projections

import (
	"context"

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
	NameLicenses  = "licenses-2" // 2: superseded_by named the current license of the slot (migration 0004 drops it)
	NameUSBKeys   = "usb_keys"
	// "timeline" was a projection until migration 0003: the timeline is
	// now read from the events projection (DB.Timeline).
)

// platformEvent returns the platform id and decoded data of a platform
// event; ok is false for other aggregates. An event type this build does
// not know yields data nil and no error (a newer writer may add types; the
// projections that do not need it ignore it), malformed data an EINVALID.
func platformEvent(tx *Tx, rec eventstore.Record) (id string, data any, ok bool, err error) {
	m := tx.decode(rec)
	return m.id, m.data, m.ok, m.err
}

// tsMemo is ts(rec.Event.Time), formatted once per record (every
// projection stamps its rows with it).
func tsMemo(tx *Tx, rec eventstore.Record) string { return tx.decode(rec).at }

// decode returns what every projection wants to know about rec, computed
// once per record: by the pipe's reading goroutine ahead of the batch
// (see item.pre), or here when it did not.
func (tx *Tx) decode(rec eventstore.Record) *decoded {
	if m := &tx.memo; m.valid && m.seq == rec.Seq {
		return m
	}
	tx.memo = predecode(rec)
	return &tx.memo
}

// predecode decodes rec for decode. It depends on rec alone, so it can run
// on any goroutine.
func predecode(rec eventstore.Record) decoded {
	id, data, ok, err := decodePlatformEvent(rec)
	return decoded{valid: true, seq: rec.Seq, id: id, data: data, ok: ok, err: err, at: ts(rec.Event.Time)}
}

func decodePlatformEvent(rec eventstore.Record) (id string, data any, ok bool, err error) {
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
	ok, err := tx.Insert(ctx, `INSERT INTO events (seq, id, type, subject, version, time, raw) VALUES`,
		int64(rec.Seq), e.ID, e.Type, e.Subject, int64(e.AggregateVersion), tsMemo(tx, rec), rec.Raw)
	if err != nil {
		return err
	}
	if !ok {
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
	id, data, ok, err := platformEvent(tx, rec)
	if err != nil || !ok {
		return err
	}
	e := rec.Event
	at := tsMemo(tx, rec)
	row := tx.platformRow(id)
	row.version, row.lastSeq, row.lastAt = int64(e.AggregateVersion), int64(rec.Seq), at
	switch d := data.(type) {
	case *domain.PlatformRegistered:
		row.registered, row.regAt, row.regEvent, row.requestCode = true, at, e.ID, d.RequestCode
		nodes := tx.members(false)
		for _, n := range d.Nodes {
			nodes.add(tx, memberRow{platform: id, name: n, addedAt: at, addedEvent: e.ID})
		}
	case *domain.NodeChanged:
		nodes := tx.members(false)
		if e.Type == domain.EventPlatformNodeAdded {
			nodes.add(tx, memberRow{platform: id, name: d.Node, addedAt: at, addedEvent: e.ID})
			return nil
		}
		return nodes.remove(ctx, tx, id, d.Node, at, e.ID)
	case *domain.HostAdded:
		tx.members(true).add(tx, memberRow{platform: id, name: d.Host, hypervisor: d.Hypervisor, sockets: int64(d.Sockets),
			addedAt: at, addedEvent: e.ID})
	case *domain.HostRemoved:
		return tx.members(true).remove(ctx, tx, id, d.Host, at, e.ID)
	}
	return nil
}

// licensesProjection is the license inventory with provenance: which
// events brought and deleted each license. Where each stands in precedence
// is the domain's answer, given at query time (DB.Licenses).
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
	id, data, ok, err := platformEvent(tx, rec)
	if err != nil || !ok {
		return err
	}
	lics := tx.licenses()
	switch d := data.(type) {
	case *domain.LicenseUploaded:
		return lics.arrive(ctx, tx, id, rec, d.License, d.Source, d.KeyID, d.Bundle)
	case *domain.USBKeyInserted:
		for _, l := range d.Licenses {
			if err := lics.arrive(ctx, tx, id, rec, l, domain.SourceUSBKey, d.KeyID, ""); err != nil {
				return err
			}
		}
	case *domain.LicenseDeleted:
		return lics.delete(ctx, tx, id, rec, d.License)
	}
	return nil
}

// usbKeysProjection records each insertion of a key on a node and its end.
type usbKeysProjection struct{}

func (usbKeysProjection) Name() string     { return NameUSBKeys }
func (usbKeysProjection) Tables() []string { return []string{"usb_key_insertions"} }

func (usbKeysProjection) Apply(ctx context.Context, tx *Tx, rec eventstore.Record) error {
	id, data, ok, err := platformEvent(tx, rec)
	if err != nil || !ok {
		return err
	}
	e := rec.Event
	switch d := data.(type) {
	case *domain.USBKeyInserted:
		return tx.keys().insert(ctx, tx, &keyRow{platform: id, seq: int64(rec.Seq), node: d.Node, keyID: d.KeyID,
			insertedEvent: e.ID, insertedAt: tsMemo(tx, rec), licenses: int64(len(d.Licenses))})
	case *domain.USBKeyRemoved:
		return tx.keys().remove(ctx, tx, openKey{id, d.Node, d.KeyID}, int64(rec.Seq), e.ID, tsMemo(tx, rec))
	}
	return nil
}
