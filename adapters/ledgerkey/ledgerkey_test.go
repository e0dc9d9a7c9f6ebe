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

// R27 Decision (trust): rotating adds a current signing key and keeps the
// older ones published (retired) with their keys, so what they signed
// keeps verifying; the root key, which secrets derive from, never changes.
func TestRotateKeepsOldKeysPublished(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), FileName)
	r0, created, err := OpenRing(path)
	if err != nil || !created {
		t.Fatalf("OpenRing: created %v, %v", created, err)
	}
	msg := []byte("answer")
	sig0 := r0.Current().Sign(msg)
	id1, err := Rotate(path)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := Rotate(path)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := OpenRing(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, k := range r.Published() {
		got[k.ID] = k.Status
	}
	want := map[string]string{r0.Root().ID(): StatusRetired, id1: StatusRetired, id2: StatusCurrent}
	if len(got) != len(want) || got[r0.Root().ID()] != want[r0.Root().ID()] || got[id1] != want[id1] || got[id2] != want[id2] {
		t.Errorf("published %v, want %v", got, want)
	}
	if r.Current().ID() != id2 || r.Root().ID() != r0.Root().ID() || !bytes.Equal(r.Root().Derive("x"), r0.Root().Derive("x")) {
		t.Errorf("current %s root %s; want current %s and the same root %s", r.Current().ID(), r.Root().ID(), id2, r0.Root().ID())
	}
	if !ed25519.Verify(r.Verifying()[r0.Root().ID()], msg, sig0) {
		t.Error("a signature of the retired key no longer verifies")
	}
	// A current key whose file is gone is refused, not silently replaced.
	os.Remove(filepath.Join(filepath.Dir(path), RingDir, id2+".key"))
	if _, _, err := OpenRing(path); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("current key file removed: %v, want EINVALID", err)
	}
}
