package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/licledger/licledger/adapters/hid"
	"github.com/licledger/licledger/adapters/httpapi"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// enumeratorFunc builds the HID enumerator for a vendor and product id;
// serve uses hidEnumerator, tests a fake (the one true hardware edge).
type enumeratorFunc func(vendor, product uint16) hid.Enumerator

func hidEnumerator(vendor, product uint16) hid.Enumerator {
	return hid.HIDEnumerator{VendorID: vendor, ProductID: product}
}

// usbOptions are serve's USB key watcher flags, as given.
type usbOptions struct {
	platform, node, vendor, product, poll string
	debounce                              int64
}

// usbWatch runs the USB key watcher of one management node inside serve:
// it records the dongles seen on this node as usb_key.inserted/removed on
// the platform (R9, R15–R17), through the same executor as the API. It is
// one of Main's Background tasks and reports under "usb_key_watcher" in
// /readyz. Status is safe from any goroutine.
type usbWatch struct {
	platform, node string
	enum           hid.Enumerator
	interval       time.Duration
	debounce       int

	mu      sync.Mutex
	w       *hid.Watcher // nil until the platform's keys are loaded
	loadErr string       // why they could not be loaded yet
}

// newUSBWatch validates the watcher flags; it returns nil (watcher off)
// when no --usb-vendor is given.
func newUSBWatch(o usbOptions, enumerator enumeratorFunc) (*usbWatch, error) {
	if o.vendor == "" {
		if o.product != "" {
			return nil, domain.Errorf(domain.EINVALID, "--usb-product needs --usb-vendor")
		}
		return nil, nil
	}
	vendor, err := hid.ParseUSBID(o.vendor)
	if err != nil {
		return nil, domain.Errorf(domain.EINVALID, "--usb-vendor: %s", domain.ErrorMessage(err))
	}
	var product uint16 // 0: any product of the vendor
	if o.product != "" {
		if product, err = hid.ParseUSBID(o.product); err != nil {
			return nil, domain.Errorf(domain.EINVALID, "--usb-product: %s", domain.ErrorMessage(err))
		}
	}
	if o.platform == "" || o.node == "" {
		return nil, domain.Errorf(domain.EINVALID, "the USB key watcher needs --platform (the platform this node belongs to) and --node (this management node's id)")
	}
	if err := domain.ValidateID(o.platform); err != nil {
		return nil, domain.Errorf(domain.EINVALID, "--platform: %s", domain.ErrorMessage(err))
	}
	if err := domain.ValidateID(o.node); err != nil {
		return nil, domain.Errorf(domain.EINVALID, "--node: %s", domain.ErrorMessage(err))
	}
	poll, err := time.ParseDuration(o.poll)
	if err != nil || poll <= 0 {
		return nil, domain.Errorf(domain.EINVALID, "--usb-poll %q: want a positive duration such as 1s or 500ms", o.poll)
	}
	if o.debounce < 1 || o.debounce > 1000 {
		return nil, domain.Errorf(domain.EINVALID, "--usb-debounce %d: want 1 to 1000 consecutive polls", o.debounce)
	}
	return &usbWatch{platform: o.platform, node: o.node, enum: enumerator(vendor, product), interval: poll, debounce: int(o.debounce)}, nil
}

// usbStatus is the "usb_key_watcher" section of /readyz. It names no key
// ids: /readyz is public.
type usbStatus struct {
	State    string     `json:"state"`            // off, starting, ok, unavailable, error
	Reason   string     `json:"reason,omitempty"` // why it is off
	Platform string     `json:"platform,omitempty"`
	Node     string     `json:"node,omitempty"`
	Error    string     `json:"error,omitempty"`
	LastPoll *time.Time `json:"last_poll,omitempty"`
	Polls    uint64     `json:"polls,omitempty"`
}

// stateOff is the watcher state when serve runs without --usb-vendor.
const stateOff = "off"

// wireUSBWatcher installs the watcher in m, or reports it off.
func wireUSBWatcher(m *Main, u *usbWatch, log *slog.Logger) {
	if u == nil {
		setReady(m, "usb_key_watcher", func() any {
			return usbStatus{State: stateOff, Reason: "no --usb-vendor given: USB keys are recorded only through the API"}
		})
		return
	}
	m.Background = append(m.Background, func(ctx context.Context) error { return u.run(ctx, m, log) })
	setReady(m, "usb_key_watcher", func() any { return u.Status() })
}

// platformExecutor is the one executor of serve's edges (uploads use the
// API's, which is the same function): fold, not-registered check,
// optimistic retries, events stamped with source.
func platformExecutor(m *Main, source string) hid.PlatformExecutor {
	return func(ctx context.Context, platform string, decide func(*domain.PlatformState, time.Time) ([]domain.Event, error)) error {
		_, _, err := httpapi.ExecutePlatform(ctx, m.Store, platform, source, eventstore.ExecuteOptions{}, m.Config.Now, false, decide)
		return err
	}
}

// run loads the keys the ledger records on this node (so a key pulled
// while serve was down is reported removed, and one still there is not
// reported again), then polls until ctx is done. An unavailable HID
// subsystem does not stop it: the watcher keeps polling, logs the reason
// once and /readyz shows it.
func (u *usbWatch) run(ctx context.Context, m *Main, log *slog.Logger) error {
	log = log.With("component", "usb-key-watcher", "platform", u.platform)
	var inserted []string
	for {
		st, err := loadPlatform(ctx, m.Store, u.platform)
		if err == nil {
			if !st.Registered() {
				log.Warn("platform not registered yet: USB key changes are retried at each poll until it is")
			}
			inserted = hid.KeysOnNode(st, u.node)
			break
		}
		u.mu.Lock()
		u.loadErr = "load the platform's recorded keys: " + err.Error()
		u.mu.Unlock()
		log.Error("USB key watcher cannot load the platform; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(u.interval):
		}
	}
	w, err := hid.NewWatcher(hid.Config{Node: u.node, Interval: u.interval, Debounce: u.debounce, Inserted: inserted, Logger: log},
		u.enum, hid.LedgerEvents{Platform: u.platform, Exec: platformExecutor(m, "node/"+u.node)})
	if err != nil {
		return err
	}
	u.mu.Lock()
	u.w, u.loadErr = w, ""
	u.mu.Unlock()
	log.Info("USB key watcher started", "node", u.node, "poll", u.interval, "debounce", u.debounce, "recorded_keys", len(inserted))
	return w.Run(ctx)
}

// Status is the watcher's state for /readyz.
func (u *usbWatch) Status() usbStatus {
	u.mu.Lock()
	w, loadErr := u.w, u.loadErr
	u.mu.Unlock()
	out := usbStatus{State: hid.StateStarting, Platform: u.platform, Node: u.node, Error: loadErr}
	if w == nil {
		return out
	}
	s := w.Status()
	out.State, out.Error, out.Polls = s.State, s.Err, s.Polls
	if !s.LastPoll.IsZero() {
		out.LastPoll = &s.LastPoll
	}
	return out
}

// loadPlatform folds a platform's history (an empty state when it is not
// registered).
func loadPlatform(ctx context.Context, store *eventstore.Store, id string) (*domain.PlatformState, error) {
	recs, err := store.Load(ctx, domain.Aggregate{Kind: domain.KindPlatform, ID: id})
	if err != nil {
		return nil, err
	}
	st := &domain.PlatformState{}
	for _, r := range recs {
		if err := domain.EvolvePlatform(st, r.Event); err != nil {
			return nil, domain.Errorf(domain.EINTERNAL, "platform %s: history does not fold: %s", id, domain.ErrorMessage(err))
		}
	}
	return st, nil
}
