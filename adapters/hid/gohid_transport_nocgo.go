//go:build !cgo

package hid

import (
	"context"
	"fmt"
)

// OpenHIDTransport stands in for the hidapi transport in a build without
// cgo: it always fails with ErrUnavailable (so does enumeration, so the
// watcher never gets this far).
func OpenHIDTransport(ctx context.Context, dev Device) (Transport, error) {
	return nil, fmt.Errorf("%w: this binary was built without cgo (CGO_ENABLED=0); go-hid needs it", ErrUnavailable)
}
