package projections

import (
	"context"
	"database/sql"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// The licenses model of a batch (see batch.go): the license inventory with
// provenance and precedence (R13, R14).

// licRow is a row of the licenses table.
type licRow struct {
	platform, license           string
	kind, edition, module, slot string
	sockets, quantity           int64
	issuedAt                    string
	expiresAt                   sql.NullString
	source, keyID, bundle       string
	recordedSeq                 int64
	recordedEvent, recordedAt   string
	arrivedSeq                  int64
	arrivedEvent, arrivedAt     string
	supBy, supEvent, supAt      sql.NullString
	delEvent, delAt             sql.NullString
	dirty                       bool // in licenseBatch.dirty
}

// live: not deleted, so it takes part in precedence (R14).
func (r *licRow) live() bool { return !r.delEvent.Valid }

const licCols = `platform, license, kind, edition, module, slot, sockets, quantity, issued_at, expires_at,
	source, key_id, bundle, recorded_seq, recorded_event, recorded_at, arrived_seq, arrived_event, arrived_at,
	superseded_by, superseded_event, superseded_at, deleted_event, deleted_at`

const licNCols = 24

func scanLic(sc interface{ Scan(...any) error }) (*licRow, error) {
	r := &licRow{}
	err := sc.Scan(&r.platform, &r.license, &r.kind, &r.edition, &r.module, &r.slot, &r.sockets, &r.quantity, &r.issuedAt, &r.expiresAt,
		&r.source, &r.keyID, &r.bundle, &r.recordedSeq, &r.recordedEvent, &r.recordedAt, &r.arrivedSeq, &r.arrivedEvent, &r.arrivedAt,
		&r.supBy, &r.supEvent, &r.supAt, &r.delEvent, &r.delAt)
	return r, err
}

func (r *licRow) appendArgs(args []any) []any {
	return append(args, r.platform, r.license, r.kind, r.edition, r.module, r.slot, r.sockets, r.quantity, r.issuedAt, nullStr(r.expiresAt),
		r.source, r.keyID, r.bundle, r.recordedSeq, r.recordedEvent, r.recordedAt, r.arrivedSeq, r.arrivedEvent, r.arrivedAt,
		nullStr(r.supBy), nullStr(r.supEvent), nullStr(r.supAt), nullStr(r.delEvent), nullStr(r.delAt))
}

type licKey struct{ platform, license string }
type slotKey struct{ platform, slot string }

// licenseBatch is the licenses working set of a batch. Invariant: for a
// loaded slot, live lists every live row of the slot, all of them in rows;
// rows, once read or created, are the truth for the batch.
type licenseBatch struct {
	rows       map[licKey]*licRow // nil value: known to have no row
	byPlatform map[string][]*licRow
	slots      map[slotKey][]*licRow // loaded slots -> their live rows, in load/arrival order
	dirty      []*licRow
	// ids holds, for a platform asked about more than once in the batch,
	// the ids of its stored licenses, so that new licenses (most of what
	// arrives) need no lookup each; looked counts the lookups before that.
	// The table does not change before Flush, so ids stays true.
	ids    map[string]map[string]bool
	looked map[string]int
}

func (t *Tx) licenses() *licenseBatch {
	m := &t.models
	if m.licenses == nil {
		b := &licenseBatch{rows: map[licKey]*licRow{}, byPlatform: map[string][]*licRow{}, slots: map[slotKey][]*licRow{},
			ids: map[string]map[string]bool{}, looked: map[string]int{}}
		m.licenses = b
		t.onFlush(func(ctx context.Context) error {
			args := make([]any, 0, licNCols*len(b.dirty))
			for _, r := range b.dirty {
				args = r.appendArgs(args)
			}
			return t.writeRows(ctx, `INSERT INTO licenses (`+licCols+`) VALUES`,
				`ON CONFLICT (platform, license) DO UPDATE SET kind = excluded.kind, edition = excluded.edition, module = excluded.module,
				slot = excluded.slot, sockets = excluded.sockets, quantity = excluded.quantity, issued_at = excluded.issued_at,
				expires_at = excluded.expires_at, source = excluded.source, key_id = excluded.key_id, bundle = excluded.bundle,
				recorded_seq = excluded.recorded_seq, recorded_event = excluded.recorded_event, recorded_at = excluded.recorded_at,
				arrived_seq = excluded.arrived_seq, arrived_event = excluded.arrived_event, arrived_at = excluded.arrived_at,
				superseded_by = excluded.superseded_by, superseded_event = excluded.superseded_event, superseded_at = excluded.superseded_at,
				deleted_event = excluded.deleted_event, deleted_at = excluded.deleted_at`,
				licNCols, args)
		})
	}
	return m.licenses
}

func (b *licenseBatch) touch(r *licRow) {
	if !r.dirty {
		r.dirty = true
		b.dirty = append(b.dirty, r)
	}
}

func (b *licenseBatch) add(r *licRow) {
	b.rows[licKey{r.platform, r.license}] = r
	b.byPlatform[r.platform] = append(b.byPlatform[r.platform], r)
}

// get returns a platform's license row, nil if it has none.
func (b *licenseBatch) get(ctx context.Context, t *Tx, platform, lic string) (*licRow, error) {
	k := licKey{platform, lic}
	if r, ok := b.rows[k]; ok {
		return r, nil
	}
	has, err := t.hasRows(ctx, "licenses", platform)
	if err != nil || !has {
		b.rows[k] = nil
		return nil, err
	}
	if has, err = b.stored(ctx, t, platform, lic); err != nil || !has {
		b.rows[k] = nil
		return nil, err
	}
	r, err := scanLic(t.QueryRow(ctx, `SELECT `+licCols+` FROM licenses WHERE platform = ? AND license = ?`, platform, lic))
	if err == sql.ErrNoRows {
		b.rows[k] = nil
		return nil, nil
	}
	if err != nil {
		return nil, sqlErr("read license", err)
	}
	b.add(r)
	return r, nil
}

// stored reports whether the table may hold license lic of platform: from
// the platform's stored ids once it is asked about a second time in the
// batch, else true (and get looks the row up).
func (b *licenseBatch) stored(ctx context.Context, t *Tx, platform, lic string) (bool, error) {
	ids, ok := b.ids[platform]
	if !ok {
		if b.looked[platform]++; b.looked[platform] < 2 {
			return true, nil
		}
		ids = map[string]bool{}
		rows, err := t.Query(ctx, `SELECT license FROM licenses WHERE platform = ?`, platform)
		if err != nil {
			return false, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return false, sqlErr("read licenses", err)
			}
			ids[id] = true
		}
		if err := rows.Close(); err != nil {
			return false, sqlErr("read licenses", err)
		}
		if err := rows.Err(); err != nil {
			return false, sqlErr("read licenses", err)
		}
		b.ids[platform] = ids
	}
	return ids[lic], nil
}

// slot returns the live rows of a platform's precedence slot.
func (b *licenseBatch) slot(ctx context.Context, t *Tx, platform, slot string) ([]*licRow, error) {
	k := slotKey{platform, slot}
	if live, ok := b.slots[k]; ok {
		return live, nil
	}
	has, err := t.hasRows(ctx, "licenses", platform)
	if err != nil {
		return nil, err
	}
	if has {
		// INDEXED BY: without statistics the planner would scan all of the
		// platform's licenses by primary key rather than the slot's live ones.
		rows, err := t.Query(ctx, `SELECT `+licCols+` FROM licenses INDEXED BY licenses_live_by_slot
			WHERE platform = ? AND slot = ? AND deleted_event IS NULL`, platform, slot)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			r, err := scanLic(rows)
			if err != nil {
				rows.Close()
				return nil, sqlErr("read licenses", err)
			}
			if _, cached := b.rows[licKey{platform, r.license}]; !cached {
				b.add(r) // a cached row is newer than its stored copy
			}
		}
		if err := rows.Close(); err != nil {
			return nil, sqlErr("read licenses", err)
		}
		if err := rows.Err(); err != nil {
			return nil, sqlErr("read licenses", err)
		}
	}
	var live []*licRow
	for _, r := range b.byPlatform[platform] {
		if r.slot == slot && r.live() {
			live = append(live, r)
		}
	}
	b.slots[k] = live
	return live, nil
}

// relink keeps the loaded slots' live lists right after r changed slot or
// liveness (it was in slot from, live or not).
func (b *licenseBatch) relink(r *licRow, from string, wasLive bool) {
	if wasLive {
		k := slotKey{r.platform, from}
		if live, ok := b.slots[k]; ok {
			for i, x := range live {
				if x == r {
					b.slots[k] = append(live[:i:i], live[i+1:]...)
					break
				}
			}
		}
	}
	if r.live() {
		k := slotKey{r.platform, r.slot}
		if live, ok := b.slots[k]; ok {
			b.slots[k] = append(live, r)
		}
	}
}

// arrive records a license reaching a platform. A license arriving again
// (a key re-inserted, a deleted license uploaded again) keeps its first
// arrival as recorded_* and its supersession, and takes the new arrival as
// arrived_*, which is what precedence goes by; it is no longer deleted.
func (b *licenseBatch) arrive(ctx context.Context, t *Tx, platform string, rec eventstore.Record, l domain.License, source, keyID, bundle string) error {
	r, err := b.get(ctx, t, platform, l.ID)
	if err != nil {
		return err
	}
	e := rec.Event
	at := tsMemo(t, rec)
	from, wasLive := "", false
	if r == nil {
		r = &licRow{platform: platform, license: l.ID, recordedSeq: int64(rec.Seq), recordedEvent: e.ID, recordedAt: at}
		b.add(r)
		t.markRows("licenses", platform)
	} else {
		from, wasLive = r.slot, r.live()
	}
	r.kind, r.edition, r.module, r.slot = l.Kind, l.Edition, l.Module, slotOf(l)
	r.sockets, r.quantity = int64(l.Sockets), int64(l.Quantity)
	r.issuedAt = ts(l.IssuedAt)
	r.expiresAt = sql.NullString{}
	if l.ExpiresAt != nil {
		r.expiresAt = str(ts(*l.ExpiresAt))
	}
	r.source, r.keyID, r.bundle = source, keyID, bundle
	r.arrivedSeq, r.arrivedEvent, r.arrivedAt = int64(rec.Seq), e.ID, at
	r.delEvent, r.delAt = sql.NullString{}, sql.NullString{}
	b.relink(r, from, wasLive)
	b.touch(r)
	return nil
}

// supersedeBy makes lic, which arrived with event at instant at, the
// current license of its slot: every other live license of the slot is
// superseded by it (R13), and it is superseded by none.
func (b *licenseBatch) supersedeBy(ctx context.Context, t *Tx, platform, slot, lic, event, at string) error {
	live, err := b.slot(ctx, t, platform, slot)
	if err != nil {
		return err
	}
	for _, r := range live {
		if r.license != lic && (r.supBy != str(lic) || r.supEvent != str(event)) {
			r.supBy, r.supEvent, r.supAt = str(lic), str(event), str(at)
			b.touch(r)
		}
	}
	r, err := b.get(ctx, t, platform, lic)
	if err != nil {
		return err
	}
	if r != nil && r.supBy.Valid {
		r.supBy, r.supEvent, r.supAt = sql.NullString{}, sql.NullString{}, sql.NullString{}
		b.touch(r)
	}
	return nil
}

// delete records a deletion. A deleted license takes no part in
// precedence (R14) and keeps its own supersession as history; when it was
// its slot's current license, the latest other live one becomes current.
func (b *licenseBatch) delete(ctx context.Context, t *Tx, platform string, rec eventstore.Record, lic string) error {
	e := rec.Event
	r, err := b.get(ctx, t, platform, lic)
	if err != nil {
		return err
	}
	if r == nil {
		return poisonf("event %s deletes license %s, which platform %s never received", e.ID, lic, platform)
	}
	current := !r.supBy.Valid && r.live()
	wasLive := r.live()
	r.delEvent, r.delAt = str(e.ID), str(tsMemo(t, rec))
	b.relink(r, r.slot, wasLive)
	b.touch(r)
	if !current {
		return nil
	}
	live, err := b.slot(ctx, t, platform, r.slot)
	if err != nil {
		return err
	}
	// The latest arrival wins (R13); ties, within one event, go to the
	// greatest id.
	var next *licRow
	for _, x := range live {
		if next == nil || x.arrivedSeq > next.arrivedSeq || (x.arrivedSeq == next.arrivedSeq && x.license > next.license) {
			next = x
		}
	}
	if next == nil {
		return nil // the slot is empty now
	}
	return b.supersedeBy(ctx, t, platform, r.slot, next.license, next.arrivedEvent, next.arrivedAt)
}
