// Package hidtest fakes the one true hardware edge under adapters/hid's
// key file reader: a license dongle answering licledger-keyfiles/1
// (adapters/hid/PROTOCOL.md) over a hid.Transport. The device side here is
// written from PROTOCOL.md, not from the host side's code, so the two
// check each other.
package hidtest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/licledger/licledger/adapters/hid"
)

// Wire values of PROTOCOL.md §1–§3, spelled out again on purpose.
const (
	reportSize = 64
	chunk      = 57
	version    = 0x01

	StatusOK        = 0x00
	StatusUnknown   = 0x01
	StatusNoFile    = 0x02
	StatusBadOffset = 0x03
	StatusBusy      = 0x04
	StatusStorage   = 0x05
)

// Dongle is one fake license dongle: the files it stores and its queue of
// input reports. Every answer is queued at once, so a read never waits:
// an empty queue is an immediate hid.ErrReportTimeout. Safe for concurrent
// use (the watcher reads it while the test changes it).
type Dongle struct {
	mu       sync.Mutex
	files    [][]byte
	queue    [][]byte
	requests [][]byte
	tamper   func(req, ans []byte) [][]byte
	sendErr  error
	openErr  error
	opened   int
	closed   int
}

// NewDongle returns a dongle storing files.
func NewDongle(files ...[]byte) *Dongle {
	d := &Dongle{}
	d.SetFiles(files...)
	return d
}

// SetFiles replaces the stored files.
func (d *Dongle) SetFiles(files ...[]byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.files = nil
	for _, f := range files {
		d.files = append(d.files, slices.Clone(f))
	}
}

// Tamper installs f (nil removes it): it sees every request and the
// answer the dongle would give, and returns the input reports to queue
// instead: none loses the answer, several add noise, a changed one
// corrupts it.
func (d *Dongle) Tamper(f func(req, ans []byte) [][]byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tamper = f
}

// Queue adds input reports to the queue now, as a dongle that sent
// reports nobody read.
func (d *Dongle) Queue(reports ...[]byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range reports {
		d.queue = append(d.queue, slices.Clone(r))
	}
}

// FailSend makes every Send fail with err (nil: succeed again), as a
// dongle pulled mid-read.
func (d *Dongle) FailSend(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sendErr = err
}

// FailOpen makes every open fail with err (nil: succeed again).
func (d *Dongle) FailOpen(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.openErr = err
}

// Requests returns the requests received so far.
func (d *Dongle) Requests() [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.requests)
}

// Opens returns how many times the dongle was opened and closed.
func (d *Dongle) Opens() (opened, closed int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.opened, d.closed
}

// Open opens the dongle as a hid.Transport (a hid.TransportOpener for a
// single dongle).
func (d *Dongle) Open(ctx context.Context, dev hid.Device) (hid.Transport, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.openErr != nil {
		return nil, d.openErr
	}
	d.opened++
	return &conn{d: d}, nil
}

// conn is one opened handle on a dongle.
type conn struct {
	d      *Dongle
	closed bool
}

var errClosed = errors.New("hidtest: transport used after Close")

func (c *conn) Send(report []byte) error {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.closed {
		return errClosed
	}
	if d.sendErr != nil {
		return d.sendErr
	}
	if len(report) != reportSize {
		return errors.New("hidtest: a report is 64 bytes")
	}
	req := slices.Clone(report)
	d.requests = append(d.requests, req)
	ans := d.answer(req)
	out := [][]byte{ans}
	if ans == nil {
		out = nil
	}
	if d.tamper != nil {
		out = d.tamper(slices.Clone(req), slices.Clone(ans))
	}
	d.queue = append(d.queue, out...)
	return nil
}

func (c *conn) Receive(p []byte, timeout time.Duration) (int, error) {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.closed {
		return 0, errClosed
	}
	if len(d.queue) == 0 {
		return 0, hid.ErrReportTimeout
	}
	r := d.queue[0]
	d.queue = d.queue[1:]
	return copy(p, r), nil
}

func (c *conn) Close() error {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if !c.closed {
		c.closed = true
		d.closed++
	}
	return nil
}

// answer is the dongle's answer to a request (PROTOCOL.md §1–§3); nil for
// a report without the magic, which a dongle ignores.
func (d *Dongle) answer(req []byte) []byte {
	if req[0] != 'L' || req[1] != 'F' {
		return nil
	}
	cmd, seq, index := req[3], req[4], int(req[5])
	offset := int(binary.BigEndian.Uint32(req[6:10]))
	if req[2] != version {
		return Answer(cmd, seq, StatusUnknown, nil)
	}
	switch cmd {
	case 0x01: // COUNT
		return Answer(cmd, seq, StatusOK, []byte{byte(len(d.files))})
	case 0x02: // STAT
		if index >= len(d.files) {
			return Answer(cmd, seq, StatusNoFile, nil)
		}
		f := d.files[index]
		sum := sha256.Sum256(f)
		data := binary.BigEndian.AppendUint32(nil, uint32(len(f)))
		return Answer(cmd, seq, StatusOK, append(data, sum[:]...))
	case 0x03: // READ
		if index >= len(d.files) {
			return Answer(cmd, seq, StatusNoFile, nil)
		}
		f := d.files[index]
		if offset >= len(f) {
			return Answer(cmd, seq, StatusBadOffset, nil)
		}
		return Answer(cmd, seq, StatusOK, f[offset:min(len(f), offset+chunk)])
	}
	return Answer(cmd, seq, StatusUnknown, nil)
}

// Answer encodes an answer report (PROTOCOL.md §1): for tests that build
// their own, stale or wrong ones.
func Answer(cmd, seq, status byte, data []byte) []byte {
	r := make([]byte, reportSize)
	r[0], r[1], r[2], r[3], r[4], r[5], r[6] = 'L', 'F', version, cmd|0x80, seq, status, byte(len(data))
	copy(r[7:], data)
	return r
}

// Keys is a set of fake dongles by serial number: the hid.TransportOpener
// for the devices a fake enumerator reports. A serial it was not given a
// dongle for opens an empty one (a key storing no files).
type Keys struct {
	mu      sync.Mutex
	dongles map[string]*Dongle
}

// Dongle returns the dongle of serial, creating an empty one.
func (k *Keys) Dongle(serial string) *Dongle {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dongles == nil {
		k.dongles = map[string]*Dongle{}
	}
	d := k.dongles[serial]
	if d == nil {
		d = NewDongle()
		k.dongles[serial] = d
	}
	return d
}

// Open opens the dongle of dev's serial number.
func (k *Keys) Open(ctx context.Context, dev hid.Device) (hid.Transport, error) {
	return k.Dongle(dev.Serial).Open(ctx, dev)
}
