package main

import (
	"context"
	"log/slog"
	"sort"
	"strings"

	"github.com/licledger/licledger/adapters/hid"
	"github.com/licledger/licledger/adapters/licensefile"
	"github.com/licledger/licledger/domain"
)

// enumeratorFunc builds the HID enumerator for a vendor and product id;
// serve uses hidEnumerator, tests a fake (the one true hardware edge).
type enumeratorFunc = func(vendor, product uint16) hid.Enumerator

func hidEnumerator(vendor, product uint16) hid.Enumerator {
	return hid.HIDEnumerator{VendorID: vendor, ProductID: product}
}

// hardware is the USB edge serve drives: go-hid in production; tests
// pass fakes of exactly this, the one true hardware edge.
type hardware struct {
	enumerator enumeratorFunc      // lists the attached dongles
	transport  hid.TransportOpener // exchanges HID reports with one of them
}

// realHardware is go-hid (hidapi, hidraw on Linux).
var realHardware = hardware{enumerator: hidEnumerator, transport: hid.OpenHIDTransport}

// licensefile.Verifier checks the files a key stores for the watcher,
// without hid and licensefile importing each other.
var _ hid.KeyFileVerifier = (*licensefile.Verifier)(nil)

// keyFilesOff is the --usb-key-files value that reads no stored files.
const keyFilesOff = "off"

// keyFileReaders are the readers of the license files dongles store, by
// the name --usb-key-files takes (adapters/hid/PROTOCOL.md). A vendor
// whose dongles speak another storage protocol adds its hid.KeyFileReader
// here, built on hw.transport when its protocol runs over HID reports.
var keyFileReaders = map[string]func(hw hardware) hid.KeyFileReader{
	"reference": func(hw hardware) hid.KeyFileReader {
		return hid.NewReportReader(hw.transport, hid.ReportConfig{})
	},
}

func keyFileReaderNames() string {
	names := []string{keyFilesOff}
	for n := range keyFileReaders {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// keyFiles chooses whether the watcher reads the license files keys
// store: with the reader --usb-key-files names, when the ledger trusts
// vendor keys to verify them with (v); otherwise not, saying why in
// /readyz. An unknown reader name is a usage error.
func keyFiles(name string, v *licensefile.Verifier, hw hardware) (hid.KeyFiles, error) {
	if name == keyFilesOff {
		return hid.KeyFiles{Off: "--usb-key-files=off: the license files keys store are not read; a key's licenses arrive only as files bound to it, uploaded while it is inserted (R12)"}, nil
	}
	reader, ok := keyFileReaders[name]
	if !ok {
		return hid.KeyFiles{}, domain.Errorf(domain.EINVALID, "--usb-key-files %q: want one of %s", name, keyFileReaderNames())
	}
	if v == nil {
		return hid.KeyFiles{Off: "no --trusted-keys: the license files keys store cannot be verified, so they are not read; insertions are recorded without licenses"}, nil
	}
	return hid.KeyFiles{Reader: reader(hw), Name: name, Verifier: v}, nil
}

// wireUSBWatcher installs the node's USB key watcher (adapters/hid) in m
// as a Background task recording through m's command layer, or reports
// it off; /readyz shows it under "usb_key_watcher", with whether the
// files keys store are read under "key_files".
func wireUSBWatcher(m *Main, n *hid.Node, log *slog.Logger) {
	if n == nil {
		setReady(m, "usb_key_watcher", func() any { return hid.OffStatus() })
		return
	}
	m.Background = append(m.Background, func(ctx context.Context) error { return n.Run(ctx, m.Commands.Platforms, log) })
	setReady(m, "usb_key_watcher", func() any { return n.Status() })
}
