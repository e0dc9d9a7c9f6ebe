package eventstore

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

func TestCanonicalLayoutKnown(t *testing.T) {
	t.Parallel()
	if !canonicalLayoutKnown {
		t.Fatal("domain.Event's fields changed: update canonicalFields and encodeCanonical (the fast path is off until then)")
	}
}

// encodeCanonical writes exactly Canonical's bytes, or declines.
func TestEncodeCanonicalMatchesCanonical(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(*domain.Event)
		handled bool // the fast path takes it
	}{
		{"full", func(*domain.Event) {}, true},
		{"first event", func(e *domain.Event) { e.PrevDigest, e.AggregateVersion = "", 1 }, true},
		{"no key", func(e *domain.Event) { e.IdempotencyKey = "" }, true},
		{"content type", func(e *domain.Event) { e.DataContentType = "application/json" }, true},
		{"no data", func(e *domain.Event) { e.Data = nil }, true},
		{"pretty data", func(e *domain.Event) { e.Data = json.RawMessage("{\n  \"a\": [1, 2]\n}") }, true},
		{"compact data, spaces in strings", func(e *domain.Event) { e.Data = json.RawMessage(`{"a":"x y\" z","b":[true]}`) }, true},
		{"whole second", func(e *domain.Event) { e.Time = e.Time.Truncate(time.Second) }, true},
		{"non-UTC time", func(e *domain.Event) { e.Time = e.Time.In(time.FixedZone("x", 3600)) }, true},
		{"HTML in data", func(e *domain.Event) { e.Data = json.RawMessage(`{"a":"<b>&"}`) }, false},
		{"U+2028 in data", func(e *domain.Event) { e.Data = json.RawMessage("\"\u2028\"") }, false},
		{"non-ASCII source", func(e *domain.Event) { e.Source = "nœud-1" }, false},
		{"quote in source", func(e *domain.Event) { e.Source = `a"b` }, false},
		{"HTML in type", func(e *domain.Event) { e.Type = "a<b" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sampleEvent()
			tt.edit(&e)
			raw, dataAt, ok := encodeCanonical(e)
			if ok != tt.handled {
				t.Fatalf("fast path took it: %v, want %v", ok, tt.handled)
			}
			want, err := e.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			if ok && string(raw) != string(want) {
				t.Fatalf("fast encoding\n%s\nwant Canonical\n%s", raw, want)
			}
			// Whichever path, the record is what a reader decodes.
			rec, err := encodeRecord(e)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := domain.DecodeEvent(rec.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if string(rec.Raw) != string(want) || !reflect.DeepEqual(rec.Event, dec) {
				t.Fatalf("record\n%+v\nwant decoded\n%+v", rec.Event, dec)
			}
			_ = dataAt
		})
	}
}

func FuzzEncodeCanonical(f *testing.F) {
	f.Add("licledger", "host.added", "req-1", []byte(`{"host":"h-1"}`), int64(1772357400123456789), uint64(3))
	f.Add("a<b", "t", "", []byte(`"\u2028"`), int64(0), uint64(1))
	f.Fuzz(func(t *testing.T, source, typ, key string, data []byte, nanos int64, version uint64) {
		e := sampleEvent()
		e.Source, e.Type, e.IdempotencyKey, e.Data = source, typ, key, data
		e.Time, e.AggregateVersion = time.Unix(0, nanos).UTC(), version
		raw, _, ok := encodeCanonical(e)
		if !ok {
			return
		}
		want, err := e.Canonical()
		if err != nil {
			t.Fatalf("fast path encoded what Canonical refuses (%v): %s", err, raw)
		}
		if string(raw) != string(want) {
			t.Fatalf("fast encoding\n%s\nwant Canonical\n%s", raw, want)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	e := sampleEvent()
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, _, ok := encodeCanonical(e); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("domain.Canonical", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.Canonical(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
