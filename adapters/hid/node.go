package hid

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/licledger/licledger/domain"
)

// NodeOptions are the USB key watcher's settings as an operator gives
// them (serve's --usb-* flags, --platform, --node), unparsed.
type NodeOptions struct {
	Vendor, Product string // USB vendor and product id, hex; no Vendor: watcher off
	Platform, Node  string // the platform this management node belongs to, and the node's id
	Poll            string // time between polls, a Go duration
	Debounce        int64  // consecutive polls a change must be seen on
}

// KeyFiles says whether a node's watcher reads the license files its
// dongles store, and with what.
type KeyFiles struct {
	Reader   KeyFileReader   // nil: stored files are not read
	Name     string          // the reader's name, for logs and /readyz
	Verifier KeyFileVerifier // required with Reader
	Off      string          // without Reader: why not, for /readyz
}

// KeyFilesStatus is the key_files part of the watcher's /readyz section.
type KeyFilesStatus struct {
	State  string `json:"state"`            // on or off
	Reader string `json:"reader,omitempty"` // on: the reader
	Reason string `json:"reason,omitempty"` // off: why
}

// Node runs the USB key watcher of one management node for the ledger:
// it loads the keys the ledger records on the node, then polls and records
// the dongles seen as usb_key.inserted/removed on the platform (R9,
// R15–R17) through the command layer, an insertion with the licenses of
// the files the key stores when files.Reader is set. Status is safe from
// any goroutine.
type Node struct {
	platform, node string
	enum           Enumerator
	files          KeyFiles
	interval       time.Duration
	debounce       int

	mu      sync.Mutex
	w       *Watcher // nil until the platform's keys are loaded
	loadErr string   // why they could not be loaded yet
}

// NewNode validates o and returns the node's watcher, or nil (watcher off)
// when no vendor is given. enumerator builds the HID enumerator for a
// vendor and product id (product 0: any product of the vendor); tests pass
// a fake, the one true hardware edge. files says whether the watcher reads
// the keys' stored license files. Errors are EINVALID naming the flag.
func NewNode(o NodeOptions, enumerator func(vendor, product uint16) Enumerator, files KeyFiles) (*Node, error) {
	if o.Vendor == "" {
		if o.Product != "" {
			return nil, domain.Errorf(domain.EINVALID, "--usb-product needs --usb-vendor")
		}
		return nil, nil
	}
	vendor, err := ParseUSBID(o.Vendor)
	if err != nil {
		return nil, domain.Errorf(domain.EINVALID, "--usb-vendor: %s", domain.ErrorMessage(err))
	}
	var product uint16
	if o.Product != "" {
		if product, err = ParseUSBID(o.Product); err != nil {
			return nil, domain.Errorf(domain.EINVALID, "--usb-product: %s", domain.ErrorMessage(err))
		}
	}
	if o.Platform == "" || o.Node == "" {
		return nil, domain.Errorf(domain.EINVALID, "the USB key watcher needs --platform (the platform this node belongs to) and --node (this management node's id)")
	}
	if err := domain.ValidateID(o.Platform); err != nil {
		return nil, domain.Errorf(domain.EINVALID, "--platform: %s", domain.ErrorMessage(err))
	}
	if err := domain.ValidateID(o.Node); err != nil {
		return nil, domain.Errorf(domain.EINVALID, "--node: %s", domain.ErrorMessage(err))
	}
	poll, err := time.ParseDuration(o.Poll)
	if err != nil || poll <= 0 {
		return nil, domain.Errorf(domain.EINVALID, "--usb-poll %q: want a positive duration such as 1s or 500ms", o.Poll)
	}
	if o.Debounce < 1 || o.Debounce > 1000 {
		return nil, domain.Errorf(domain.EINVALID, "--usb-debounce %d: want 1 to 1000 consecutive polls", o.Debounce)
	}
	if files.Reader != nil && files.Verifier == nil {
		return nil, domain.Errorf(domain.EINVALID, "USB key watcher: stored license files cannot be read without a verifier for them")
	}
	return &Node{platform: o.Platform, node: o.Node, enum: enumerator(vendor, product), files: files, interval: poll, debounce: int(o.Debounce)}, nil
}

// NodeStatus is the watcher's state for /readyz. It names no key ids:
// /readyz is public.
type NodeStatus struct {
	State    string     `json:"state"`            // off, starting, ok, unavailable, error
	Reason   string     `json:"reason,omitempty"` // why it is off
	Platform string     `json:"platform,omitempty"`
	Node     string     `json:"node,omitempty"`
	Error    string     `json:"error,omitempty"`
	LastPoll *time.Time `json:"last_poll,omitempty"`
	Polls    uint64     `json:"polls,omitempty"`
	// KeyFiles says whether the license files the keys store are read.
	KeyFiles *KeyFilesStatus `json:"key_files,omitempty"`
}

// StateOff is the state of a node without a watcher.
const StateOff = "off"

// OffStatus is the status reported when no watcher runs.
func OffStatus() NodeStatus {
	return NodeStatus{State: StateOff, Reason: "no --usb-vendor given: USB keys are recorded only through the API"}
}

// Run records the node's keys through platforms (the ledger's command
// layer). It loads the keys the ledger records on this node (so a key pulled
// while the ledger was down is reported removed, and one still there is
// not reported again), then polls until ctx is done. An unavailable HID
// subsystem does not stop it: the watcher keeps polling, logs the reason
// once and Status shows it. It returns nil when ctx ends.
func (n *Node) Run(ctx context.Context, platforms Platforms, log *slog.Logger) error {
	log = log.With("component", "usb-key-watcher", "platform", n.platform)
	var inserted []string
	for {
		st, err := platforms.Current(ctx, n.platform)
		if err == nil {
			if !st.Registered() {
				log.Warn("platform not registered yet: USB key changes are retried at each poll until it is")
			}
			inserted = KeysOnNode(st, n.node)
			break
		}
		n.mu.Lock()
		n.loadErr = "load the platform's recorded keys: " + err.Error()
		n.mu.Unlock()
		log.Error("USB key watcher cannot load the platform; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(n.interval):
		}
	}
	w, err := NewWatcher(Config{Node: n.node, Interval: n.interval, Debounce: n.debounce, Inserted: inserted, Files: n.files.Reader, Logger: log},
		n.enum, LedgerEvents{Platform: n.platform, Source: "node/" + n.node, Platforms: platforms, Verifier: n.files.Verifier})
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.w, n.loadErr = w, ""
	n.mu.Unlock()
	log.Info("USB key watcher started", "node", n.node, "poll", n.interval, "debounce", n.debounce, "recorded_keys", len(inserted),
		"key_files", n.keyFiles().State, "key_file_reader", n.files.Name)
	return w.Run(ctx)
}

// Status is the watcher's state for /readyz.
func (n *Node) Status() NodeStatus {
	n.mu.Lock()
	w, loadErr := n.w, n.loadErr
	n.mu.Unlock()
	out := NodeStatus{State: StateStarting, Platform: n.platform, Node: n.node, Error: loadErr, KeyFiles: n.keyFiles()}
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

func (n *Node) keyFiles() *KeyFilesStatus {
	if n.files.Reader == nil {
		return &KeyFilesStatus{State: "off", Reason: n.files.Off}
	}
	return &KeyFilesStatus{State: "on", Reader: n.files.Name}
}
