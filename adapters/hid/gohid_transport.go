//go:build cgo

package hid

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	gohid "github.com/sstallion/go-hid"
)

// OpenHIDTransport opens dev through hidapi (go-hid, hidraw on Linux) as
// the Transport of the reference key file protocol (PROTOCOL.md §1):
// unnumbered 64-byte reports, written with a 0 report id byte first, read
// with hid_read_timeout. Every call holds hidMu, as enumeration does.
func OpenHIDTransport(ctx context.Context, dev Device) (Transport, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if runtime.GOOS == "linux" {
		if _, err := os.Stat("/sys/class/hidraw"); err != nil {
			return nil, fmt.Errorf("%w: no hidraw device class (%v)", ErrUnavailable, err)
		}
	}
	hidMu.Lock()
	defer hidMu.Unlock()
	if err := gohid.Init(); err != nil {
		return nil, fmt.Errorf("%w: hidapi init: %v", ErrUnavailable, err)
	}
	d, err := gohid.OpenPath(dev.Path)
	if err != nil {
		return nil, fmt.Errorf("open HID device %s: %w", dev.Path, err)
	}
	return &hidTransport{d: d, path: dev.Path}, nil
}

type hidTransport struct {
	d    *gohid.Device
	path string
}

func (t *hidTransport) Send(report []byte) error {
	buf := make([]byte, 1+len(report)) // report id 0: unnumbered reports
	copy(buf[1:], report)
	hidMu.Lock()
	defer hidMu.Unlock()
	if _, err := t.d.Write(buf); err != nil {
		return fmt.Errorf("write a report to %s: %w", t.path, err)
	}
	return nil
}

func (t *hidTransport) Receive(p []byte, timeout time.Duration) (int, error) {
	hidMu.Lock()
	defer hidMu.Unlock()
	n, err := t.d.ReadWithTimeout(p, timeout)
	switch {
	case errors.Is(err, gohid.ErrTimeout):
		return 0, ErrReportTimeout
	case err != nil:
		return 0, fmt.Errorf("read a report from %s: %w", t.path, err)
	}
	return n, nil
}

func (t *hidTransport) Close() error {
	hidMu.Lock()
	defer hidMu.Unlock()
	return t.d.Close()
}
