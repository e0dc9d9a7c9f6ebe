package projections

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// bulkWriter runs the multi-row statements of the batches (Tx.Insert's
// buffered rows, the batch models' upserts) straight on the SQLite
// driver, with statements prepared once per pipe run.
//
// Why: these statements carry up to bulkRows rows of up to two dozen
// values, and they are most of a rebuild's work. Through database/sql each
// run converted and copied every value into a fresh []driver.NamedValue
// (a third of everything a rebuild allocated), and a statement prepared in
// a transaction is finalized at its commit, so every batch prepared them
// again, which cost about as much as running them. The driver's statements
// need neither.
//
// The pipe pins the writer's one connection (a *sql.Conn) for its run and
// begins every batch's transaction on it, so the driver connection that
// Conn.Raw exposes is the one the batch's *sql.Tx writes through, and its
// statements take part in the batch's transaction. The driver statements
// belong to that connection and are kept across Raw calls, which is safe
// because the Conn pins the connection until close, which finalizes them
// first.
//
// A bulkWriter is used by the applying goroutine only. nil is valid: Tx
// then runs the statements through its *sql.Tx.
type bulkWriter struct {
	conn   *sql.Conn
	stmts  map[shape]driver.Stmt
	shapes map[shape]string
	nv     []driver.NamedValue // reused for every run
}

// maxBulkStmts bounds the prepared statements kept; the projections use a
// few dozen shapes.
const maxBulkStmts = 256

func newBulkWriter(conn *sql.Conn) *bulkWriter {
	return &bulkWriter{conn: conn, stmts: map[shape]driver.Stmt{}, shapes: map[shape]string{}}
}

// exec runs the statement of shape s with args (s.rows rows of s.ncols
// values). Errors are the driver's, untranslated: the caller tells a
// constraint failure apart.
func (w *bulkWriter) exec(ctx context.Context, s shape, args []any) error {
	return w.conn.Raw(func(dc any) error {
		st := w.stmts[s]
		if st == nil {
			pc, ok := dc.(driver.ConnPrepareContext)
			if !ok {
				return fmt.Errorf("projections: driver connection %T cannot prepare with a context", dc)
			}
			var err error
			if st, err = pc.PrepareContext(ctx, w.query(s)); err != nil {
				return err
			}
			if len(w.stmts) < maxBulkStmts {
				w.stmts[s] = st
			} else {
				defer st.Close()
			}
		}
		ex, ok := st.(driver.StmtExecContext)
		if !ok {
			return fmt.Errorf("projections: driver statement %T cannot execute with a context", st)
		}
		nv := w.nv[:0]
		for i, a := range args {
			v, err := driverValue(a)
			if err != nil {
				return err
			}
			nv = append(nv, driver.NamedValue{Ordinal: i + 1, Value: v})
		}
		w.nv = nv
		_, err := ex.ExecContext(ctx, nv)
		clear(nv) // drop references to the rows' values
		return err
	})
}

// driverValue converts a statement argument as database/sql would (the
// driver has no converter of its own), quickly for the types the
// projections use.
func driverValue(a any) (driver.Value, error) {
	switch v := a.(type) {
	case nil, string, int64, []byte, bool, float64:
		return v, nil
	case int:
		return int64(v), nil
	case uint64:
		if v > math.MaxInt64 {
			return nil, fmt.Errorf("projections: value %d does not fit an INTEGER column", v)
		}
		return int64(v), nil
	}
	return driver.DefaultParameterConverter.ConvertValue(a)
}

// close finalizes the statements. The pipe calls it before releasing its
// connection.
func (w *bulkWriter) close() error {
	if w == nil {
		return nil
	}
	var errs []error
	for _, st := range w.stmts {
		errs = append(errs, st.Close())
	}
	w.stmts = nil
	return errors.Join(errs...)
}

// shape is one multi-row statement: prefix, rows of ncols placeholders,
// suffix.
type shape struct {
	prefix, suffix string
	ncols, rows    int
}

// query returns the statement text of a shape, built once per writer.
func (w *bulkWriter) query(s shape) string {
	if w != nil {
		if q, ok := w.shapes[s]; ok {
			return q
		}
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", s.ncols), ", ") + ")"
	q := s.prefix + " " + strings.TrimSuffix(strings.Repeat(row+", ", s.rows), ", ")
	if s.suffix != "" {
		q += " " + s.suffix
	}
	if w != nil && len(w.shapes) < maxBulkStmts {
		w.shapes[s] = q
	}
	return q
}

// chunkRows is how many of n pending rows the next multi-row statement
// carries: bulkRows, or else the largest power of two not above n, so a
// table's statements come in few shapes (all of them kept prepared)
// whatever the batch's row counts.
func chunkRows(n int) int {
	if n >= bulkRows {
		return bulkRows
	}
	return 1 << (bits.Len(uint(n)) - 1)
}
