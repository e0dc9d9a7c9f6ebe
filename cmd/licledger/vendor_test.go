package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licledger/licledger/adapters/licensefile"
	"github.com/licledger/licledger/domain"
)

// vendorRun invokes the CLI in-process and returns its exit code and output.
func vendorRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = dispatch(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func vendorMustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := vendorRun(t, args...)
	if code != 0 {
		t.Fatalf("licledger %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// R9–R11 from the vendor's side: keygen, issue for a request code and for
// a USB key, bundle; the ledger side (Verifier) accepts what comes out.
func TestVendorCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	vendorMustRun(t, "vendor", "keygen", "--out", keys, "--id", "vendor-2026")

	priv, pub := filepath.Join(keys, "vendor-2026.key"), filepath.Join(keys, "vendor-2026.pub")
	for path, want := range map[string]os.FileMode{priv: 0o600, pub: 0o644} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s mode %o, want %o", path, got, want)
		}
	}
	if code, _, errOut := vendorRun(t, "vendor", "keygen", "--out", keys, "--id", "vendor-2026"); code == 0 || !strings.Contains(errOut, "exists") {
		t.Fatalf("keygen overwrote a key: exit %d %s", code, errOut)
	}

	rc := "RC-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF"
	base, plus, keyed := filepath.Join(dir, "base.license"), filepath.Join(dir, "vmware.license"), filepath.Join(dir, "keyed.license")
	vendorMustRun(t, "vendor", "issue", "--key", priv, "--kind", "base", "--edition", "enterprise", "--sockets", "16",
		"--issued", "2026-01-01", "--expires", "2027-01-01T00:00:00Z", "--request-code", rc, "--id", "L-1", "--out", base)
	vendorMustRun(t, "vendor", "issue", "--key", priv, "--kind", "plus", "--module", "vmware", "--quantity", "8",
		"--issued", "2026-01-01", "--request-code", rc, "--id", "L-2", "--out", plus)
	vendorMustRun(t, "vendor", "issue", "--key", priv, "--kind", "plus", "--module", "gpu",
		"--issued", "2026-01-01", "--usb-key", "K-1", "--id", "L-3", "--out", keyed)
	stdoutFile := vendorMustRun(t, "vendor", "issue", "--key", priv, "--kind", "plus", "--module", "gpu",
		"--issued", "2026-01-01", "--usb-key", "K-1", "--id", "L-3")
	if onDisk, _ := os.ReadFile(keyed); stdoutFile != string(onDisk) {
		t.Fatal("--out - and --out FILE wrote different bytes")
	}
	bundle := filepath.Join(dir, "b.tar.gz")
	if out := vendorMustRun(t, "vendor", "bundle", "--out", bundle, plus, base); !strings.Contains(out, "2 licenses") {
		t.Fatalf("bundle output %q", out)
	}

	trusted, err := licensefile.LoadPublicKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	v, err := licensefile.NewVerifier(trusted, licensefile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(bundle)
	files, err := v.VerifyBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := files[0].License.ID+","+files[1].License.ID, "L-1,L-2"; got != want {
		t.Fatalf("bundle holds %s, want %s", got, want)
	}
	if exp := files[0].License.ExpiresAt; exp == nil || exp.Format("2006-01-02") != "2027-01-01" {
		t.Fatalf("base expiry %v", exp)
	}
	raw, _ = os.ReadFile(keyed)
	f, err := v.Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	if f.Binding.USBKey != "K-1" || f.License.ExpiresAt != nil {
		t.Fatalf("key-bound file %+v", f)
	}
}

// Bad input gets a clear error and exit status 2, and writes nothing.
func TestVendorCommandsRefuse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vendorMustRun(t, "vendor", "keygen", "--out", dir, "--id", "k")
	priv := filepath.Join(dir, "k.key")
	out := filepath.Join(dir, "out.license")
	base := []string{"vendor", "issue", "--key", priv, "--id", "L-1", "--out", out}
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"keygen without --out", []string{"vendor", "keygen"}, "--out"},
		{"keygen bad id", []string{"vendor", "keygen", "--out", dir, "--id", "a/b"}, "id"},
		{"issue without kind", append(base, "--request-code", "RC-1"), "--kind"},
		{"issue with both bindings", append(base, "--kind", "plus", "--module", "gpu", "--request-code", "RC-1", "--usb-key", "K-1"), "exactly one"},
		{"issue with no binding", append(base, "--kind", "plus", "--module", "gpu"), "exactly one"},
		{"issue unknown module", append(base, "--kind", "plus", "--module", "teleport", "--usb-key", "K-1"), "teleport"},
		{"issue counted module without quantity", append(base, "--kind", "plus", "--module", "vmware", "--usb-key", "K-1"), "quantity"},
		{"issue bad date", append(base, "--kind", "plus", "--module", "gpu", "--usb-key", "K-1", "--expires", "next year"), "--expires"},
		{"issue expiry before issue", append(base, "--kind", "plus", "--module", "gpu", "--usb-key", "K-1", "--issued", "2026-01-01", "--expires", "2025-01-01"), "not after"},
		{"issue with a public key", []string{"vendor", "issue", "--key", filepath.Join(dir, "k.pub"), "--id", "L-1", "--kind", "plus", "--module", "gpu", "--usb-key", "K-1", "--out", out}, "private_key"},
		{"unknown flag", []string{"vendor", "issue", "--colour", "red"}, "colour"},
		{"bundle without files", []string{"vendor", "bundle", "--out", filepath.Join(dir, "b.tar.gz")}, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := vendorRun(t, tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 mentioning %q", code, errOut, tt.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("a refused issue wrote its output file")
			}
		})
	}
}

// R10: the bundle command refuses what the ledger would refuse: no Base,
// two request codes, a key-bound file.
func TestVendorBundleRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vendorMustRun(t, "vendor", "keygen", "--out", dir, "--id", "k")
	priv := filepath.Join(dir, "k.key")
	issue := func(name string, extra ...string) string {
		path := filepath.Join(dir, name)
		vendorMustRun(t, append([]string{"vendor", "issue", "--key", priv, "--issued", "2026-01-01", "--out", path}, extra...)...)
		return path
	}
	base := issue("base.license", "--id", "L-1", "--kind", "base", "--edition", "standard", "--sockets", "4", "--request-code", "RC-1")
	plus := issue("plus.license", "--id", "L-2", "--kind", "plus", "--module", "gpu", "--request-code", "RC-1")
	other := issue("other.license", "--id", "L-3", "--kind", "plus", "--module", "cdp", "--request-code", "RC-2")
	keyed := issue("keyed.license", "--id", "L-4", "--kind", "plus", "--module", "cdp", "--usb-key", "K-1")
	tests := []struct {
		name   string
		files  []string
		reason string
	}{
		{"no base", []string{plus}, domain.ReasonBundleBase},
		{"two request codes", []string{base, other}, domain.ReasonBundleSource},
		{"key-bound file", []string{base, keyed}, domain.ReasonBundleSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, "b.tar.gz")
			code, _, errOut := vendorRun(t, append([]string{"vendor", "bundle", "--out", out}, tt.files...)...)
			if code != 2 || !strings.Contains(errOut, tt.reason) {
				t.Fatalf("exit %d, stderr %q; want exit 2 with %q", code, errOut, tt.reason)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("a refused bundle was written")
			}
		})
	}
}
