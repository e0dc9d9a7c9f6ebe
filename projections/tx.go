package projections

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// Tx is a write transaction of the projector, spanning one batch.
//
// Speed matters here (a rebuild folds millions of events), and with
// go-sqlite3 each statement costs a cgo round trip, so Tx
//   - caches prepared statements for the batch;
//   - in bulk mode buffers the rows of append-only tables (Insert) and
//     writes them as multi-row INSERTs when the batch ends (Flush), and
//     lets projections coalesce per-batch upserts (see platformRows).
//
// A buffered row that violates a uniqueness constraint fails the flush
// with errBulkConflict; the runner then re-applies the batch row by row
// (bulk off), where the projection sees the conflict on the row itself and
// records the event as poison. Either way the batch commits whole or not
// at all.
type Tx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	memo  decoded // the last platform event decoded (see platformEvent)

	bulk    bool
	buffers map[string]*rowBuffer
	order   []string // buffer keys in first-use order: flushes are deterministic
	flushes []func(ctx context.Context) error

	platforms map[string]*platformRow // pending platforms rows (bulk mode)
	platOrder []string
}

// decoded memoizes platformEvent for one record.
type decoded struct {
	valid bool
	seq   uint64
	id    string
	data  any
	ok    bool
	err   error
}

// rowBuffer holds rows for one INSERT shape.
type rowBuffer struct {
	prefix string // "INSERT INTO t (a, b) VALUES"
	ncols  int
	args   []any
}

// errBulkConflict reports that a buffered row broke a constraint; the
// batch must be re-applied without buffering to find the culprit.
var errBulkConflict = errors.New("projections: a buffered row conflicts; re-applying the batch row by row")

// bulkRows is how many rows one multi-row INSERT carries at most.
const bulkRows = 128

func newTx(tx *sql.Tx, bulk bool) *Tx {
	return &Tx{tx: tx, stmts: make(map[string]*sql.Stmt), bulk: bulk}
}

func (t *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := t.stmts[query]; ok {
		return s, nil
	}
	s, err := t.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, sqlErr("prepare", err)
	}
	t.stmts[query] = s
	return s, nil
}

// Exec runs a statement and returns the number of rows it changed.
func (t *Tx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	s, err := t.stmt(ctx, query)
	if err != nil {
		return 0, err
	}
	res, err := s.ExecContext(ctx, args...)
	if err != nil {
		return 0, sqlErr("exec", err)
	}
	n, err := res.RowsAffected()
	return n, sqlErr("exec", err)
}

// Insert adds one row to an append-only table: prefix is "INSERT INTO t
// (cols) VALUES" and args the row's values. It reports whether the row was
// stored; false means it conflicts with a stored row (a unique key), which
// only the row-by-row mode can tell: in bulk mode rows are buffered and
// the answer is true, a conflict surfacing at Flush as errBulkConflict.
func (t *Tx) Insert(ctx context.Context, prefix string, args ...any) (bool, error) {
	if !t.bulk {
		marks := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ") + ")"
		n, err := t.Exec(ctx, prefix+" "+marks+" ON CONFLICT DO NOTHING", args...)
		return n == 1, err
	}
	b, ok := t.buffers[prefix]
	if !ok {
		if t.buffers == nil {
			t.buffers = map[string]*rowBuffer{}
		}
		b = &rowBuffer{prefix: prefix, ncols: len(args)}
		t.buffers[prefix] = b
		t.order = append(t.order, prefix)
	}
	b.args = append(b.args, args...)
	if len(b.args) >= bulkRows*b.ncols {
		return true, t.flushBuffer(ctx, b)
	}
	return true, nil
}

func (t *Tx) flushBuffer(ctx context.Context, b *rowBuffer) error {
	for len(b.args) > 0 {
		rows := min(len(b.args)/b.ncols, bulkRows)
		row := "(" + strings.TrimSuffix(strings.Repeat("?, ", b.ncols), ", ") + ")"
		query := b.prefix + " " + strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
		st, err := t.stmt(ctx, query)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, b.args[:rows*b.ncols]...); err != nil {
			var se sqlite3.Error
			if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
				return errBulkConflict
			}
			return sqlErr("insert", err)
		}
		b.args = b.args[rows*b.ncols:]
	}
	return nil
}

// onFlush registers work to do when the batch's rows are flushed (once
// per batch, in registration order).
func (t *Tx) onFlush(f func(ctx context.Context) error) { t.flushes = append(t.flushes, f) }

// Flush writes every buffered row and pending upsert.
func (t *Tx) Flush(ctx context.Context) error {
	for _, k := range t.order {
		if err := t.flushBuffer(ctx, t.buffers[k]); err != nil {
			return err
		}
	}
	for _, f := range t.flushes {
		if err := f(ctx); err != nil {
			return err
		}
	}
	t.flushes = nil
	return nil
}

// Query runs a query inside the transaction.
func (t *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := s.QueryContext(ctx, args...)
	return rows, sqlErr("query", err)
}

// QueryRow runs a one-row query inside the transaction.
func (t *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := t.stmt(ctx, query)
	if err != nil {
		// database/sql cannot build a Row holding an error: fall back to
		// the unprepared path and let Scan report it.
		return t.tx.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

func (t *Tx) close() {
	for _, s := range t.stmts {
		s.Close()
	}
	t.stmts = nil
}
