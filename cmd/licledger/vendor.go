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
	"time"

	"github.com/licledger/licledger/adapters/licensefile"
	"github.com/licledger/licledger/domain"
)

// The vendor commands are the vendor's side of adapters/licensefile/FORMAT.md:
// make a signing key, issue signed license files, pack bundles. They let a
// vendor, a demo or a test produce real licenses with no other tool.
func init() {
	register("vendor keygen", "create a vendor signing key pair (ID.key, ID.pub)", runVendorKeygen)
	register("vendor issue", "issue a signed license file for a request code or USB key", runVendorIssue)
	register("vendor bundle", "pack license files into a .tar.gz bundle (one Base, any Plus)", runVendorBundle)
}

func runVendorKeygen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vendor keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory to write ID.key (private, mode 0600) and ID.pub (public) into (required)")
	id := fs.String("id", "", `key id files will name (default "vendor-" and the current year)`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return domain.Errorf(domain.EINVALID, "--out DIR is required")
	}
	if *id == "" {
		*id = fmt.Sprintf("vendor-%d", time.Now().UTC().Year())
	}
	key, err := licensefile.GenerateKey(*id, rand.Reader)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return domain.Errorf(domain.EINVALID, "create %s: %v", *out, err)
	}
	privPath := filepath.Join(*out, key.ID+licensefile.PrivateKeySuffix)
	pubPath := filepath.Join(*out, key.ID+licensefile.PublicKeySuffix)
	// Never overwrite a key: losing a private key orphans every file it
	// signed, so an existing one is an error, not something to replace.
	if err := writeNewFile(privPath, key.MarshalFile(), 0o600); err != nil {
		return err
	}
	if err := writeNewFile(pubPath, key.Public().MarshalFile(), 0o644); err != nil {
		os.Remove(privPath)
		return err
	}
	fmt.Fprintf(stdout, "private key: %s (keep it secret; it never goes to a ledger)\npublic key:  %s (give it to the ledger to trust)\n", privPath, pubPath)
	return nil
}

// writeNewFile creates path with data and mode, failing if it exists; a
// failed write leaves no partial file behind.
func writeNewFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return domain.Errorf(domain.EINVALID, "%s exists already; choose another --id or --out", path)
	}
	if err != nil {
		return domain.Errorf(domain.EINVALID, "create %s: %v", path, err)
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(path)
		return domain.Errorf(domain.EINTERNAL, "write %s: %v", path, err)
	}
	return nil
}

// writeOutput writes data to path ("-" is stdout) through a temporary file
// and a rename, so a reader never sees half a license or bundle.
func writeOutput(path string, data []byte, stdout io.Writer) error {
	if path == "-" {
		_, err := stdout.Write(data)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".licledger-*")
	if err != nil {
		return domain.Errorf(domain.EINVALID, "write %s: %v", path, err)
	}
	_, werr := tmp.Write(data)
	err = errors.Join(werr, tmp.Chmod(0o644), tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return domain.Errorf(domain.EINTERNAL, "write %s: %v", path, err)
	}
	return nil
}

func runVendorIssue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vendor issue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("key", "", "private key file from 'vendor keygen' (required)")
	id := fs.String("id", "", "license id, e.g. L-1 (required)")
	kind := fs.String("kind", "", "base or plus (required)")
	edition := fs.String("edition", "", "base: community, standard, enterprise-trial or enterprise")
	module := fs.String("module", "", "plus: the module, e.g. vmware, gpu")
	sockets := fs.Int("sockets", 0, "base: CPU socket quota (standard, enterprise)")
	quantity := fs.Int("quantity", 0, "plus: quantity of a counted module (vmware, arm64, ...)")
	issued := fs.String("issued", "", "issue time, RFC 3339 or YYYY-MM-DD (default now)")
	expires := fs.String("expires", "", "expiry, RFC 3339 or YYYY-MM-DD (default: never expires)")
	requestCode := fs.String("request-code", "", "bind to this platform request code (see 'licledger request-code')")
	usbKey := fs.String("usb-key", "", "bind to this USB key id (the dongle's serial number)")
	out := fs.String("out", "-", "file to write, - for stdout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *keyPath == "" || *id == "" || *kind == "" {
		return domain.Errorf(domain.EINVALID, "--key, --id and --kind are required")
	}
	if (*requestCode == "") == (*usbKey == "") {
		return domain.Errorf(domain.EINVALID, "give exactly one of --request-code and --usb-key")
	}
	raw, err := os.ReadFile(*keyPath)
	if err != nil {
		return domain.Errorf(domain.EINVALID, "read key: %v", err)
	}
	key, err := licensefile.ParsePrivateKey(raw)
	if err != nil {
		return err
	}
	lic := domain.License{ID: *id, Kind: *kind, Edition: *edition, Module: *module, Sockets: *sockets, Quantity: *quantity}
	lic.IssuedAt = time.Now().UTC().Truncate(time.Second)
	if *issued != "" {
		if lic.IssuedAt, err = parseVendorTime("--issued", *issued); err != nil {
			return err
		}
	}
	if *expires != "" {
		t, err := parseVendorTime("--expires", *expires)
		if err != nil {
			return err
		}
		lic.ExpiresAt = &t
	}
	file, err := licensefile.Issue(lic, licensefile.Binding{RequestCode: *requestCode, USBKey: *usbKey}, key)
	if err != nil {
		return err
	}
	return writeOutput(*out, file, stdout)
}

// parseVendorTime accepts RFC 3339 or a bare date (midnight UTC).
func parseVendorTime(flagName, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if t.Nanosecond() != 0 {
			return time.Time{}, domain.Errorf(domain.EINVALID, "%s %q: license times are whole seconds", flagName, s)
		}
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, domain.Errorf(domain.EINVALID, "%s %q: want RFC 3339 (2026-01-01T00:00:00Z) or a date (2026-01-01)", flagName, s)
}

func runVendorBundle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vendor bundle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: licledger vendor bundle --out B.tar.gz FILE...")
		fs.PrintDefaults()
	}
	out := fs.String("out", "", "bundle to write (.tar.gz), - for stdout (required)")
	// The files are positional, so parseFlags (which refuses arguments)
	// does not fit; errors map onto the same exit codes.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if *out == "" || fs.NArg() == 0 {
		return domain.Errorf(domain.EINVALID, "usage: licledger vendor bundle --out B.tar.gz FILE... (flags before files)")
	}
	entries := make([]licensefile.Entry, 0, fs.NArg())
	for _, path := range fs.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			return domain.Errorf(domain.EINVALID, "read %v", err)
		}
		entries = append(entries, licensefile.Entry{Name: filepath.Base(path), Data: data})
	}
	var buf bytes.Buffer
	if err := licensefile.WriteBundle(&buf, entries); err != nil {
		return err
	}
	// Check the result as the ledger will (all but the signatures, whose
	// keys the vendor tool does not hold), so a bad bundle never ships.
	files, err := licensefile.ParseBundle(buf.Bytes(), licensefile.DefaultLimits)
	if err != nil {
		return err
	}
	if err := writeOutput(*out, buf.Bytes(), stdout); err != nil {
		return err
	}
	if *out != "-" {
		fmt.Fprintf(stdout, "%s: %d licenses for request code %s\n", *out, len(files), files[0].Binding.RequestCode)
	}
	return nil
}
