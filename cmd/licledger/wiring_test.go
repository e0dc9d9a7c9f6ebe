package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/hid"
	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

const jsonLicense = `{"id":"L-1","kind":"plus","module":"cdp","issued_at":"2026-01-01T00:00:00Z"}`

// How serve takes license uploads, by flag: signed files with
// --trusted-keys, unsigned JSON only with --insecure-json-licenses, and
// none otherwise: a refusal that is not recorded, since the uploader did
// nothing wrong (R11 records refusals of what was sent).
func TestServeLicenseUploadModes(t *testing.T) {
	t.Parallel()
	keys := filepath.Join(t.TempDir(), "keys")
	vendorMustRun(t, "vendor", "keygen", "--out", keys, "--id", "vendor-2026")
	tests := []struct {
		name       string
		args       []string
		status     int
		reason     string
		wantEvents int // appended on the platform by the upload
		mode       string
	}{
		{"no flag: uploads disabled", nil, 403, domain.ReasonUploadsDisabled, 0, uploadsDisabled},
		{"insecure JSON", []string{"--insecure-json-licenses"}, 201, "", 1, uploadsInsecureJSON},
		{"signed files", []string{"--trusted-keys", keys}, 403, domain.ReasonSignedFilesOnly, 1, uploadsSigned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			l := mustRunMain(t, withArgs(tt.args...))
			reg, err := l.API.RegisterPlatform(ctx, httpclient.RegisterRequest{ID: "acme", Nodes: []string{"mn-1"}, RequestCode: "RC-1"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = l.API.UploadLicense(ctx, "acme", []byte(jsonLicense), "application/json")
			if err == nil && tt.status != 201 || err != nil && httpclient.Status(err) != tt.status {
				t.Fatalf("upload: %v, want %d", err, tt.status)
			}
			if got := httpclient.Reason(err); got != tt.reason {
				t.Errorf("reason %q, want %q (%v)", got, tt.reason, err)
			}
			// What the upload appended, accepted or recorded as refused.
			tl, err := l.API.Timeline(ctx, "acme", reg.Version, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(tl.Entries); got != tt.wantEvents {
				t.Errorf("the upload appended %d events, want %d", got, tt.wantEvents)
			}
			if _, rz := getReadyz(t, l.URL); rz.LicenseUploads.Mode != tt.mode {
				t.Errorf("readyz license_uploads = %+v, want mode %s", rz.LicenseUploads, tt.mode)
			}
		})
	}
}

// Bad upload and USB key watcher flags stop serve before it opens anything.
func TestServeWiringFlagsRefused(t *testing.T) {
	empty := t.TempDir()
	notKey := filepath.Join(t.TempDir(), "x.pub")
	writeFile(t, notKey, "not a key")
	usb := []string{"--usb-vendor", "0x096e", "--usb-product", "0x0006", "--platform", "acme", "--node", "mn-1"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"both upload modes", []string{"--trusted-keys", empty, "--insecure-json-licenses"}, "exclude each other"},
		{"no trusted key in the directory", []string{"--trusted-keys", empty}, "no trusted vendor keys"},
		{"missing trusted keys", []string{"--trusted-keys", filepath.Join(empty, "nope")}, "no such file"},
		{"not a key", []string{"--trusted-keys", notKey}, notKey},
		{"vendor not hex", []string{"--usb-vendor", "0xzz", "--platform", "acme", "--node", "mn-1"}, "--usb-vendor"},
		{"product without vendor", []string{"--usb-product", "0x0006"}, "needs --usb-vendor"},
		{"no platform", []string{"--usb-vendor", "0x096e", "--node", "mn-1"}, "--platform"},
		{"no node", []string{"--usb-vendor", "0x096e", "--platform", "acme"}, "--node"},
		{"bad node id", append(usb, "--node", "mn 1"), "--node"},
		{"bad poll", append(usb, "--usb-poll", "0s"), "--usb-poll"},
		{"bad debounce", append(usb, "--usb-debounce", "0"), "--usb-debounce"},
		{"unknown key file reader", append(usb, "--usb-key-files", "vendor-x"), "want one of off, reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mainFromFlags(tt.args, io.Discard)
			if domain.ErrorCode(err) != domain.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("serve %v: %v, want invalid mentioning %q", tt.args, err, tt.want)
			}
		})
	}
	// The environment configures the same, and the flags document it.
	t.Setenv("LICLEDGER_USB_VENDOR", "0x096e")
	t.Setenv("LICLEDGER_PLATFORM", "acme")
	if _, err := mainFromFlags(nil, io.Discard); err == nil || !strings.Contains(err.Error(), "--node") {
		t.Errorf("LICLEDGER_USB_VENDOR without a node: %v, want a refusal naming --node", err)
	}
	t.Setenv("LICLEDGER_NODE", "mn-1")
	t.Setenv("LICLEDGER_TRUSTED_KEYS", empty)
	if _, err := mainFromFlags(nil, io.Discard); err == nil || !strings.Contains(err.Error(), "no trusted vendor keys") {
		t.Errorf("LICLEDGER_TRUSTED_KEYS on an empty directory: %v, want a refusal", err)
	}
	var help strings.Builder
	serveHelp, _, _ := serveFlags(&help)
	serveHelp.Usage()
	for _, env := range []string{"LICLEDGER_TRUSTED_KEYS", "LICLEDGER_INSECURE_JSON_LICENSES", "LICLEDGER_PLATFORM", "LICLEDGER_NODE",
		"LICLEDGER_USB_VENDOR", "LICLEDGER_USB_PRODUCT", "LICLEDGER_USB_POLL", "LICLEDGER_USB_DEBOUNCE", "LICLEDGER_USB_KEY_FILES"} {
		if !strings.Contains(help.String(), env) {
			t.Errorf("serve --help does not document %s", env)
		}
	}
}

// R9, R15–R19 through serve: the watcher started in Main.Background records
// the dongles the (fake) HID hardware shows on this node, debounced, with
// the node as the events' source; /readyz reports it; a key pulled while
// serve was down is recorded as removed at the next start.
func TestServeUSBKeyWatcher(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := eventstoretest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	keys := &fakeKeys{}
	serve := []mainOption{withClock(clock), withHID(keys), withArgs("--insecure-json-licenses", "--platform", "acme", "--node", "mn-1",
		"--usb-vendor", "0x096e", "--usb-product", "0x0006", "--usb-poll", "5ms", "--usb-debounce", "3")}
	l := mustRunMain(t, serve...)
	if _, err := l.API.RegisterPlatform(ctx, httpclient.RegisterRequest{ID: "acme", Nodes: []string{"mn-1", "mn-2"}, RequestCode: "RC-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.API.UploadLicense(ctx, "acme",
		[]byte(`{"id":"L-1","kind":"base","edition":"standard","sockets":8,"issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}`), "application/json"); err != nil {
		t.Fatal(err)
	}

	entitlement := func(l *testLedger) *httpclient.Entitlement {
		e, err := l.API.Entitlement(ctx, "acme", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	keys.attach("K-1")
	eventually(t, "K-1 recorded as inserted on mn-1", func() bool {
		u := entitlement(l).USBKey
		return u.State == domain.KeyStateReady && u.ActiveKey == "K-1"
	})
	// A key-bound file is accepted now that the watcher recorded the key (R12).
	if _, err := l.API.UploadLicense(ctx, "acme",
		[]byte(`{"id":"L-2","kind":"plus","module":"gpu","issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}`), "application/json",
		httpclient.WithUSBKeySource("K-1")); err != nil {
		t.Fatal(err)
	}
	status, rz := getReadyz(t, l.URL)
	if w := rz.USBKeyWatcher; status != 200 || w.State != hid.StateOK || w.Node != "mn-1" || w.Platform != "acme" || w.Polls == 0 || w.LastPoll == nil {
		t.Errorf("readyz %d usb_key_watcher = %+v, want ok on acme/mn-1", status, w)
	}
	tl, err := l.API.Timeline(ctx, "acme", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]string{}
	for _, e := range tl.Entries {
		sources[e.Type] = e.Source
	}
	if got := sources[domain.EventUSBKeyInserted]; got != "node/mn-1" {
		t.Errorf("usb_key.inserted source %q, want node/mn-1", got)
	}
	// The watcher's append is counted like the API's.
	if metrics := string(rawHTTP(t, "GET", l.URL+"/metrics", "", nil).want(t, 200)); !strings.Contains(metrics, `licledger_events_appended_total{type="usb_key.inserted"} 1`) {
		t.Errorf("metrics do not count the watcher's usb_key.inserted:\n%s", grepLines(metrics, "licledger_events_appended_total"))
	}

	// Pulled while serve is down: recorded at the next start.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	keys.attach()
	clock.Set(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC))
	l2 := mustRunMain(t, append(serve, withDataDir(l.Dir))...)
	eventually(t, "K-1 recorded as removed after the restart", func() bool {
		return entitlement(l2).USBKey.State == domain.KeyStateMissing
	})
	// R19: pulled while in force, the key's licenses hold for 30 days.
	e := entitlement(l2)
	want := time.Date(2026, 4, 9, 0, 0, 0, 0, time.UTC)
	if e.USBKey.BufferExpiresAt == nil || !e.USBKey.BufferExpiresAt.Equal(want) || !e.Modules["gpu"].Entitled {
		t.Errorf("after the pull: usb_key %+v gpu %+v, want a buffer until %s keeping gpu", e.USBKey, e.Modules["gpu"], want)
	}
}

// An unavailable HID subsystem does not stop serve: the ledger is ready,
// and /readyz says why the watcher sees no keys.
func TestServeUSBWatcherUnavailable(t *testing.T) {
	t.Parallel()
	keys := &fakeKeys{}
	keys.fail(fmt.Errorf("%w: no hidraw device class", hid.ErrUnavailable))
	l := mustRunMain(t, withHID(keys), withArgs("--platform", "acme", "--node", "mn-1", "--usb-vendor", "0x096e", "--usb-poll", "5ms"))
	var rz readyz
	status := 0
	eventually(t, "the watcher's first poll", func() bool {
		status, rz = getReadyz(t, l.URL)
		return rz.USBKeyWatcher.State != hid.StateStarting
	})
	if w := rz.USBKeyWatcher; status != 200 || rz.Status != "ready" || w.State != hid.StateUnavailable || !strings.Contains(w.Error, "no hidraw") {
		t.Errorf("readyz %d %+v, want ready with the watcher unavailable and why", status, rz)
	}
	if _, err := l.API.RegisterPlatform(t.Context(), httpclient.RegisterRequest{ID: "acme", Nodes: []string{"mn-1"}, RequestCode: "RC-1"}); err != nil {
		t.Fatal(err)
	}
}

// The real go-hid enumeration on this machine (whatever it has: no USB
// devices, no hidraw, no udev) does not stop serve from starting; the
// watcher is either working or says why it cannot.
func TestServeStartsWithRealHID(t *testing.T) {
	t.Parallel()
	l := mustRunMain(t, withArgs("--platform", "acme", "--node", "mn-1",
		"--usb-vendor", "0x096e", "--usb-product", "0x0006", "--usb-poll", "20ms"))
	var rz readyz
	status := 0
	eventually(t, "the watcher's first poll", func() bool {
		status, rz = getReadyz(t, l.URL)
		return rz.USBKeyWatcher.State != hid.StateStarting
	})
	w := rz.USBKeyWatcher
	switch {
	case status != 200 || rz.Status != "ready":
		t.Errorf("readyz %d %+v, want ready", status, rz)
	case w.State == hid.StateUnavailable && w.Error == "":
		t.Errorf("watcher unavailable without a reason: %+v", w)
	case w.State != hid.StateOK && w.State != hid.StateUnavailable:
		t.Errorf("watcher state %+v, want ok or unavailable", w)
	}
	t.Logf("USB key watcher on this machine: %+v", w)
}

// Without --usb-vendor the watcher is off, and /readyz says so.
func TestServeUSBWatcherOff(t *testing.T) {
	t.Parallel()
	l := mustRunMain(t)
	_, rz := getReadyz(t, l.URL)
	if rz.USBKeyWatcher.State != hid.StateOff || rz.USBKeyWatcher.Reason == "" || len(l.Background) != 0 {
		t.Errorf("usb_key_watcher = %+v with %d background tasks, want off with a reason and none", rz.USBKeyWatcher, len(l.Background))
	}
}

// grepLines returns the lines of s that contain substr.
func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
