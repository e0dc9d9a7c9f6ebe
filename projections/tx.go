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
// go-sqlite3 each statement costs a cgo round trip and database/sql's
// bookkeeping, several microseconds, far more than SQLite's own work on
// a row. So Tx
//   - caches prepared statements for the batch;
//   - in bulk mode buffers the rows of append-only tables (Insert) and
//     writes them as multi-row INSERTs when the batch ends (Flush), on the
//     driver directly when the runner provides a bulkWriter (bulkwriter.go);
//   - holds the batch's working set of the mutable read models (platforms,
//     licenses, USB key insertions: see batch.go): a row is read at most
//     once per batch, changed in memory by every event that touches it,
//     and written once, as part of a multi-row upsert, at Flush;
//   - knows, across batches, which platforms have no rows yet in a table
//     (presence), so that a rebuild never looks up rows that cannot exist.
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

	presence *presence   // the runner's; nil: nothing known, look everything up
	writer   *bulkWriter // the runner's; nil: multi-row statements go through tx
	models   modelBatch
}

// decoded memoizes platformEvent for one record.
type decoded struct {
	valid bool
	seq   uint64
	id    string
	data  any
	ok    bool
	err   error
	at    string // ts(rec.Event.Time)
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

func newTx(tx *sql.Tx, bulk bool, p *presence, w *bulkWriter) *Tx {
	return &Tx{tx: tx, stmts: make(map[string]*sql.Stmt), bulk: bulk, presence: p, writer: w}
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

// execRows runs a multi-row statement: through the runner's bulkWriter
// when there is one, else as any other statement. Errors are untranslated.
func (t *Tx) execRows(ctx context.Context, s shape, args []any) error {
	if t.writer != nil {
		return t.writer.exec(ctx, s, args)
	}
	st, err := t.stmt(ctx, t.writer.query(s))
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
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
	args := b.args
	for len(args) > 0 {
		rows := chunkRows(len(args) / b.ncols)
		if err := t.execRows(ctx, shape{prefix: b.prefix, ncols: b.ncols, rows: rows}, args[:rows*b.ncols]); err != nil {
			var se sqlite3.Error
			if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
				return errBulkConflict
			}
			return sqlErr("insert", err)
		}
		args = args[rows*b.ncols:]
	}
	clear(b.args) // the buffer is reused: drop the written rows' values
	b.args = b.args[:0]
	return nil
}

// writeRows writes rows of ncols values each (args, row after row) with
// multi-row statements: prefix is "INSERT INTO t (cols) VALUES" and suffix
// what follows the rows (an ON CONFLICT clause, or ""). Unlike Insert it
// writes at once and reports a constraint failure as an error: it is for
// upserts, which cannot conflict.
func (t *Tx) writeRows(ctx context.Context, prefix, suffix string, ncols int, args []any) error {
	for len(args) > 0 {
		rows := chunkRows(len(args) / ncols)
		if err := t.execRows(ctx, shape{prefix: prefix, suffix: suffix, ncols: ncols, rows: rows}, args[:rows*ncols]); err != nil {
			return sqlErr("write rows", err)
		}
		args = args[rows*ncols:]
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

// presence remembers which platforms have rows in which tables, across the
// batches of one Runner, so the batch models (batch.go) can tell "no row
// yet" without asking SQLite. It is safe because the runner is the only
// writer of its database (the process lock) and errs only one way:
//   - a table is known empty when the runner loads with its projection at
//     checkpoint 0 (new, reset, or a fresh rebuild);
//   - otherwise a platform's presence is asked once (hasRows) and kept;
//   - every write marks the platform present (markRows) before it
//     commits; a rolled-back batch may leave a platform marked present
//     with no rows, which only costs a lookup that finds nothing.
//
// It is used by the applying goroutine only.
type presence struct {
	empty map[string]bool            // table -> it had no rows at load
	known map[string]map[string]bool // table -> platform -> has rows
}

func newPresence() *presence {
	return &presence{empty: map[string]bool{}, known: map[string]map[string]bool{}}
}

// maxPresence bounds what presence remembers per table; past it the table
// is forgotten (and no longer assumed empty), which costs lookups, never
// correctness.
const maxPresence = 1 << 20

// hasRows reports whether table (whose primary key starts with platform)
// may hold rows of platform. false is certain; true may be stale.
func (t *Tx) hasRows(ctx context.Context, table, platform string) (bool, error) {
	p := t.presence
	if p == nil {
		return true, nil
	}
	if has, ok := p.known[table][platform]; ok {
		return has, nil
	}
	has := false
	if !p.empty[table] {
		err := t.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+quoteIdent(table)+` WHERE platform = ?)`, platform).Scan(&has)
		if err != nil {
			return false, sqlErr("read "+table, err)
		}
	}
	p.remember(table, platform, has)
	return has, nil
}

// markRows records that table is about to hold rows of platform.
func (t *Tx) markRows(table, platform string) {
	if t.presence != nil {
		t.presence.remember(table, platform, true)
	}
}

func (p *presence) remember(table, platform string, has bool) {
	m := p.known[table]
	if m == nil {
		m = map[string]bool{}
		p.known[table] = m
	}
	if len(m) >= maxPresence {
		clear(m)
		p.empty[table] = false
	}
	m[platform] = has
}
