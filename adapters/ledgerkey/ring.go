package ledgerkey

import (
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/licledger/licledger/domain"
)

// Key rotation (R27 Decision (trust)). The key in ledger.key stays the
// ledger's root: what Derive derives from (instance secrets and license
// keys handed out again on a retry must not change) and its first signing
// key. Rotating adds a signing key beside it, in RingDir, and makes it the
// one answers are signed with from the next start on; every older key
// stays published (GET /v1/ledger/keys) as retired, so answers products
// stored before the rotation keep verifying. A retired key's private half
// is kept too: removing it would not unpublish it, and an operator who
// suspects a leak removes the file, which unpublishes it (answers it
// signed then stop verifying, as they should).

// RingDir is the directory, beside ledger.key, of the rotated signing keys.
const RingDir = "ledger-keys"

// currentFile names the current signing key's id inside RingDir.
const currentFile = "current"

// Public is one published key.
type Public struct {
	ID     string            `json:"key_id"`
	Key    ed25519.PublicKey `json:"-"`
	Status string            `json:"status"` // "current" or "retired"
}

// Statuses of a published key.
const (
	StatusCurrent = "current"
	StatusRetired = "retired"
)

// Ring is the ledger's keys: the root (ledger.key) and the rotated signing
// keys. Immutable once opened; safe for concurrent use.
type Ring struct {
	root    *Key
	current *Key
	keys    []*Key // root first, then the rotated keys by id
}

// OpenRing reads the root key at path (creating it as Open does) and the
// rotated keys in RingDir beside it.
func OpenRing(path string) (r *Ring, created bool, err error) {
	root, created, err := Open(path)
	if err != nil {
		return nil, false, err
	}
	r = &Ring{root: root, current: root, keys: []*Key{root}}
	dir := filepath.Join(filepath.Dir(path), RingDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return r, created, nil
	}
	if err != nil {
		return nil, false, domain.Errorf(domain.EINVALID, "ledger keys %s: %v", dir, err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".key") {
			continue
		}
		k, _, err := Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, false, err
		}
		r.keys = append(r.keys, k)
	}
	cur, err := os.ReadFile(filepath.Join(dir, currentFile))
	if errors.Is(err, fs.ErrNotExist) {
		return r, created, nil
	}
	if err != nil {
		return nil, false, domain.Errorf(domain.EINVALID, "ledger keys: %v", err)
	}
	id := strings.TrimSpace(string(cur))
	i := slices.IndexFunc(r.keys, func(k *Key) bool { return k.ID() == id })
	if i < 0 {
		return nil, false, domain.Errorf(domain.EINVALID, "ledger keys: the current key %q has no file in %s", id, dir)
	}
	r.current = r.keys[i]
	return r, created, nil
}

// Rotate creates a new signing key beside the root key at path and makes
// it current (for the serves started after it). It returns the new key's id.
func Rotate(path string) (string, error) {
	if _, _, err := Open(path); err != nil {
		return "", err
	}
	dir := filepath.Join(filepath.Dir(path), RingDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", domain.Errorf(domain.EINVALID, "ledger keys: %v", err)
	}
	// Created under a temporary name, then named after its id.
	tmp := filepath.Join(dir, "new.key.tmp")
	os.Remove(tmp)
	k, err := create(tmp)
	if err != nil {
		return "", err
	}
	if err := os.Rename(tmp, filepath.Join(dir, k.ID()+".key")); err != nil {
		return "", domain.Errorf(domain.EINVALID, "ledger keys: %v", err)
	}
	if err := writeAtomic(filepath.Join(dir, currentFile), []byte(k.ID()+"\n")); err != nil {
		return "", err
	}
	return k.ID(), nil
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return domain.Errorf(domain.EINVALID, "ledger keys: %v", err)
	}
	_, werr := f.Write(b)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(tmp)
		return domain.Errorf(domain.EINVALID, "ledger keys: write %s: %v", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return domain.Errorf(domain.EINVALID, "ledger keys: %v", err)
	}
	return nil
}

// Root is ledger.key: what secrets are derived from.
func (r *Ring) Root() *Key { return r.root }

// Current is the key answers are signed with.
func (r *Ring) Current() *Key { return r.current }

// Published lists every key, current and retired, root first.
func (r *Ring) Published() []Public {
	out := make([]Public, 0, len(r.keys))
	for _, k := range r.keys {
		st := StatusRetired
		if k == r.current {
			st = StatusCurrent
		}
		out = append(out, Public{ID: k.ID(), Key: k.Public(), Status: st})
	}
	return out
}

// Verifying is every published key by id, as domain.VerifyAnswer takes them.
func (r *Ring) Verifying() map[string]ed25519.PublicKey {
	m := make(map[string]ed25519.PublicKey, len(r.keys))
	for _, k := range r.keys {
		m[k.ID()] = k.Public()
	}
	return m
}
