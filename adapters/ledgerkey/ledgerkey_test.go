package ledgerkey

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"

	"github.com/licledger/licledger/domain"
)

func TestOpenCreatesOnceAndKeeps(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", FileName)
	k1, created, err := Open(path)
	if err != nil || !created {
		t.Fatalf("first open: created %v, %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("mode %v, want %v", got, want)
	}
	k2, created, err := Open(path)
	if err != nil || created {
		t.Fatalf("second open: created %v, %v", created, err)
	}
	if k1.ID() != k2.ID() || !bytes.Equal(k1.Derive("x"), k2.Derive("x")) {
		t.Error("the key changed across opens")
	}
	if bytes.Equal(k1.Derive("a"), k1.Derive("b")) {
		t.Error("two purposes derive the same secret")
	}
	if msg := []byte("answer"); !ed25519.Verify(k2.Public(), msg, k1.Sign(msg)) {
		t.Error("a signature does not verify with the public key")
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.key")
	if _, _, err := Open(good); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(good)
	tests := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"readable by others", b, 0o644},
		{"not a key file", []byte(`{"format":"other"}`), 0o600},
		{"short seed", []byte(`{"format":"` + Format + `","key_id":"ledger-00000000","seed":"AAAA"}`), 0o600},
		{"wrong key id", bytes.Replace(b, []byte(`"ledger-`), []byte(`"ledger-0`), 1), 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, tt.data, tt.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tt.mode)
			if _, _, err := Open(path); domain.ErrorCode(err) != domain.EINVALID {
				t.Errorf("Open = %v, want EINVALID", err)
			}
		})
	}
}
