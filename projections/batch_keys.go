package projections

import (
	"context"
	"database/sql"
)

// The USB key insertions model of a batch (see batch.go): one row per
// insertion of a key on a node, closed by the key's removal from that node.

// keyRow is a row of usb_key_insertions.
type keyRow struct {
	platform      string
	seq           int64
	node, keyID   string
	insertedEvent string
	insertedAt    string
	licenses      int64
	removedSeq    sql.NullInt64
	removedEvent  sql.NullString
	removedAt     sql.NullString
	dirty         bool // in keyBatch.dirty
}

// openKey names the insertions a removal closes: a key on a node.
type openKey struct{ platform, node, keyID string }

// keyBatch is the usb_key_insertions working set of a batch. Invariant:
// once a key is loaded, open lists every insertion of it on the node that
// is not removed yet, stored or made in this batch.
type keyBatch struct {
	open  map[openKey][]*keyRow
	dirty []*keyRow
}

func (t *Tx) keys() *keyBatch {
	m := &t.models
	if m.keys == nil {
		b := &keyBatch{open: map[openKey][]*keyRow{}}
		m.keys = b
		t.onFlush(func(ctx context.Context) error {
			args := make([]any, 0, 10*len(b.dirty))
			for _, r := range b.dirty {
				var remSeq any
				if r.removedSeq.Valid {
					remSeq = r.removedSeq.Int64
				}
				args = append(args, r.platform, r.seq, r.node, r.keyID, r.insertedEvent, r.insertedAt, r.licenses,
					remSeq, nullStr(r.removedEvent), nullStr(r.removedAt))
			}
			return t.writeRows(ctx, `INSERT INTO usb_key_insertions (platform, seq, node, key_id, inserted_event, inserted_at, licenses,
				removed_seq, removed_event, removed_at) VALUES`,
				`ON CONFLICT (platform, seq) DO UPDATE SET node = excluded.node, key_id = excluded.key_id,
				inserted_event = excluded.inserted_event, inserted_at = excluded.inserted_at, licenses = excluded.licenses,
				removed_seq = excluded.removed_seq, removed_event = excluded.removed_event, removed_at = excluded.removed_at`,
				10, args)
		})
	}
	return m.keys
}

func (b *keyBatch) touch(r *keyRow) {
	if !r.dirty {
		r.dirty = true
		b.dirty = append(b.dirty, r)
	}
}

// load returns the open insertions of a key on a node, reading them from
// the table the first time in the batch.
func (b *keyBatch) load(ctx context.Context, t *Tx, k openKey) ([]*keyRow, error) {
	if open, ok := b.open[k]; ok {
		return open, nil
	}
	has, err := t.hasRows(ctx, "usb_key_insertions", k.platform)
	if err != nil {
		return nil, err
	}
	var open []*keyRow
	if has {
		rows, err := t.Query(ctx, `SELECT seq, inserted_event, inserted_at, licenses FROM usb_key_insertions INDEXED BY usb_key_open
			WHERE platform = ? AND node = ? AND key_id = ? AND removed_seq IS NULL ORDER BY seq`, k.platform, k.node, k.keyID)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			r := &keyRow{platform: k.platform, node: k.node, keyID: k.keyID}
			if err := rows.Scan(&r.seq, &r.insertedEvent, &r.insertedAt, &r.licenses); err != nil {
				rows.Close()
				return nil, sqlErr("read usb keys", err)
			}
			open = append(open, r)
		}
		if err := rows.Close(); err != nil {
			return nil, sqlErr("read usb keys", err)
		}
		if err := rows.Err(); err != nil {
			return nil, sqlErr("read usb keys", err)
		}
	}
	b.open[k] = open
	return open, nil
}

// insert records an insertion of a key on a node, open until removed.
func (b *keyBatch) insert(ctx context.Context, t *Tx, r *keyRow) error {
	k := openKey{r.platform, r.node, r.keyID}
	open, err := b.load(ctx, t, k)
	if err != nil {
		return err
	}
	b.open[k] = append(open, r)
	t.markRows("usb_key_insertions", r.platform)
	b.touch(r)
	return nil
}

// remove closes every open insertion of the key on the node (usually one;
// a key inserted twice without a removal in between has two), and does
// nothing when there is none.
func (b *keyBatch) remove(ctx context.Context, t *Tx, k openKey, seq int64, event, at string) error {
	open, err := b.load(ctx, t, k)
	if err != nil {
		return err
	}
	for _, r := range open {
		r.removedSeq = sql.NullInt64{Int64: seq, Valid: true}
		r.removedEvent, r.removedAt = str(event), str(at)
		b.touch(r)
	}
	b.open[k] = open[:0:0]
	return nil
}
