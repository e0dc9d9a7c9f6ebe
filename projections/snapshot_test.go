package projections

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/licledger/licledger/domain"
)

// R32: a replica started from a snapshot and then tailing the log holds
// exactly what a rebuild from the start holds, and it starts at the
// snapshot's sequence, not at zero.
func TestRestoredSnapshotTailsToARebuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLedger(t)
	history(l)
	live := openDB(t, "live.db")
	at := catchUp(t, live, l.store)
	seq, err := TakeSnapshot(ctx, live, l.store, t.TempDir())
	if err != nil {
		t.Fatalf("take snapshot: %v", err)
	}
	if seq != at {
		t.Fatalf("snapshot at %d, want the live checkpoint %d", seq, at)
	}
	// The log moves on after the snapshot; the new replica must tail it.
	l.append("platform/gamma", ev(domain.EventPlatformRegistered, domain.PlatformRegistered{Nodes: []string{"mn-1"}}))
	l.append("platform/acme", ev(domain.EventHostAdded, domain.HostAdded{Host: "h-9", Hypervisor: domain.HypervisorKVM, Sockets: 4}))

	path := filepath.Join(t.TempDir(), "replica.db")
	got, err := RestoreSnapshot(ctx, l.store, path, l.lastSeq())
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got != seq {
		t.Errorf("restored sequence %d, want %d", got, seq)
	}
	replica, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	r := NewRunner(replica, l.store, discard())
	start, err := r.load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if start != seq {
		t.Errorf("restored replica resumes after %d, want the snapshot's %d", start, seq)
	}
	if _, err := r.CatchUp(ctx, 0, nil); err != nil {
		t.Fatal(err)
	}
	if cp, _ := mustDigests(t, replica); cp != l.lastSeq() {
		t.Errorf("replica at %d, want the log's head %d", cp, l.lastSeq())
	}
	assertSameAsRebuild(t, replica, l.store, "the replica restored from a snapshot")
}

// A snapshot that cannot be this log's, or none at all, is refused
// without leaving a file behind: the replica then builds from the log.
func TestRestoreSnapshotRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLedger(t)
	history(l)
	path := filepath.Join(t.TempDir(), "replica.db")
	if _, err := RestoreSnapshot(ctx, l.store, path, l.lastSeq()); domain.ErrorCode(err) != domain.ENOTFOUND {
		t.Errorf("restore with no snapshot stored: %v, want %s", err, domain.ENOTFOUND)
	}
	live := openDB(t, "live.db")
	catchUp(t, live, l.store)
	seq, err := TakeSnapshot(ctx, live, l.store, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RestoreSnapshot(ctx, l.store, path, seq-1); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("restore of a snapshot ahead of the log: %v, want %s", err, domain.EINVALID)
	}
	for _, p := range []string{path, path + ".restore"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a refused restore left %s", p)
		}
	}
	if _, err := RestoreSnapshot(ctx, l.store, live.Path(), seq); domain.ErrorCode(err) != domain.ECONFLICT {
		t.Errorf("restore over an existing database: %v, want %s", err, domain.ECONFLICT)
	}
}
