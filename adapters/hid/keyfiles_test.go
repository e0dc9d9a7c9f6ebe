package hid_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/hid"
	"github.com/licledger/licledger/adapters/hid/hidtest"
	"github.com/licledger/licledger/adapters/licensefile"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// The watcher's stored-file path end to end, with the hardware faked at
// its edge only: an enumerator listing the attached dongles and
// hidtest's dongles answering the reference protocol. The reader, the
// vendor signatures (adapters/licensefile, which serve wires in as the
// verifier), LedgerEvents, the domain and the event store are real.

// devices is the fake enumerator: the HID interfaces attached now.
type devices struct {
	mu   sync.Mutex
	list []hid.Device
}

func (d *devices) set(list ...hid.Device) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.list = slices.Clone(list)
}

func (d *devices) Enumerate(context.Context) ([]hid.Device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.list), nil
}

func key(serial string) hid.Device {
	return hid.Device{Path: "/dev/hidraw-" + serial, VendorID: 0x096e, ProductID: 0x0006, Serial: serial}
}

// vendor signs license files with a deterministic key; verifier trusts it.
type vendor struct {
	t        *testing.T
	key      licensefile.PrivateKey
	verifier *licensefile.Verifier
}

func newVendor(t *testing.T) vendor {
	t.Helper()
	seed := sha256.Sum256([]byte("vendor-2026"))
	k, err := licensefile.GenerateKey("vendor-2026", bytes.NewReader(seed[:]))
	if err != nil {
		t.Fatal(err)
	}
	v, err := licensefile.NewVerifier([]licensefile.PublicKey{k.Public()}, licensefile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return vendor{t: t, key: k, verifier: v}
}

// issue signs a Plus license for module, or a standard Base when module
// is "", for binding b.
func (v vendor) issue(id, module string, b licensefile.Binding) []byte {
	v.t.Helper()
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	l := domain.License{ID: id, Kind: domain.KindPlus, Module: module, IssuedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ExpiresAt: &exp}
	if module == "" {
		l.Kind, l.Edition, l.Sockets = domain.KindBase, domain.EditionStandard, 8
	}
	raw, err := licensefile.Issue(l, b, v.key)
	if err != nil {
		v.t.Fatal(err)
	}
	return raw
}

// node is one management node's watcher reading stored files, on a real
// event store holding platform acme.
type node struct {
	t       *testing.T
	store   *eventstore.Store
	x       *eventstore.Executor[*domain.PlatformState]
	clock   *eventstoretest.Clock
	devices *devices
	keys    *hidtest.Keys
	open    hid.TransportOpener
	vendor  vendor
	events  hid.LedgerEvents
}

func newNode(t *testing.T) *node {
	t.Helper()
	clock := eventstoretest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	store := eventstoretest.MustOpenStore(t, eventstoretest.WithClock(clock.Now))
	n := &node{t: t, store: store, clock: clock, devices: &devices{}, keys: &hidtest.Keys{}, vendor: newVendor(t),
		x: eventstore.NewExecutor(store, eventstore.Platforms, eventstore.ExecutorConfig{})}
	n.open = n.keys.Open
	n.events = hid.LedgerEvents{Platform: "acme", Source: "node/mn-1", Platforms: n.x, Verifier: n.vendor.verifier}
	_, err := n.x.Execute(context.Background(), eventstore.Command[*domain.PlatformState]{ID: "acme", Creates: true,
		Decide: func(s *domain.PlatformState, now time.Time) ([]domain.Event, error) {
			return domain.DecidePlatform(s, domain.RegisterPlatform{Platform: "acme", Nodes: []string{"mn-1"}}, now)
		}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// watcher starts a watcher on mn-1 with the reference reader, from the
// keys the ledger records there.
func (n *node) watcher() *hid.Watcher {
	n.t.Helper()
	reader := hid.NewReportReader(func(ctx context.Context, dev hid.Device) (hid.Transport, error) { return n.open(ctx, dev) },
		hid.ReportConfig{ReportTimeout: 20 * time.Millisecond})
	w, err := hid.NewWatcher(hid.Config{Node: "mn-1", Debounce: 1, Files: reader, Inserted: hid.KeysOnNode(n.state(), "mn-1"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, n.devices, n.events)
	if err != nil {
		n.t.Fatal(err)
	}
	return w
}

func (n *node) state() *domain.PlatformState {
	n.t.Helper()
	s, err := n.x.Current(context.Background(), "acme")
	if err != nil {
		n.t.Fatal(err)
	}
	return s
}

// appends wraps the command layer, counting the commands that appended
// and the events of each: what "one atomic append" means here.
type appends struct {
	hid.Platforms
	mu     sync.Mutex
	counts []int
}

func (a *appends) Execute(ctx context.Context, cmd eventstore.Command[*domain.PlatformState]) (eventstore.Result[*domain.PlatformState], error) {
	res, err := a.Platforms.Execute(ctx, cmd)
	if err == nil && len(res.Records) > 0 {
		a.mu.Lock()
		a.counts = append(a.counts, len(res.Records))
		a.mu.Unlock()
	}
	return res, err
}

func (n *node) records() []eventstore.Record {
	n.t.Helper()
	recs, err := n.store.Load(context.Background(), domain.Aggregate{Kind: domain.KindPlatform, ID: "acme"})
	if err != nil {
		n.t.Fatal(err)
	}
	return recs
}

// R9, R11: inserting a key records it with the licenses of the files it
// stores and an audit event per refused file, in one append; the refused
// files entitle nothing, the good ones are in force from usb-key.
func TestWatcherRecordsStoredFiles(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	cdp := n.vendor.issue("L-CDP", domain.ModuleCDP, licensefile.Binding{USBKey: "K-1"})
	gpu := n.vendor.issue("L-GPU", domain.ModuleGPU, licensefile.Binding{USBKey: "K-1"})
	tampered := bytes.Replace(n.vendor.issue("L-SRIOV", domain.ModuleSRIOV, licensefile.Binding{USBKey: "K-1"}), []byte(`"sriov"`), []byte(`"tenant"`), 1)
	otherKey := n.vendor.issue("L-MIG", domain.ModuleMigration, licensefile.Binding{USBKey: "K-2"})
	requestCode := n.vendor.issue("L-BIL", domain.ModuleBilling, licensefile.Binding{RequestCode: "RC-1"})
	base := n.vendor.issue("L-BASE", "", licensefile.Binding{USBKey: "K-1"})
	n.keys.Dongle("K-1").SetFiles(base, cdp, tampered, otherKey, gpu, requestCode)
	counted := &appends{Platforms: n.x}
	n.events.Platforms = counted
	n.devices.set(key("K-1"))
	w := n.watcher()
	if err := w.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}

	recs := n.records()[1:] // after platform.registered
	want := []struct {
		typ    string
		digest string
		reason string
	}{
		{domain.EventUSBKeyInserted, "", ""},
		{domain.EventLicenseUploadRejected, domain.Digest(tampered), domain.ReasonBadSignature},
		{domain.EventLicenseUploadRejected, domain.Digest(otherKey), domain.ReasonBindingMismatch},
		{domain.EventLicenseUploadRejected, domain.Digest(requestCode), domain.ReasonBindingMismatch},
	}
	if len(recs) != len(want) || !slices.Equal(counted.counts, []int{len(want)}) {
		t.Fatalf("%d events appended in appends of %v, want %d in one", len(recs), counted.counts, len(want))
	}
	for i, w := range want {
		r := recs[i]
		if r.Event.Type != w.typ || r.Seq != recs[0].Seq+uint64(i) || !r.Event.Time.Equal(recs[0].Event.Time) || r.Event.Source != "node/mn-1" {
			t.Errorf("event %d: %s seq %d at %s from %s; want %s, one batch from node/mn-1", i, r.Event.Type, r.Seq, r.Event.Time, r.Event.Source, w.typ)
		}
		d, err := domain.PlatformEventData(r.Event)
		if err != nil {
			t.Fatal(err)
		}
		switch d := d.(type) {
		case *domain.USBKeyInserted:
			var ids []string
			for _, l := range d.Licenses {
				ids = append(ids, l.ID)
			}
			if d.Node != "mn-1" || d.KeyID != "K-1" || !slices.Equal(ids, []string{"L-BASE", "L-CDP", "L-GPU"}) {
				t.Errorf("inserted %+v, want K-1 on mn-1 carrying L-BASE, L-CDP and L-GPU", d)
			}
		case *domain.LicenseUploadRejected:
			if d.Digest != w.digest || d.Reason != w.reason || d.Actor != "node/mn-1" || !strings.Contains(d.Message, "stored on USB key K-1") {
				t.Errorf("rejection %d = %+v, want digest %s, reason %s, by node/mn-1", i, d, w.digest, w.reason)
			}
		}
	}

	ent := domain.PlatformEntitlement(n.state(), n.clock.Now())
	if ent.Status != domain.StatusLicensed || ent.Base == nil || ent.Base.Source != domain.SourceUSBKey || ent.Base.License != "L-BASE" {
		t.Errorf("entitlement %s base %+v, want licensed by K-1's L-BASE", ent.Status, ent.Base)
	}
	for _, m := range []string{domain.ModuleCDP, domain.ModuleGPU} {
		if got := ent.Modules[m]; !got.Entitled || got.Source != domain.SourceUSBKey || got.KeyID != "K-1" {
			t.Errorf("module %s = %+v, want entitled from usb-key K-1", m, got)
		}
	}
	for _, m := range []string{domain.ModuleSRIOV, domain.ModuleTenant, domain.ModuleMigration, domain.ModuleBilling} {
		if got := ent.Modules[m]; got.Entitled {
			t.Errorf("module %s entitled by a refused file: %+v", m, got)
		}
	}

	// Idempotent: a watcher restarted on the node neither reads nor
	// records the key again, nor does a delivery retried after it was
	// recorded (the answer was lost).
	opened, _ := n.keys.Dongle("K-1").Opens()
	if err := n.watcher().Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := n.events.KeyInserted(context.Background(), "mn-1", "K-1", [][]byte{cdp, tampered}); err != nil {
		t.Fatal(err)
	}
	if got := len(n.records()); got != 1+len(want) {
		t.Errorf("%d events after the restart and the retry, want %d", got, 1+len(want))
	}
	if again, _ := n.keys.Dongle("K-1").Opens(); again != opened {
		t.Errorf("the restarted watcher read the recorded key again (%d opens, was %d)", again, opened)
	}
}

// A read of the key's storage that fails records nothing, not even the
// insertion: the change stays pending, the watcher says why, and the key
// is read again and recorded whole at the next poll.
func TestWatcherStoredFilesReadFailure(t *testing.T) {
	t.Parallel()
	unplugged := errors.New("device disconnected")
	tests := []struct {
		name  string
		fail  func(d *hidtest.Dongle)
		heal  func(d *hidtest.Dongle)
		words string
	}{
		{"transport failure mid-read", func(d *hidtest.Dongle) { d.FailSend(unplugged) }, func(d *hidtest.Dongle) { d.FailSend(nil) }, "device disconnected"},
		{"cannot open", func(d *hidtest.Dongle) { d.FailOpen(unplugged) }, func(d *hidtest.Dongle) { d.FailOpen(nil) }, "open /dev/hidraw-K-"},
		{"corrupted storage", func(d *hidtest.Dongle) {
			d.Tamper(func(req, ans []byte) [][]byte {
				if req[3] == 0x03 {
					ans[8] ^= 0xff
				}
				return [][]byte{ans}
			})
		}, func(d *hidtest.Dongle) { d.Tamper(nil) }, "SHA-256"},
	}
	n := newNode(t) // one ledger, one key per case
	for i, tt := range tests {
		serial := "K-" + string(rune('1'+i))
		t.Run(tt.name, func(t *testing.T) {
			d := n.keys.Dongle(serial)
			d.SetFiles(n.vendor.issue("B-"+serial, "", licensefile.Binding{USBKey: serial}),
				n.vendor.issue("L-"+serial, domain.ModuleCDP, licensefile.Binding{USBKey: serial}))
			tt.fail(d)
			n.devices.set(key(serial))
			w := n.watcher()
			before := len(n.records())
			err := w.Poll(context.Background())
			if err == nil || !strings.Contains(err.Error(), "read the license files stored on USB key "+serial) || !strings.Contains(err.Error(), tt.words) {
				t.Fatalf("poll: %v, want a read error for %s saying %q", err, serial, tt.words)
			}
			if st := w.Status(); st.State != hid.StateError || !slices.Equal(st.Pending, []string{"+" + serial}) {
				t.Errorf("status %+v, want error with +%s pending", st, serial)
			}
			if got := len(n.records()); got != before {
				t.Fatalf("a failed read appended %d events", got-before)
			}
			tt.heal(d)
			if err := w.Poll(context.Background()); err != nil {
				t.Fatal(err)
			}
			ent := domain.PlatformEntitlement(n.state(), n.clock.Now())
			if got := ent.Modules[domain.ModuleCDP]; ent.USBKey.ActiveKey != serial || got.License != "L-"+serial {
				t.Errorf("after the retry: key %+v, cdp %+v; want %s with its license", ent.USBKey, got, serial)
			}
			n.devices.set()
			if err := w.Poll(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A dongle exposing several HID interfaces: the storage is read through
// the first that answers the protocol.
func TestWatcherStoredFilesSeveralInterfaces(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	storage := hidtest.NewDongle(n.vendor.issue("B-1", "", licensefile.Binding{USBKey: "K-1"}),
		n.vendor.issue("L-1", domain.ModuleCDP, licensefile.Binding{USBKey: "K-1"}))
	silent := hidtest.NewDongle()
	silent.Tamper(func(req, ans []byte) [][]byte { return nil }) // a keyboard-like interface: no answer
	n.open = func(ctx context.Context, dev hid.Device) (hid.Transport, error) {
		if dev.Path == "/dev/hidraw0" {
			return silent.Open(ctx, dev)
		}
		return storage.Open(ctx, dev)
	}
	iface := func(path string) hid.Device { d := key("K-1"); d.Path = path; return d }
	n.devices.set(iface("/dev/hidraw1"), iface("/dev/hidraw0"))
	if err := n.watcher().Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := domain.PlatformEntitlement(n.state(), n.clock.Now()).Modules[domain.ModuleCDP]; got.License != "L-1" {
		t.Errorf("cdp = %+v, want L-1 from the key's storage interface", got)
	}
	if opened, _ := silent.Opens(); opened != 1 {
		t.Errorf("the silent interface was opened %d times, want once (first in path order)", opened)
	}
}
