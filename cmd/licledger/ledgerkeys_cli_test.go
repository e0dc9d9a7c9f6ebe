package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The ledger-key commands never create a key: on a directory without one
// (a mistyped --data) they refuse, and leave nothing behind.
func TestLedgerKeyCommandsRefuseADirectoryWithoutAKey(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"list"}, {"list", "--json"}, {"rotate"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var stdout, stderr bytes.Buffer
			code := dispatch(t.Context(), append(append([]string{"ledger-key"}, args...), "--data", dir), &stdout, &stderr)
			if code == 0 || !strings.Contains(stderr.String(), "no ledger key at "+filepath.Join(dir, "ledger.key")) {
				t.Errorf("exit %d, stderr %q; want a refusal naming the missing key", code, stderr.String())
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("left %d entries in the directory, want none", len(entries))
			}
		})
	}
}
