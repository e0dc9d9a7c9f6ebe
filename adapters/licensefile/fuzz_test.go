package licensefile

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/licledger/licledger/domain"
)

// FuzzParseFile: the parser never panics, refuses only with EINVALID
// malformed/file-too-large, and whatever it accepts (a) re-marshals into a
// file that parses to the same signed bytes and (b) has signed bytes equal
// to the canonical JSON of the input without its signature (FORMAT.md §2),
// so no accepted byte escapes the signature.
func FuzzParseFile(f *testing.F) {
	key := testKey(f, "vendor-2026")
	v := testVerifier(f, Limits{}, key)
	valid := mustIssue(f, baseLicense("L-1"), Binding{RequestCode: testCode}, key)
	f.Add(valid)
	f.Add(mustIssue(f, plusLicense("L-2", "vmware", 8), Binding{USBKey: "K-1"}, key))
	f.Add([]byte(strings.Join(strings.Fields(string(valid)), "")))
	f.Add(bytes.Replace(valid, []byte(`"sockets": 16`), []byte(`"sockets": 1e1`), 1))
	f.Add(bytes.Replace(valid, []byte(`"format"`), []byte(`"format":"x","format"`), 1))
	f.Add([]byte(`{"format":"licledger-license/1","license":null}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile(data)
		if _, verr := v.Verify(data); err == nil && verr != nil {
			if r := domain.ErrorReason(verr); r != domain.ReasonBadSignature && r != domain.ReasonUnknownSigningKey {
				t.Fatalf("parsed file refused by Verify with %v", verr)
			}
		}
		if err != nil {
			if c, r := domain.ErrorCode(err), domain.ErrorReason(err); c != domain.EINVALID || (r != domain.ReasonMalformed && r != domain.ReasonFileTooLarge) {
				t.Fatalf("refusal %q/%q, want invalid malformed or file-too-large: %v", c, r, err)
			}
			return
		}
		signed, err := file.SignedBytes()
		if err != nil {
			t.Fatalf("accepted file has no signed bytes: %v", err)
		}
		out, err := file.Marshal()
		if err != nil {
			t.Fatalf("accepted file does not marshal: %v", err)
		}
		again, err := ParseFile(out)
		if err != nil {
			t.Fatalf("re-marshalled file refused: %v\n%s", err, out)
		}
		signed2, _ := again.SignedBytes()
		if !bytes.Equal(signed, signed2) || !bytes.Equal(file.Signature, again.Signature) {
			t.Fatalf("round trip changed the file:\n%s\n%s", signed, signed2)
		}
		if got, want := signed, canonicalWithoutSignature(t, data); !bytes.Equal(got, want) {
			t.Fatalf("signed bytes differ from the input's canonical form:\n got %s\nwant %s", got, want)
		}
	})
}

// canonicalWithoutSignature is an independent rendering of FORMAT.md §2:
// a generic decode, the signature dropped, keys sorted by encoding/json.
func canonicalWithoutSignature(t *testing.T, data []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("accepted file is not a JSON object: %v", err)
	}
	delete(doc, "signature")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// FuzzReadBundle: the bundle reader never panics, refuses only with EINVALID
// and a bundle or malformed reason, and whatever it accepts obeys every
// limit and entry rule.
func FuzzReadBundle(f *testing.F) {
	key := testKey(f, "vendor-2026")
	v := testVerifier(f, Limits{}, key)
	rc := Binding{RequestCode: testCode}
	base := mustIssue(f, baseLicense("L-1"), rc, key)
	plus := mustIssue(f, plusLicense("L-2", "gpu", 0), rc, key)
	f.Add(mustBundle(f, Entry{Name: "base.license", Data: base}, Entry{Name: "p/plus.license", Data: plus}))
	f.Add(rawTarGz(f, reg("base.license", base), rawEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "/etc/passwd"}}))
	f.Add(rawTarGz(f, reg("../../evil", base)))
	f.Add(rawTarGz(f, rawEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "d/"}}))
	f.Add(gzipOf(f, make([]byte, 4096)))
	f.Add(gzipOf(f, []byte("not tar")))
	f.Add([]byte{0x1f, 0x8b})
	f.Add(base)
	limits := Limits{MaxCompressed: 1 << 20, MaxUncompressed: 1 << 20, MaxEntries: 16}
	reasons := []string{domain.ReasonMalformed, domain.ReasonBundleTooLarge, domain.ReasonBundleBadEntry}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := v.VerifyBundle(data); err != nil && domain.ErrorReason(err) == "" {
			t.Fatalf("VerifyBundle refusal without a reason: %v", err)
		}
		entries, err := ReadBundle(data, limits)
		if err != nil {
			if c, r := domain.ErrorCode(err), domain.ErrorReason(err); c != domain.EINVALID || !slices.Contains(reasons, r) {
				t.Fatalf("refusal %q/%q: %v", c, r, err)
			}
			if entries != nil {
				t.Fatal("refused bundle returned entries")
			}
			return
		}
		if len(entries) == 0 || len(entries) > limits.MaxEntries {
			t.Fatalf("accepted %d entries", len(entries))
		}
		seen := map[string]bool{}
		var total int
		for _, e := range entries {
			if !fs.ValidPath(e.Name) || e.Name == "." || strings.Contains(e.Name, `\`) || seen[e.Name] {
				t.Fatalf("accepted entry name %q", e.Name)
			}
			seen[e.Name] = true
			if len(e.Data) > MaxFileSize {
				t.Fatalf("accepted entry %q of %d bytes", e.Name, len(e.Data))
			}
			total += len(e.Data)
		}
		if int64(total) > limits.MaxUncompressed {
			t.Fatalf("accepted %d decompressed bytes", total)
		}
	})
}
