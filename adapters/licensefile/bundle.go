package licensefile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/licledger/licledger/domain"
)

// Limits bound what a bundle may cost to read. Every bound is enforced on
// the bytes actually read, not on what headers claim: a gzip bomb stops at
// MaxUncompressed decompressed bytes whatever its tar headers say.
type Limits struct {
	MaxCompressed   int64 // bytes of the uploaded .tar.gz
	MaxUncompressed int64 // bytes of the decompressed tar stream, headers included
	MaxEntries      int   // tar entries of any type
}

// DefaultLimits are generous for real bundles (a Base and twenty Plus files
// are about 20 KiB uncompressed) and small for an attacker.
var DefaultLimits = Limits{MaxCompressed: 1 << 20, MaxUncompressed: 8 << 20, MaxEntries: 256}

func (l Limits) withDefaults() Limits {
	if l.MaxCompressed <= 0 {
		l.MaxCompressed = DefaultLimits.MaxCompressed
	}
	if l.MaxUncompressed <= 0 {
		l.MaxUncompressed = DefaultLimits.MaxUncompressed
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultLimits.MaxEntries
	}
	return l
}

// Entry is one file of a bundle.
type Entry struct {
	Name string
	Data []byte
}

func tooLargef(format string, args ...any) error {
	return domain.Reasonf(domain.EINVALID, domain.ReasonBundleTooLarge, format, args...)
}

func badEntryf(format string, args ...any) error {
	return domain.Reasonf(domain.EINVALID, domain.ReasonBundleBadEntry, format, args...)
}

// errInflateLimit marks the decompressed stream crossing MaxUncompressed.
var errInflateLimit = errors.New("decompressed size limit reached")

// capReader returns errInflateLimit once more than n bytes were asked of it,
// so the tar reader fails instead of inflating a bomb.
type capReader struct {
	r io.Reader
	n int64 // bytes still allowed
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		// Allowed bytes are used up: any further byte is over the limit.
		var one [1]byte
		if n, err := c.r.Read(one[:]); n > 0 {
			return 0, errInflateLimit
		} else if err != nil {
			return 0, err
		}
		return 0, nil
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// ReadBundle unpacks a .tar.gz bundle into its entries, all or nothing:
// only regular files with relative, clean names (no "..", no absolute path,
// no backslash, no duplicates), no links, devices or directories, each at
// most MaxFileSize, within lim. Errors are *domain.Error with code EINVALID
// and reason bundle-too-large, bundle-bad-entry or malformed.
func ReadBundle(raw []byte, lim Limits) ([]Entry, error) {
	lim = lim.withDefaults()
	if int64(len(raw)) > lim.MaxCompressed {
		return nil, tooLargef("bundle is %d bytes; the limit is %d", len(raw), lim.MaxCompressed)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, malformedf("bundle is not gzip-compressed: %v", err)
	}
	stream := &capReader{r: zr, n: lim.MaxUncompressed}
	readErr := func(err error) error {
		if errors.Is(err, errInflateLimit) {
			return tooLargef("bundle decompresses to more than %d bytes", lim.MaxUncompressed)
		}
		return malformedf("bundle is not a valid .tar.gz: %v", err)
	}
	tr := tar.NewReader(stream)
	var entries []Entry
	seen := map[string]bool{}
	for n := 1; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, readErr(err)
		}
		if n > lim.MaxEntries {
			return nil, tooLargef("bundle has more than %d entries", lim.MaxEntries)
		}
		if err := checkEntry(hdr); err != nil {
			return nil, err
		}
		if seen[hdr.Name] {
			return nil, badEntryf("bundle holds %q twice", hdr.Name)
		}
		seen[hdr.Name] = true
		data, err := io.ReadAll(io.LimitReader(tr, MaxFileSize+1))
		if err != nil {
			return nil, readErr(err)
		}
		if len(data) > MaxFileSize {
			return nil, tooLargef("bundle entry %q is over the %d-byte license file limit", hdr.Name, MaxFileSize)
		}
		entries = append(entries, Entry{Name: hdr.Name, Data: data})
	}
	// Read the compressed stream to its end: gzip checks its CRC there, so
	// a corrupted bundle is refused rather than half-trusted.
	if _, err := io.Copy(io.Discard, stream); err != nil {
		return nil, readErr(err)
	}
	if len(entries) == 0 {
		return nil, malformedf("bundle holds no license files")
	}
	return entries, nil
}

func checkEntry(hdr *tar.Header) error {
	switch hdr.Typeflag {
	case tar.TypeReg:
	case tar.TypeSymlink, tar.TypeLink:
		return badEntryf("bundle entry %q is a link (to %q); only regular files are allowed", hdr.Name, hdr.Linkname)
	default:
		return badEntryf("bundle entry %q has type %q; only regular files are allowed", hdr.Name, string(hdr.Typeflag))
	}
	name := hdr.Name
	switch {
	case strings.HasPrefix(name, "/"):
		return badEntryf("bundle entry %q has an absolute path", name)
	case strings.Contains(name, "\\"):
		return badEntryf("bundle entry %q contains a backslash", name)
	case name == ".." || strings.HasPrefix(name, "../") || strings.HasSuffix(name, "/..") || strings.Contains(name, "/../"):
		return badEntryf("bundle entry %q escapes the bundle with ..", name)
	case !fs.ValidPath(name) || name == ".":
		return badEntryf("bundle entry %q is not a clean relative path", name)
	}
	if hdr.Size > MaxFileSize {
		return tooLargef("bundle entry %q is %d bytes; a license file is at most %d", name, hdr.Size, MaxFileSize)
	}
	return nil
}

// WriteBundle writes entries as a .tar.gz, in the given order, with fixed
// modes and times so the same files always make the same bytes.
func WriteBundle(w io.Writer, entries []Entry) error {
	if len(entries) == 0 {
		return domain.Errorf(domain.EINVALID, "a bundle needs at least one file")
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	seen := map[string]bool{}
	for _, e := range entries {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.Name, Mode: 0o644, Size: int64(len(e.Data)),
			ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if err := checkEntry(hdr); err != nil {
			return err
		}
		if seen[e.Name] {
			return badEntryf("bundle holds %q twice", e.Name)
		}
		seen[e.Name] = true
		if err := tw.WriteHeader(hdr); err != nil {
			return domain.Errorf(domain.EINTERNAL, "write bundle: %v", err)
		}
		if _, err := tw.Write(e.Data); err != nil {
			return domain.Errorf(domain.EINTERNAL, "write bundle: %v", err)
		}
	}
	if err := tw.Close(); err != nil {
		return domain.Errorf(domain.EINTERNAL, "write bundle: %v", err)
	}
	if err := zw.Close(); err != nil {
		return domain.Errorf(domain.EINTERNAL, "write bundle: %v", err)
	}
	return nil
}

// VerifyBundle reads a bundle and verifies every file in it, all or
// nothing (R10): exactly one Base and any number of Plus licenses, every
// file bound to the same request code, no license id twice, every
// signature valid and by a trusted key. The files come back Base first,
// then the Plus files in archive order.
func (v *Verifier) VerifyBundle(raw []byte) ([]File, error) {
	entries, err := ReadBundle(raw, v.limits)
	if err != nil {
		return nil, err
	}
	return bundleFiles(entries, v.Verify)
}

// ParseBundle is VerifyBundle without the signature check, for the vendor
// tool, which packs files it has no trusted keys for. The ledger never
// uses it.
func ParseBundle(raw []byte, lim Limits) ([]File, error) {
	entries, err := ReadBundle(raw, lim)
	if err != nil {
		return nil, err
	}
	return bundleFiles(entries, ParseFile)
}

// bundleFiles applies the bundle rules of R10 to entries read with parse.
func bundleFiles(entries []Entry, parse func([]byte) (File, error)) ([]File, error) {
	files := make([]File, 0, len(entries))
	var base []File
	ids := map[string]string{}
	code := "" // the request code of the first file; all must match it
	for _, e := range entries {
		f, err := parse(e.Data)
		if err != nil {
			return nil, domain.Reasonf(domain.ErrorCode(err), domain.ErrorReason(err), "bundle entry %q: %s", e.Name, domain.ErrorMessage(err))
		}
		if f.Binding.RequestCode == "" {
			return nil, domain.Reasonf(domain.EINVALID, domain.ReasonBundleSource,
				"bundle entry %q is bound to USB key %s; a bundle holds request-code licenses only (R10)", e.Name, f.Binding.USBKey)
		}
		if code == "" {
			code = f.Binding.RequestCode
		} else if f.Binding.RequestCode != code {
			return nil, domain.Reasonf(domain.EINVALID, domain.ReasonBundleSource,
				"bundle mixes request codes %s and %s", code, f.Binding.RequestCode)
		}
		if prev, dup := ids[f.License.ID]; dup {
			return nil, domain.Reasonf(domain.EINVALID, domain.ReasonBundleBadEntry,
				"bundle holds license %s twice (%q and %q)", f.License.ID, prev, e.Name)
		}
		ids[f.License.ID] = e.Name
		if f.License.Kind == domain.KindBase {
			base = append(base, f)
		} else {
			files = append(files, f)
		}
	}
	if len(base) != 1 {
		return nil, domain.Reasonf(domain.EINVALID, domain.ReasonBundleBase,
			"a bundle holds exactly one Base license and any number of Plus licenses; this one holds %d Base licenses (R10)", len(base))
	}
	return append(base, files...), nil
}
