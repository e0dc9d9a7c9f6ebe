package domain

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// statesEqual compares two states by content. Clone drops the index
// entries that no longer take part, so clones of equal histories compare
// equal however they were reached.
func statesEqual(a, b *PlatformState) bool {
	return reflect.DeepEqual(a.Clone(), b.Clone())
}

// fold folds events into a fresh state.
func fold(tb testing.TB, events []Event) *PlatformState {
	tb.Helper()
	s := &PlatformState{}
	for _, e := range events {
		if err := EvolvePlatform(s, e); err != nil {
			tb.Fatalf("fold %s: %v", e.ID, err)
		}
	}
	return s
}

func marshalAt(tb testing.TB, s *PlatformState, at time.Time) []byte {
	tb.Helper()
	b, err := MarshalEntitlement(PlatformEntitlement(s, at))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// R32: folding from scratch equals folding resumed from any midpoint
// through Clone, and folding into a clone leaves the original unchanged.
func TestFoldResumedFromMidpoint(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		events := randomHistory(t, seed, 3000, licenseHeavy)
		whole := fold(t, events)
		r := rand.New(rand.NewPCG(seed, 99))
		for range 5 {
			mid := r.IntN(len(events))
			snap := fold(t, events[:mid])
			frozen := marshalAt(t, snap, snap.LastEventTime())
			resumed := snap.Clone()
			for _, e := range events[mid:] {
				if err := EvolvePlatform(resumed, e); err != nil {
					t.Fatal(err)
				}
			}
			if !statesEqual(resumed, whole) {
				t.Fatalf("seed %d: fold resumed at %d differs from the fold from scratch", seed, mid)
			}
			if got := marshalAt(t, snap, snap.LastEventTime()); !bytes.Equal(got, frozen) {
				t.Fatalf("seed %d: folding into a clone changed the original", seed)
			}
			// The original folds on as if the clone never existed: a map
			// the two shared would have seen the clone's events already.
			for _, e := range events[mid:] {
				if err := EvolvePlatform(snap, e); err != nil {
					t.Fatalf("seed %d: the original, folded on after its clone: %v", seed, err)
				}
			}
			if !statesEqual(snap, whole) {
				t.Fatalf("seed %d: the original, folded on after its clone, differs from the fold from scratch", seed)
			}
			at := whole.LastEventTime().Add(time.Duration(r.IntN(90*24)) * time.Hour)
			if !bytes.Equal(marshalAt(t, resumed, at), marshalAt(t, whole, at)) {
				t.Fatalf("seed %d: entitlements differ at %s", seed, at)
			}
		}
	}
}

// R32: the entitlement at T from the state folded incrementally up to T
// equals the one from folding the prefix of events up to T from scratch
// (PlatformAsOf), at instants between and on events, byte for byte.
func TestAsOfEqualsPrefix(t *testing.T) {
	events := randomHistory(t, 11, 4000, licenseHeavy)
	r := rand.New(rand.NewPCG(11, 1))
	s := &PlatformState{}
	checked := 0
	for i, e := range events {
		if err := EvolvePlatform(s, e); err != nil {
			t.Fatal(err)
		}
		// Instants from this event's time up to (not including) the next
		// event's: the state folded so far answers for them. Events that
		// share an instant are all in or all out, so only the last of them
		// is a place to ask.
		if r.IntN(40) != 0 || (i+1 < len(events) && !events[i+1].Time.After(e.Time)) {
			continue
		}
		at := e.Time
		if i+1 < len(events) {
			at = at.Add(time.Duration(r.Int64N(int64(events[i+1].Time.Sub(at)))))
		}
		prefix, err := PlatformAsOf(events, "random", at)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := marshalAt(t, s, at), marshalAt(t, prefix, at); !bytes.Equal(got, want) {
			t.Fatalf("at %s (after event %d): incremental and as-of differ:\n%s\n%s", at, i, got, want)
		}
		checked++
	}
	if checked < 50 {
		t.Fatalf("only %d instants checked", checked)
	}
}

// R32: the marshalled bytes are identical across runs and round-trip.
func TestMarshalIsDeterministic(t *testing.T) {
	events := randomHistory(t, 5, 3000, licenseHeavy)
	at := events[len(events)-1].Time.Add(24 * time.Hour)
	first := marshalAt(t, fold(t, events), at)
	for range 5 {
		if got := marshalAt(t, fold(t, events), at); !bytes.Equal(got, first) {
			t.Fatal("two folds of one history marshal differently")
		}
	}
	var back Entitlement
	if err := json.Unmarshal(first, &back); err != nil {
		t.Fatal(err)
	}
	again, err := MarshalEntitlement(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, first) {
		t.Fatalf("unmarshal/marshal is not a fixed point:\n%s\n%s", first, again)
	}
	if first[len(first)-1] != '\n' {
		t.Fatal("no trailing newline")
	}
}

// Unknown types and undecodable data are EINVALID, never skipped, and
// leave the state unchanged; so do events of another platform.
func TestEvolveRefuses(t *testing.T) {
	h := newHistory(t, "p")
	h.do(day(1), UploadLicense{Source: SourceRequestCode, Licenses: []License{ent16("L-1")}})
	ev := func(typ, subject, data string) Event {
		return Event{ID: "E-x", Type: typ, Subject: subject, Time: day(2), Data: json.RawMessage(data)}
	}
	tests := []struct {
		name string
		e    Event
	}{
		{"unknown type", ev("platform.renamed", "platform/p", `{}`)},
		{"subscription event", ev(EventSubscriptionCreated, "platform/p", `{}`)},
		{"other platform", ev(EventHostAdded, "platform/q", `{"host":"h","hypervisor":"kvm","sockets":1}`)},
		{"not JSON", ev(EventHostAdded, "platform/p", `{"host":`)},
		{"wrong type", ev(EventHostAdded, "platform/p", `{"host":"h","hypervisor":"kvm","sockets":"2"}`)},
		{"unknown hypervisor", ev(EventHostAdded, "platform/p", `{"host":"h","hypervisor":"xen","sockets":2}`)},
		{"no host", ev(EventHostAdded, "platform/p", `{"hypervisor":"kvm","sockets":2}`)},
		{"bad license", ev(EventLicenseUploaded, "platform/p", `{"source":"request-code","license":{"id":"L-2","kind":"plus","module":"teleport","issued_at":"2026-01-01T00:00:00Z"}}`)},
		{"usb-key without key", ev(EventLicenseUploaded, "platform/p", `{"source":"usb-key","license":{"id":"L-2","kind":"plus","module":"cdp","issued_at":"2026-01-01T00:00:00Z"}}`)},
		{"bad time", ev(EventLicenseUploaded, "platform/p", `{"source":"request-code","license":{"id":"L-2","kind":"plus","module":"cdp","issued_at":"yesterday"}}`)},
		{"duplicate field", ev(EventHostRemoved, "platform/p", `{"host":"h-1","host":"h-2"}`)},
		{"field in capitals", ev(EventHostRemoved, "platform/p", `{"Host":"h-1"}`)},
		{"trailing data", ev(EventHostRemoved, "platform/p", `{"host":"h-1"} {}`)},
		{"key without node", ev(EventUSBKeyInserted, "platform/p", `{"key_id":"K-1"}`)},
	}
	want := marshalAt(t, h.s, day(3))
	version := h.s.Version()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := EvolvePlatform(h.s, tt.e)
			if ErrorCode(err) != EINVALID {
				t.Fatalf("err = %v, want invalid", err)
			}
			if h.s.Version() != version || !bytes.Equal(marshalAt(t, h.s, day(3)), want) {
				t.Fatal("a refused event changed the state")
			}
		})
	}
}

// Evolve is the value form: it returns a new state and leaves its input.
func TestEvolveValue(t *testing.T) {
	h := newHistory(t, "v")
	e := stamp(Event{Type: EventHostAdded, Subject: "platform/v", Data: json.RawMessage(`{"host":"h-1","hypervisor":"kvm","sockets":2}`)}, h.s, day(1))
	next, err := Evolve(h.s, e)
	if err != nil {
		t.Fatal(err)
	}
	if h.s.Version() != 1 || next.Version() != 2 || len(next.hosts) != 1 || len(h.s.hosts) != 0 {
		t.Fatalf("versions %d/%d, hosts %d/%d", h.s.Version(), next.Version(), len(h.s.hosts), len(next.hosts))
	}
}
