package main

import (
	"context"
	"log/slog"

	"github.com/licledger/licledger/adapters/hid"
)

// enumeratorFunc builds the HID enumerator for a vendor and product id;
// serve uses hidEnumerator, tests a fake (the one true hardware edge).
type enumeratorFunc = func(vendor, product uint16) hid.Enumerator

func hidEnumerator(vendor, product uint16) hid.Enumerator {
	return hid.HIDEnumerator{VendorID: vendor, ProductID: product}
}

// wireUSBWatcher installs the node's USB key watcher (adapters/hid) in m
// as a Background task recording through m's command layer, or reports
// it off; /readyz shows it under "usb_key_watcher".
func wireUSBWatcher(m *Main, n *hid.Node, log *slog.Logger) {
	if n == nil {
		setReady(m, "usb_key_watcher", func() any { return hid.OffStatus() })
		return
	}
	m.Background = append(m.Background, func(ctx context.Context) error { return n.Run(ctx, m.Commands.Platforms, log) })
	setReady(m, "usb_key_watcher", func() any { return n.Status() })
}
