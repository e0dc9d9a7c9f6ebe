package projections

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strings"

	"github.com/licledger/licledger/domain"
)

// TableDigest is the fingerprint of one table: its row count and the
// SHA-256 of its rows in a total order (every column, ascending), each
// value encoded with its SQLite storage class. Two databases with equal
// digests hold the same rows, byte for byte.
type TableDigest struct {
	Table  string `json:"table"`
	Rows   int64  `json:"rows"`
	Digest string `json:"digest"`
}

// querier is a *sql.Tx, *sql.DB or *sql.Conn.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Digests fingerprints every table of the database in one read
// transaction, so the digests and the checkpoints they cover belong to
// one snapshot. It also returns the projections' common checkpoint, or an
// EINVALID error if the projections of All() are not at the same one.
func (db *DB) Digests(ctx context.Context) (uint64, []TableDigest, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, nil, sqlErr("begin snapshot", err)
	}
	defer tx.Rollback()
	seq, err := commonCheckpoint(ctx, tx)
	if err != nil {
		return 0, nil, err
	}
	ds, err := digestAll(ctx, tx)
	return seq, ds, err
}

// commonCheckpoint returns the checkpoint all projections share.
func commonCheckpoint(ctx context.Context, q querier) (uint64, error) {
	var seqs []string
	var common uint64
	for i, p := range All() {
		var seq uint64
		err := q.QueryRowContext(ctx, `SELECT seq FROM checkpoints WHERE name = ?`, p.Name()).Scan(&seq)
		if err == sql.ErrNoRows {
			seq = 0
		} else if err != nil {
			return 0, sqlErr("read checkpoint", err)
		}
		seqs = append(seqs, fmt.Sprintf("%s at %d", p.Name(), seq))
		if i == 0 {
			common = seq
		} else if seq != common {
			return 0, errNotCaughtUp(strings.Join(seqs, ", ") + ", ...")
		}
	}
	return common, nil
}

func errNotCaughtUp(detail string) error {
	return domain.Reasonf(domain.ECONFLICT, domain.ReasonNotCaughtUp,
		"projections are at different checkpoints (%s): let the server catch up, then verify again", detail)
}

// digestAll digests every table but SQLite's own, in name order. In
// checkpoints and poison only the rows of current projections count: a
// renamed projection's old checkpoint is history, not state.
func digestAll(ctx context.Context, q querier) ([]TableDigest, error) {
	tables, err := tableNames(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]TableDigest, 0, len(tables))
	for _, t := range tables {
		d, err := digestTable(ctx, q, t)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func tableNames(ctx context.Context, q querier) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, sqlErr("list tables", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, sqlErr("list tables", err)
		}
		names = append(names, n)
	}
	return names, sqlErr("list tables", rows.Err())
}

func columnNames(ctx context.Context, q querier, table string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, sqlErr("table info", err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, sqlErr("table info", err)
		}
		cols = append(cols, c)
	}
	return cols, sqlErr("table info", rows.Err())
}

// rowsQuery selects a table's rows in a total order, with the filter that
// keeps only current projections in the runtime's own tables.
func rowsQuery(ctx context.Context, q querier, table, schema string) (string, []any, error) {
	cols, err := columnNames(ctx, q, table)
	if err != nil {
		return "", nil, err
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = quoteIdent(c)
	}
	from := quoteIdent(table)
	if schema != "" {
		from = quoteIdent(schema) + "." + from
	}
	query := "SELECT " + strings.Join(quoted, ", ") + " FROM " + from
	var args []any
	var col string
	switch table {
	case "checkpoints":
		col = "name"
	case "poison":
		col = "projection"
	}
	if col != "" {
		marks := make([]string, 0, len(All()))
		for _, p := range All() {
			marks = append(marks, "?")
			args = append(args, p.Name())
		}
		query += " WHERE " + col + " IN (" + strings.Join(marks, ", ") + ")"
	}
	return query, args, nil
}

func digestTable(ctx context.Context, q querier, table string) (TableDigest, error) {
	query, args, err := rowsQuery(ctx, q, table, "")
	if err != nil {
		return TableDigest{}, err
	}
	cols, err := columnNames(ctx, q, table)
	if err != nil {
		return TableDigest{}, err
	}
	order := make([]string, len(cols))
	for i := range cols {
		order[i] = fmt.Sprint(i + 1)
	}
	rows, err := q.QueryContext(ctx, query+" ORDER BY "+strings.Join(order, ", "), args...)
	if err != nil {
		return TableDigest{}, sqlErr("digest "+table, err)
	}
	defer rows.Close()
	h := sha256.New()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	var buf []byte
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return TableDigest{}, sqlErr("digest "+table, err)
		}
		buf = buf[:0]
		for _, v := range vals {
			buf = appendValue(buf, v)
		}
		h.Write(buf)
		n++
	}
	if err := rows.Err(); err != nil {
		return TableDigest{}, sqlErr("digest "+table, err)
	}
	return TableDigest{Table: table, Rows: n, Digest: hex.EncodeToString(h.Sum(nil))}, nil
}

// appendValue encodes one column value unambiguously: a storage-class tag,
// then a length-prefixed or fixed-size payload.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 'N')
	case int64:
		b = append(b, 'I')
		return binary.BigEndian.AppendUint64(b, uint64(x))
	case float64:
		b = append(b, 'F')
		return binary.BigEndian.AppendUint64(b, math.Float64bits(x))
	case string:
		b = append(b, 'T')
		b = binary.BigEndian.AppendUint64(b, uint64(len(x)))
		return append(b, x...)
	case []byte:
		b = append(b, 'B')
		b = binary.BigEndian.AppendUint64(b, uint64(len(x)))
		return append(b, x...)
	case bool:
		if x {
			return append(b, 'I', 0, 0, 0, 0, 0, 0, 0, 1)
		}
		return append(b, 'I', 0, 0, 0, 0, 0, 0, 0, 0)
	default:
		s := fmt.Sprint(x)
		b = append(b, 'X')
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		return append(b, s...)
	}
}
