package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/adapters/licensefile"
	"github.com/licledger/licledger/domain"
)

// demoFiles reads every file under dir, by path relative to it.
func demoFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// `demo init` creates the demo once: a second run keeps every byte, an
// interrupted run is completed, and a contradiction is an error, never an
// overwrite.
func TestDemoInit(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "demo")
	args := []string{"demo", "init", "--dir", dir, "--platform", "demo", "--machine-id", "machine-1"}
	out := vendorMustRun(t, args...)
	d := demoLayout{dir: dir, platform: "demo"}
	for _, want := range []string{d.privateKey(), d.trustedDir(), d.bundle(), "created", "open http://127.0.0.1:8080/ in a browser"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo init output lacks %q:\n%s", want, out)
		}
	}
	first := demoFiles(t, dir)
	wantFiles := []string{"vendor/demo-vendor.key", "vendor/demo-vendor.pub", "trusted-keys/demo-vendor.pub", "demo/request-code", "demo/licenses.tar.gz"}
	if len(first) != len(wantFiles) {
		t.Errorf("demo init wrote %d files, want %v", len(first), wantFiles)
	}
	for _, f := range wantFiles {
		if first[f] == nil {
			t.Errorf("demo init did not write %s", f)
		}
	}
	if st, err := os.Stat(d.privateKey()); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("private key mode: %v %v, want 0600", st.Mode(), err)
	}
	wantCode, err := licensefile.RequestCode("demo", []string{"machine-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(first["demo/request-code"])); got != wantCode {
		t.Errorf("request code %s, want %s", got, wantCode)
	}

	// The bundle verifies with the trusted key, for the demo's request code.
	keys, err := licensefile.LoadPublicKeys(d.trustedDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := licensefile.NewVerifier(keys, licensefile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := v.ParseUpload(first["demo/licenses.tar.gz"], "application/gzip")
	if err != nil {
		t.Fatalf("the demo bundle does not verify: %v", err)
	}
	if len(u.Files) != 3 || u.Files[0].License.Kind != domain.KindBase || u.Files[0].Binding.RequestCode != wantCode {
		t.Errorf("demo bundle = %v, want a Base and two Plus for %s", u.Files, wantCode)
	}

	// Idempotent: nothing changes, even with another machine id.
	out = vendorMustRun(t, "demo", "init", "--dir", dir, "--platform", "demo", "--machine-id", "machine-2")
	if strings.Contains(out, "created") {
		t.Errorf("second run created something:\n%s", out)
	}
	assertSameFiles(t, dir, first)

	// An interrupted first run (no public key yet) is completed.
	os.Remove(d.publicKey())
	out = vendorMustRun(t, args...)
	if !strings.Contains(out, "public key restored") {
		t.Errorf("output does not say the public key was restored:\n%s", out)
	}
	assertSameFiles(t, dir, first)

	// A trusted key that is not the demo vendor's is refused, not replaced.
	other := filepath.Join(t.TempDir(), "other")
	vendorMustRun(t, "vendor", "keygen", "--out", other, "--id", "demo-vendor")
	foreign, err := os.ReadFile(filepath.Join(other, "demo-vendor.pub"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, d.trustedKey(), string(foreign))
	if code, _, errOut := vendorRun(t, args...); code == 0 || !strings.Contains(errOut, d.trustedKey()) {
		t.Errorf("demo init over a foreign trusted key: exit %d %s, want a refusal naming it", code, errOut)
	}
	if b, _ := os.ReadFile(d.trustedKey()); !bytes.Equal(b, foreign) {
		t.Error("demo init overwrote a file it did not recognise")
	}
}

func assertSameFiles(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	got := demoFiles(t, dir)
	if len(got) != len(want) {
		t.Errorf("files changed: %d, want %d", len(got), len(want))
	}
	for name, b := range want {
		if !bytes.Equal(got[name], b) {
			t.Errorf("%s changed", name)
		}
	}
}

// Without /etc/machine-id (some containers) the demo still gets a stable
// request code.
func TestDemoInitWithoutMachineID(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "demo")
	vendorMustRun(t, "demo", "init", "--dir", dir, "--machine-id-file", filepath.Join(dir, "no-such-file"))
	want, _ := licensefile.RequestCode("demo", []string{demoFallbackMachineID})
	if got, _ := os.ReadFile(filepath.Join(dir, "demo", "request-code")); strings.TrimSpace(string(got)) != want {
		t.Errorf("request code %q, want %s", got, want)
	}
	if code, _, _ := vendorRun(t, "demo", "init", "--dir", dir, "--platform", "not an id"); code != 2 {
		t.Errorf("a bad --platform: exit %d, want 2", code)
	}
}

// What `make run` does: demo init, then serve trusting the demo keys; the
// sample bundle uploads to the registered demo platform and entitles it.
func TestDemoBundleServes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	demo := filepath.Join(t.TempDir(), "demo")
	vendorMustRun(t, "demo", "init", "--dir", demo, "--machine-id", "machine-1")
	d := demoLayout{dir: demo, platform: "demo"}
	l := mustRunMain(t, withArgs("--trusted-keys", d.trustedDir()))
	code, err := os.ReadFile(d.requestCode())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.API.RegisterPlatform(ctx, httpclient.RegisterRequest{ID: "demo", Nodes: []string{"mn-1"}, RequestCode: strings.TrimSpace(string(code))}); err != nil {
		t.Fatal(err)
	}
	bundle, err := os.ReadFile(d.bundle())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := l.API.UploadLicense(ctx, "demo", bundle, "application/gzip"); err != nil || len(res.Events) == 0 {
		t.Fatalf("demo bundle upload: %v %+v", err, res)
	}
	e, err := l.API.Entitlement(ctx, "demo", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != domain.StatusLicensed || e.Base == nil || e.Base.Edition != domain.EditionStandard ||
		!e.Modules["vmware"].Entitled || !e.Modules["gpu"].Entitled {
		t.Errorf("demo entitlement: status %s base %+v vmware %+v gpu %+v", e.Status, e.Base, e.Modules["vmware"], e.Modules["gpu"])
	}
}
