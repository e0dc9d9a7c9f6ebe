//go:build cgo

package hid

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// The real go-hid enumeration on this machine, which has no USB devices:
// it must find none without error, or, where the HID subsystem cannot be
// used at all, report ErrUnavailable, which the watcher surfaces in its
// status instead of failing (serve starts anyway).
func TestHIDEnumeratorOnThisMachine(t *testing.T) {
	t.Parallel()
	for _, e := range []HIDEnumerator{{}, {VendorID: 0x096e, ProductID: 0x0006}} {
		devices, err := e.Enumerate(context.Background())
		switch {
		case errors.Is(err, ErrUnavailable):
			t.Logf("HID subsystem unavailable here: %v", err)
			w, werr := NewWatcher(Config{Node: "mn-1", Logger: quietLogger()}, e, &recorder{})
			if werr != nil {
				t.Fatal(werr)
			}
			if perr := w.Poll(context.Background()); !errors.Is(perr, ErrUnavailable) || w.Status().State != StateUnavailable {
				t.Fatalf("watcher did not report the unavailable subsystem: %v, %+v", perr, w.Status())
			}
		case err != nil:
			t.Fatalf("Enumerate(%04x:%04x): %v", e.VendorID, e.ProductID, err)
		case len(devices) != 0:
			t.Fatalf("Enumerate(%04x:%04x) found %d devices on a machine with none: %+v", e.VendorID, e.ProductID, len(devices), devices)
		}
	}
}

// The real enumerator honours a cancelled context.
func TestHIDEnumeratorCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (HIDEnumerator{}).Enumerate(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// The real hidapi transport on this machine: a device that is not there
// cannot be opened, and the error says which (or that HID is unavailable
// here); a cancelled context opens nothing. The protocol above it is
// tested against hidtest's dongle.
func TestOpenHIDTransportOnThisMachine(t *testing.T) {
	t.Parallel()
	dev := Device{Path: "/dev/hidraw-licledger-test-none", Serial: "K-1"}
	tr, err := OpenHIDTransport(context.Background(), dev)
	if err == nil {
		tr.Close()
		t.Fatal("opened a device that does not exist")
	}
	if !errors.Is(err, ErrUnavailable) && !strings.Contains(err.Error(), dev.Path) {
		t.Errorf("err = %v, want ErrUnavailable or an error naming %s", err, dev.Path)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := OpenHIDTransport(ctx, dev); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}
