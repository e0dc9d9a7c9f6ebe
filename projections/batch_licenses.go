package projections

import (
	"context"
	"database/sql"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// The licenses model of a batch (see batch.go): the license inventory with
// provenance: which events brought each license and deleted it (R14).
// Where a license stands in precedence (R13) is not stored: it depends on
// the instant (a buffer ends with no event, R19-R22), and the domain alone
// decides it (DB.Licenses asks domain.LicenseStandings).

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
	delEvent, delAt             sql.NullString
	dirty                       bool // in licenseBatch.dirty
}

const licCols = `platform, license, kind, edition, module, slot, sockets, quantity, issued_at, expires_at,
	source, key_id, bundle, recorded_seq, recorded_event, recorded_at, arrived_seq, arrived_event, arrived_at,
	deleted_event, deleted_at`

const licNCols = 21

func scanLic(sc interface{ Scan(...any) error }) (*licRow, error) {
	r := &licRow{}
	err := sc.Scan(&r.platform, &r.license, &r.kind, &r.edition, &r.module, &r.slot, &r.sockets, &r.quantity, &r.issuedAt, &r.expiresAt,
		&r.source, &r.keyID, &r.bundle, &r.recordedSeq, &r.recordedEvent, &r.recordedAt, &r.arrivedSeq, &r.arrivedEvent, &r.arrivedAt,
		&r.delEvent, &r.delAt)
	return r, err
}

func (r *licRow) appendArgs(args []any) []any {
	return append(args, r.platform, r.license, r.kind, r.edition, r.module, r.slot, r.sockets, r.quantity, r.issuedAt, nullStr(r.expiresAt),
		r.source, r.keyID, r.bundle, r.recordedSeq, r.recordedEvent, r.recordedAt, r.arrivedSeq, r.arrivedEvent, r.arrivedAt,
		nullStr(r.delEvent), nullStr(r.delAt))
}

type licKey struct{ platform, license string }

// licenseBatch is the licenses working set of a batch: rows, once read or
// created, are the truth for the batch.
type licenseBatch struct {
	rows  map[licKey]*licRow // nil value: known to have no row
	dirty []*licRow
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
		b := &licenseBatch{rows: map[licKey]*licRow{}, ids: map[string]map[string]bool{}, looked: map[string]int{}}
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

// arrive records a license reaching a platform. A license arriving again
// (a key re-inserted, a deleted license uploaded again) keeps its first
// arrival as recorded_*, and takes the new arrival as arrived_*, which is
// what precedence goes by; it is no longer deleted.
func (b *licenseBatch) arrive(ctx context.Context, t *Tx, platform string, rec eventstore.Record, l domain.License, source, keyID, bundle string) error {
	r, err := b.get(ctx, t, platform, l.ID)
	if err != nil {
		return err
	}
	e := rec.Event
	at := tsMemo(t, rec)
	if r == nil {
		r = &licRow{platform: platform, license: l.ID, recordedSeq: int64(rec.Seq), recordedEvent: e.ID, recordedAt: at}
		b.add(r)
		t.markRows("licenses", platform)
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
	b.touch(r)
	return nil
}

// delete records a deletion (R14).
func (b *licenseBatch) delete(ctx context.Context, t *Tx, platform string, rec eventstore.Record, lic string) error {
	e := rec.Event
	r, err := b.get(ctx, t, platform, lic)
	if err != nil {
		return err
	}
	if r == nil {
		return poisonf("event %s deletes license %s, which platform %s never received", e.ID, lic, platform)
	}
	r.delEvent, r.delAt = str(e.ID), str(tsMemo(t, rec))
	b.touch(r)
	return nil
}
