package hid

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

// fakeEnum is the hardware edge: the test sets which keys are attached.
type fakeEnum struct {
	mu      sync.Mutex
	devices []Device
	err     error
}

func (f *fakeEnum) set(serials ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.devices = nil
	for i, s := range serials {
		f.devices = append(f.devices, Device{Path: fmt.Sprintf("/dev/hidraw%d", i), VendorID: 0x096e, ProductID: 0x0006, Serial: s})
	}
	f.err = nil
}

func (f *fakeEnum) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeEnum) Enumerate(ctx context.Context) ([]Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return slices.Clone(f.devices), nil
}

// recorder is a KeyEvents that logs calls as "mn-1 +K-1" / "mn-1 -K-1" and
// can be told to fail.
type recorder struct {
	mu    sync.Mutex
	calls []string
	fail  map[string]error // "+K-1" -> error to return (once)
}

func (r *recorder) record(ctx context.Context, sign, node, key string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err, ok := r.fail[sign+key]; ok {
		delete(r.fail, sign+key)
		return err
	}
	r.calls = append(r.calls, node+" "+sign+key)
	return nil
}

func (r *recorder) KeyInserted(ctx context.Context, node, key string, files [][]byte) error {
	return r.record(ctx, "+", node, key)
}

func (r *recorder) KeyRemoved(ctx context.Context, node, key string) error {
	return r.record(ctx, "-", node, key)
}

// take returns and clears the calls so far.
func (r *recorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.calls, ", ")
	r.calls = nil
	return s
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestWatcher(t *testing.T, cfg Config) (*Watcher, *fakeEnum, *recorder) {
	t.Helper()
	enum, rec := &fakeEnum{}, &recorder{fail: map[string]error{}}
	if cfg.Node == "" {
		cfg.Node = "mn-1"
	}
	cfg.Logger = quietLogger()
	w, err := NewWatcher(cfg, enum, rec)
	if err != nil {
		t.Fatal(err)
	}
	return w, enum, rec
}

// poll runs one poll and returns the events it delivered.
func poll(t *testing.T, w *Watcher, rec *recorder) string {
	t.Helper()
	_ = w.Poll(context.Background())
	return rec.take()
}

// R9, R15: a key seen on Debounce consecutive polls is reported inserted on
// this node, and reported removed once it is gone for as many polls; a key
// present for fewer polls than that (a loose contact) is never reported.
func TestWatcherDebounce(t *testing.T) {
	t.Parallel()
	type step struct {
		attached []string
		want     string
	}
	tests := []struct {
		name     string
		debounce int
		steps    []step
	}{
		{"insert then remove, default debounce 2", 0, []step{
			{nil, ""}, {[]string{"K-1"}, ""}, {[]string{"K-1"}, "mn-1 +K-1"}, {[]string{"K-1"}, ""},
			{nil, ""}, {nil, "mn-1 -K-1"}, {nil, ""},
		}},
		{"blips are ignored", 3, []step{
			{[]string{"K-1"}, ""}, {[]string{"K-1"}, ""}, {nil, ""}, {[]string{"K-1"}, ""}, {[]string{"K-1"}, ""},
			{[]string{"K-1"}, "mn-1 +K-1"}, {nil, ""}, {[]string{"K-1"}, ""}, {nil, ""}, {nil, ""}, {nil, "mn-1 -K-1"},
		}},
		{"debounce 1 reports at once", 1, []step{
			{[]string{"K-1"}, "mn-1 +K-1"}, {nil, "mn-1 -K-1"},
		}},
		{"several keys, removals before insertions", 2, []step{
			{[]string{"K-2", "K-1"}, ""}, {[]string{"K-1", "K-2"}, "mn-1 +K-1, mn-1 +K-2"},
			{[]string{"K-3"}, ""}, {[]string{"K-3"}, "mn-1 -K-1, mn-1 -K-2, mn-1 +K-3"},
		}},
		{"one key with several HID interfaces counts once", 1, []step{
			{[]string{"K-1", "K-1"}, "mn-1 +K-1"}, {[]string{"K-1"}, ""},
		}},
		{"serials that cannot be key ids are ignored", 1, []step{
			{[]string{"", "K 1", "K.1", "K-1"}, "mn-1 +K-1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, enum, rec := newTestWatcher(t, Config{Debounce: tt.debounce})
			for i, s := range tt.steps {
				enum.set(s.attached...)
				if got, want := poll(t, w, rec), s.want; got != want {
					t.Fatalf("poll %d with %v: events %q, want %q", i+1, s.attached, got, want)
				}
				if got := w.Status().State; got != StateOK {
					t.Fatalf("poll %d: state %s (%s)", i+1, got, w.Status().Err)
				}
			}
		})
	}
}

// The watcher starts from what the ledger records (Config.Inserted): a key
// still attached is not reported again, a key pulled while the ledger was
// down is reported removed.
func TestWatcherStartsFromRecordedKeys(t *testing.T) {
	t.Parallel()
	w, enum, rec := newTestWatcher(t, Config{Inserted: []string{"K-1", "K-2"}})
	if got, want := w.Status().Keys, []string{"K-1", "K-2"}; !slices.Equal(got, want) {
		t.Fatalf("keys = %v, want %v", got, want)
	}
	enum.set("K-1")
	if got := poll(t, w, rec); got != "" {
		t.Fatalf("first poll: %q", got)
	}
	if got, want := w.Status().Pending, []string{"-K-2"}; !slices.Equal(got, want) {
		t.Fatalf("pending = %v, want %v", got, want)
	}
	if got, want := poll(t, w, rec), "mn-1 -K-2"; got != want {
		t.Fatalf("second poll: %q, want %q", got, want)
	}
}

// R17 is about keys, not the subsystem: when the HID subsystem is
// unavailable or an enumeration fails, no key is reported removed; the
// watcher says why in Status/Err and recovers when enumeration works again.
func TestWatcherUnavailableAndErrors(t *testing.T) {
	t.Parallel()
	w, enum, rec := newTestWatcher(t, Config{Debounce: 2, Inserted: []string{"K-1"}})
	if err := w.Err(); err != nil || w.Status().State != StateStarting {
		t.Fatalf("before the first poll: %v %s", err, w.Status().State)
	}
	enum.fail(fmt.Errorf("%w: hidapi init: no udev", ErrUnavailable))
	for range 5 {
		if got := poll(t, w, rec); got != "" {
			t.Fatalf("unavailable subsystem produced events %q", got)
		}
	}
	st := w.Status()
	if st.State != StateUnavailable || !strings.Contains(st.Err, "no udev") || st.Polls != 5 {
		t.Fatalf("status = %+v", st)
	}
	if err := w.Err(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Err() = %v, want ErrUnavailable", err)
	}
	if got, want := st.Keys, []string{"K-1"}; !slices.Equal(got, want) {
		t.Fatalf("keys = %v, want %v", got, want)
	}

	enum.fail(errors.New("transient EIO"))
	_ = w.Poll(context.Background())
	if st := w.Status(); st.State != StateError || errors.Is(w.Err(), ErrUnavailable) || w.Err() == nil {
		t.Fatalf("transient error: %+v, Err %v", st, w.Err())
	}

	enum.set("K-1")
	if got := poll(t, w, rec); got != "" {
		t.Fatalf("recovered poll: %q", got)
	}
	if err := w.Err(); err != nil || w.Status().State != StateOK {
		t.Fatalf("after recovery: %v", err)
	}
}

// A failed delivery keeps the change pending and retries it at the next
// poll; a later change never overtakes it (pulled-then-other-key order of
// R21 is preserved).
func TestWatcherRetriesFailedDelivery(t *testing.T) {
	t.Parallel()
	w, enum, rec := newTestWatcher(t, Config{Debounce: 1, Inserted: []string{"K-1"}})
	rec.fail["-K-1"] = domain.Errorf(domain.ECONFLICT, "lost a race")
	enum.set("K-2")
	if got := poll(t, w, rec); got != "" {
		t.Fatalf("failed poll delivered %q", got)
	}
	if st := w.Status(); st.State != StateError || !strings.Contains(st.Err, "K-1") {
		t.Fatalf("status = %+v", st)
	}
	if got, want := w.Status().Pending, []string{"+K-2", "-K-1"}; !slices.Equal(got, want) {
		t.Fatalf("pending = %v, want %v", got, want)
	}
	if got, want := poll(t, w, rec), "mn-1 -K-1, mn-1 +K-2"; got != want {
		t.Fatalf("retry: %q, want %q", got, want)
	}
	// A pending change that undoes itself before it could be delivered is
	// simply dropped.
	rec.fail["+K-3"] = errors.New("ledger down")
	enum.set("K-2", "K-3")
	if got := poll(t, w, rec); got != "" {
		t.Fatalf("failed poll delivered %q", got)
	}
	enum.set("K-2")
	if got := poll(t, w, rec); got != "" {
		t.Fatalf("vanished key delivered %q", got)
	}
	if got, want := w.Status().Keys, []string{"K-2"}; !slices.Equal(got, want) {
		t.Fatalf("keys = %v, want %v", got, want)
	}
}

// Run polls on its own until the context ends.
func TestWatcherRun(t *testing.T) {
	t.Parallel()
	w, enum, rec := newTestWatcher(t, Config{Interval: time.Millisecond, Debounce: 2})
	enum.set("K-1")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var got string
	for deadline := time.Now().Add(10 * time.Second); got == "" && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		got = rec.take()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := "mn-1 +K-1"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	if st := w.Status(); st.Polls < 2 || st.LastPoll.IsZero() {
		t.Fatalf("status after Run: %+v", st)
	}
}

func TestNewWatcherRejects(t *testing.T) {
	t.Parallel()
	enum, rec := &fakeEnum{}, &recorder{}
	tests := []struct {
		name   string
		cfg    Config
		enum   Enumerator
		events KeyEvents
	}{
		{"no node", Config{}, enum, rec},
		{"bad node", Config{Node: "mn.1"}, enum, rec},
		{"no enumerator", Config{Node: "mn-1"}, nil, rec},
		{"no events", Config{Node: "mn-1"}, enum, nil},
		{"negative interval", Config{Node: "mn-1", Interval: -time.Second}, enum, rec},
		{"negative debounce", Config{Node: "mn-1", Debounce: -1}, enum, rec},
		{"bad inserted key", Config{Node: "mn-1", Inserted: []string{"K 1"}}, enum, rec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewWatcher(tt.cfg, tt.enum, tt.events)
			if got, want := domain.ErrorCode(err), domain.EINVALID; got != want {
				t.Fatalf("code = %q, want %q (%v)", got, want, err)
			}
		})
	}
}

func TestParseUSBID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want uint16
		ok   bool
	}{
		{"0x096e", 0x096e, true},
		{"096E", 0x096e, true},
		{"0XFFFF", 0xffff, true},
		{"1", 1, true},
		{"", 0, false},
		{"0x", 0, false},
		{"0x10000", 0, false},
		{"12345", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"zz", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseUSBID(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseUSBID(%q) = %#x, %v; want %#x ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
