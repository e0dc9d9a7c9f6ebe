package projections

import (
	"context"
	"database/sql"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// Projection is one read model folded from the log.
//
// Contract:
//   - Name is stable. The runtime keys the projection's checkpoint by it,
//     so renaming a projection (e.g. "licenses" -> "licenses-2" when its
//     meaning changes) is how to ask for a rebuild of it: a name with no
//     checkpoint has its tables emptied and replays the log from the start.
//   - Tables lists the tables the projection owns, and only those: Reset
//     empties them, verify digests them.
//   - Apply folds one event into the tables through tx. It must depend on
//     nothing but the event and the tables (no clock, no randomness) so a
//     rebuild is byte-identical (R32). It is called in log order, once per
//     event, inside the transaction that also moves the checkpoint.
//   - Apply returns a *domain.Error with code EINVALID when the event is
//     unusable (malformed data): the runtime rolls back the batch, records
//     the event in the poison table and re-applies the batch without it
//     for this projection. Any other error is an infrastructure failure:
//     the batch is rolled back and the runtime stops with the error.
//   - Apply is only ever called from one goroutine at a time.
type Projection interface {
	Name() string
	Tables() []string
	Apply(ctx context.Context, tx *Tx, rec eventstore.Record) error
}

// All returns the projections the ledger maintains, in apply order.
func All() []Projection {
	return []Projection{eventsProjection{}, platformsProjection{}, licensesProjection{}, usbKeysProjection{}, timelineProjection{}}
}

// Tx is a write transaction of the projector with a cache of prepared
// statements: a batch applies thousands of events with a handful of
// distinct statements, so preparing each once per batch matters.
type Tx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func newTx(tx *sql.Tx) *Tx { return &Tx{tx: tx, stmts: make(map[string]*sql.Stmt)} }

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
		// Let Scan report it: database/sql has no way to build a Row
		// holding an error, so fall back to the unprepared path.
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

// poisonf builds the error by which Apply declares an event unusable.
func poisonf(format string, args ...any) error {
	return domain.Errorf(domain.EINVALID, format, args...)
}

// timeLayout stores instants with a fixed width, so that TEXT order is time
// order (RFC 3339 with trimmed fractions does not sort: "…05Z" > "…05.1Z").
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func ts(t time.Time) string { return t.UTC().Format(timeLayout) }

// tsPtr formats an optional instant; nil stays NULL.
func tsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ts(*t)
}

func parseTS(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, domain.Errorf(domain.EINTERNAL, "projections: stored instant %q: %v", s, err)
	}
	return t, nil
}
