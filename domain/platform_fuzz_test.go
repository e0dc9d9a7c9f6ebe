package domain

import (
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

// fuzzStates returns states of random histories, and an empty one, to
// decide and fold against; built once.
func fuzzStates(tb testing.TB) []*PlatformState {
	fuzzOnce.Do(func() {
		for seed := uint64(1); seed <= 3; seed++ {
			fuzzStateList = append(fuzzStateList, fold(tb, randomHistory(tb, seed, 300, licenseHeavy)))
		}
		fuzzStateList = append(fuzzStateList, &PlatformState{})
	})
	return fuzzStateList
}

var (
	fuzzOnce      sync.Once
	fuzzStateList []*PlatformState
)

func seedEvents(f *testing.F) []Event {
	f.Helper()
	return randomHistory(f, 3, 200, licenseHeavy)
}

// FuzzDecodeEvent feeds arbitrary bytes to DecodeEvent and folds what
// decodes: no panic, and every error is an EINVALID *Error.
func FuzzDecodeEvent(f *testing.F) {
	for _, e := range seedEvents(f) {
		raw, err := e.Canonical()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	states := fuzzStates(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := DecodeEvent(raw)
		if err != nil {
			return
		}
		e.Subject = "platform/random" // fold into a state of that platform
		for _, s := range states {
			c := s.Clone()
			err := EvolvePlatform(c, e)
			var de *Error
			if err != nil && (!errors.As(err, &de) || de.Code != EINVALID) {
				t.Fatalf("EvolvePlatform error %v (%T), want an EINVALID *Error", err, err)
			}
			if err != nil && !statesEqual(c, s) {
				t.Fatal("a refused event changed the state")
			}
			_ = PlatformEntitlement(c, e.Time)
		}
	})
}

// FuzzDecidePlatform decides arbitrary commands against states of random
// histories: no panic, every refusal a *Error with a code and a reason,
// and every event decided folds.
func FuzzDecidePlatform(f *testing.F) {
	f.Add(uint8(0), "mn-1", "K-1", 4, int64(0), int64(400))
	f.Add(uint8(3), "h-1", "kvm", 2, int64(10), int64(20))
	f.Add(uint8(5), "L-9", "vmware", 8, int64(-5), int64(300))
	f.Add(uint8(7), "mn-2", "K-2", 0, int64(1), int64(2))
	states := fuzzStates(f)
	f.Fuzz(func(t *testing.T, kind uint8, a, b string, n int, issued, expires int64) {
		lic := fuzzLicense(a, b, n, issued, expires)
		cmds := []PlatformCommand{
			RegisterPlatform{Platform: a, Nodes: []string{b}, RequestCode: a},
			AddNode{Node: a},
			RemoveNode{Node: a},
			AddHost{Host: a, Hypervisor: b, Sockets: n},
			RemoveHost{Host: a},
			UploadLicense{Source: SourceRequestCode, Licenses: []License{lic}},
			UploadLicense{Source: SourceUSBKey, KeyID: b, Licenses: []License{lic}},
			UploadLicense{Source: b, Bundle: a, Licenses: []License{lic, lic}},
			DeleteLicense{License: a},
			InsertUSBKey{Node: a, KeyID: b, Licenses: []License{lic}},
			RemoveUSBKey{Node: a, KeyID: b},
			RejectUpload{Digest: a, Code: b, Reason: a, Message: b},
			nil,
		}
		cmd := cmds[int(kind)%len(cmds)]
		for _, s := range states {
			now := s.LastEventTime().Add(time.Duration(issued%1000) * time.Hour)
			evs, err := DecidePlatform(s, cmd, now)
			if err != nil {
				var de *Error
				if !errors.As(err, &de) || de.Code == "" || de.Reason == "" || de.Message == "" {
					t.Fatalf("%T refused with %#v, want a *Error with code, reason and message", cmd, err)
				}
				continue
			}
			c := s.Clone()
			for _, e := range evs {
				e = stamp(e, c, now)
				if err := EvolvePlatform(c, e); err != nil {
					t.Fatalf("%T decided an event that does not fold: %v", cmd, err)
				}
			}
		}
	})
}

func fuzzLicense(id, name string, n int, issued, expires int64) License {
	l := License{ID: id, IssuedAt: time.Unix(issued%4e9, 0)}
	if expires != 0 {
		t := time.Unix(expires%4e9+2e9, 0)
		l.ExpiresAt = &t
	}
	if n%2 == 0 {
		l.Kind, l.Edition, l.Sockets = KindBase, name, n
	} else {
		l.Kind, l.Module, l.Quantity = KindPlus, name, n
	}
	return l
}

// dataTargets pairs each platform event type with its struct.
var dataTargets = []struct {
	typ string
	new func() any
}{
	{EventPlatformRegistered, func() any { return &PlatformRegistered{} }},
	{EventPlatformNodeAdded, func() any { return &NodeChanged{} }},
	{EventLicenseUploaded, func() any { return &LicenseUploaded{} }},
	{EventLicenseUploadRejected, func() any { return &LicenseUploadRejected{} }},
	{EventLicenseDeleted, func() any { return &LicenseDeleted{} }},
	{EventUSBKeyInserted, func() any { return &USBKeyInserted{} }},
	{EventUSBKeyRemoved, func() any { return &USBKeyRemoved{} }},
	{EventHostAdded, func() any { return &HostAdded{} }},
	{EventHostRemoved, func() any { return &HostRemoved{} }},
}

// FuzzPlatformDataAgreesWithEncodingJSON holds the fast reader to its
// contract: whatever it decodes, encoding/json decodes to the same value.
func FuzzPlatformDataAgreesWithEncodingJSON(f *testing.F) {
	for _, e := range seedEvents(f) {
		for i, d := range dataTargets {
			if d.typ == e.Type {
				f.Add(uint8(i), []byte(e.Data))
			}
		}
	}
	f.Add(uint8(7), []byte(` { "host" : "h\u002d1", "hypervisor":"kvm" , "sockets": 2 , "x":[1,{"y":null}]} `))
	f.Add(uint8(2), []byte(`{"source":"request-code","license":{"id":"L","kind":"plus","module":"cdp","issued_at":"2026-01-01T08:00:00+08:00","expires_at":null}}`))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		target := dataTargets[int(which)%len(dataTargets)]
		got, err := PlatformEventData(Event{ID: "E", Type: target.typ, Data: data})
		if err != nil {
			return
		}
		want := target.new()
		if err := json.Unmarshal(data, want); err != nil {
			t.Fatalf("fast reader accepted %q, encoding/json refuses it: %v", data, err)
		}
		normalizeTimes(reflect.ValueOf(want))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nfast reader   %+v\nencoding/json %+v", data, got, want)
		}
	})
}

// normalizeTimes converts every time.Time reachable from v to UTC, as the
// fast reader does.
func normalizeTimes(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			normalizeTimes(v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			normalizeTimes(v.Index(i))
		}
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			v.Set(reflect.ValueOf(t.UTC()))
			return
		}
		for i := range v.NumField() {
			normalizeTimes(v.Field(i))
		}
	}
}

// fastUTC agrees with time.Time.UnmarshalJSON wherever it answers.
func FuzzFastUTC(f *testing.F) {
	for _, s := range []string{"2026-01-01T00:00:00Z", "2024-02-29T23:59:59Z", "2023-02-29T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:60Z", "2026-13-01T00:00:00Z"} {
		f.Add(`"` + s + `"`)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got, ok := fastUTC([]byte(q))
		var want time.Time
		err := want.UnmarshalJSON([]byte(q))
		if !ok {
			return
		}
		if err != nil || got != want.UTC() {
			t.Fatalf("fastUTC(%s) = %v, UnmarshalJSON = %v, %v", q, got, want, err)
		}
	})
}

// The fast time path covers the layout the ledger writes.
func TestFastUTC(t *testing.T) {
	for _, s := range []string{"2026-01-01T00:00:00Z", "2024-02-29T23:59:59Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1600-03-01T12:00:00Z", "2026-01-01T00:00:00.5Z", "2026-01-01T00:00:00.123456789Z"} {
		q := []byte(`"` + s + `"`)
		var want time.Time
		if err := want.UnmarshalJSON(q); err != nil {
			t.Fatal(err)
		}
		got, ok := fastUTC(q)
		if !ok || got != want.UTC() {
			t.Errorf("fastUTC(%s) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"2023-02-29T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:60Z", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00.1234567890Z", "2026-01-01T00:00:00+01:00"} {
		if _, ok := fastUTC([]byte(`"` + s + `"`)); ok {
			t.Errorf("fastUTC(%s) answered; it must leave it to the general parser", s)
		}
	}
}
