package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/hid"
	"github.com/licledger/licledger/adapters/hid/hidtest"
	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// testLedger is `licledger serve` (the real Main, built from serve's
// flags) running for one test on 127.0.0.1:0, and a typed client of it.
type testLedger struct {
	*Main
	Dir string             // the data directory
	URL string             // http://127.0.0.1:PORT
	API *httpclient.Client // with the first admin token (withToken), none without tokens
}

// mainOptions are what mustRunMain's options set.
type mainOptions struct {
	dir    string
	args   []string
	clock  *eventstoretest.Clock
	hid    hid.Enumerator
	tokens []string // "role token" lines
	admin  string
}

type mainOption func(*mainOptions)

// withArgs adds serve flags (after --http, --log-level, --data and
// --tokens, so they may override those).
func withArgs(args ...string) mainOption {
	return func(o *mainOptions) { o.args = append(o.args, args...) }
}

// withDataDir serves dir instead of a new t.TempDir(): to restart a
// ledger on the data a stopped one left.
func withDataDir(dir string) mainOption { return func(o *mainOptions) { o.dir = dir } }

// withClock runs the ledger on clock instead of time.Now.
func withClock(c *eventstoretest.Clock) mainOption { return func(o *mainOptions) { o.clock = c } }

// withHID gives the USB key watcher (--usb-vendor) a fake enumerator
// instead of the machine's HID devices.
func withHID(e hid.Enumerator) mainOption { return func(o *mainOptions) { o.hid = e } }

// withToken configures a bearer token (serve --tokens); the first admin
// token is testLedger.API's.
func withToken(role, token string) mainOption {
	return func(o *mainOptions) {
		o.tokens = append(o.tokens, role+" "+token)
		if role == "admin" && o.admin == "" {
			o.admin = token
		}
	}
}

// mustRunMain runs `licledger serve` as Main with serve's flags (the USB
// enumerator and the clock aside), waits until /readyz says the
// projections caught up, and closes it when the test ends (Close may be
// called before, to restart on the same data directory).
func mustRunMain(t *testing.T, opts ...mainOption) *testLedger {
	t.Helper()
	var o mainOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	args := []string{"--http", "127.0.0.1:0", "--log-level", "error", "--data", o.dir}
	if len(o.tokens) > 0 {
		file := filepath.Join(t.TempDir(), "tokens")
		writeFile(t, file, strings.Join(o.tokens, "\n")+"\n")
		args = append(args, "--tokens", file)
	}
	hw := realHardware
	if o.hid != nil {
		hw.enumerator = func(vendor, product uint16) hid.Enumerator { return o.hid }
	}
	if keys, ok := o.hid.(*fakeKeys); ok {
		hw.transport = keys.dongles.Open // the dongles answer the key-files protocol
	}
	m, err := mainFromFlagsWith(append(args, o.args...), io.Discard, hw)
	if err != nil {
		t.Fatalf("serve %v: %v", o.args, err)
	}
	if o.clock != nil {
		m.Config.Now = o.clock.Now
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
	l := &testLedger{Main: m, Dir: o.dir, URL: "http://" + m.Addr()}
	l.API = newClient(t, l.URL, o.admin)
	waitReady(t, l.API)
	return l
}

// client is a client of the ledger with token ("" for none).
func (l *testLedger) client(t *testing.T, token string) *httpclient.Client {
	t.Helper()
	return newClient(t, l.URL, token)
}

func newClient(t *testing.T, base, token string) *httpclient.Client {
	t.Helper()
	var opts []httpclient.Option
	if token != "" {
		opts = append(opts, httpclient.WithToken(token))
	}
	c, err := httpclient.New(base, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitReady polls /readyz until the projections have caught up.
func waitReady(t *testing.T, c *httpclient.Client) {
	t.Helper()
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err = c.Ready(t.Context()); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never became ready: %v", c.BaseURL(), err)
}

// apiErr is the *httpclient.Error of err; it fails the test when err is
// not an answer of the ledger.
func apiErr(t *testing.T, err error) *httpclient.Error {
	t.Helper()
	e, ok := errors.AsType[*httpclient.Error](err)
	if !ok {
		t.Fatalf("%v: want an error answer of the ledger", err)
	}
	return e
}

// reply is a finished raw HTTP exchange (rawHTTP).
type reply struct {
	method, url string
	status      int
	header      http.Header
	body        []byte
}

// rawHTTP sends one request as is, with a content type (none when "")
// and no credentials: for what the typed client does not say (raw bytes
// compared, endpoints it has no method for, malformed requests, /readyz
// sections, /metrics, response headers).
func rawHTTP(t *testing.T, method, url, contentType string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
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
	return reply{method: method, url: url, status: resp.StatusCode, header: resp.Header, body: b}
}

// want fails the test unless the reply has status, and returns its body.
func (r reply) want(t *testing.T, status int) []byte {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s %s: %d, want %d: %s", r.method, r.url, r.status, status, r.body)
	}
	return r.body
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

// readyz is the part of /readyz the wiring adds (the typed client's
// Readiness leaves these sections out).
type readyz struct {
	Status         string
	LicenseUploads uploadsStatus  `json:"license_uploads"`
	USBKeyWatcher  hid.NodeStatus `json:"usb_key_watcher"`
}

func getReadyz(t *testing.T, base string) (int, readyz) {
	t.Helper()
	r := rawHTTP(t, "GET", base+"/readyz", "", nil)
	var rz readyz
	decode(t, r.body, &rz)
	return r.status, rz
}

// fakeKeys is the fake USB hardware: the serial numbers of the dongles
// "attached" now, or an enumeration error, and the dongles themselves,
// answering the reference key-files protocol with the files each stores
// (none unless told).
type fakeKeys struct {
	mu      sync.Mutex
	serials []string
	err     error
	dongles hidtest.Keys
}

// store sets the license files the dongle with serial stores.
func (f *fakeKeys) store(serial string, files ...[]byte) {
	f.dongles.Dongle(serial).SetFiles(files...)
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

func (f *fakeKeys) fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}
