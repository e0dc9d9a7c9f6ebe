//go:build cgo

package hid

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"

	gohid "github.com/sstallion/go-hid"
)

// hidMu serializes every call into hidapi: its last-error state is global
// and not thread-safe, and two HIDEnumerators may share a process.
var hidMu sync.Mutex

// HIDEnumerator enumerates attached HID devices through hidapi (go-hid,
// hidraw backend on Linux). Zero VendorID or ProductID matches any. It is
// safe for concurrent use.
type HIDEnumerator struct {
	VendorID  uint16
	ProductID uint16
}

// Enumerate lists the matching devices attached now. Errors wrap
// ErrUnavailable when hidapi cannot initialise, udev cannot be used, or the
// kernel exposes no hidraw class (module not loaded, /sys not mounted).
func (e HIDEnumerator) Enumerate(ctx context.Context) ([]Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if runtime.GOOS == "linux" {
		if _, err := os.Stat("/sys/class/hidraw"); err != nil {
			return nil, fmt.Errorf("%w: no hidraw device class (%v); load the hidraw kernel module or mount /sys", ErrUnavailable, err)
		}
	}
	hidMu.Lock()
	defer hidMu.Unlock()
	if err := gohid.Init(); err != nil {
		return nil, fmt.Errorf("%w: hidapi init: %v", ErrUnavailable, err)
	}
	var out []Device
	err := gohid.Enumerate(e.VendorID, e.ProductID, func(info *gohid.DeviceInfo) error {
		out = append(out, Device{Path: info.Path, VendorID: info.VendorID, ProductID: info.ProductID, Serial: info.SerialNbr})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("enumerate HID devices: %w", err)
	}
	if len(out) == 0 {
		// hidapi returns an empty list both for "no device" and for "could
		// not enumerate"; only its last error tells them apart, and only the
		// udev failure is a real one ("No HID devices ... found" is not).
		if herr := gohid.Error(); herr != nil && strings.Contains(herr.Error(), "udev") {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, herr)
		}
	}
	return out, nil
}
