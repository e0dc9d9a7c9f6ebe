package licensefile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licledger/licledger/domain"
)

func TestKeyFilesRoundTrip(t *testing.T) {
	t.Parallel()
	key := testKey(t, "vendor-2026")
	priv, err := ParsePrivateKey(key.MarshalFile())
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Key.Equal(key.Key) || priv.ID != key.ID {
		t.Fatal("private key changed in a round trip")
	}
	pub, err := ParsePublicKey(key.Public().MarshalFile())
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Key.Equal(key.Public().Key) || pub.ID != key.ID {
		t.Fatal("public key changed in a round trip")
	}
	if bytes.Contains(key.Public().MarshalFile(), []byte("private_key")) {
		t.Fatal("public key file carries the private key")
	}
}

func TestParseKeyRejects(t *testing.T) {
	t.Parallel()
	good := string(testKey(t, "vendor-2026").MarshalFile())
	other := testKey(t, "other")
	otherPub := string(other.Public().MarshalFile())
	otherPubB64 := otherPub[strings.Index(otherPub, `"public_key": "`)+15:]
	otherPubB64 = otherPubB64[:strings.Index(otherPubB64, `"`)]
	goodPub := good[strings.Index(good, `"public_key": "`)+15:]
	goodPub = goodPub[:strings.Index(goodPub, `"`)]
	tests := []struct{ name, raw string }{
		{"not json", "-----BEGIN PRIVATE KEY-----"},
		{"unknown member", strings.Replace(good, `"format"`, `"comment": "x", "format"`, 1)},
		{"wrong algorithm", strings.Replace(good, `"ed25519"`, `"rsa"`, 1)},
		{"wrong format", strings.Replace(good, KeyFormat, "licledger-key/9", 1)},
		{"bad id", strings.Replace(good, `"vendor-2026"`, `"vendor/2026"`, 1)},
		{"halves mismatch", strings.Replace(good, goodPub, otherPubB64, 1)},
		{"no private half", otherPub},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePrivateKey([]byte(tt.raw))
			if got, want := domain.ErrorCode(err), domain.EINVALID; got != want {
				t.Fatalf("code = %q, want %q (%v)", got, want, err)
			}
		})
	}
}

// R11 rotation, as deployed: the ledger loads every *.pub of a directory.
func TestLoadPublicKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, id := range []string{"vendor-2026", "vendor-2025"} {
		k := testKey(t, id)
		if err := os.WriteFile(filepath.Join(dir, id+PublicKeySuffix), k.Public().MarshalFile(), 0o644); err != nil {
			t.Fatal(err)
		}
		// The private key beside it is not loaded: only *.pub files are.
		if err := os.WriteFile(filepath.Join(dir, id+PrivateKeySuffix), []byte("not a key"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := LoadPublicKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	if got, want := strings.Join(ids, ","), "vendor-2025,vendor-2026"; got != want {
		t.Fatalf("loaded %s, want %s", got, want)
	}
	if _, err := LoadPublicKeys(filepath.Join(dir, "missing.pub")); domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.pub")
	if err := os.WriteFile(bad, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPublicKeys(dir); domain.ErrorCode(err) != domain.EINVALID {
		t.Fatalf("bad key in directory: %v", err)
	}
}
