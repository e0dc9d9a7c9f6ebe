package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/hid"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// keyVendor is a vendor key made with `vendor keygen`, issuing files with
// `vendor issue`, as a vendor would to put them on a dongle.
type keyVendor struct {
	t       *testing.T
	dir     string
	trusted string // the directory serve's --trusted-keys reads
	keyFile string
}

func newKeyVendor(t *testing.T) keyVendor {
	t.Helper()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	vendorMustRun(t, "vendor", "keygen", "--out", keys, "--id", "vendor-2026")
	return keyVendor{t: t, dir: dir, trusted: keys, keyFile: filepath.Join(keys, "vendor-2026.key")}
}

func (v keyVendor) issue(name string, args ...string) []byte {
	v.t.Helper()
	out := filepath.Join(v.dir, name)
	vendorMustRun(v.t, append([]string{"vendor", "issue", "--key", v.keyFile, "--out", out, "--issued", "2026-01-01", "--expires", "2027-01-01"}, args...)...)
	b, err := os.ReadFile(out)
	if err != nil {
		v.t.Fatal(err)
	}
	return b
}

// usbArgs are serve's flags for a watcher on acme/mn-1 polling every 5ms.
func usbArgs() []string {
	return []string{"--platform", "acme", "--node", "mn-1", "--usb-vendor", "0x096e", "--usb-poll", "5ms"}
}

type timelineEntry struct {
	Seq                 uint64
	Event, Type, Source string
}

func timeline(t *testing.T, base string) []timelineEntry {
	t.Helper()
	var tl struct{ Entries []timelineEntry }
	decode(t, rawHTTP(t, "GET", base+"/v1/platforms/acme/timeline?limit=100", "", nil).want(t, 200), &tl)
	return tl.Entries
}

// R9, R11, R12 end to end through serve: with --trusted-keys, inserting a
// key is the authorization. The watcher reads the signed files the key
// stores over the reference protocol (a fake dongle: the one hardware
// edge), and the ledger records, in one append, the insertion with the
// licenses of the good files and one license.upload_rejected per refused
// file with its digest. Nothing is uploaded.
func TestServeUSBKeyStoredFiles(t *testing.T) {
	v := newKeyVendor(t)
	base := v.issue("base.license", "--id", "L-1", "--kind", "base", "--edition", "standard", "--sockets", "8", "--usb-key", "K-1")
	cdp := v.issue("cdp.license", "--id", "L-2", "--kind", "plus", "--module", "cdp", "--usb-key", "K-1")
	vmware := v.issue("vmware.license", "--id", "L-3", "--kind", "plus", "--module", "vmware", "--quantity", "8", "--usb-key", "K-1")
	tampered := bytes.Replace(vmware, []byte(`"quantity": 8`), []byte(`"quantity": 80`), 1)
	if bytes.Equal(tampered, vmware) {
		t.Fatal("the issued file does not hold the quantity as expected; fix the test")
	}
	otherKey := v.issue("k2-migration.license", "--id", "L-4", "--kind", "plus", "--module", "migration", "--usb-key", "K-2")
	keys := &fakeKeys{}
	keys.store("K-1", base, cdp, tampered, otherKey)

	clock := eventstoretest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	l := mustRunMain(t, withArgs(append(usbArgs(), "--trusted-keys", v.trusted)...), withClock(clock), withHID(keys))
	url := l.URL
	rawHTTP(t, "POST", url+"/v1/platforms", "application/json", []byte(`{"id":"acme","nodes":["mn-1","mn-2"],"request_code":"RC-1"}`)).want(t, 201)
	if _, rz := getReadyz(t, url); rz.USBKeyWatcher.KeyFiles == nil || *rz.USBKeyWatcher.KeyFiles != (hid.KeyFilesStatus{State: "on", Reader: "reference"}) {
		t.Errorf("readyz usb_key_watcher.key_files = %+v, want on with the reference reader", rz.USBKeyWatcher.KeyFiles)
	}

	keys.attach("K-1")
	var ent domain.Entitlement
	eventually(t, "K-1 recorded as inserted with its licenses", func() bool {
		decode(t, rawHTTP(t, "GET", url+"/v1/platforms/acme/entitlement", "", nil).want(t, 200), &ent)
		return ent.USBKey.State == domain.KeyStateReady && ent.Modules["cdp"].Entitled
	})
	if ent.Status != domain.StatusLicensed || ent.Base == nil || ent.Base.Source != domain.SourceUSBKey || ent.Base.License != "L-1" {
		t.Errorf("entitlement %s, base %+v; want licensed by K-1's L-1", ent.Status, ent.Base)
	}
	for module, want := range map[string]domain.ModuleEntitlement{
		"cdp":       {Entitled: true, Source: domain.SourceUSBKey, KeyID: "K-1", License: "L-2"},
		"vmware":    {Entitled: false, Reason: "not-licensed"}, // its file was tampered with
		"migration": {Entitled: false, Reason: "not-licensed"}, // its file is bound to K-2
	} {
		got := ent.Modules[module]
		got.ExpiresAt, got.DecidedBy = nil, nil // provenance: TestExplain*
		if !reflect.DeepEqual(got, want) {
			t.Errorf("module %s = %+v, want %+v", module, got, want)
		}
	}

	// One append after the registration: the insertion and two audit
	// events, consecutive, from the node; no license.uploaded.
	wantTypes := []string{domain.EventPlatformRegistered, domain.EventUSBKeyInserted, domain.EventLicenseUploadRejected, domain.EventLicenseUploadRejected}
	var entries []timelineEntry
	// The projector may apply the batch's events over two of its own
	// batches: wait until the timeline holds the whole append.
	eventually(t, "the whole append in the timeline", func() bool {
		entries = timeline(t, url)
		return len(entries) >= len(wantTypes)
	})
	if len(entries) != len(wantTypes) {
		t.Fatalf("timeline holds %d entries, want %d: %+v", len(entries), len(wantTypes), entries)
	}
	refused := []struct {
		digest, reason, mentions string
	}{
		{domain.Digest(tampered), domain.ReasonBadSignature, "license file 3 of 4 stored on USB key K-1"},
		{domain.Digest(otherKey), domain.ReasonBindingMismatch, "bound to USB key K-2"},
	}
	for i, e := range entries {
		if e.Type != wantTypes[i] {
			t.Errorf("timeline entry %d is %s, want %s", i, e.Type, wantTypes[i])
		}
		if i == 0 {
			continue
		}
		if e.Source != "node/mn-1" || e.Seq != entries[1].Seq+uint64(i-1) {
			t.Errorf("entry %d: %s seq %d from %s, want one batch from node/mn-1", i, e.Type, e.Seq, e.Source)
		}
		if i < 2 {
			continue
		}
		ev, err := domain.DecodeEvent(rawHTTP(t, "GET", url+"/v1/events/"+e.Event, "", nil).want(t, 200))
		if err != nil {
			t.Fatal(err)
		}
		d, err := domain.PlatformEventData(ev)
		if err != nil {
			t.Fatal(err)
		}
		rej, want := d.(*domain.LicenseUploadRejected), refused[i-2]
		if rej.Digest != want.digest || rej.Reason != want.reason || rej.Actor != "node/mn-1" || !strings.Contains(rej.Message, want.mentions) {
			t.Errorf("rejection %d = %+v, want digest %s, reason %s, actor node/mn-1, mentioning %q", i-2, rej, want.digest, want.reason, want.mentions)
		}
	}
}

// Stored files are read only when they can be verified and the operator
// wants them: without --trusted-keys, or with --usb-key-files=off, the
// insertion is recorded bare, the dongle is not even opened, and /readyz
// says why. An unknown reader is a usage error.
func TestServeUSBKeyStoredFilesOff(t *testing.T) {
	v := newKeyVendor(t)
	cdp := v.issue("cdp.license", "--id", "L-2", "--kind", "plus", "--module", "cdp", "--usb-key", "K-1")
	tests := []struct {
		name   string
		args   []string
		reason string
	}{
		{"no trusted keys", []string{"--insecure-json-licenses"}, "no --trusted-keys"},
		{"turned off", []string{"--trusted-keys", v.trusted, "--usb-key-files", "off"}, "--usb-key-files=off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := &fakeKeys{}
			keys.store("K-1", cdp)
			l := mustRunMain(t, withArgs(append(usbArgs(), tt.args...)...), withHID(keys))
			url := l.URL
			rawHTTP(t, "POST", url+"/v1/platforms", "application/json", []byte(`{"id":"acme","nodes":["mn-1"],"request_code":"RC-1"}`)).want(t, 201)
			if _, rz := getReadyz(t, url); rz.USBKeyWatcher.KeyFiles == nil || rz.USBKeyWatcher.KeyFiles.State != "off" ||
				!strings.Contains(rz.USBKeyWatcher.KeyFiles.Reason, tt.reason) {
				t.Errorf("readyz usb_key_watcher.key_files = %+v, want off because %q", rz.USBKeyWatcher.KeyFiles, tt.reason)
			}
			keys.attach("K-1")
			eventually(t, "K-1 recorded", func() bool {
				entries := timeline(t, url)
				return len(entries) == 2 && entries[1].Type == domain.EventUSBKeyInserted
			})
			var ent domain.Entitlement
			decode(t, rawHTTP(t, "GET", url+"/v1/platforms/acme/entitlement", "", nil).want(t, 200), &ent)
			if ent.Modules["cdp"].License != "" {
				t.Errorf("cdp = %+v, want nothing from the key's storage", ent.Modules["cdp"])
			}
			if opened, _ := keys.dongles.Dongle("K-1").Opens(); opened != 0 {
				t.Errorf("the dongle was opened %d times, want never", opened)
			}
		})
	}
}
