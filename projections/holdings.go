package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// NameHoldings is the holdings projection's name.
const NameHoldings = "holdings"

// holdingsProjection keeps one row per aggregate, from the event that
// created it: what exists, and who holds it.
type holdingsProjection struct{}

func (holdingsProjection) Name() string     { return NameHoldings }
func (holdingsProjection) Tables() []string { return []string{"holdings"} }

// creators maps an aggregate's creating event type to how its holder is
// named in the event's data.
var creators = map[string]string{
	domain.EventPlatformRegistered:  "customer",
	domain.EventSubscriptionCreated: "customer",
	domain.EventPerpetualPurchased:  "customer",
	domain.EventCouponCreated:       "partner",
}

func (holdingsProjection) Apply(ctx context.Context, tx *Tx, rec eventstore.Record) error {
	e := rec.Event
	field, ok := creators[e.Type]
	if !ok {
		return nil
	}
	agg, err := domain.ParseAggregate(e.Subject)
	if err != nil {
		return poisonf("event %s: %v", e.ID, err)
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(e.Data, &data); err != nil {
		return poisonf("event %s (%s): data: %v", e.ID, e.Type, err)
	}
	var holder string
	if raw, ok := data[field]; ok {
		if err := json.Unmarshal(raw, &holder); err != nil {
			return poisonf("event %s (%s): %s: %v", e.ID, e.Type, field, err)
		}
	}
	ok, err = tx.Insert(ctx, `INSERT INTO holdings (kind, id, customer, seq, created_at) VALUES`,
		agg.Kind, agg.ID, holder, int64(rec.Seq), tsMemo(tx, rec))
	_ = ok // a creation seen twice (the same event stored twice) keeps its first row; the events projection reports it
	return err
}

// Holding is one aggregate in the holdings projection.
type Holding struct {
	Kind      string    `json:"kind"`
	ID        string    `json:"id"`
	Customer  string    `json:"customer,omitempty"`
	Seq       uint64    `json:"seq"`
	CreatedAt time.Time `json:"created_at"`
}

// MaxHoldingsPage bounds one page of Holdings.
const MaxHoldingsPage = 1000

// Holdings lists aggregates of kind by id, after id `after`, at most limit
// (1..MaxHoldingsPage); customer, if not empty, keeps only its holdings.
func (db *DB) Holdings(ctx context.Context, kind, customer, after string, limit int) ([]Holding, error) {
	if limit <= 0 || limit > MaxHoldingsPage {
		limit = MaxHoldingsPage
	}
	q := `SELECT kind, id, customer, seq, created_at FROM holdings WHERE kind = ? AND id > ?`
	args := []any{kind, after}
	if customer != "" {
		q += ` AND customer = ?`
		args = append(args, customer)
	}
	q += ` ORDER BY id LIMIT ?`
	rows, err := db.r.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, sqlErr("read holdings", err)
	}
	defer rows.Close()
	out := []Holding{}
	for rows.Next() {
		var h Holding
		var at string
		if err := rows.Scan(&h.Kind, &h.ID, &h.Customer, &h.Seq, &at); err != nil {
			return nil, sqlErr("read holdings", err)
		}
		if h.CreatedAt, err = parseTS(at); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, sqlErr("read holdings", rows.Err())
}

// Holder returns who holds an aggregate; ENOTFOUND when the projections
// know no such aggregate.
func (db *DB) Holder(ctx context.Context, kind, id string) (string, error) {
	var c string
	err := db.r.QueryRowContext(ctx, `SELECT customer FROM holdings WHERE kind = ? AND id = ?`, kind, id).Scan(&c)
	if err == sql.ErrNoRows {
		return "", domain.Reasonf(domain.ENOTFOUND, domain.ReasonUnknownPlatform, "no %s %q", kind, id)
	}
	return c, sqlErr("read holdings", err)
}

// Customers lists the customers holding anything, by id, after `after`,
// at most limit.
func (db *DB) Customers(ctx context.Context, after string, limit int) ([]string, error) {
	return db.CustomersAt(ctx, after, limit, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), 0)
}

// CustomersAt is Customers as of a log position: the customers holding
// something created at or before at and stored at or below seq (0: no
// bound).
func (db *DB) CustomersAt(ctx context.Context, after string, limit int, at time.Time, seq uint64) ([]string, error) {
	if limit <= 0 || limit > MaxHoldingsPage {
		limit = MaxHoldingsPage
	}
	if seq == 0 {
		seq = math.MaxInt64
	}
	// created_at is fixed-width (timeLayout): TEXT order is time order.
	rows, err := db.r.QueryContext(ctx, `SELECT DISTINCT customer FROM holdings
		WHERE customer > ? AND kind != ? AND seq <= ? AND created_at <= ? ORDER BY customer LIMIT ?`,
		after, domain.KindCoupon, int64(seq), ts(at), limit)
	if err != nil {
		return nil, sqlErr("read customers", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, sqlErr("read customers", err)
		}
		out = append(out, c)
	}
	return out, sqlErr("read customers", rows.Err())
}
