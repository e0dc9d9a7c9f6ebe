package licensefile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// testKey returns a deterministic signing key: its seed is SHA-256 of id, so
// golden files stay stable.
func testKey(t testing.TB, id string) PrivateKey {
	t.Helper()
	seed := sha256.Sum256([]byte(id))
	k, err := GenerateKey(id, bytes.NewReader(seed[:]))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testVerifier(t testing.TB, limits Limits, keys ...PrivateKey) *Verifier {
	t.Helper()
	pubs := make([]PublicKey, len(keys))
	for i, k := range keys {
		pubs[i] = k.Public()
	}
	v, err := NewVerifier(pubs, limits)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func tsp(s string) *time.Time { t := ts(s); return &t }

func baseLicense(id string) domain.License {
	return domain.License{ID: id, Kind: domain.KindBase, Edition: domain.EditionEnterprise, Sockets: 16,
		IssuedAt: ts("2026-01-01T00:00:00Z"), ExpiresAt: tsp("2027-01-01T00:00:00Z")}
}

func plusLicense(id, module string, quantity int) domain.License {
	return domain.License{ID: id, Kind: domain.KindPlus, Module: module, Quantity: quantity,
		IssuedAt: ts("2026-01-01T00:00:00Z"), ExpiresAt: tsp("2027-01-01T00:00:00Z")}
}

const testCode = "RC-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF"

func mustIssue(t testing.TB, l domain.License, b Binding, key PrivateKey) []byte {
	t.Helper()
	raw, err := Issue(l, b, key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func mustBundle(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteBundle(&buf, entries); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawTarGz builds a .tar.gz with arbitrary headers, including the hostile
// ones WriteBundle refuses to write.
func rawTarGz(t testing.TB, entries ...rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == tar.TypeReg || h.Typeflag == 0 {
			h.Size = int64(len(e.data))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("write header %q: %v", h.Name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type rawEntry struct {
	hdr  tar.Header
	data []byte
}

func reg(name string, data []byte) rawEntry {
	return rawEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name}, data: data}
}

// wantRefusal fails unless err is a *domain.Error with the code and reason.
func wantRefusal(t testing.TB, err error, code, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %s (%s)", code, reason)
	}
	if got, want := domain.ErrorCode(err), code; got != want {
		t.Fatalf("code = %q, want %q (err: %v)", got, want, err)
	}
	if got, want := domain.ErrorReason(err), reason; got != want {
		t.Fatalf("reason = %q, want %q (err: %v)", got, want, err)
	}
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from golden file\n got: %s\nwant: %s", name, got, want)
	}
}
