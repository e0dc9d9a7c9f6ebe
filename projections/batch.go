package projections

import (
	"context"
	"database/sql"
)

// This file and batch_licenses.go, batch_keys.go hold the batch models:
// the in-memory working set, for one batch (one Tx), of the read models
// whose rows events change after writing them (platforms with their nodes
// and hosts, licenses, USB key insertions).
//
// Why: applied statement by statement, an event cost several SQLite
// statements, each a cgo call plus database/sql bookkeeping, and a rebuild
// ran at a tenth of the speed of reading the log. Now a row is read at
// most once per batch (not at all when presence says the platform has no
// rows yet), every event of the batch changes it in memory, and Flush
// writes it once, with other rows, in a multi-row upsert.
//
// Each model mirrors, operation for operation, the SQL it replaces; the
// result is a function of the rows before the batch and the batch's events
// only, so it is the same whatever the batch boundaries (R32: a rebuild in
// large batches equals the live projector's small ones). TestDeterminism
// checks it on a fixed history, TestBatchSizesAgree on random ones against
// the replaced SQL itself (reference_test.go). A batch that fails or is
// rolled back throws its Tx, and so its working set, away.

// modelBatch is the working set of one batch.
type modelBatch struct {
	platforms map[string]*platformRow
	platOrder []string
	nodes     *memberBatch
	hosts     *memberBatch
	licenses  *licenseBatch
	keys      *keyBatch
}

// nullStr is the value of a nullable TEXT column to bind.
func nullStr(s sql.NullString) any {
	if !s.Valid {
		return nil
	}
	return s.String
}

func str(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }

// platformRow is a platforms row pending in a batch: a batch often holds
// many events of one platform, and only the last one's version counts, so
// the row is written once per batch.
type platformRow struct {
	id               string
	version, lastSeq int64
	lastAt           string
	registered       bool
	regAt, regEvent  string
	requestCode      string
}

func (t *Tx) platformRow(id string) *platformRow {
	m := &t.models
	if r, ok := m.platforms[id]; ok {
		return r
	}
	if m.platforms == nil {
		m.platforms = map[string]*platformRow{}
		t.onFlush(t.flushPlatforms)
	}
	r := &platformRow{id: id}
	m.platforms[id] = r
	m.platOrder = append(m.platOrder, id)
	return r
}

func (t *Tx) flushPlatforms(ctx context.Context) error {
	m := &t.models
	args := make([]any, 0, 4*len(m.platOrder))
	for _, id := range m.platOrder {
		r := m.platforms[id]
		args = append(args, r.id, r.version, r.lastSeq, r.lastAt)
	}
	if err := t.writeRows(ctx, `INSERT INTO platforms (id, version, last_seq, last_event_at) VALUES`,
		`ON CONFLICT (id) DO UPDATE SET version = excluded.version, last_seq = excluded.last_seq, last_event_at = excluded.last_event_at`,
		4, args); err != nil {
		return err
	}
	for _, id := range m.platOrder {
		// A registration happens once in a platform's life: one statement
		// for it costs nothing, and keeps the upsert above from having to
		// know the registration of platforms registered in earlier batches.
		if r := m.platforms[id]; r.registered {
			if _, err := t.Exec(ctx, `UPDATE platforms SET registered_at = ?, registered_event = ?, request_code = ? WHERE id = ?`,
				r.regAt, r.regEvent, r.requestCode, r.id); err != nil {
				return err
			}
		}
	}
	m.platforms, m.platOrder = nil, nil
	return nil
}

// memberRow is a row of platform_nodes or platform_hosts: a member
// (management node, compute host) of a platform, added and maybe removed.
type memberRow struct {
	platform, name string
	hypervisor     string // hosts only
	sockets        int64  // hosts only
	addedAt        string
	addedEvent     string
	removedAt      sql.NullString
	removedEvent   sql.NullString
	dirty          bool // in memberBatch.dirty
}

type memberKey struct{ platform, name string }

// memberBatch is the working set of platform_nodes or platform_hosts.
type memberBatch struct {
	table string // platform_nodes or platform_hosts
	col   string // node or host
	hosts bool
	rows  map[memberKey]*memberRow // nil value: known to have no row
	dirty []*memberRow
}

func (t *Tx) members(hosts bool) *memberBatch {
	m := &t.models
	p := &m.nodes
	if hosts {
		p = &m.hosts
	}
	if *p == nil {
		b := &memberBatch{table: "platform_nodes", col: "node", hosts: hosts, rows: map[memberKey]*memberRow{}}
		if hosts {
			b.table, b.col = "platform_hosts", "host"
		}
		*p = b
		t.onFlush(b.flush(t))
	}
	return *p
}

// add records a member added by an event: the row is entirely the
// event's, whatever was there before (an upsert that clears the removal).
func (b *memberBatch) add(t *Tx, r memberRow) {
	k := memberKey{r.platform, r.name}
	row := b.rows[k]
	if row == nil {
		row = &memberRow{}
		b.rows[k] = row
		t.markRows(b.table, r.platform)
	}
	dirty := row.dirty
	*row = r
	row.dirty = dirty
	b.touch(row)
}

// touch queues a changed row for the flush, once; the queue keeps the
// flush order deterministic.
func (b *memberBatch) touch(row *memberRow) {
	if !row.dirty {
		row.dirty = true
		b.dirty = append(b.dirty, row)
	}
}

// remove records a member's removal: it applies to a member present and
// not removed yet, and changes nothing otherwise.
func (b *memberBatch) remove(ctx context.Context, t *Tx, platform, name, at, event string) error {
	row, err := b.get(ctx, t, platform, name)
	if err != nil || row == nil || row.removedEvent.Valid {
		return err
	}
	row.removedAt, row.removedEvent = str(at), str(event)
	b.touch(row)
	return nil
}

func (b *memberBatch) get(ctx context.Context, t *Tx, platform, name string) (*memberRow, error) {
	k := memberKey{platform, name}
	if row, ok := b.rows[k]; ok {
		return row, nil
	}
	has, err := t.hasRows(ctx, b.table, platform)
	if err != nil {
		return nil, err
	}
	var row *memberRow
	if has {
		r := memberRow{platform: platform, name: name}
		query := `SELECT added_at, added_event, removed_at, removed_event, '', 0 FROM ` + b.table + ` WHERE platform = ? AND ` + b.col + ` = ?`
		if b.hosts {
			query = `SELECT added_at, added_event, removed_at, removed_event, hypervisor, sockets FROM platform_hosts WHERE platform = ? AND host = ?`
		}
		err := t.QueryRow(ctx, query, platform, name).Scan(&r.addedAt, &r.addedEvent, &r.removedAt, &r.removedEvent, &r.hypervisor, &r.sockets)
		switch {
		case err == nil:
			row = &r
		case err != sql.ErrNoRows:
			return nil, sqlErr("read "+b.table, err)
		}
	}
	b.rows[k] = row
	return row, nil
}

func (b *memberBatch) flush(t *Tx) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if b.hosts {
			args := make([]any, 0, 8*len(b.dirty))
			for _, r := range b.dirty {
				args = append(args, r.platform, r.name, r.hypervisor, r.sockets, r.addedAt, r.addedEvent, nullStr(r.removedAt), nullStr(r.removedEvent))
			}
			return t.writeRows(ctx, `INSERT INTO platform_hosts (platform, host, hypervisor, sockets, added_at, added_event, removed_at, removed_event) VALUES`,
				`ON CONFLICT (platform, host) DO UPDATE SET hypervisor = excluded.hypervisor, sockets = excluded.sockets,
				added_at = excluded.added_at, added_event = excluded.added_event, removed_at = excluded.removed_at, removed_event = excluded.removed_event`,
				8, args)
		}
		args := make([]any, 0, 6*len(b.dirty))
		for _, r := range b.dirty {
			args = append(args, r.platform, r.name, r.addedAt, r.addedEvent, nullStr(r.removedAt), nullStr(r.removedEvent))
		}
		return t.writeRows(ctx, `INSERT INTO platform_nodes (platform, node, added_at, added_event, removed_at, removed_event) VALUES`,
			`ON CONFLICT (platform, node) DO UPDATE SET added_at = excluded.added_at, added_event = excluded.added_event,
			removed_at = excluded.removed_at, removed_event = excluded.removed_event`,
			6, args)
	}
}
