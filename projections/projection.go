package projections

import (
	"context"
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
	return []Projection{eventsProjection{}, platformsProjection{}, licensesProjection{}, usbKeysProjection{}, holdingsProjection{}}
}

// poisonf builds the error by which Apply declares an event unusable.
func poisonf(format string, args ...any) error {
	return domain.Errorf(domain.EINVALID, format, args...)
}

// timeLayout stores instants with a fixed width, so that TEXT order is time
// order (RFC 3339 with trimmed fractions does not sort: "…05Z" > "…05.1Z").
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// ts formats t in timeLayout. It is called several times per event on a
// rebuild, so years 0-9999 (all of them, in practice) are formatted by
// hand, as time.Format would: the general formatter was a visible cost.
func ts(t time.Time) string {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.Format(timeLayout)
	}
	h, mi, s := t.Clock()
	var b [len(timeLayout)]byte
	put := func(i, v, width int) {
		for k := i + width - 1; k >= i; k-- {
			b[k] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, y, 4)
	b[4] = '-'
	put(5, int(mo), 2)
	b[7] = '-'
	put(8, d, 2)
	b[10] = 'T'
	put(11, h, 2)
	b[13] = ':'
	put(14, mi, 2)
	b[16] = ':'
	put(17, s, 2)
	b[19] = '.'
	put(20, t.Nanosecond(), 9)
	b[29] = 'Z'
	return string(b[:])
}

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
