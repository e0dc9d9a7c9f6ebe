package projections

import (
	"context"
	"database/sql"
	"time"

	"github.com/licledger/licledger/domain"
)

// License states in the inventory.
const (
	LicenseCurrent    = "current"    // latest in its slot, not deleted
	LicenseSuperseded = "superseded" // a later license took its slot (R13)
	LicenseDeleted    = "deleted"    // deleted (R14)
)

// InventoryLicense is one license a platform received, with provenance:
// which event brought it (first and latest arrival), which license
// superseded it in its slot, and its deletion. State says which applies
// now; whether it is in force at an instant is the entitlement's answer.
type InventoryLicense struct {
	domain.License
	Source       string        `json:"source"`
	KeyID        string        `json:"key_id,omitempty"`
	Bundle       string        `json:"bundle,omitempty"`
	State        string        `json:"state"`
	BroughtBy    EventRef      `json:"brought_by"`
	LastBrought  EventRef      `json:"last_brought_by"`
	SupersededBy *Supersession `json:"superseded_by,omitempty"`
	Deleted      *EventRef     `json:"deleted,omitempty"`
}

// Supersession names the license that took a license's slot.
type Supersession struct {
	License string    `json:"license"`
	Event   string    `json:"event"`
	At      time.Time `json:"at"`
}

// Licenses returns a platform's license inventory in arrival order.
func (db *DB) Licenses(ctx context.Context, id string) ([]InventoryLicense, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, sqlErr("begin", err)
	}
	defer tx.Rollback()
	if _, _, err := db.platformVersion(ctx, tx, id); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT license, kind, edition, module, sockets, quantity, issued_at, expires_at,
			source, key_id, bundle, recorded_seq, recorded_event, recorded_at, arrived_seq, arrived_event, arrived_at,
			superseded_by, superseded_event, superseded_at, deleted_event, deleted_at
		FROM licenses WHERE platform = ? ORDER BY recorded_seq, license`, id)
	if err != nil {
		return nil, sqlErr("read licenses", err)
	}
	defer rows.Close()
	out := []InventoryLicense{}
	for rows.Next() {
		var l InventoryLicense
		var issued, recAt, arrAt string
		var expires, supBy, supEvent, supAt, delEvent, delAt sql.NullString
		if err := rows.Scan(&l.ID, &l.Kind, &l.Edition, &l.Module, &l.Sockets, &l.Quantity, &issued, &expires,
			&l.Source, &l.KeyID, &l.Bundle, &l.BroughtBy.Seq, &l.BroughtBy.Event, &recAt,
			&l.LastBrought.Seq, &l.LastBrought.Event, &arrAt, &supBy, &supEvent, &supAt, &delEvent, &delAt); err != nil {
			return nil, sqlErr("read licenses", err)
		}
		for _, f := range []struct {
			dst *time.Time
			src string
		}{{&l.IssuedAt, issued}, {&l.BroughtBy.At, recAt}, {&l.LastBrought.At, arrAt}} {
			if *f.dst, err = parseTS(f.src); err != nil {
				return nil, err
			}
		}
		if expires.Valid {
			t, err := parseTS(expires.String)
			if err != nil {
				return nil, err
			}
			l.ExpiresAt = &t
		}
		if supBy.Valid {
			t, err := parseTS(supAt.String)
			if err != nil {
				return nil, err
			}
			l.SupersededBy = &Supersession{License: supBy.String, Event: supEvent.String, At: t}
		}
		if l.Deleted, err = optRef(delEvent, delAt, sql.NullInt64{}); err != nil {
			return nil, err
		}
		switch {
		case l.Deleted != nil:
			l.State = LicenseDeleted
		case l.SupersededBy != nil:
			l.State = LicenseSuperseded
		default:
			l.State = LicenseCurrent
		}
		out = append(out, l)
	}
	return out, sqlErr("read licenses", rows.Err())
}

// KeyInsertion is one insertion of a USB key on a node, and its removal.
type KeyInsertion struct {
	Node     string    `json:"node"`
	KeyID    string    `json:"key_id"`
	Inserted EventRef  `json:"inserted"`
	Licenses int       `json:"licenses"`
	Removed  *EventRef `json:"removed,omitempty"`
}

// NodeKeys is what is inserted on one management node now.
type NodeKeys struct {
	Node string         `json:"node"`
	Keys []KeyInsertion `json:"keys"`
}

// USBKeys is the USB key view of a platform: the key state and buffer at
// an instant (the domain's answer, §3 and R16–R22), the keys inserted per
// current management node, and every insertion in log order.
type USBKeys struct {
	Platform string              `json:"platform"`
	At       time.Time           `json:"at"`
	Status   domain.USBKeyStatus `json:"status"`
	Nodes    []NodeKeys          `json:"nodes"`
	History  []KeyInsertion      `json:"history"`
}

// USBKeys returns the USB key view of a platform at instant at.
func (q *Queries) USBKeys(ctx context.Context, id string, at time.Time) (USBKeys, error) {
	ent, err := q.entitlement(ctx, id, at)
	if err != nil {
		return USBKeys{}, err
	}
	p, err := q.db.GetPlatform(ctx, id)
	if err != nil {
		return USBKeys{}, err
	}
	hist, err := q.db.keyHistory(ctx, id)
	if err != nil {
		return USBKeys{}, err
	}
	out := USBKeys{Platform: id, At: ent.At, Status: ent.USBKey, Nodes: []NodeKeys{}, History: hist}
	// The node list and key rows come from the current projections; the
	// status from the fold at `at`. For a past instant the history shows
	// what happened since, and Status what held then.
	for _, n := range p.Nodes {
		if n.Removed != nil {
			continue
		}
		nk := NodeKeys{Node: n.Node, Keys: []KeyInsertion{}}
		for _, k := range hist {
			if k.Node == n.Node && k.Removed == nil {
				nk.Keys = append(nk.Keys, k)
			}
		}
		out.Nodes = append(out.Nodes, nk)
	}
	return out, nil
}

func (db *DB) keyHistory(ctx context.Context, id string) ([]KeyInsertion, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT node, key_id, seq, inserted_event, inserted_at, licenses, removed_seq, removed_event, removed_at
		FROM usb_key_insertions WHERE platform = ? ORDER BY seq`, id)
	if err != nil {
		return nil, sqlErr("read usb keys", err)
	}
	defer rows.Close()
	out := []KeyInsertion{}
	for rows.Next() {
		var k KeyInsertion
		var insAt string
		var remSeq sql.NullInt64
		var remEvent, remAt sql.NullString
		if err := rows.Scan(&k.Node, &k.KeyID, &k.Inserted.Seq, &k.Inserted.Event, &insAt, &k.Licenses, &remSeq, &remEvent, &remAt); err != nil {
			return nil, sqlErr("read usb keys", err)
		}
		if k.Inserted.At, err = parseTS(insAt); err != nil {
			return nil, err
		}
		if k.Removed, err = optRef(remEvent, remAt, remSeq); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, sqlErr("read usb keys", rows.Err())
}
