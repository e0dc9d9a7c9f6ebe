package projections

import (
	"context"
	"errors"
	"iter"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// item is one element of the pipeline between the reading and the
// applying goroutine: a record, or the error that ended the read.
type item struct {
	rec eventstore.Record
	bad error // a *eventstore.DecodeError: rec has only Seq and Raw
	err error // reading failed; stop
	// pre is the record decoded for the projections (Tx.decode), by the
	// reading goroutine: it is pure work on the record, and done there it
	// overlaps with SQLite instead of adding to it.
	pre decoded
}

// readChunk is how many records the reader hands over at once while
// catching up. Handing them over one by one costs a channel operation,
// and often a goroutine wake-up, per event: on a full rebuild that was a
// visible share of the time.
const readChunk = 256

// pipe reads src in one goroutine and applies it in this one, so decoding
// (in the store) and SQLite overlap. until > 0 stops after that sequence.
//
// Catching up (until > 0) the whole backlog is there to be read, so the
// reader hands over chunks and the applier waits for full batches: every
// commit and every per-batch write (checkpoints, coalesced rows) is paid
// once per batch rather than once per however few events happened to be
// ready. Live (until == 0) each event is handed over as it arrives and a
// batch is whatever has arrived, so new events are applied at once.
func (r *Runner) pipe(ctx context.Context, src iter.Seq2[eventstore.Record, error], until uint64, onBatch func(uint64)) error {
	conn, err := r.db.w.Conn(ctx)
	if err != nil {
		return sqlErr("connect", err)
	}
	r.conn, r.writer = conn, newBulkWriter(conn)
	defer func() {
		// The driver statements go first: they belong to the connection
		// that Close hands back to the pool.
		if err := r.writer.close(); err != nil {
			r.logger.Warn("closing the bulk statements", "err", err)
		}
		conn.Close()
		r.conn, r.writer = nil, nil
	}()
	size := r.batchSize()
	chunk := 1
	if until > 0 {
		chunk = min(readChunk, size)
	}
	// Two batches in flight keep the applier fed; more only let the reader
	// run further ahead, and the records reached SQLite cold in the CPU's
	// caches (measured: a rebuild's apply cost grew with the depth).
	ch := make(chan []item, max(2*size/chunk, 4))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go r.read(ctx, src, until, chunk, ch)

	var rest []item // received but not yet batched
	batch := make([]item, 0, size)
	// next fills rest, waiting when wait is set; false when there is
	// nothing more (channel closed, or nothing ready and !wait).
	next := func(wait bool) (bool, error) {
		if len(rest) > 0 {
			return true, nil
		}
		if !wait {
			select {
			case c, ok := <-ch:
				rest = c
				return ok, nil
			default:
				return false, nil
			}
		}
		select {
		case c, ok := <-ch:
			rest = c
			return ok, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	for {
		ok, err := next(true)
		if err != nil {
			return err
		}
		if !ok {
			if until > 0 && r.Applied() < until && ctx.Err() == nil {
				return domain.Errorf(domain.EINTERNAL, "projector: the log ended at %d before the expected sequence %d", r.Applied(), until)
			}
			return ctx.Err()
		}
		batch = batch[:0]
		var readErr error
	fill:
		for {
			n := min(len(rest), size-len(batch))
			for i, it := range rest[:n] {
				if it.err != nil {
					batch = append(batch, rest[:i]...)
					readErr, rest = it.err, nil
					break fill
				}
			}
			batch = append(batch, rest[:n]...)
			rest = rest[n:]
			if len(batch) == size {
				break
			}
			last := batch[len(batch)-1].rec.Seq
			if until > 0 && last >= until {
				break
			}
			ok, err := next(until > 0)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
		}
		if len(batch) > 0 {
			if err := r.apply(ctx, batch); err != nil {
				return err
			}
			if onBatch != nil {
				onBatch(batch[len(batch)-1].rec.Seq)
			}
		}
		if readErr != nil {
			return readErr
		}
	}
}

// read is pipe's reading goroutine: it sends src to ch in chunks of up to
// chunk items, and closes ch when src ends, fails, or passes until.
func (r *Runner) read(ctx context.Context, src iter.Seq2[eventstore.Record, error], until uint64, chunk int, ch chan<- []item) {
	defer close(ch)
	buf := make([]item, 0, chunk)
	send := func() bool {
		if len(buf) == 0 {
			return true
		}
		select {
		case ch <- buf:
			buf = make([]item, 0, chunk)
			return true
		case <-ctx.Done():
			return false
		}
	}
	defer func() { send() }()
	for rec, err := range src {
		it := item{rec: rec}
		var de *eventstore.DecodeError
		switch {
		case errors.As(err, &de):
			it.bad = de
		case err != nil:
			it.err = err
		default:
			it.pre = predecode(rec)
		}
		if until > 0 && it.err == nil && rec.Seq > until {
			return
		}
		buf = append(buf, it)
		if it.err != nil || (until > 0 && rec.Seq == until) {
			return
		}
		if len(buf) == chunk && !send() {
			return
		}
	}
}
