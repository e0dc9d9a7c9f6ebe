package projections

import (
	"context"
	"database/sql"
	"errors"
	"iter"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// Reproducible "as of" views of one platform (R32).
//
// A view names its log position: the instant it answers for and the
// stream sequence of the last event it includes. The entitlement and the
// key status are domain folds of a prefix of the history (entitlement.go).
// The platform's nodes and hosts, its license inventory and its key
// insertions are rows the projectors keep up to date, and a later event
// rewrites some of them (a node added again, a license brought again): the
// rows of a past position are gone. So a view asked at a position before
// the platform's last event is answered from a scratch database the
// projectors build from exactly the platform's events up to that
// position: the same projection code, the same queries, so the same bytes
// the live database answered when it stood there.

// Snapshot is the read side of one platform at a log position: its
// queries answer as of that position (each names its own last sequence).
// Close it.
type Snapshot struct {
	Queries *Queries
	close   func()
}

// Close releases a scratch database (nothing for the live one).
func (s Snapshot) Close() {
	if s.close != nil {
		s.close()
	}
}

// PlatformSnapshot returns the read side of platform id as of instant at
// and stream sequence seq (0: no bound). live says the caller asked for
// "now" (no position): then the live database answers when the platform's
// last event is at or before at. Otherwise, and for any position before
// the platform's last event, a scratch database built in dir answers.
// Errors: ENOTFOUND unknown-platform when the platform has no event at
// that position.
func (q *Queries) PlatformSnapshot(ctx context.Context, id string, at time.Time, seq uint64, live bool, dir string) (Snapshot, error) {
	version, _, last, err := q.db.platformHead(ctx, q.db.r, id)
	if err != nil {
		return Snapshot{}, err
	}
	if live && !last.After(at) {
		return Snapshot{Queries: q}, nil
	}
	events, seqs, err := q.db.platformEvents(ctx, id, 0, version)
	if err != nil {
		return Snapshot{}, err
	}
	var recs []eventstore.Record
	for i, e := range events {
		if e.Time.After(at) || (seq != 0 && seqs[i] > seq) {
			break // time and sequence never go backwards within an aggregate
		}
		raw, err := e.Canonical()
		if err != nil {
			return Snapshot{}, foldErr(id, err)
		}
		recs = append(recs, eventstore.Record{Seq: seqs[i], Event: e, Raw: raw})
	}
	if len(recs) == 0 {
		return Snapshot{}, unknownPlatform(id)
	}
	tmp, err := os.MkdirTemp(dir, "asof-*")
	if err != nil {
		return Snapshot{}, domain.Errorf(domain.EINTERNAL, "projections: scratch directory: %v", err)
	}
	db, _, err := Build(ctx, sliceLog(recs), filepath.Join(tmp, "asof.db"), 0, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		os.RemoveAll(tmp)
		return Snapshot{}, err
	}
	return Snapshot{Queries: NewQueries(db), close: func() { db.Close(); os.RemoveAll(tmp) }}, nil
}

// RemoveScratch removes what as-of views and Verify leave in dir when the
// process dies mid-request (asof-* directories, verify-*.db files): each
// is removed when its request ends, so at start-up any left is garbage.
// Call it before serving, never beside a running server on the same dir.
func RemoveScratch(dir string) error {
	var errs []error
	for _, pattern := range []string{"asof-*", "verify-*.db*"} {
		found, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return err
		}
		for _, p := range found {
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// sliceLog is a Log of a few records held in memory: one platform's
// history prefix for a scratch build.
type sliceLog []eventstore.Record

func (l sliceLog) Read(ctx context.Context, fromSeq uint64, _ ...eventstore.ReadOption) iter.Seq2[eventstore.Record, error] {
	return func(yield func(eventstore.Record, error) bool) {
		for _, r := range l {
			if r.Seq >= fromSeq && !yield(r, nil) {
				return
			}
		}
	}
}

func (l sliceLog) Subscribe(ctx context.Context, afterSeq uint64, opts ...eventstore.ReadOption) iter.Seq2[eventstore.Record, error] {
	return l.Read(ctx, afterSeq+1, opts...)
}

func (l sliceLog) LastSeq(context.Context) (uint64, error) {
	if len(l) == 0 {
		return 0, nil
	}
	return l[len(l)-1].Seq, nil
}

// TimelineAt is Timeline as of instant at and stream sequence seq (0: no
// bound): only the events stamped at or before at and stored at or below
// seq, and the position of the last of them (whatever the page).
func (db *DB) TimelineAt(ctx context.Context, id string, afterVersion uint64, limit int, at time.Time, seq uint64) ([]TimelineEntry, domain.LogPosition, error) {
	if limit <= 0 || limit > MaxTimelinePage {
		limit = MaxTimelinePage
	}
	bound := uint64(math.MaxInt64)
	if seq != 0 {
		bound = seq
	}
	pos := domain.LogPosition{Time: at.UTC()}
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, pos, sqlErr("begin", err)
	}
	defer tx.Rollback()
	if _, _, _, err := db.platformHead(ctx, tx, id); err != nil {
		return nil, pos, err
	}
	subject := domain.KindPlatform + "/" + id
	// events.time is fixed-width (timeLayout): TEXT order is time order.
	err = tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events WHERE subject = ? AND seq <= ? AND time <= ?`,
		subject, int64(bound), ts(at)).Scan(&pos.Seq)
	if err != nil {
		return nil, pos, sqlErr("read timeline", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, raw FROM events
		WHERE subject = ? AND version > ? AND seq <= ? ORDER BY version, seq LIMIT ?`, subject, afterVersion, int64(pos.Seq), limit)
	if err != nil {
		return nil, pos, sqlErr("read timeline", err)
	}
	defer rows.Close()
	out := []TimelineEntry{}
	for rows.Next() {
		var s uint64
		var raw []byte
		if err := rows.Scan(&s, &raw); err != nil {
			return nil, pos, sqlErr("read timeline", err)
		}
		// The events projection holds only events whose envelope decoded.
		ev, err := domain.DecodeEvent(raw)
		if err != nil {
			return nil, pos, domain.Errorf(domain.EINTERNAL, "projections: event at sequence %d no longer decodes: %v", s, err)
		}
		out = append(out, TimelineEntry{Version: ev.AggregateVersion, Seq: s, Event: ev.ID, Time: ev.Time.UTC(),
			Type: ev.Type, Source: ev.Source, Summary: timelineSummary(ev)})
	}
	return out, pos, sqlErr("read timeline", rows.Err())
}
