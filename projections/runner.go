package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// Log is what the projector reads: the event store. *eventstore.Store
// implements it.
type Log interface {
	// Read yields the events from fromSeq (inclusive) to the last one
	// stored when it was called; a malformed message yields a
	// *eventstore.DecodeError and reading goes on.
	Read(ctx context.Context, fromSeq uint64, opts ...eventstore.ReadOption) iter.Seq2[eventstore.Record, error]
	// Subscribe yields the events after afterSeq, then new ones as they
	// are appended, until ctx is done.
	Subscribe(ctx context.Context, afterSeq uint64, opts ...eventstore.ReadOption) iter.Seq2[eventstore.Record, error]
	// LastSeq is the sequence of the last stored event, 0 if none.
	LastSeq(ctx context.Context) (uint64, error)
}

// DefaultBatchSize is how many events the runner applies per transaction
// at most. Batches amortise the commit and let the batch models (batch.go)
// read and write each row once per batch; past about a thousand events
// a rebuild got slower again (BenchmarkRebuild, 2000 and 4000 against
// 1000: the batch's rows no longer fit the CPU's caches). Live events are
// applied as soon as they arrive, in smaller batches.
const DefaultBatchSize = 1000

// Runner is the projector runtime: it applies the log to a set of
// projections in batches, each batch in ONE SQLite transaction that also
// moves every projection's checkpoint, so a crash at any point leaves each
// projection exactly at a batch boundary: no event applied twice, none
// skipped. It is safe for concurrent use; Run and CatchUp must not run
// concurrently with each other.
type Runner struct {
	db     *DB
	log    Log
	logger *slog.Logger
	projs  []Projection

	// BatchSize overrides DefaultBatchSize when positive; set before Run.
	BatchSize int

	cp       map[string]uint64 // projection name -> checkpoint; owned by the applying goroutine
	presence *presence         // which platforms have rows (see presence); owned likewise
	conn     *sql.Conn         // the writer's connection, pinned by pipe; owned likewise
	writer   *bulkWriter       // multi-row statements on conn (see bulkWriter); owned likewise

	mu      sync.Mutex
	applied uint64        // lowest checkpoint of all projections
	head    uint64        // highest sequence seen in the log
	changed chan struct{} // closed (and replaced) whenever applied moves
	live    bool          // Run is subscribed to the live log
	lastErr error         // the error that last stopped Run's subscription
}

// NewRunner builds a runner applying log to projs (All() if none) in db.
func NewRunner(db *DB, log Log, logger *slog.Logger, projs ...Projection) *Runner {
	if len(projs) == 0 {
		projs = All()
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Runner{db: db, log: log, logger: logger.With("component", "projector"), projs: projs, changed: make(chan struct{})}
}

// Status is the projector's progress, for /readyz and metrics.
type Status struct {
	Applied  uint64 `json:"applied"`   // every projection has applied the log up to here
	Head     uint64 `json:"head"`      // last sequence in the log
	Lag      uint64 `json:"lag"`       // Head - Applied
	CaughtUp bool   `json:"caught_up"` // Applied >= Head
	Live     bool   `json:"live"`      // subscribed to new events
	Error    string `json:"error,omitempty"`
}

// Status reports progress against the log's current head.
func (r *Runner) Status(ctx context.Context) (Status, error) {
	head, err := r.log.LastSeq(ctx)
	if err != nil {
		return Status{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if head > r.head {
		r.head = head
	}
	s := Status{Applied: r.applied, Head: head, Live: r.live}
	if r.lastErr != nil {
		s.Error = domain.ErrorMessage(r.lastErr)
	}
	if s.Applied >= head {
		s.CaughtUp = true
	} else {
		s.Lag = head - s.Applied
	}
	return s, nil
}

// Applied is the sequence every projection has applied up to.
func (r *Runner) Applied() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied
}

// WaitFor blocks until every projection has applied seq, or ctx is done
// (then it returns ctx's error). Commands use it to read their own writes.
func (r *Runner) WaitFor(ctx context.Context, seq uint64) error {
	for {
		r.mu.Lock()
		applied, ch := r.applied, r.changed
		r.mu.Unlock()
		if applied >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *Runner) batchSize() int {
	if r.BatchSize > 0 {
		return r.BatchSize
	}
	return DefaultBatchSize
}

// Run applies the log from the checkpoints and then follows it live until
// ctx is done; it returns nil then. A failure of the subscription or of
// SQLite is logged and retried from the last checkpoint with backoff, so a
// NATS hiccup does not stop the projections.
func (r *Runner) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := r.runOnce(ctx)
		if ctx.Err() != nil {
			r.setLive(false, nil)
			return nil
		}
		r.setLive(false, err)
		r.logger.Error("projector stopped; retrying from the last checkpoint", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (r *Runner) setLive(live bool, err error) {
	r.mu.Lock()
	r.live, r.lastErr = live, err
	r.mu.Unlock()
}

func (r *Runner) runOnce(ctx context.Context) error {
	start, err := r.load(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.setLive(true, nil)
	return r.pipe(ctx, r.log.Subscribe(ctx, start), 0, nil)
}

// CatchUp applies the log from the checkpoints up to its head as of the
// call (or up to until, when until > 0) and returns the sequence applied
// up to. progress, if not nil, is called after every batch with the
// sequence applied and the target.
func (r *Runner) CatchUp(ctx context.Context, until uint64, progress func(done, total uint64)) (uint64, error) {
	start, err := r.load(ctx)
	if err != nil {
		return 0, err
	}
	target := until
	if target == 0 {
		if target, err = r.log.LastSeq(ctx); err != nil {
			return 0, err
		}
	}
	r.mu.Lock()
	r.head = max(r.head, target)
	r.mu.Unlock()
	if start >= target {
		if progress != nil {
			progress(target, target)
		}
		return start, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := r.pipe(ctx, r.log.Read(ctx, start+1), target, func(done uint64) {
		if progress != nil {
			progress(done, target)
		}
	}); err != nil {
		return 0, err
	}
	return r.Applied(), nil
}

// load reads the checkpoints, resetting projections that have none (new,
// or renamed: a deliberate rebuild), and returns the sequence to resume
// after: the lowest checkpoint.
func (r *Runner) load(ctx context.Context) (uint64, error) {
	if r.db.w == nil {
		return 0, domain.Errorf(domain.EINTERNAL, "projector: database %s is open read-only", r.db.path)
	}
	seen := make(map[string]bool, len(r.projs))
	for _, p := range r.projs {
		if seen[p.Name()] {
			return 0, domain.Errorf(domain.EINTERNAL, "projector: two projections are named %q", p.Name())
		}
		seen[p.Name()] = true
	}
	tx, err := r.db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, sqlErr("begin", err)
	}
	defer tx.Rollback()
	cp := make(map[string]uint64, len(r.projs))
	pres := newPresence()
	lowest := uint64(0)
	var fresh []string // projections with no checkpoint, built from the start
	for i, p := range r.projs {
		var seq uint64
		err := tx.QueryRowContext(ctx, `SELECT seq FROM checkpoints WHERE name = ?`, p.Name()).Scan(&seq)
		if err != nil {
			if !errors.Is(err, sqlNoRows) {
				return 0, sqlErr("read checkpoint", err)
			}
			if err := r.reset(ctx, tx, p); err != nil {
				return 0, err
			}
			fresh = append(fresh, p.Name())
			seq = 0
		}
		cp[p.Name()] = seq
		if seq == 0 {
			// Nothing applied: the tables are empty (reset empties them
			// in the transaction that starts the checkpoint at 0).
			for _, t := range p.Tables() {
				pres.empty[t] = true
			}
		}
		if i == 0 || seq < lowest {
			lowest = seq
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, sqlErr("commit checkpoints", err)
	}
	// Said once for all of them: one line per projection read like as
	// many rebuilds of live data.
	switch {
	case len(fresh) == 0:
	case r.db.scratch:
		r.logger.Debug("scratch copy: building projections from the start of the log", "projections", fresh, "path", r.db.path)
	default:
		r.logger.Info("projections with no checkpoint: building them from the start of the log", "projections", fresh)
	}
	r.db.gen.Add(1)
	r.cp, r.presence = cp, pres
	r.setApplied(lowest)
	return lowest, nil
}

// reset empties a projection's tables and poison rows and starts its
// checkpoint at 0.
func (r *Runner) reset(ctx context.Context, tx sqlExecer, p Projection) error {
	for _, t := range p.Tables() {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+quoteIdent(t)); err != nil {
			return sqlErr("reset "+p.Name(), err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM poison WHERE projection = ?`, p.Name()); err != nil {
		return sqlErr("reset "+p.Name(), err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (name, seq) VALUES (?, 0)`, p.Name()); err != nil {
		return sqlErr("reset "+p.Name(), err)
	}
	return nil
}

func (r *Runner) setApplied(seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq != r.applied {
		r.applied = seq
		close(r.changed)
		r.changed = make(chan struct{})
	}
	r.head = max(r.head, seq)
}

type skipKey struct {
	seq  uint64
	proj string
}

// apply folds one batch into every projection that has not applied it yet,
// in one transaction with the new checkpoints. An EINVALID from a
// projection rolls the batch back, marks that (event, projection) as
// poison and applies the batch again, so the poison row and the rest of
// the batch commit together and nothing half-applied survives.
func (r *Runner) apply(ctx context.Context, batch []item) error {
	skip := map[skipKey]error{}
	bulk := true
	for {
		poisoned, err := r.applyOnce(ctx, batch, skip, bulk)
		if errors.Is(err, errBulkConflict) && bulk {
			bulk = false
			continue
		}
		if err != nil {
			return err
		}
		if poisoned == nil {
			break
		}
		skip[*poisoned.key] = poisoned.err
	}
	last := batch[len(batch)-1].rec.Seq
	for name, seq := range r.cp {
		if seq < last {
			r.cp[name] = last
		}
	}
	lowest := last
	for _, seq := range r.cp {
		lowest = min(lowest, seq)
	}
	r.setApplied(lowest)
	return nil
}

type poisonHit struct {
	key *skipKey
	err error
}

func (r *Runner) applyOnce(ctx context.Context, batch []item, skip map[skipKey]error, bulk bool) (*poisonHit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// A batch runs to its commit or rollback without watching ctx: with a
	// cancellable context go-sqlite3 starts a goroutine per statement to
	// interrupt it, which costs more than the statement. Batches are
	// short; cancellation is honoured between them.
	ctx = context.WithoutCancel(ctx)
	var sqlTx *sql.Tx
	var err error
	if r.conn != nil {
		sqlTx, err = r.conn.BeginTx(ctx, nil)
	} else {
		sqlTx, err = r.db.w.BeginTx(ctx, nil)
	}
	if err != nil {
		return nil, sqlErr("begin batch", err)
	}
	tx := newTx(sqlTx, bulk, r.presence, r.writer)
	defer func() {
		tx.close()
		sqlTx.Rollback()
	}()
	// The checkpoints and names, looked up once per batch rather than per
	// event and projection.
	cps := make([]uint64, len(r.projs))
	names := make([]string, len(r.projs))
	for i, p := range r.projs {
		names[i] = p.Name()
		cps[i] = r.cp[names[i]]
	}
	for i := range batch {
		it := &batch[i]
		seq := it.rec.Seq
		if it.pre.valid {
			tx.memo = it.pre
		}
		for j, p := range r.projs {
			if cps[j] >= seq {
				continue
			}
			bad := it.bad
			if bad == nil && len(skip) > 0 {
				bad = skip[skipKey{seq, names[j]}]
			}
			if bad != nil {
				if _, err := tx.Exec(ctx, `INSERT OR REPLACE INTO poison (seq, projection, error) VALUES (?, ?, ?)`, seq, p.Name(), poisonText(bad)); err != nil {
					return nil, err
				}
				continue
			}
			if err := p.Apply(ctx, tx, it.rec); err != nil {
				if domain.ErrorCode(err) == domain.EINVALID {
					r.logger.Warn("skipping an event a projection cannot use (recorded in the poison table)",
						"seq", seq, "projection", p.Name(), "err", err)
					return &poisonHit{key: &skipKey{seq, p.Name()}, err: err}, nil
				}
				return nil, fmt.Errorf("projection %s at seq %d: %w", p.Name(), seq, err)
			}
		}
	}
	if err := tx.Flush(ctx); err != nil {
		return nil, err
	}
	last := batch[len(batch)-1].rec.Seq
	for _, p := range r.projs {
		if r.cp[p.Name()] >= last {
			continue
		}
		if _, err := tx.Exec(ctx, `UPDATE checkpoints SET seq = ? WHERE name = ?`, last, p.Name()); err != nil {
			return nil, err
		}
	}
	tx.close()
	if err := sqlTx.Commit(); err != nil {
		return nil, sqlErr("commit batch", err)
	}
	r.db.gen.Add(1)
	return nil, nil
}

// poisonText is the stored error of a poison event: deterministic (it is
// part of the projection) and free of anything but the error's message.
func poisonText(err error) string {
	var de *eventstore.DecodeError
	if errors.As(err, &de) {
		return "malformed event: " + domain.ErrorMessage(de.Err)
	}
	return domain.ErrorMessage(err)
}
