// Package ledgerkey keeps the ledger's own Ed25519 key: created in the data
// directory on first start, never in the event log. The ledger derives
// from it the secrets it hands out again on a retry (instance secrets and
// license keys for a repeated Idempotency-Key), so a retry after a restart
// gets its original answer; signing uses it too (signed answers and
// checkpoints). Every serve replica of one ledger must use the same file.
package ledgerkey

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/licledger/licledger/domain"
)

// Format names the file's layout.
const Format = "licledger-ledger-key/1"

// FileName is the key file's name in the data directory.
const FileName = "ledger.key"

// Key is the ledger's key. Immutable; safe for concurrent use.
type Key struct {
	id   string
	priv ed25519.PrivateKey
}

type file struct {
	Format string `json:"format"`
	KeyID  string `json:"key_id"`
	Seed   string `json:"seed"` // base64url of the 32-byte Ed25519 seed
}

// Open reads the key at path, or creates it (mode 0600, its directory
// 0700) when the file does not exist; created says which. A file that is
// readable by others than its owner is refused: it holds a secret.
// Errors are EINVALID with the path and the reason; the seed is never
// quoted.
func Open(path string) (k *Key, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := create(path)
		return k, err == nil, err
	}
	if err != nil {
		return nil, false, domain.Errorf(domain.EINVALID, "ledger key %s: %v", path, err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, false, domain.Errorf(domain.EINVALID, "ledger key %s is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil || f.Format != Format {
		return nil, false, domain.Errorf(domain.EINVALID, "ledger key %s is not a %s file", path, Format)
	}
	seed, err := base64.RawURLEncoding.DecodeString(f.Seed)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, false, domain.Errorf(domain.EINVALID, "ledger key %s: the seed is not %d bytes of base64url", path, ed25519.SeedSize)
	}
	k = fromSeed(seed)
	if f.KeyID != k.id {
		return nil, false, domain.Errorf(domain.EINVALID, "ledger key %s: key_id %q does not match its key (%s)", path, f.KeyID, k.id)
	}
	return k, false, nil
}

func create(path string) (*Key, error) {
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	k := fromSeed(seed)
	b, _ := json.MarshalIndent(file{Format: Format, KeyID: k.id, Seed: base64.RawURLEncoding.EncodeToString(seed)}, "", "  ")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, domain.Errorf(domain.EINVALID, "ledger key: %v", err)
	}
	// Written whole under a temporary name, then renamed: a crash never
	// leaves a half key that the next start would refuse.
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, domain.Errorf(domain.EINVALID, "ledger key: %v", err)
	}
	_, werr := f.Write(append(b, '\n'))
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(tmp)
		return nil, domain.Errorf(domain.EINVALID, "ledger key: write %s: %v", tmp, err)
	}
	if err := os.Link(tmp, path); err != nil { // fails if another process created it first
		os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			k, _, err := Open(path)
			return k, err
		}
		return nil, domain.Errorf(domain.EINVALID, "ledger key: %v", err)
	}
	os.Remove(tmp)
	return k, nil
}

func fromSeed(seed []byte) *Key {
	priv := ed25519.NewKeyFromSeed(seed)
	sum := sha256.Sum256(priv.Public().(ed25519.PublicKey))
	return &Key{id: "ledger-" + hex.EncodeToString(sum[:4]), priv: priv}
}

// ID names the key by its public key: "ledger-" and 8 hex digits.
func (k *Key) ID() string { return k.id }

// Public is the public key, safe to publish.
func (k *Key) Public() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// Sign signs msg with Ed25519.
func (k *Key) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// Derive returns a 32-byte secret for one purpose (e.g. "instance-secrets"),
// independent of every other purpose's and of the signing key's use.
func (k *Key) Derive(purpose string) []byte {
	m := hmac.New(sha256.New, k.priv.Seed())
	fmt.Fprintf(m, "licledger/derive/%s", purpose)
	return m.Sum(nil)
}
