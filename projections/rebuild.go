package projections

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/licledger/licledger/domain"
)

// Build folds the log from its start into a new database at path (which
// must not exist yet), up to sequence until (0: the log's head when called),
// and returns it open, with the sequence reached. The database has no
// process lock: it is private to the caller until renamed into place.
func Build(ctx context.Context, log Log, path string, until uint64, logger *slog.Logger, progress func(done, total uint64)) (*DB, uint64, error) {
	if _, err := os.Stat(path); err == nil {
		return nil, 0, domain.Errorf(domain.ECONFLICT, "projections: %s already exists", path)
	}
	db, err := openUnlocked(ctx, path, modeBulk)
	if err != nil {
		return nil, 0, err
	}
	seq, err := NewRunner(db, log, logger).CatchUp(ctx, until, progress)
	if err == nil {
		err = db.finishBulk(ctx)
	}
	if err != nil {
		db.Close()
		removeDB(path)
		return nil, 0, err
	}
	return db, seq, nil
}

// removeDB deletes a database file with its WAL and shared-memory files.
func removeDB(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		os.Remove(p)
	}
}

// RebuildResult is what Rebuild did.
type RebuildResult struct {
	Path    string        `json:"path"`
	Seq     uint64        `json:"seq"` // the log sequence the new database is at
	Elapsed time.Duration `json:"elapsed"`
}

// Rebuild rebuilds every projection from the log into a fresh database
// file next to path and atomically renames it over path. It is an offline
// operation: it takes the database's process lock, so it fails with
// ECONFLICT projections-in-use while `licledger serve` has it open. The old
// file stays untouched until the rename, so an interrupted rebuild leaves
// the previous projections in place (and a stale ".rebuild" file, removed
// by the next attempt).
func Rebuild(ctx context.Context, log Log, path string, logger *slog.Logger, progress func(done, total uint64)) (RebuildResult, error) {
	start := time.Now()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return RebuildResult{}, domain.Errorf(domain.EINTERNAL, "projections: create directory: %v", err)
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return RebuildResult{}, err
	}
	defer unlock()
	tmp := path + ".rebuild"
	removeDB(tmp)
	db, seq, err := Build(ctx, log, tmp, 0, logger, progress)
	if err != nil {
		return RebuildResult{}, err
	}
	// Closing the last connection checkpoints the WAL into the file, so
	// the renamed file is complete on its own.
	if err := db.Close(); err != nil {
		removeDB(tmp)
		return RebuildResult{}, err
	}
	if err := syncFile(tmp); err != nil {
		removeDB(tmp)
		return RebuildResult{}, err
	}
	if err := settle(ctx, path); err != nil {
		removeDB(tmp)
		return RebuildResult{}, err
	}
	if err := os.Rename(tmp, path); err != nil {
		removeDB(tmp)
		return RebuildResult{}, domain.Errorf(domain.EINTERNAL, "projections: swap in the rebuilt database: %v", err)
	}
	syncDir(filepath.Dir(path))
	return RebuildResult{Path: path, Seq: seq, Elapsed: time.Since(start)}, nil
}

// settle makes the live database whole in its main file before it is
// replaced: a leftover WAL (after a crash) would otherwise be replayed onto
// the new file, whose pages it does not describe. Opening and closing the
// database checkpoints and removes its WAL.
func settle(ctx context.Context, path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		removeDB(path)
		return nil
	}
	w, err := sql.Open("sqlite3", dsn(path, modeWrite))
	if err != nil {
		return sqlErr("open old database", err)
	}
	if _, err := w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		w.Close()
		return sqlErr("checkpoint old database", err)
	}
	if err := w.Close(); err != nil {
		return sqlErr("close old database", err)
	}
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	return nil
}

// syncFile flushes a finished database file to disk before it is renamed
// into place (it was written with synchronous=OFF).
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return domain.Errorf(domain.EINTERNAL, "projections: sync %s: %v", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return domain.Errorf(domain.EINTERNAL, "projections: sync %s: %v", path, err)
	}
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// VerifyReport is the outcome of Verify: the live database against a
// rebuild from the log up to the same sequence (R32).
type VerifyReport struct {
	Seq    uint64            `json:"seq"`
	Clean  bool              `json:"clean"`
	Tables []TableComparison `json:"tables"`
}

// TableComparison compares one table. OnlyLive and OnlyRebuilt show a few
// rows present on one side only, when the digests differ.
type TableComparison struct {
	Table         string   `json:"table"`
	LiveRows      int64    `json:"live_rows"`
	RebuiltRows   int64    `json:"rebuilt_rows"`
	LiveDigest    string   `json:"live_digest"`
	RebuiltDigest string   `json:"rebuilt_digest"`
	Equal         bool     `json:"equal"`
	OnlyLive      []string `json:"only_live,omitempty"`
	OnlyRebuilt   []string `json:"only_rebuilt,omitempty"`
}

// Differences lists the tables that differ.
func (r VerifyReport) Differences() []TableComparison {
	var out []TableComparison
	for _, t := range r.Tables {
		if !t.Equal {
			out = append(out, t)
		}
	}
	return out
}

// exampleRows is how many differing rows per table a report shows.
const exampleRows = 5

// Verify rebuilds the projections from the log into a scratch database in
// scratchDir, up to the live database's checkpoint, and compares a digest
// of every table (R32). The live digests come from one read snapshot, so
// Verify can run beside a serving process. The scratch database is removed
// afterwards. An error means verification could not run; differences are
// in the report, with Clean false.
func Verify(ctx context.Context, live *DB, log Log, scratchDir string, logger *slog.Logger, progress func(done, total uint64)) (VerifyReport, error) {
	seq, liveDigests, err := live.Digests(ctx)
	if err != nil {
		return VerifyReport{}, err
	}
	if err := os.MkdirAll(scratchDir, 0o755); err != nil {
		return VerifyReport{}, domain.Errorf(domain.EINTERNAL, "projections: create scratch directory: %v", err)
	}
	scratch, err := os.CreateTemp(scratchDir, "verify-*.db")
	if err != nil {
		return VerifyReport{}, domain.Errorf(domain.EINTERNAL, "projections: scratch database: %v", err)
	}
	path := scratch.Name()
	scratch.Close()
	os.Remove(path)
	defer removeDB(path)
	// Said once, so the log does not read like a rebuild of live data.
	logger.Info("verify: building a scratch copy of the projections from the log to compare with the live ones", "until_seq", seq, "scratch", path)
	var rebuilt *DB
	if seq == 0 {
		rebuilt, err = openUnlocked(ctx, path, modeBulk)
		if err == nil {
			_, err = NewRunner(rebuilt, log, logger).load(ctx)
		}
		if err == nil {
			err = rebuilt.finishBulk(ctx)
		}
	} else {
		rebuilt, _, err = Build(ctx, log, path, seq, logger, progress)
	}
	if err != nil {
		if rebuilt != nil {
			rebuilt.Close()
		}
		return VerifyReport{}, err
	}
	defer rebuilt.Close()
	rseq, rebuiltDigests, err := rebuilt.Digests(ctx)
	if err != nil {
		return VerifyReport{}, err
	}
	if rseq != seq {
		return VerifyReport{}, domain.Errorf(domain.EINTERNAL, "projections: rebuild reached %d, want %d", rseq, seq)
	}
	rep := compareDigests(seq, liveDigests, rebuiltDigests)
	if !rep.Clean {
		if err := rebuilt.examples(ctx, live.path, &rep); err != nil {
			logger.Warn("verify: could not list differing rows", "err", err)
		}
	}
	return rep, nil
}

func compareDigests(seq uint64, live, rebuilt []TableDigest) VerifyReport {
	rep := VerifyReport{Seq: seq, Clean: true}
	byName := map[string]*TableComparison{}
	var order []string
	get := func(name string) *TableComparison {
		if c, ok := byName[name]; ok {
			return c
		}
		c := &TableComparison{Table: name}
		byName[name] = c
		order = append(order, name)
		return c
	}
	for _, d := range live {
		c := get(d.Table)
		c.LiveRows, c.LiveDigest = d.Rows, d.Digest
	}
	for _, d := range rebuilt {
		c := get(d.Table)
		c.RebuiltRows, c.RebuiltDigest = d.Rows, d.Digest
	}
	for _, name := range order {
		c := byName[name]
		c.Equal = c.LiveDigest == c.RebuiltDigest && c.LiveRows == c.RebuiltRows
		if !c.Equal {
			rep.Clean = false
		}
		rep.Tables = append(rep.Tables, *c)
	}
	return rep
}

// examples fills in a few rows present on one side only, for each table
// that differs, by attaching the live database read-only to this one. The
// live side is read as it is now, which may be a little past the
// snapshot the digests came from if the server is running.
func (db *DB) examples(ctx context.Context, livePath string, rep *VerifyReport) error {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return sqlErr("verify", err)
	}
	defer conn.Close()
	abs, err := filepath.Abs(livePath)
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS live`, "file:"+abs+"?mode=ro"); err != nil {
		return sqlErr("attach live database", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DETACH DATABASE live`)
	for i := range rep.Tables {
		t := &rep.Tables[i]
		if t.Equal || t.LiveDigest == "" || t.RebuiltDigest == "" {
			continue
		}
		mine, args, err := rowsQuery(ctx, conn, t.Table, "main")
		if err != nil {
			return err
		}
		theirs, args2, err := rowsQuery(ctx, conn, t.Table, "live")
		if err != nil {
			return err
		}
		if t.OnlyRebuilt, err = sampleRows(ctx, conn, mine+" EXCEPT "+theirs, append(args, args2...)); err != nil {
			return err
		}
		if t.OnlyLive, err = sampleRows(ctx, conn, theirs+" EXCEPT "+mine, append(args2, args...)); err != nil {
			return err
		}
	}
	return nil
}

func sampleRows(ctx context.Context, q querier, query string, args []any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query+fmt.Sprintf(" LIMIT %d", exampleRows), args...)
	if err != nil {
		return nil, sqlErr("compare rows", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, sqlErr("compare rows", err)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, sqlErr("compare rows", err)
		}
		out = append(out, formatRow(cols, vals))
	}
	return out, sqlErr("compare rows", rows.Err())
}

// formatRow renders a row as col=value pairs, long values shortened.
func formatRow(cols []string, vals []any) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		var s string
		switch v := vals[i].(type) {
		case nil:
			s = "NULL"
		case []byte:
			s = string(v)
		default:
			b, _ := json.Marshal(v)
			s = string(b)
		}
		if len(s) > 80 {
			s = s[:77] + "..."
		}
		parts[i] = c + "=" + s
	}
	return strings.Join(parts, " ")
}
