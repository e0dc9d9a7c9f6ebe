package projections_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/licledger/licledger/projections"
)

// What a crashed request left (an as-of scratch directory, a verify
// database and its WAL) is removed; the live database stays.
func TestRemoveScratch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, p := range []string{"asof-123/asof.db", "verify-9.db", "verify-9.db-wal", "projections.db", "asofnot.txt"} {
		path := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := projections.RemoveScratch(dir); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if want := []string{"asofnot.txt", "projections.db"}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("left %v, want %v", got, want)
	}
}
