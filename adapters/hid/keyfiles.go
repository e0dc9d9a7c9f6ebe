package hid

import (
	"context"
	"errors"
	"time"

	"github.com/licledger/licledger/domain"
)

// KeyFileReader reads the signed license files a dongle stores
// (PROTOCOL.md). ReportReader speaks the reference protocol; a dongle with
// a vendor-specific storage protocol gets its own implementation.
//
// Contract: ReadFiles returns every file stored on the dongle dev, each
// whole and as stored, or an error; a partial list is never returned. It
// honours ctx and gives up in bounded time. An error records nothing: the
// watcher keeps the insertion pending and reads the key again at the next
// poll. The watcher calls it from its goroutine, one call at a time.
type KeyFileReader interface {
	ReadFiles(ctx context.Context, dev Device) ([][]byte, error)
}

// KeyFileVerifier checks one file read from the storage of USB key keyID:
// its vendor signature, and that it is bound to exactly keyID (not to
// another key, not to a request code). It returns the license the file
// grants, or why it is refused as a *domain.Error (bad-signature,
// malformed, unknown-signing-key, binding-mismatch, ...), which is
// recorded as license.upload_rejected with the file's digest (R11); any
// other error is an internal failure and records nothing. cmd implements
// it with adapters/licensefile, so the two adapters stay independent.
type KeyFileVerifier interface {
	VerifyKeyFile(raw []byte, keyID string) (domain.License, error)
}

// Transport exchanges HID reports with one opened dongle: the hardware
// edge under ReportReader, so the protocol is tested against a fake
// (hidtest.Dongle) and runs on go-hid (OpenHIDTransport) in serve.
//
// Reports carry ReportSize bytes of data, without the report id: the
// protocol uses unnumbered reports, and a transport adds the id byte where
// the platform's HID API wants one.
type Transport interface {
	// Send writes one output report.
	Send(report []byte) error
	// Receive copies the next input report into p and returns its length,
	// waiting at most timeout for one (0: not at all); ErrReportTimeout
	// when none came.
	Receive(p []byte, timeout time.Duration) (int, error)
	Close() error
}

// TransportOpener opens the Transport of an attached device.
type TransportOpener func(ctx context.Context, dev Device) (Transport, error)

// ErrReportTimeout is what a Transport's Receive returns when no input
// report arrived in time.
var ErrReportTimeout = errors.New("no HID report within the timeout")

// ErrProtocol marks a dongle that answered outside the protocol (a bad
// status, a wrong length, a limit exceeded, a checksum mismatch).
var ErrProtocol = errors.New("USB key storage protocol violation")
