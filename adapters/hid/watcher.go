// Package hid watches a management node's USB license keys (HID dongles)
// and turns their insertion and removal into usb_key.inserted and
// usb_key.removed facts for the ledger (rules R9, R15–R17).
//
// A key is a HID device with the configured vendor and product id; its
// serial number is the key id. Inserting a key is the authorization (R9):
// with a KeyFileReader configured, the watcher reads the signed license
// files the dongle stores (PROTOCOL.md describes the reference protocol,
// ReportReader), and LedgerEvents records the insertion with the licenses
// of the files a KeyFileVerifier accepts, and each refused file as an
// audit event, in one atomic append. Without a reader the insertion
// carries no licenses, and a key's licenses reach the ledger as signed
// files bound to its id, uploaded while it is inserted (R12).
package hid

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/licledger/licledger/domain"
)

// Device is one attached HID device as an Enumerator reports it.
type Device struct {
	Path      string // platform-specific device path, for logs
	VendorID  uint16
	ProductID uint16
	Serial    string // the USB key id
}

// ErrUnavailable marks an enumeration error that means the HID subsystem
// itself cannot be used here (no hidraw, no udev, built without cgo), as
// opposed to a transient failure. The ledger still serves; it just cannot
// see keys, and says so in Watcher.Status.
var ErrUnavailable = errors.New("USB key detection unavailable")

// Enumerator lists the matching HID devices attached now.
//
// Contract: it returns the complete current set (empty when none), or an
// error; an error wrapping ErrUnavailable says the subsystem is unusable.
// A Watcher calls it from one goroutine, never concurrently.
type Enumerator interface {
	Enumerate(ctx context.Context) ([]Device, error)
}

// KeyEvents receives the debounced key changes of one management node;
// the caller implements it, typically by executing domain.InsertUSBKey and
// domain.RemoveUSBKey on the platform aggregate.
//
// Contract: calls come from the watcher's goroutine, one at a time, in the
// order the changes happened (removals before insertions of the same
// poll). A returned error leaves the change pending and it is delivered
// again at the next poll, so implementations must be idempotent: recording
// a key already recorded as inserted (or removed) on that node is success.
//
// KeyInserted gets the license files the key stores, as Config.Files read
// them, whole (nil when the watcher has no reader); they are unverified.
type KeyEvents interface {
	KeyInserted(ctx context.Context, node, keyID string, files [][]byte) error
	KeyRemoved(ctx context.Context, node, keyID string) error
}

// Config configures a Watcher.
type Config struct {
	Node     string        // the management node this watcher runs on (required)
	Interval time.Duration // time between polls; default 1s
	Debounce int           // consecutive polls a change must be seen on; default 2
	// Inserted lists the keys the ledger already records as inserted on
	// Node, so a key pulled while the ledger was down is reported removed
	// (and one still there is not reported again).
	Inserted []string
	// Files, if set, reads the license files a key stores when its
	// insertion is delivered; a read error keeps the insertion pending.
	Files  KeyFileReader
	Logger *slog.Logger // default slog.Default()
}

// Watcher states, as Status reports them.
const (
	StateStarting    = "starting"    // no poll has finished yet
	StateOK          = "ok"          // the last poll enumerated and delivered every due change
	StateUnavailable = "unavailable" // the HID subsystem cannot be used here (see Status.Err)
	StateError       = "error"       // the last poll failed to enumerate or to deliver
)

// Status is a snapshot of a watcher, for logs and /readyz.
type Status struct {
	Node     string
	State    string
	Err      string    // why, when State is unavailable or error
	Keys     []string  // keys this watcher has recorded as inserted, sorted
	Pending  []string  // changes seen but not yet recorded ("+K-1", "-K-2")
	LastPoll time.Time // end of the last poll (zero before the first)
	Polls    uint64
}

// Watcher polls an Enumerator and reports debounced key changes. Poll and
// Run must not be called concurrently; Status is safe from any goroutine.
type Watcher struct {
	cfg    Config
	enum   Enumerator
	events KeyEvents
	log    *slog.Logger

	committed map[string]bool // keys recorded as inserted on cfg.Node
	pending   map[string]int  // key -> consecutive polls its presence differed from committed
	ignored   map[string]bool // device serials refused as key ids, logged once

	mu     sync.Mutex
	status Status
}

// NewWatcher validates cfg and returns a watcher that has not polled yet.
func NewWatcher(cfg Config, enum Enumerator, events KeyEvents) (*Watcher, error) {
	if err := domain.ValidateID(cfg.Node); err != nil {
		return nil, domain.Errorf(domain.EINVALID, "USB key watcher: node: %s", domain.ErrorMessage(err))
	}
	if enum == nil || events == nil {
		return nil, domain.Errorf(domain.EINVALID, "USB key watcher: an enumerator and a KeyEvents are required")
	}
	if cfg.Interval < 0 || cfg.Debounce < 0 {
		return nil, domain.Errorf(domain.EINVALID, "USB key watcher: interval and debounce may not be negative")
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = 2
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	w := &Watcher{cfg: cfg, enum: enum, events: events, log: cfg.Logger.With("node", cfg.Node),
		committed: map[string]bool{}, pending: map[string]int{}, ignored: map[string]bool{}}
	for _, k := range cfg.Inserted {
		if err := domain.ValidateID(k); err != nil {
			return nil, domain.Errorf(domain.EINVALID, "USB key watcher: inserted key: %s", domain.ErrorMessage(err))
		}
		w.committed[k] = true
	}
	w.status = Status{Node: cfg.Node, State: StateStarting, Keys: w.keys()}
	return w, nil
}

// Run polls every Interval until ctx is done, then returns nil. Neither an
// unavailable subsystem nor a failed delivery stops it: both show in
// Status and are retried at the next poll.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		w.Poll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Poll enumerates once, advances the debounce counters and delivers every
// change seen on Debounce consecutive polls. It returns the poll's error,
// also kept in Status. A failed enumeration changes nothing: a key is
// never reported removed because the subsystem could not be read.
func (w *Watcher) Poll(ctx context.Context) error {
	devices, err := w.enum.Enumerate(ctx)
	if err != nil {
		state := StateError
		if errors.Is(err, ErrUnavailable) {
			state = StateUnavailable
		}
		w.finish(state, err)
		return err
	}
	observed := w.observe(devices)
	// A key pending insertion that vanished is in neither observed nor
	// committed, so the pending keys join the union: its count must reset.
	keys := maps.Clone(w.committed)
	for k := range observed {
		keys[k] = true
	}
	for k := range w.pending {
		keys[k] = true
	}
	for k := range keys {
		if (len(observed[k]) > 0) == w.committed[k] {
			delete(w.pending, k)
			continue
		}
		w.pending[k]++
	}
	err = w.deliver(ctx, observed)
	if err != nil {
		w.finish(StateError, err)
		return err
	}
	w.finish(StateOK, nil)
	return nil
}

// observe turns devices into the valid key ids attached, each with its
// HID interfaces in path order, logging once each device whose serial
// cannot be a key id.
func (w *Watcher) observe(devices []Device) map[string][]Device {
	observed := map[string][]Device{}
	for _, d := range devices {
		if err := domain.ValidateID(d.Serial); err != nil {
			if !w.ignored[d.Serial] {
				w.ignored[d.Serial] = true
				w.log.Warn("USB key ignored: its serial number cannot be a key id",
					"path", d.Path, "vendor", fmt.Sprintf("%04x", d.VendorID), "product", fmt.Sprintf("%04x", d.ProductID),
					"serial", d.Serial, "err", domain.ErrorMessage(err))
			}
			continue
		}
		observed[d.Serial] = append(observed[d.Serial], d) // a key with several HID interfaces counts once
	}
	for _, devs := range observed {
		sort.Slice(devs, func(i, j int) bool { return devs[i].Path < devs[j].Path })
	}
	return observed
}

// deliver reports the due changes, removals first, each group in key
// order; it stops at the first failure so later changes never overtake an
// earlier one (R21 depends on "pulled, then another inserted").
func (w *Watcher) deliver(ctx context.Context, observed map[string][]Device) error {
	var removed, inserted []string
	for k, n := range w.pending {
		if n < w.cfg.Debounce {
			continue
		}
		if len(observed[k]) > 0 {
			inserted = append(inserted, k)
		} else {
			removed = append(removed, k)
		}
	}
	sort.Strings(removed)
	sort.Strings(inserted)
	for _, k := range removed {
		if err := w.events.KeyRemoved(ctx, w.cfg.Node, k); err != nil {
			return fmt.Errorf("record removal of USB key %s: %w", k, err)
		}
		delete(w.committed, k)
		delete(w.pending, k)
		w.log.Info("USB key removed", "key", k)
	}
	for _, k := range inserted {
		files, err := w.readFiles(ctx, observed[k])
		if err != nil {
			return fmt.Errorf("read the license files stored on USB key %s: %w", k, err)
		}
		if err := w.events.KeyInserted(ctx, w.cfg.Node, k, files); err != nil {
			return fmt.Errorf("record insertion of USB key %s: %w", k, err)
		}
		w.committed[k] = true
		delete(w.pending, k)
		w.log.Info("USB key inserted", "key", k, "stored_files", len(files))
	}
	return nil
}

// readFiles reads the files a key stores through its first HID interface
// that answers (a dongle may expose several; one holds the storage); nil
// without a reader.
func (w *Watcher) readFiles(ctx context.Context, devs []Device) ([][]byte, error) {
	if w.cfg.Files == nil {
		return nil, nil
	}
	var errs []error
	for _, d := range devs {
		files, err := w.cfg.Files.ReadFiles(ctx, d)
		if err == nil {
			if files == nil {
				files = [][]byte{}
			}
			return files, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// finish records the poll's outcome, logging state changes only so an
// unavailable subsystem does not log once a second.
func (w *Watcher) finish(state string, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	w.mu.Lock()
	prev := w.status
	w.status = Status{Node: w.cfg.Node, State: state, Err: msg, Keys: w.keys(), Pending: w.pendingChanges(),
		LastPoll: time.Now().UTC(), Polls: prev.Polls + 1}
	w.mu.Unlock()
	if prev.State == state && prev.Err == msg {
		return
	}
	switch state {
	case StateOK:
		w.log.Info("USB key watcher ok", "keys", w.status.Keys)
	case StateUnavailable:
		w.log.Warn("USB key detection unavailable; the ledger runs without it", "err", msg)
	default:
		w.log.Error("USB key watcher poll failed; retrying at the next poll", "err", msg)
	}
}

// Status returns a snapshot of the watcher's state.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.status
	s.Keys = slices.Clone(s.Keys)
	s.Pending = slices.Clone(s.Pending)
	return s
}

// Err returns nil when the last poll succeeded (or none finished yet), and
// otherwise an error saying why; it wraps ErrUnavailable when the HID
// subsystem cannot be used. It is what /readyz reports.
func (w *Watcher) Err() error {
	s := w.Status()
	switch s.State {
	case StateUnavailable:
		return fmt.Errorf("%w on node %s: %s", ErrUnavailable, s.Node, s.Err)
	case StateError:
		return fmt.Errorf("USB key watcher on node %s: %s", s.Node, s.Err)
	}
	return nil
}

func (w *Watcher) keys() []string {
	out := make([]string, 0, len(w.committed))
	for k := range w.committed {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (w *Watcher) pendingChanges() []string {
	var out []string
	for k := range w.pending {
		if w.committed[k] {
			out = append(out, "-"+k)
		} else {
			out = append(out, "+"+k)
		}
	}
	sort.Strings(out)
	return out
}
