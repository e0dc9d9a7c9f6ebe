package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/licledger/licledger/adapters/licensefile"
	"github.com/licledger/licledger/domain"
)

func init() {
	register("demo init", "create (once) a demo vendor key, the trusted keys for serve and a signed sample license bundle", runDemoInit)
}

// demoKeyID names the demo vendor's signing key.
const demoKeyID = "demo-vendor"

// demoFallbackMachineID stands in for /etc/machine-id where a machine has
// none (some containers): the demo only needs a stable request code.
const demoFallbackMachineID = "licledger-demo-machine"

// demoLayout is where demo init keeps what it creates under its directory.
type demoLayout struct{ dir, platform string }

func (d demoLayout) vendorDir() string { return filepath.Join(d.dir, "vendor") }
func (d demoLayout) privateKey() string {
	return filepath.Join(d.vendorDir(), demoKeyID+licensefile.PrivateKeySuffix)
}
func (d demoLayout) publicKey() string {
	return filepath.Join(d.vendorDir(), demoKeyID+licensefile.PublicKeySuffix)
}
func (d demoLayout) trustedDir() string { return filepath.Join(d.dir, "trusted-keys") }
func (d demoLayout) trustedKey() string {
	return filepath.Join(d.trustedDir(), demoKeyID+licensefile.PublicKeySuffix)
}
func (d demoLayout) platformDir() string { return filepath.Join(d.dir, d.platform) }
func (d demoLayout) requestCode() string { return filepath.Join(d.platformDir(), "request-code") }
func (d demoLayout) bundle() string      { return filepath.Join(d.platformDir(), "licenses.tar.gz") }

// runDemoInit sets up what `make run` needs to show signed licenses end to
// end: a demo vendor key pair, the public half in a trusted-keys directory
// for serve, the demo platform's request code, and a signed bundle (Base
// standard 16 sockets, Plus vmware 8 and gpu) for that code. It is
// idempotent: what exists and checks out is kept byte for byte, what is
// missing is created, and what contradicts the rest is an error naming the
// file, never silently replaced. Every file is written whole (temporary
// file and rename, or exclusive create).
func runDemoInit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "./data/demo", "directory for the demo's keys and licenses")
	platform := fs.String("platform", "demo", "id of the demo platform the sample bundle is issued for")
	machineIDFile := fs.String("machine-id-file", defaultMachineIDFile, "this machine's identity, for the request code (a fixed demo id when the file is missing)")
	machineID := fs.String("machine-id", "", "machine id to derive the request code from, instead of --machine-id-file")
	addr := fs.String("http", "127.0.0.1:8080", "address serve will listen on, for the commands printed at the end")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := domain.ValidateID(*platform); err != nil {
		return domain.Errorf(domain.EINVALID, "--platform: %s", domain.ErrorMessage(err))
	}
	d := demoLayout{dir: *dir, platform: *platform}
	now := time.Now().UTC()

	key, keyNote, err := ensureDemoKey(d)
	if err != nil {
		return err
	}
	trustedNote, err := ensureTrustedKey(d, key.Public())
	if err != nil {
		return err
	}
	code, codeNote, err := ensureRequestCode(d, *machineID, *machineIDFile)
	if err != nil {
		return err
	}
	lics, bundleNote, err := ensureDemoBundle(d, key, code, now)
	if err != nil {
		return err
	}

	base := "http://" + *addr
	fmt.Fprintf(stdout, "licledger demo (%s):\n", d.dir)
	fmt.Fprintf(stdout, "  demo vendor signing key: %s (%s; private: it signs license files and never goes to a ledger)\n", d.privateKey(), keyNote)
	fmt.Fprintf(stdout, "  trusted keys for serve:  %s (%s; serve --trusted-keys %s)\n", d.trustedDir(), trustedNote, d.trustedDir())
	fmt.Fprintf(stdout, "  demo platform:           %s, request code %s (%s; in %s)\n", d.platform, code, codeNote, d.requestCode())
	fmt.Fprintf(stdout, "  sample license bundle:   %s (%s): %s\n", d.bundle(), bundleNote, describeLicenses(lics))
	fmt.Fprintf(stdout, "next, with serve running (README.md, \"Demo walkthrough\"): open %s/ in a browser (the console), or:\n", base)
	fmt.Fprintf(stdout, "  curl -s -H 'Content-Type: application/json' -X POST %s/v1/platforms -d '{\"id\":\"%s\",\"nodes\":[\"mn-1\"],\"request_code\":\"%s\"}'\n", base, d.platform, code)
	fmt.Fprintf(stdout, "  curl -s -H 'Content-Type: application/gzip' --data-binary @%s %s/v1/platforms/%s/licenses\n", d.bundle(), base, d.platform)
	fmt.Fprintf(stdout, "  curl -s %s/v1/platforms/%s/entitlement\n", base, d.platform)
	return nil
}

// ensureDemoKey returns the demo vendor key, creating the pair if needed.
// A private key whose public half is missing (an interrupted run) gets it
// back; a public key that does not match is an error.
func ensureDemoKey(d demoLayout) (licensefile.PrivateKey, string, error) {
	raw, err := os.ReadFile(d.privateKey())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(d.publicKey()); err == nil {
			return licensefile.PrivateKey{}, "", domain.Errorf(domain.EINVALID,
				"%s exists without its private key %s; remove %s to start the demo over", d.publicKey(), d.privateKey(), d.dir)
		}
		key, err := licensefile.GenerateKey(demoKeyID, rand.Reader)
		if err != nil {
			return licensefile.PrivateKey{}, "", err
		}
		if err := os.MkdirAll(d.vendorDir(), 0o755); err != nil {
			return licensefile.PrivateKey{}, "", domain.Errorf(domain.EINVALID, "create %s: %v", d.vendorDir(), err)
		}
		if err := writeNewFile(d.privateKey(), key.MarshalFile(), 0o600); err != nil {
			return licensefile.PrivateKey{}, "", err
		}
		if err := writeNewFile(d.publicKey(), key.Public().MarshalFile(), 0o644); err != nil {
			return licensefile.PrivateKey{}, "", err
		}
		return key, "created", nil
	case err != nil:
		return licensefile.PrivateKey{}, "", domain.Errorf(domain.EINVALID, "read %s: %v", d.privateKey(), err)
	}
	key, err := licensefile.ParsePrivateKey(raw)
	if err != nil {
		return licensefile.PrivateKey{}, "", domain.Errorf(domain.EINVALID, "%s: %s", d.privateKey(), domain.ErrorMessage(err))
	}
	note, err := ensureSameFile(d.publicKey(), key.Public().MarshalFile(), 0o644, "the demo vendor's public key")
	if err != nil {
		return licensefile.PrivateKey{}, "", err
	}
	if note == "created" {
		note = "kept, public key restored"
	} else {
		note = "kept"
	}
	return key, note, nil
}

// ensureTrustedKey puts the demo vendor's public key in the directory serve
// trusts.
func ensureTrustedKey(d demoLayout, pub licensefile.PublicKey) (string, error) {
	if err := os.MkdirAll(d.trustedDir(), 0o755); err != nil {
		return "", domain.Errorf(domain.EINVALID, "create %s: %v", d.trustedDir(), err)
	}
	return ensureSameFile(d.trustedKey(), pub.MarshalFile(), 0o644, "the demo vendor's public key")
}

// ensureSameFile creates path with want, or checks that it holds want.
func ensureSameFile(path string, want []byte, mode os.FileMode, what string) (string, error) {
	got, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := writeNewFile(path, want, mode); err != nil {
			return "", err
		}
		return "created", nil
	}
	if err != nil {
		return "", domain.Errorf(domain.EINVALID, "read %s: %v", path, err)
	}
	if !bytes.Equal(got, want) {
		return "", domain.Errorf(domain.EINVALID, "%s is not %s; remove it (or the whole demo directory) to start over", path, what)
	}
	return "kept", nil
}

// ensureRequestCode returns the demo platform's request code. Once
// written it is kept even if the machine id changes, since the sample
// bundle (and a ledger that registered the platform) is bound to it.
func ensureRequestCode(d demoLayout, machineID, machineIDFile string) (string, string, error) {
	if raw, err := os.ReadFile(d.requestCode()); err == nil {
		code := strings.TrimSpace(string(raw))
		if err := domain.ValidateID(code); err != nil || !strings.HasPrefix(code, "RC-") {
			return "", "", domain.Errorf(domain.EINVALID, "%s does not hold a request code (RC-…); remove it to derive it again", d.requestCode())
		}
		return code, "kept", nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", domain.Errorf(domain.EINVALID, "read %s: %v", d.requestCode(), err)
	}
	note := "derived from " + machineIDFile
	if machineID != "" {
		note = "derived from --machine-id"
	} else if _, err := os.Stat(machineIDFile); errors.Is(err, fs.ErrNotExist) {
		machineID, note = demoFallbackMachineID, "derived from a demo machine id: "+machineIDFile+" is missing"
	} else if machineID, err = licensefile.ReadMachineID(machineIDFile); err != nil {
		return "", "", err
	}
	code, err := licensefile.RequestCode(d.platform, []string{machineID})
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(d.platformDir(), 0o755); err != nil {
		return "", "", domain.Errorf(domain.EINVALID, "create %s: %v", d.platformDir(), err)
	}
	if err := writeOutput(d.requestCode(), []byte(code+"\n"), io.Discard); err != nil {
		return "", "", err
	}
	return code, note, nil
}

// ensureDemoBundle returns the licenses of the sample bundle, issuing it
// when it is missing or no longer usable (a license in it expired). An
// existing bundle is verified as the ledger will: signed by the demo key
// and bound to code.
func ensureDemoBundle(d demoLayout, key licensefile.PrivateKey, code string, now time.Time) ([]domain.License, string, error) {
	raw, err := os.ReadFile(d.bundle())
	note := "created"
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, "", domain.Errorf(domain.EINVALID, "read %s: %v", d.bundle(), err)
	default:
		lics, err := checkDemoBundle(raw, key.Public(), code)
		if err != nil {
			return nil, "", domain.Errorf(domain.EINVALID, "%s: %s; remove it to issue a new one", d.bundle(), domain.ErrorMessage(err))
		}
		if !anyExpired(lics, now) {
			return lics, "kept", nil
		}
		note = "reissued: the previous one expired"
	}
	lics := demoLicenses(now)
	rc := licensefile.Binding{RequestCode: code}
	entries := make([]licensefile.Entry, len(lics))
	for i, l := range lics {
		file, err := licensefile.Issue(l, rc, key)
		if err != nil {
			return nil, "", err
		}
		entries[i] = licensefile.Entry{Name: l.ID + ".license", Data: file}
	}
	var buf bytes.Buffer
	if err := licensefile.WriteBundle(&buf, entries); err != nil {
		return nil, "", err
	}
	if _, err := checkDemoBundle(buf.Bytes(), key.Public(), code); err != nil {
		return nil, "", domain.Errorf(domain.EINTERNAL, "the demo bundle does not verify: %s", domain.ErrorMessage(err))
	}
	if err := writeOutput(d.bundle(), buf.Bytes(), io.Discard); err != nil {
		return nil, "", err
	}
	return lics, note, nil
}

// demoLicenses is the sample bundle's content: a year from today (UTC
// midnight), so it is in force whenever the demo is set up.
func demoLicenses(now time.Time) []domain.License {
	issued := now.Truncate(24 * time.Hour)
	expires := issued.AddDate(1, 0, 0)
	return []domain.License{
		{ID: "L-DEMO-BASE", Kind: domain.KindBase, Edition: domain.EditionStandard, Sockets: 16, IssuedAt: issued, ExpiresAt: &expires},
		{ID: "L-DEMO-VMWARE", Kind: domain.KindPlus, Module: "vmware", Quantity: 8, IssuedAt: issued, ExpiresAt: &expires},
		{ID: "L-DEMO-GPU", Kind: domain.KindPlus, Module: "gpu", IssuedAt: issued, ExpiresAt: &expires},
	}
}

// checkDemoBundle verifies a bundle with the demo key and checks that it
// is for code.
func checkDemoBundle(raw []byte, pub licensefile.PublicKey, code string) ([]domain.License, error) {
	v, err := licensefile.NewVerifier([]licensefile.PublicKey{pub}, licensefile.Limits{})
	if err != nil {
		return nil, err
	}
	u, err := v.ParseUpload(raw, "application/gzip")
	if err != nil {
		return nil, err
	}
	for _, f := range u.Files {
		if f.Binding.RequestCode != code {
			return nil, domain.Errorf(domain.EINVALID, "license %s is for request code %q, not the demo platform's %s", f.License.ID, f.Binding.RequestCode, code)
		}
	}
	return u.Licenses(), nil
}

func anyExpired(lics []domain.License, now time.Time) bool {
	for _, l := range lics {
		if l.ExpiresAt != nil && !now.Before(*l.ExpiresAt) {
			return true
		}
	}
	return false
}

// describeLicenses summarises licenses for a person.
func describeLicenses(lics []domain.License) string {
	parts := make([]string, len(lics))
	for i, l := range lics {
		what := l.Kind + " " + l.Edition + l.Module
		switch {
		case l.Sockets > 0:
			what += fmt.Sprintf(" %d sockets", l.Sockets)
		case l.Quantity > 0:
			what += fmt.Sprintf(" quantity %d", l.Quantity)
		}
		if l.ExpiresAt != nil {
			what += " until " + l.ExpiresAt.Format(time.DateOnly)
		}
		parts[i] = l.ID + " (" + what + ")"
	}
	return strings.Join(parts, ", ")
}
