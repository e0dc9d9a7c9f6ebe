package projections

import (
	"context"
	"database/sql"
	"time"

	"github.com/licledger/licledger/domain"
)

// License states in the inventory: where a license stands in precedence
// (R13), as the domain says (domain.LicenseStandings), so that the license
// the entitlement uses for a slot is the one the inventory calls current.
const (
	LicenseCurrent     = domain.StandingCurrent     // decides its slot: the entitlement's license for it
	LicenseSuperseded  = domain.StandingSuperseded  // its source takes part, a later license decides its slot (R13)
	LicenseUnavailable = domain.StandingUnavailable // its USB key takes no part (R16–R22), or no longer carries it
	LicenseDeleted     = domain.StandingDeleted     // deleted (R14)
)

// InventoryLicense is one license a platform received, with provenance:
// which event brought it (first and latest arrival) and its deletion, and
// where it stands in precedence after the platform's latest event (State):
// SupersededBy names the license deciding its slot when superseded, and
// Next the state it takes when the buffer running then ends, with no new
// event (R19–R22). Whether it is in force at an instant (its term, R8) is
// the entitlement's answer.
type InventoryLicense struct {
	domain.License
	Source       string        `json:"source"`
	KeyID        string        `json:"key_id,omitempty"`
	Bundle       string        `json:"bundle,omitempty"`
	State        string        `json:"state"`
	BroughtBy    EventRef      `json:"brought_by"`
	LastBrought  EventRef      `json:"last_brought_by"`
	SupersededBy *Supersession `json:"superseded_by,omitempty"`
	Next         *StateChange  `json:"next,omitempty"`
	Deleted      *EventRef     `json:"deleted,omitempty"`
}

// Supersession names the license deciding a superseded license's slot,
// and the event that last brought it.
type Supersession struct {
	License string    `json:"license"`
	Event   string    `json:"event"`
	At      time.Time `json:"at"`
}

// StateChange is the state a license takes at an instant with no new
// event: when the buffer of a pulled key ends, the key's licenses become
// unavailable and the request-code ones they outranked current (R13, R19).
type StateChange struct {
	At    time.Time `json:"at"`
	State string    `json:"state"`
}

// Licenses returns a platform's license inventory in arrival order, each
// license's state as of the platform's latest event: the rows of the
// licenses projection for provenance, and the platform's events, read in
// the same snapshot and folded by the domain, for the states. The answer
// depends on the log alone (R32); Next says what changes later with no
// event.
func (db *DB) Licenses(ctx context.Context, id string) ([]InventoryLicense, error) {
	out, _, err := db.LicensesSeq(ctx, id)
	return out, err
}

// LicensesSeq is Licenses with the stream sequence of the platform's last
// event, read in the same snapshot: the inventory's log position.
func (db *DB) LicensesSeq(ctx context.Context, id string) ([]InventoryLicense, uint64, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, sqlErr("begin", err)
	}
	defer tx.Rollback()
	version, lastSeq, last, err := db.platformHead(ctx, tx, id)
	if err != nil {
		return nil, 0, err
	}
	events, _, err := platformEventsIn(ctx, tx, id, 0, version, time.Time{})
	if err != nil {
		return nil, 0, err
	}
	st, err := domain.PlatformAsOf(events, id, time.Time{})
	if err != nil {
		return nil, 0, foldErr(id, err)
	}
	standings := domain.LicenseStandings(st, last)
	rows, err := tx.QueryContext(ctx, `SELECT license, kind, edition, module, sockets, quantity, issued_at, expires_at,
			source, key_id, bundle, recorded_seq, recorded_event, recorded_at, arrived_seq, arrived_event, arrived_at,
			deleted_event, deleted_at
		FROM licenses WHERE platform = ? ORDER BY recorded_seq, license`, id)
	if err != nil {
		return nil, 0, sqlErr("read licenses", err)
	}
	defer rows.Close()
	out := []InventoryLicense{}
	for rows.Next() {
		var l InventoryLicense
		var issued, recAt, arrAt string
		var expires, delEvent, delAt sql.NullString
		if err := rows.Scan(&l.ID, &l.Kind, &l.Edition, &l.Module, &l.Sockets, &l.Quantity, &issued, &expires,
			&l.Source, &l.KeyID, &l.Bundle, &l.BroughtBy.Seq, &l.BroughtBy.Event, &recAt,
			&l.LastBrought.Seq, &l.LastBrought.Event, &arrAt, &delEvent, &delAt); err != nil {
			return nil, 0, sqlErr("read licenses", err)
		}
		for _, f := range []struct {
			dst *time.Time
			src string
		}{{&l.IssuedAt, issued}, {&l.BroughtBy.At, recAt}, {&l.LastBrought.At, arrAt}} {
			if *f.dst, err = parseTS(f.src); err != nil {
				return nil, 0, err
			}
		}
		if expires.Valid {
			t, err := parseTS(expires.String)
			if err != nil {
				return nil, 0, err
			}
			l.ExpiresAt = &t
		}
		if l.Deleted, err = optRef(delEvent, delAt, sql.NullInt64{}); err != nil {
			return nil, 0, err
		}
		// A license the state no longer holds was carried by a key that
		// no longer carries it: it takes no part.
		sg, ok := standings[l.ID]
		if !ok {
			sg.Standing = domain.StandingUnavailable
		}
		l.State = sg.Standing
		if sg.Next != nil {
			l.Next = &StateChange{At: sg.Next.At, State: sg.Next.Standing}
		}
		if sg.DecidedBy != "" {
			l.SupersededBy = &Supersession{License: sg.DecidedBy}
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, sqlErr("read licenses", err)
	}
	// A superseding license is the latest arrival of the deciding one.
	byID := make(map[string]*InventoryLicense, len(out))
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	for i := range out {
		if s := out[i].SupersededBy; s != nil {
			if by := byID[s.License]; by != nil {
				s.Event, s.At = by.LastBrought.Event, by.LastBrought.At
			}
		}
	}
	return out, lastSeq, nil
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
	AsOf     domain.LogPosition  `json:"as_of"`
	Status   domain.USBKeyStatus `json:"status"`
	Nodes    []NodeKeys          `json:"nodes"`
	History  []KeyInsertion      `json:"history"`
}

// USBKeys returns the USB key view of a platform at instant at, as the
// database stands: the platform's row is read first and its last
// sequence bounds the rest, so an event applied meanwhile shows in none
// of the parts.
func (q *Queries) USBKeys(ctx context.Context, id string, at time.Time) (USBKeys, error) {
	p, err := q.db.GetPlatform(ctx, id)
	if err != nil {
		return USBKeys{}, err
	}
	ent, err := q.EntitlementDocAt(ctx, id, at, p.LastSeq)
	if err != nil {
		return USBKeys{}, err
	}
	hist, err := q.db.keyHistory(ctx, id, p.LastSeq)
	if err != nil {
		return USBKeys{}, err
	}
	out := USBKeys{Platform: id, At: ent.At, AsOf: *ent.AsOf, Status: ent.USBKey, Nodes: []NodeKeys{}, History: hist}
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

// keyHistory lists the platform's key insertions stored at or below
// sequence upTo, a removal after it left out.
func (db *DB) keyHistory(ctx context.Context, id string, upTo uint64) ([]KeyInsertion, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT node, key_id, seq, inserted_event, inserted_at, licenses,
			CASE WHEN removed_seq <= ?2 THEN removed_seq END, CASE WHEN removed_seq <= ?2 THEN removed_event END,
			CASE WHEN removed_seq <= ?2 THEN removed_at END
		FROM usb_key_insertions WHERE platform = ?1 AND seq <= ?2 ORDER BY seq`, id, int64(upTo))
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
