//go:build !cgo

package hid

import (
	"context"
	"fmt"
)

// HIDEnumerator stands in for the hidapi enumerator in a build without cgo
// (go-hid needs it): every enumeration reports ErrUnavailable, so the
// ledger still builds and serves, and says why it sees no keys.
type HIDEnumerator struct {
	VendorID  uint16
	ProductID uint16
}

// Enumerate always fails with ErrUnavailable.
func (e HIDEnumerator) Enumerate(ctx context.Context) ([]Device, error) {
	return nil, fmt.Errorf("%w: this binary was built without cgo (CGO_ENABLED=0); go-hid needs it", ErrUnavailable)
}
