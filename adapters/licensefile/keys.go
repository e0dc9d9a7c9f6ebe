package licensefile

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/licledger/licledger/domain"
)

// KeyFormat identifies the vendor key files (FORMAT.md, "Key files").
const KeyFormat = "licledger-key/1"

// Key file name suffixes used by keygen and by LoadPublicKeys on a directory.
const (
	PublicKeySuffix  = ".pub"
	PrivateKeySuffix = ".key"
)

// PublicKey is a trusted vendor verification key and the id files name it by.
type PublicKey struct {
	ID  string
	Key ed25519.PublicKey
}

// PrivateKey is a vendor signing key. It never enters the ledger: only the
// vendor tool reads it.
type PrivateKey struct {
	ID  string
	Key ed25519.PrivateKey
}

// Public returns the verification half of k.
func (k PrivateKey) Public() PublicKey {
	return PublicKey{ID: k.ID, Key: k.Key.Public().(ed25519.PublicKey)}
}

// GenerateKey makes a new signing key named id, reading randomness from
// rand (crypto/rand.Reader in production; a fixed reader in tests).
func GenerateKey(id string, rand io.Reader) (PrivateKey, error) {
	if err := domain.ValidateID(id); err != nil {
		return PrivateKey{}, err
	}
	_, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return PrivateKey{}, domain.Errorf(domain.EINTERNAL, "generate key %s: %v", id, err)
	}
	return PrivateKey{ID: id, Key: priv}, nil
}

type keyFile struct {
	Format     string `json:"format"`
	KeyID      string `json:"key_id"`
	Algorithm  string `json:"algorithm"`
	PublicKey  string `json:"public_key"`
	PrivateKey string `json:"private_key,omitempty"` // the 32-byte Ed25519 seed
}

// MarshalFile renders the public key file.
func (k PublicKey) MarshalFile() []byte {
	return marshalKeyFile(keyFile{Format: KeyFormat, KeyID: k.ID, Algorithm: "ed25519",
		PublicKey: base64.StdEncoding.EncodeToString(k.Key)})
}

// MarshalFile renders the private key file (it holds the public key too, so
// a mismatched pair is detected on load).
func (k PrivateKey) MarshalFile() []byte {
	return marshalKeyFile(keyFile{Format: KeyFormat, KeyID: k.ID, Algorithm: "ed25519",
		PublicKey:  base64.StdEncoding.EncodeToString(k.Key.Public().(ed25519.PublicKey)),
		PrivateKey: base64.StdEncoding.EncodeToString(k.Key.Seed())})
}

func marshalKeyFile(f keyFile) []byte {
	b, _ := json.MarshalIndent(f, "", "  ") // strings only: cannot fail
	return append(b, '\n')
}

func parseKeyFile(raw []byte, what string) (keyFile, ed25519.PublicKey, error) {
	var f keyFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return keyFile{}, nil, domain.Errorf(domain.EINVALID, "%s is not a %s file: %v", what, KeyFormat, err)
	}
	if f.Format != KeyFormat || f.Algorithm != "ed25519" {
		return keyFile{}, nil, domain.Errorf(domain.EINVALID, "%s: format %q algorithm %q, want %s ed25519", what, f.Format, f.Algorithm, KeyFormat)
	}
	if err := domain.ValidateID(f.KeyID); err != nil {
		return keyFile{}, nil, domain.Errorf(domain.EINVALID, "%s key_id: %s", what, domain.ErrorMessage(err))
	}
	pub, err := base64.StdEncoding.Strict().DecodeString(f.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return keyFile{}, nil, domain.Errorf(domain.EINVALID, "%s: public_key must be %d bytes of base64", what, ed25519.PublicKeySize)
	}
	return f, ed25519.PublicKey(pub), nil
}

// ParsePublicKey reads a public key file. A private key file is accepted
// too (its public half is used), so a vendor can test with one file.
func ParsePublicKey(raw []byte) (PublicKey, error) {
	f, pub, err := parseKeyFile(raw, "public key")
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{ID: f.KeyID, Key: pub}, nil
}

// ParsePrivateKey reads a private key file and checks its halves match.
func ParsePrivateKey(raw []byte) (PrivateKey, error) {
	f, pub, err := parseKeyFile(raw, "private key")
	if err != nil {
		return PrivateKey{}, err
	}
	seed, err := base64.StdEncoding.Strict().DecodeString(f.PrivateKey)
	if err != nil || len(seed) != ed25519.SeedSize {
		return PrivateKey{}, domain.Errorf(domain.EINVALID, "private key %s: private_key must be a %d-byte base64 seed", f.KeyID, ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if !pub.Equal(priv.Public()) {
		return PrivateKey{}, domain.Errorf(domain.EINVALID, "private key %s: public_key does not match private_key", f.KeyID)
	}
	return PrivateKey{ID: f.KeyID, Key: priv}, nil
}

// LoadPublicKeys reads trusted keys from files and directories; a directory
// contributes every *.pub file in it, in name order. Several keys are how
// rotation works: files signed by any of them verify.
func LoadPublicKeys(paths ...string) ([]PublicKey, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, domain.Errorf(domain.EINVALID, "trusted keys: %v", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, domain.Errorf(domain.EINVALID, "trusted keys: %v", err)
		}
		var names []string
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), PublicKeySuffix) {
				names = append(names, filepath.Join(p, e.Name()))
			}
		}
		sort.Strings(names)
		files = append(files, names...)
	}
	keys := make([]PublicKey, 0, len(files))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, domain.Errorf(domain.EINVALID, "trusted keys: %v", err)
		}
		k, err := ParsePublicKey(raw)
		if err != nil {
			return nil, domain.Errorf(domain.EINVALID, "%s: %s", f, domain.ErrorMessage(err))
		}
		keys = append(keys, k)
	}
	return keys, nil
}
