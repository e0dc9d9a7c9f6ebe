package projections

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/licledger/licledger/domain"
)

// This file is the query side of the read models. Every query reads one
// consistent snapshot (one statement, or one read transaction). Errors are
// *domain.Error: ENOTFOUND with reason unknown-platform / unknown-event for
// what does not exist, EINTERNAL for storage failures.

func unknownPlatform(id string) error {
	return domain.Reasonf(domain.ENOTFOUND, domain.ReasonUnknownPlatform, "platform %q has no events in the ledger", id)
}

// EventRef points at the event that did something, and when.
type EventRef struct {
	Event string    `json:"event"`
	Seq   uint64    `json:"seq,omitempty"`
	At    time.Time `json:"at"`
}

// Platform is the platforms read model: a platform's version (for
// If-Match), its management nodes and compute hosts.
type Platform struct {
	ID          string    `json:"id"`
	Version     uint64    `json:"version"`
	LastSeq     uint64    `json:"last_seq"`
	LastEventAt time.Time `json:"last_event_at"`
	Registered  *EventRef `json:"registered,omitempty"`
	RequestCode string    `json:"request_code,omitempty"`
	Nodes       []Node    `json:"nodes"`
	Hosts       []Host    `json:"hosts"`
	// AsOf is the view's log position, set by the API that serves it.
	AsOf *domain.LogPosition `json:"as_of,omitempty"`
}

// Node is a management node, current or removed.
type Node struct {
	Node    string    `json:"node"`
	Added   EventRef  `json:"added"`
	Removed *EventRef `json:"removed,omitempty"`
}

// Host is a compute host, current or removed.
type Host struct {
	Host       string    `json:"host"`
	Hypervisor string    `json:"hypervisor"`
	Sockets    int       `json:"sockets"`
	Added      EventRef  `json:"added"`
	Removed    *EventRef `json:"removed,omitempty"`
}

// GetPlatform returns a platform's row with its nodes and hosts.
func (db *DB) GetPlatform(ctx context.Context, id string) (Platform, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Platform{}, sqlErr("begin", err)
	}
	defer tx.Rollback()
	var p Platform
	var last, regAt, regEvent string
	err = tx.QueryRowContext(ctx, `SELECT id, version, last_seq, last_event_at, registered_at, registered_event, request_code
		FROM platforms WHERE id = ?`, id).Scan(&p.ID, &p.Version, &p.LastSeq, &last, &regAt, &regEvent, &p.RequestCode)
	if errors.Is(err, sql.ErrNoRows) {
		return Platform{}, unknownPlatform(id)
	}
	if err != nil {
		return Platform{}, sqlErr("read platform", err)
	}
	if p.LastEventAt, err = parseTS(last); err != nil {
		return Platform{}, err
	}
	if regEvent != "" {
		at, err := parseTS(regAt)
		if err != nil {
			return Platform{}, err
		}
		p.Registered = &EventRef{Event: regEvent, At: at}
	}
	p.Nodes, p.Hosts = []Node{}, []Host{}
	rows, err := tx.QueryContext(ctx, `SELECT node, added_at, added_event, removed_at, removed_event FROM platform_nodes
		WHERE platform = ? ORDER BY added_at, node`, id)
	if err != nil {
		return Platform{}, sqlErr("read nodes", err)
	}
	for rows.Next() {
		var n Node
		var addedAt string
		var remAt, remEvent sql.NullString
		if err := rows.Scan(&n.Node, &addedAt, &n.Added.Event, &remAt, &remEvent); err != nil {
			rows.Close()
			return Platform{}, sqlErr("read nodes", err)
		}
		if n.Added.At, err = parseTS(addedAt); err != nil {
			rows.Close()
			return Platform{}, err
		}
		if n.Removed, err = optRef(remEvent, remAt, sql.NullInt64{}); err != nil {
			rows.Close()
			return Platform{}, err
		}
		p.Nodes = append(p.Nodes, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Platform{}, sqlErr("read nodes", err)
	}
	rows, err = tx.QueryContext(ctx, `SELECT host, hypervisor, sockets, added_at, added_event, removed_at, removed_event FROM platform_hosts
		WHERE platform = ? ORDER BY added_at, host`, id)
	if err != nil {
		return Platform{}, sqlErr("read hosts", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h Host
		var addedAt string
		var remAt, remEvent sql.NullString
		if err := rows.Scan(&h.Host, &h.Hypervisor, &h.Sockets, &addedAt, &h.Added.Event, &remAt, &remEvent); err != nil {
			return Platform{}, sqlErr("read hosts", err)
		}
		if h.Added.At, err = parseTS(addedAt); err != nil {
			return Platform{}, err
		}
		if h.Removed, err = optRef(remEvent, remAt, sql.NullInt64{}); err != nil {
			return Platform{}, err
		}
		p.Hosts = append(p.Hosts, h)
	}
	return p, sqlErr("read hosts", rows.Err())
}

// optRef builds an EventRef from nullable columns; nil when event is NULL.
func optRef(event, at sql.NullString, seq sql.NullInt64) (*EventRef, error) {
	if !event.Valid {
		return nil, nil
	}
	t, err := parseTS(at.String)
	if err != nil {
		return nil, err
	}
	return &EventRef{Event: event.String, Seq: uint64(seq.Int64), At: t}, nil
}

// platformHead returns a platform's version, the stream sequence of its
// last event and that event's instant.
func (db *DB) platformHead(ctx context.Context, q querier, id string) (uint64, uint64, time.Time, error) {
	var v, seq uint64
	var last string
	err := q.QueryRowContext(ctx, `SELECT version, last_seq, last_event_at FROM platforms WHERE id = ?`, id).Scan(&v, &seq, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, time.Time{}, unknownPlatform(id)
	}
	if err != nil {
		return 0, 0, time.Time{}, sqlErr("read platform", err)
	}
	t, err := parseTS(last)
	return v, seq, t, err
}

// EventRecord is one event from the events index.
type EventRecord struct {
	Seq uint64
	Raw []byte // the stored CloudEvents JSON, exactly as appended
}

// Event returns the stored event with the given id.
func (db *DB) Event(ctx context.Context, id string) (EventRecord, error) {
	var r EventRecord
	err := db.r.QueryRowContext(ctx, `SELECT seq, raw FROM events WHERE id = ?`, id).Scan(&r.Seq, &r.Raw)
	if errors.Is(err, sql.ErrNoRows) {
		return EventRecord{}, domain.Reasonf(domain.ENOTFOUND, domain.ReasonUnknownEvent, "no event with id %q", id)
	}
	if err != nil {
		return EventRecord{}, sqlErr("read event", err)
	}
	return r, nil
}

// TimelineEntry is one platform event in human terms.
type TimelineEntry struct {
	Version uint64    `json:"version"`
	Seq     uint64    `json:"seq"`
	Event   string    `json:"event"`
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Source  string    `json:"source"`
	Summary string    `json:"summary"`
}

// MaxTimelinePage bounds one page of Timeline.
const MaxTimelinePage = 1000

// Timeline returns up to limit (1..MaxTimelinePage) entries of a platform
// after version afterVersion, oldest first: TimelineAt with no bound.
//
// The entries are read from the events projection and described here:
// a summary depends on its event alone (summarize), so storing it would
// only double what a rebuild writes. An event whose data this build
// cannot read is still listed, with a summary that says so: the timeline
// shows everything the platform's history holds (the other projections
// skip such an event and record it as poison).
func (db *DB) Timeline(ctx context.Context, id string, afterVersion uint64, limit int) ([]TimelineEntry, error) {
	out, _, err := db.TimelineAt(ctx, id, afterVersion, limit, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), 0)
	return out, err
}

// timelineSummary describes one platform event for the timeline.
func timelineSummary(ev domain.Event) string {
	data, err := domain.PlatformEventData(ev)
	if err != nil && domain.ErrorReason(err) != "unknown-event-type" {
		return "event " + ev.Type + " whose data cannot be read: " + domain.ErrorMessage(err)
	}
	return summarize(ev.Type, data)
}
