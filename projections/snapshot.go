package projections

import (
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/licledger/licledger/domain"
)

// A snapshot is a copy of the projections database taken at a known log
// sequence (every projection's checkpoint), so a new replica on a long
// log starts from it and applies only the events after it, instead of
// folding the whole log first. It is derived data like the database
// itself: projections verify compares the result with a rebuild (R32),
// and without a snapshot a replica simply builds from the start.

// SnapshotName is the name the projections snapshot is stored under.
const SnapshotName = "projections"

// Metadata keys of a stored snapshot.
const (
	snapshotSeq    = "seq"    // the log sequence every projection had applied
	snapshotSchema = "schema" // the highest migration version in the copy
)

// SnapshotStore keeps snapshots beside the log; *eventstore.Store keeps
// them in a JetStream object store bucket. GetSnapshot fails with
// ENOTFOUND when there is none.
type SnapshotStore interface {
	PutSnapshot(ctx context.Context, name string, meta map[string]string, r io.Reader) error
	GetSnapshot(ctx context.Context, name string, w io.Writer) (map[string]string, error)
}

// TakeSnapshot copies db, consistently and beside the running projector
// (VACUUM INTO reads one snapshot of the WAL database, and writes a
// compact file), into a scratch file in dir, stores it and returns the
// sequence it was taken at. A database whose projections are not at one
// checkpoint (the projector between two of them, or a projection being
// rebuilt) is ECONFLICT not-caught-up: try again later.
func TakeSnapshot(ctx context.Context, db *DB, store SnapshotStore, dir string) (uint64, error) {
	f, err := os.CreateTemp(dir, ".snapshot-*.db")
	if err != nil {
		return 0, domain.Errorf(domain.EINTERNAL, "projections: snapshot file: %v", err)
	}
	path := f.Name()
	f.Close()
	os.Remove(path) // VACUUM INTO wants to create it
	defer removeDB(path)
	// VACUUM INTO runs on a connection of its own: the read pool is
	// query_only, which refuses it, and the projector's writer must not
	// wait for a copy of the whole database.
	conn, err := sql.Open("sqlite3", dsn(db.path, modeCopy))
	if err != nil {
		return 0, sqlErr("open for snapshot", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return 0, sqlErr("snapshot", err)
	}
	seq, schema, err := snapshotPosition(ctx, path)
	if err != nil {
		return 0, err
	}
	if seq == 0 {
		return 0, errNotCaughtUp("nothing applied yet")
	}
	src, err := os.Open(path)
	if err != nil {
		return 0, domain.Errorf(domain.EINTERNAL, "projections: read snapshot: %v", err)
	}
	defer src.Close()
	meta := map[string]string{snapshotSeq: strconv.FormatUint(seq, 10), snapshotSchema: strconv.Itoa(schema)}
	if err := store.PutSnapshot(ctx, SnapshotName, meta, src); err != nil {
		return 0, err
	}
	return seq, nil
}

// snapshotPosition reads a database file's common checkpoint and schema
// version.
func snapshotPosition(ctx context.Context, path string) (uint64, int, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_query_only=true")
	if err != nil {
		return 0, 0, sqlErr("open snapshot", err)
	}
	defer db.Close()
	seq, err := commonCheckpoint(ctx, db)
	if err != nil {
		return 0, 0, err
	}
	var schema int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&schema); err != nil {
		return 0, 0, sqlErr("read snapshot schema", err)
	}
	return seq, schema, nil
}

// RestoreSnapshot fetches the stored snapshot into path, which must not
// exist, for Open to start from, and returns its sequence. head is the
// log's last sequence: a snapshot ahead of it (of another log, say, or
// taken before the log was re-imported) is refused, as is one from a
// newer schema than this build's (Open migrates an older one). Any
// refusal leaves nothing at path; ENOTFOUND when there is no snapshot.
func RestoreSnapshot(ctx context.Context, store SnapshotStore, path string, head uint64) (uint64, error) {
	if _, err := os.Stat(path); err == nil {
		return 0, domain.Errorf(domain.ECONFLICT, "projections: %s already exists", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, domain.Errorf(domain.EINTERNAL, "projections: create directory: %v", err)
	}
	tmp := path + ".restore"
	removeDB(tmp)
	f, err := os.Create(tmp)
	if err != nil {
		return 0, domain.Errorf(domain.EINTERNAL, "projections: restore file: %v", err)
	}
	meta, err := store.GetSnapshot(ctx, SnapshotName, f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = domain.Errorf(domain.EINTERNAL, "projections: write restored snapshot: %v", cerr)
	}
	if err == nil {
		err = checkRestored(ctx, tmp, meta, head)
	}
	if err == nil {
		err = syncFile(tmp)
	}
	if err == nil && os.Rename(tmp, path) != nil {
		err = domain.Errorf(domain.EINTERNAL, "projections: move the restored snapshot into place")
	}
	if err != nil {
		removeDB(tmp)
		return 0, err
	}
	syncDir(filepath.Dir(path))
	seq, _ := strconv.ParseUint(meta[snapshotSeq], 10, 64)
	return seq, nil
}

// checkRestored checks a fetched snapshot against its metadata, the log
// and this build's schema.
func checkRestored(ctx context.Context, path string, meta map[string]string, head uint64) error {
	seq, schema, err := snapshotPosition(ctx, path)
	if err != nil {
		return err
	}
	if want := meta[snapshotSeq]; strconv.FormatUint(seq, 10) != want {
		return domain.Errorf(domain.EINVALID, "projections: snapshot is at sequence %d, its metadata says %q", seq, want)
	}
	if seq > head {
		return domain.Errorf(domain.EINVALID, "projections: snapshot at sequence %d is ahead of the log (last sequence %d); not this log's", seq, head)
	}
	ms, err := migrations()
	if err != nil {
		return domain.Errorf(domain.EINTERNAL, "projections: %v", err)
	}
	if last := ms[len(ms)-1].version; schema > last {
		return domain.Errorf(domain.EINVALID, "projections: snapshot has schema version %d, newer than this build's %d", schema, last)
	}
	return nil
}
