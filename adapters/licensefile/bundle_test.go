package licensefile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/licledger/licledger/domain"
)

// R10: a bundle of one Base and several Plus files verifies as a whole and
// comes back Base first, whatever the archive order; writing is
// deterministic.
func TestBundleRoundTrip(t *testing.T) {
	t.Parallel()
	key := testKey(t, "vendor-2026")
	v := testVerifier(t, Limits{}, key)
	rc := Binding{RequestCode: testCode}
	entries := []Entry{
		{Name: "plus-vmware.license", Data: mustIssue(t, plusLicense("L-2", "vmware", 8), rc, key)},
		{Name: "base.license", Data: mustIssue(t, baseLicense("L-1"), rc, key)},
		{Name: "more/plus-gpu.license", Data: mustIssue(t, plusLicense("L-3", "gpu", 0), rc, key)},
	}
	raw := mustBundle(t, entries...)
	if again := mustBundle(t, entries...); !bytes.Equal(raw, again) {
		t.Fatal("WriteBundle is not deterministic")
	}
	files, err := v.VerifyBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.License.ID)
	}
	if g, w := fmt.Sprint(got), "[L-1 L-2 L-3]"; g != w {
		t.Fatalf("order = %s, want %s", g, w)
	}
}

// R10: the bundle reader refuses hostile archives whole: links, devices,
// directories, path traversal, too many entries, oversize and gzip bombs.
func TestReadBundleRefusals(t *testing.T) {
	t.Parallel()
	key := testKey(t, "vendor-2026")
	lic := mustIssue(t, baseLicense("L-1"), Binding{RequestCode: testCode}, key)
	hdr := func(typ byte, name, link string) rawEntry {
		return rawEntry{hdr: tar.Header{Typeflag: typ, Name: name, Linkname: link}}
	}
	many := make([]rawEntry, 5)
	for i := range many {
		many[i] = reg(fmt.Sprintf("f%d.license", i), lic)
	}
	// 30 entries of 60 KiB zeros: each under MaxFileSize, together over a
	// 1 MiB decompressed limit, while the .tar.gz is a few KiB.
	bomb := make([]rawEntry, 30)
	for i := range bomb {
		bomb[i] = reg(fmt.Sprintf("z%d", i), make([]byte, 60<<10))
	}
	tests := []struct {
		name   string
		raw    []byte
		limits Limits
		reason string
	}{
		{"symlink", rawTarGz(t, reg("base.license", lic), hdr(tar.TypeSymlink, "evil", "/etc/passwd")), Limits{}, domain.ReasonBundleBadEntry},
		{"hardlink", rawTarGz(t, reg("base.license", lic), hdr(tar.TypeLink, "evil", "base.license")), Limits{}, domain.ReasonBundleBadEntry},
		{"directory", rawTarGz(t, hdr(tar.TypeDir, "licenses/", ""), reg("licenses/base.license", lic)), Limits{}, domain.ReasonBundleBadEntry},
		{"char device", rawTarGz(t, hdr(tar.TypeChar, "tty", "")), Limits{}, domain.ReasonBundleBadEntry},
		{"block device", rawTarGz(t, hdr(tar.TypeBlock, "sda", "")), Limits{}, domain.ReasonBundleBadEntry},
		{"fifo", rawTarGz(t, hdr(tar.TypeFifo, "pipe", "")), Limits{}, domain.ReasonBundleBadEntry},
		{"absolute path", rawTarGz(t, reg("/etc/cron.d/evil", lic)), Limits{}, domain.ReasonBundleBadEntry},
		{"dot-dot", rawTarGz(t, reg("../evil.license", lic)), Limits{}, domain.ReasonBundleBadEntry},
		{"inner dot-dot", rawTarGz(t, reg("a/../../evil.license", lic)), Limits{}, domain.ReasonBundleBadEntry},
		{"bare dot-dot", rawTarGz(t, reg("..", lic)), Limits{}, domain.ReasonBundleBadEntry},
		{"unclean path", rawTarGz(t, reg("a//b.license", lic)), Limits{}, domain.ReasonBundleBadEntry},
		{"dot path", rawTarGz(t, reg("./base.license", lic)), Limits{}, domain.ReasonBundleBadEntry},
		{"backslash", rawTarGz(t, reg(`..\evil.license`, lic)), Limits{}, domain.ReasonBundleBadEntry},
		{"duplicate name", rawTarGz(t, reg("a.license", lic), reg("a.license", lic)), Limits{}, domain.ReasonBundleBadEntry},
		{"too many entries", rawTarGz(t, many...), Limits{MaxEntries: 4}, domain.ReasonBundleTooLarge},
		{"compressed too large", rawTarGz(t, reg("base.license", lic)), Limits{MaxCompressed: 100}, domain.ReasonBundleTooLarge},
		{"entry over file limit", rawTarGz(t, reg("big.license", make([]byte, MaxFileSize+1))), Limits{}, domain.ReasonBundleTooLarge},
		{"gzip bomb of entries", rawTarGz(t, bomb...), Limits{MaxUncompressed: 1 << 20}, domain.ReasonBundleTooLarge},
		{"gzip bomb of zeros", gzipOf(t, make([]byte, 9<<20)), Limits{}, domain.ReasonBundleTooLarge},
		{"not gzip", lic, Limits{}, domain.ReasonMalformed},
		{"gzip of garbage", gzipOf(t, []byte("this is not a tar archive, not even close.")), Limits{}, domain.ReasonMalformed},
		{"empty archive", rawTarGz(t), Limits{}, domain.ReasonMalformed},
		{"corrupted checksum", corruptTrailer(rawTarGz(t, reg("base.license", lic))), Limits{}, domain.ReasonMalformed},
		{"truncated", truncate(rawTarGz(t, reg("base.license", lic))), Limits{}, domain.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := ReadBundle(tt.raw, tt.limits)
			if entries != nil {
				t.Errorf("refused bundle still returned %d entries", len(entries))
			}
			wantRefusal(t, err, domain.EINVALID, tt.reason)
		})
	}
}

// The gzip-bomb guard limits the decompressed stream itself: reading an
// endless stream through it stops right after the limit, whatever any
// header claimed.
func TestCapReaderStopsAtLimit(t *testing.T) {
	t.Parallel()
	endless := &countingZeros{}
	c := &capReader{r: endless, n: 1000}
	n, err := io.Copy(io.Discard, c)
	if !errors.Is(err, errInflateLimit) {
		t.Fatalf("err = %v, want the inflate limit", err)
	}
	if got, want := n, int64(1000); got != want {
		t.Fatalf("passed %d bytes, want %d", got, want)
	}
	if endless.n > 1001 {
		t.Fatalf("read %d bytes from the source; the guard must stop at limit+1", endless.n)
	}
	// A stream that ends exactly at the limit is fine.
	c = &capReader{r: bytes.NewReader(make([]byte, 1000)), n: 1000}
	if n, err := io.Copy(io.Discard, c); err != nil || n != 1000 {
		t.Fatalf("exact-size stream: n=%d err=%v", n, err)
	}
}

type countingZeros struct{ n int }

func (z *countingZeros) Read(p []byte) (int, error) {
	clear(p)
	z.n += len(p)
	return len(p), nil
}

// R10: a bundle is verified whole: one bad file, a missing or second Base,
// a key-bound file or mixed request codes refuse all of it.
func TestVerifyBundleRefusals(t *testing.T) {
	t.Parallel()
	key := testKey(t, "vendor-2026")
	v := testVerifier(t, Limits{}, key)
	rc := Binding{RequestCode: testCode}
	base := Entry{Name: "base.license", Data: mustIssue(t, baseLicense("L-1"), rc, key)}
	plus := Entry{Name: "plus.license", Data: mustIssue(t, plusLicense("L-2", "vmware", 8), rc, key)}
	tampered := Entry{Name: "plus2.license", Data: bytes.Replace(mustIssue(t, plusLicense("L-3", "gpu", 0), rc, key), []byte(`"gpu"`), []byte(`"cdp"`), 1)}
	untrusted := Entry{Name: "plus3.license", Data: mustIssue(t, plusLicense("L-4", "gpu", 0), rc, testKey(t, "impostor"))}
	tests := []struct {
		name         string
		entries      []Entry
		code, reason string
	}{
		{"no base", []Entry{plus}, domain.EINVALID, domain.ReasonBundleBase},
		{"two bases", []Entry{base, {Name: "base2.license", Data: mustIssue(t, baseLicense("L-9"), rc, key)}, plus}, domain.EINVALID, domain.ReasonBundleBase},
		{"one bad signature", []Entry{base, plus, tampered}, domain.EINVALID, domain.ReasonBadSignature},
		{"one untrusted key", []Entry{base, untrusted}, domain.EFORBIDDEN, domain.ReasonUnknownSigningKey},
		{"not a license", []Entry{base, {Name: "README", Data: []byte("hello")}}, domain.EINVALID, domain.ReasonMalformed},
		{"key-bound file", []Entry{base, {Name: "k.license", Data: mustIssue(t, plusLicense("L-5", "gpu", 0), Binding{USBKey: "K-1"}, key)}}, domain.EINVALID, domain.ReasonBundleSource},
		{"mixed request codes", []Entry{base, {Name: "o.license", Data: mustIssue(t, plusLicense("L-6", "gpu", 0), Binding{RequestCode: "RC-OTHER"}, key)}}, domain.EINVALID, domain.ReasonBundleSource},
		{"same license twice", []Entry{base, plus, {Name: "again.license", Data: plus.Data}}, domain.EINVALID, domain.ReasonBundleBadEntry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := v.VerifyBundle(mustBundle(t, tt.entries...))
			if files != nil {
				t.Errorf("refused bundle still returned %d files", len(files))
			}
			wantRefusal(t, err, tt.code, tt.reason)
		})
	}
}

func TestWriteBundleRefusesBadNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "/abs", "../up", "a/../../b", `a\b`, "."} {
		var buf bytes.Buffer
		err := WriteBundle(&buf, []Entry{{Name: name, Data: []byte("x")}})
		if got, want := domain.ErrorReason(err), domain.ReasonBundleBadEntry; got != want {
			t.Errorf("WriteBundle(%q): reason %q, want %q (%v)", name, got, want, err)
		}
	}
}

func gzipOf(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// corruptTrailer flips a bit of the gzip CRC-32 (the trailer's first 4 bytes).
func corruptTrailer(raw []byte) []byte {
	out := bytes.Clone(raw)
	out[len(out)-8] ^= 0x01
	return out
}

func truncate(raw []byte) []byte { return bytes.Clone(raw[:len(raw)/2]) }
