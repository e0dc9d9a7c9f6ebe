// Package projections folds the event log into read models stored in
// SQLite: the projector runtime (checkpoints, batches, poison events, live
// catch-up), the read models themselves (events by id, platforms, license
// inventory, USB keys, timeline, entitlement as of any instant), rebuild
// and verification (R32).
//
// A projection is a pure function of the log: every column is derived from
// events, never from the wall clock, so rebuilding from scratch,
// incrementally or twice yields byte-identical tables.
package projections

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/licledger/licledger/domain"
	"github.com/mattn/go-sqlite3"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is the projections' SQLite database. Writes go through one connection
// (SQLite has one writer anyway; a single connection avoids SQLITE_BUSY
// between our own goroutines); reads use a pool that, thanks to WAL, never
// blocks on the writer and sees a consistent snapshot per transaction.
//
// A DB is safe for concurrent use. Errors are *domain.Error: EINTERNAL for
// SQLite failures, ENOTFOUND/EINVALID from queries as documented on them.
type DB struct {
	path   string
	w      *sql.DB // nil when opened read-only
	r      *sql.DB
	unlock func()
	// scratch marks a private database built by Build (a rebuild's or a
	// verify's): its projections start from zero by design, which is not
	// news for the log.
	scratch bool

	// gen counts the projector's commits in this process. The writer holds
	// the database's exclusive lock, so while gen is unchanged no row
	// changed: Queries caches what it read at a generation.
	gen atomic.Uint64
}

// generation returns the commit generation, and false when it cannot be
// trusted (read-only: another process may be writing).
func (db *DB) generation() (uint64, bool) {
	if db.w == nil {
		return 0, false
	}
	return db.gen.Load(), true
}

// dsn builds the go-sqlite3 data source name. WAL lets readers run beside
// the writer; synchronous=NORMAL in WAL mode loses no committed transaction
// on a process crash (only, possibly, the last ones on power loss, which a
// rebuild from the log repairs); busy_timeout covers other processes
// (rebuild, verify) touching the file; foreign keys are on for any future
// table that declares them.
//
// _mutex=no drops SQLite's per-call connection mutex: database/sql never
// uses one connection from two goroutines at once, and the mutex was a
// visible cost of every statement.
//
// A bulk database (a rebuild's or verify's scratch file, private until
// renamed into place or thrown away) is written with journal_mode=MEMORY
// and synchronous=OFF. (It keeps the ordinary 16 MiB page cache: a larger
// one made rebuilds slower, each new cache page costing a page fault as
// the cache grew, while the pages a rebuild reads back are recent ones.)
// That is safe only because
// nothing depends on the scratch file until it is complete: a crash or a
// failure during the build loses nothing but the scratch file (Build
// removes it, the next Rebuild starts over), and a rollback (a poison
// event, a bulk conflict) still works, from the in-memory journal. WAL
// would write every page twice (to the WAL, then to the file) for the
// crash safety the scratch file does not need. Build switches the
// finished file to WAL (finishBulk) and Rebuild fsyncs it before the
// atomic rename.
func dsn(path string, mode openMode) string {
	v := url.Values{}
	v.Set("_journal_mode", "WAL")
	v.Set("_busy_timeout", "5000")
	v.Set("_foreign_keys", "on")
	v.Set("_synchronous", "NORMAL")
	v.Set("_mutex", "no")
	v.Set("_cache_size", "-16384") // KiB: 16 MiB
	switch mode {
	case modeRead:
		v.Set("_query_only", "true")
	case modeWrite:
		v.Set("_txlock", "immediate")
	case modeBulk:
		v.Set("_txlock", "immediate")
		v.Set("_journal_mode", "MEMORY")
		v.Set("_synchronous", "OFF")
	}
	return "file:" + path + "?" + v.Encode()
}

// finishBulk puts a bulk database built by openUnlocked(modeBulk) into WAL
// mode, like every database the projector and the queries open, before
// anything reads it.
func (db *DB) finishBulk(ctx context.Context) error {
	var mode string
	if err := db.w.QueryRowContext(ctx, `PRAGMA journal_mode=WAL`).Scan(&mode); err != nil {
		return sqlErr("switch to WAL", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return domain.Errorf(domain.EINTERNAL, "projections: %s stays in journal mode %q, want wal", db.path, mode)
	}
	return nil
}

type openMode int

const (
	modeWrite openMode = iota
	modeRead
	modeBulk
	modeCopy // reads without query_only, which refuses VACUUM INTO (snapshot.go)
)

// Open opens (creating if needed) the database at path for the projector,
// applies the embedded migrations not applied yet, and holds an exclusive
// lock on path+".lock" until Close: one writer process per database.
// Errors: ECONFLICT projections-in-use when another process has it open.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, domain.Errorf(domain.EINVALID, "projections: empty database path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, domain.Errorf(domain.EINTERNAL, "projections: create directory: %v", err)
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, err
	}
	db, err := openUnlocked(ctx, path, modeWrite)
	if err != nil {
		unlock()
		return nil, err
	}
	db.unlock = unlock
	return db, nil
}

// openUnlocked opens path for writing without the process lock: for the
// private databases of rebuild and verify.
func openUnlocked(ctx context.Context, path string, mode openMode) (*DB, error) {
	w, err := sql.Open("sqlite3", dsn(path, mode))
	if err != nil {
		return nil, sqlErr("open database", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	db := &DB{path: path, w: w, scratch: mode == modeBulk}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := db.openReader(); err != nil {
		w.Close()
		return nil, err
	}
	return db, nil
}

// OpenReadOnly opens an existing database for queries only (no lock, no
// migrations): for `projections verify` beside a running server.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, domain.Errorf(domain.ENOTFOUND, "projections database %s: %v", path, err)
	}
	db := &DB{path: path}
	if err := db.openReader(); err != nil {
		return nil, err
	}
	if err := db.r.PingContext(ctx); err != nil {
		db.r.Close()
		return nil, sqlErr("open database", err)
	}
	return db, nil
}

func (db *DB) openReader() error {
	r, err := sql.Open("sqlite3", dsn(db.path, modeRead))
	if err != nil {
		return sqlErr("open database", err)
	}
	n := 2 * runtime.GOMAXPROCS(0)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db.r = r
	return nil
}

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Close closes both pools. Closing the last connection checkpoints the WAL
// into the main file.
func (db *DB) Close() error {
	var errs []error
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	if db.unlock != nil {
		db.unlock()
		db.unlock = nil
	}
	if err := errors.Join(errs...); err != nil {
		return sqlErr("close database", err)
	}
	return nil
}

// migration is one embedded schema step, numbered by its file name prefix.
type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// migrate applies, each in its own transaction, the migrations newer than
// the database. A migration that reshapes a read model must come with a new
// projection name, so the runtime rebuilds it from the log.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return domain.Errorf(domain.EINTERNAL, "projections: %v", err)
	}
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)`); err != nil {
		return sqlErr("create schema_migrations", err)
	}
	var current int
	if err := db.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return sqlErr("read schema version", err)
	}
	if last := ms[len(ms)-1].version; current > last {
		return domain.Errorf(domain.EINVALID, "projections database %s has schema version %d, newer than this build's %d; run a newer licledger or rebuild", db.path, current, last)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return sqlErr("begin migration", err)
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback()
			return sqlErr("migration "+m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, m.version, m.name); err != nil {
			tx.Rollback()
			return sqlErr("record migration "+m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return sqlErr("commit migration "+m.name, err)
		}
	}
	return nil
}

// sqlErr translates a SQLite or database/sql failure into the domain's
// EINTERNAL: nothing a caller did wrong, nothing to leak to a client.
func sqlErr(what string, err error) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	// Cancellation is the caller's doing, not a storage failure; keep it
	// recognisable with errors.Is.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("projections: %s: %w", what, err)
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return &domain.Error{Code: domain.EINTERNAL, Message: fmt.Sprintf("projections: %s: sqlite %s: %v", what, se.Code, err)}
	}
	return &domain.Error{Code: domain.EINTERNAL, Message: fmt.Sprintf("projections: %s: %v", what, err)}
}

// Checkpoint is the sequence of the last event projection name applied, 0
// if it has applied none.
func (db *DB) Checkpoint(ctx context.Context, name string) (uint64, error) {
	var seq uint64
	err := db.r.QueryRowContext(ctx, `SELECT seq FROM checkpoints WHERE name = ?`, name).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, sqlErr("read checkpoint", err)
	}
	return seq, nil
}

// Poisoned is one event a projection recorded as unusable and skipped.
type Poisoned struct {
	Seq        uint64 `json:"seq"`
	Projection string `json:"projection"`
	Error      string `json:"error"`
}

// Poison lists the skipped events, in log order.
func (db *DB) Poison(ctx context.Context) ([]Poisoned, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT seq, projection, error FROM poison ORDER BY seq, projection`)
	if err != nil {
		return nil, sqlErr("read poison", err)
	}
	defer rows.Close()
	var out []Poisoned
	for rows.Next() {
		var p Poisoned
		if err := rows.Scan(&p.Seq, &p.Projection, &p.Error); err != nil {
			return nil, sqlErr("read poison", err)
		}
		out = append(out, p)
	}
	return out, sqlErr("read poison", rows.Err())
}

var sqlNoRows = sql.ErrNoRows

// sqlExecer is what reset needs: a *sql.Tx or *sql.DB.
type sqlExecer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// quoteIdent quotes a table name for SQL. Names come from code, never from
// input, but quoting keeps a typo from becoming a syntax puzzle.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
