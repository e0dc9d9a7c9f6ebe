package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/hid"
	"github.com/licledger/licledger/adapters/hid/hidtest"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// startFlagsMain builds a Main from serve's flags, as `licledger serve`
// does (the USB hardware aside: enum, when given, lists the dongles, and
// a *fakeKeys also serves their stored files), runs it on the test's
// clock, and closes it at the end of the test.
func startFlagsMain(t *testing.T, args []string, clock *eventstoretest.Clock, enum hid.Enumerator) *Main {
	t.Helper()
	hw := realHardware
	if enum != nil {
		hw.enumerator = func(vendor, product uint16) hid.Enumerator { return enum }
	}
	if keys, ok := enum.(*fakeKeys); ok {
		hw.transport = keys.dongles.Open
	}
	m, err := mainFromFlagsWith(append([]string{"--http", "127.0.0.1:0", "--log-level", "error"}, args...), io.Discard, hw)
	if err != nil {
		t.Fatalf("serve %v: %v", args, err)
	}
	if clock != nil {
		m.Config.Now = clock.Now
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatalf("Main.Run: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Main.Close: %v", err)
		}
	})
	return m
}

// reply is a finished HTTP exchange.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// send posts body with a content type (none when "") and returns the reply.
func send(t *testing.T, method, url, contentType string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// apiError is the one error shape of the API.
type apiError struct {
	Code, Reason, Message string
}

func (r reply) apiError(t *testing.T) apiError {
	t.Helper()
	var b struct{ Error apiError }
	if err := json.Unmarshal(r.body, &b); err != nil || b.Error.Code == "" {
		t.Fatalf("status %d: not an error body: %s", r.status, r.body)
	}
	return b.Error
}

// decode unmarshals a JSON answer into v.
func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}

// eventually polls cond until it holds or 15 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readyz is the part of /readyz the wiring adds.
type readyz struct {
	Status         string
	LicenseUploads uploadsStatus  `json:"license_uploads"`
	USBKeyWatcher  hid.NodeStatus `json:"usb_key_watcher"`
}

func getReadyz(t *testing.T, base string) (int, readyz) {
	t.Helper()
	status, b := call(t, "GET", base+"/readyz", "")
	var r readyz
	decode(t, b, &r)
	return status, r
}

// fakeKeys is the fake USB hardware: the serial numbers of the dongles
// "attached" now, or an enumeration error, and the dongles themselves,
// answering the reference protocol with the files each stores (none
// unless told).
type fakeKeys struct {
	mu      sync.Mutex
	serials []string
	err     error
	dongles hidtest.Keys
}

func (f *fakeKeys) Enumerate(ctx context.Context) ([]hid.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := make([]hid.Device, len(f.serials))
	for i, s := range f.serials {
		out[i] = hid.Device{Path: "/dev/hidraw" + s, VendorID: 0x096e, ProductID: 0x0006, Serial: s}
	}
	return out, nil
}

func (f *fakeKeys) attach(serials ...string) {
	f.mu.Lock()
	f.serials = slices.Clone(serials)
	f.mu.Unlock()
}

// store sets the license files the dongle with serial stores.
func (f *fakeKeys) store(serial string, files ...[]byte) {
	f.dongles.Dongle(serial).SetFiles(files...)
}

func (f *fakeKeys) fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}
