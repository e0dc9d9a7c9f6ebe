package eventstore

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

func canonical(t testing.TB, e domain.Event) []byte {
	t.Helper()
	raw, err := e.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func sampleEvent() domain.Event {
	return domain.Event{
		SpecVersion: domain.SpecVersion, ID: "01JABCDEF0123456789ABCDEFG", Source: "licledger",
		Type: domain.EventLicenseUploaded, Subject: "platform/acme-prod",
		Time:             time.Date(2026, 3, 1, 9, 30, 0, 120000000, time.UTC),
		AggregateVersion: 42, PrevDigest: strings.Repeat("ab", 32), SchemaVersion: 1,
		IdempotencyKey: "req-7",
		Data:           json.RawMessage(`{"source":"request-code","license":{"id":"L-1","kind":"base","edition":"enterprise","sockets":16,"issued_at":"2026-01-01T00:00:00Z"}}`),
	}
}

// The fast decoder takes every event the store writes; if it fell back to
// encoding/json, reading would be several times slower.
func TestDecodeFastAcceptsCanonicalEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*domain.Event)
	}{
		{"full", func(*domain.Event) {}},
		{"first of an aggregate", func(e *domain.Event) { e.PrevDigest, e.AggregateVersion = "", 1 }},
		{"no idempotency key", func(e *domain.Event) { e.IdempotencyKey = "" }},
		{"content type", func(e *domain.Event) { e.DataContentType = "application/json" }},
		{"whole second", func(e *domain.Event) { e.Time = e.Time.Truncate(time.Second) }},
		{"nanoseconds", func(e *domain.Event) { e.Time = e.Time.Add(123456789 - 120000000) }},
		{"null data", func(e *domain.Event) { e.Data = nil }},
		{"string data", func(e *domain.Event) { e.Data = json.RawMessage(`"x"`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sampleEvent()
			tt.edit(&e)
			raw := canonical(t, e)
			got, ok := decodeFast(raw)
			if !ok {
				t.Fatalf("fast decoder refused canonical %s", raw)
			}
			want, err := domain.DecodeEvent(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("fast decode\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// Anything outside the canonical shape goes to the reference decoder,
// which gives the same result or a clear error.
func TestDecodeFastDefersOutsideTheCanonicalShape(t *testing.T) {
	t.Parallel()
	good := string(canonical(t, sampleEvent()))
	tests := []struct {
		name string
		raw  string
	}{
		{"whitespace", strings.Replace(good, `"id":`, `"id": `, 1)},
		{"escaped string", strings.Replace(good, `"source":"licledger"`, `"source":"lic\u006cedger"`, 1)},
		{"non-ASCII source", strings.Replace(good, `"source":"licledger"`, `"source":"lîcledger"`, 1)},
		{"unknown attribute", strings.Replace(good, `"source"`, `"x-ext":"1","source"`, 1)},
		{"repeated attribute", strings.Replace(good, `"source"`, `"id":"other","source"`, 1)},
		{"data not last", strings.Replace(strings.Replace(good, `,"data":`, `,"data":null,"zz":`, 1), `"zz"`, `"idempotencykey"`, 1)},
		{"time with offset", strings.Replace(good, `09:30:00.12Z`, `10:30:00.12+01:00`, 1)},
		{"version with leading zero", strings.Replace(good, `"aggregateversion":42`, `"aggregateversion":042`, 1)},
		{"version negative", strings.Replace(good, `"aggregateversion":42`, `"aggregateversion":-42`, 1)},
		{"version float", strings.Replace(good, `"aggregateversion":42`, `"aggregateversion":42.0`, 1)},
		{"version zero", strings.Replace(good, `"aggregateversion":42`, `"aggregateversion":0`, 1)},
		{"schema from the future", strings.Replace(good, `"schemaversion":1`, `"schemaversion":2`, 1)},
		{"bad subject", strings.Replace(good, `platform/acme-prod`, `planet/acme`, 1)},
		{"bad data", strings.Replace(good, `"sockets":16`, `"sockets":16,`, 1)},
		{"truncated", good[:len(good)-5]},
		{"not an object", `[1,2,3]`},
		{"empty", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkDecodersAgree(t, []byte(tt.raw))
		})
	}
}

// checkDecodersAgree holds decodeFast to its contract: when it answers,
// it answers exactly what domain.DecodeEvent does.
func checkDecodersAgree(t *testing.T, raw []byte) {
	t.Helper()
	got, ok := decodeFast(raw)
	want, err := domain.DecodeEvent(raw)
	if !ok {
		return
	}
	if err != nil {
		t.Fatalf("fast decoder accepted %q, the reference decoder says %v", raw, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoders disagree on %q:\nfast %+v\nref  %+v", raw, got, want)
	}
}

func FuzzDecodeFast(f *testing.F) {
	e := sampleEvent()
	raw, _ := e.Canonical()
	f.Add(raw)
	e.IdempotencyKey, e.PrevDigest = "", ""
	raw, _ = e.Canonical()
	f.Add(raw)
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"s","type":"t","subject":"coupon/c","time":"2026-01-01T00:00:00Z","aggregateversion":1,"prevdigest":"","schemaversion":1,"data":{}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkDecodersAgree(t, raw)
	})
}

func TestSubjectMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		nats, event string
		want        bool
	}{
		{"ledger.platform.acme", "platform/acme", true},
		{"ledger.platform.acme", "platform/acm", false},
		{"ledger.platform.acme", "platform/acmf", false},
		{"ledger.platform.acme", "coupon/acmeee", false},
		{"ledger.platformxacme", "platform/acme", false},
		{"other.platform.acme", "platform/acme", false},
		{"ledger.", "", false},
	}
	for _, tt := range tests {
		if got := subjectMatches(tt.nats, tt.event); got != tt.want {
			t.Errorf("subjectMatches(%q, %q) = %v, want %v", tt.nats, tt.event, got, tt.want)
		}
	}
}

// BenchmarkDecode compares the read path's decoder with the reference one.
func BenchmarkDecode(b *testing.B) {
	raw := canonical(b, sampleEvent())
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := decodeRecord(1, "ledger.platform.acme-prod", raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("domain.DecodeEvent", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := domain.DecodeEvent(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestValidJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{`{}`, true}, {`[]`, true}, {`null`, true}, {`true`, true}, {`false`, true},
		{`0`, true}, {`-0.5e+10`, true}, {`12.25E-3`, true}, {`"a\u00e9\n\"x\""`, true},
		{` {"a" : [1, 2, {"b": null}] } `, true}, {`"é"`, true},
		{``, false}, {`{`, false}, {`{"a":}`, false}, {`{"a":1,}`, false}, {`[1,]`, false},
		{`01`, false}, {`1.`, false}, {`.5`, false}, {`1e`, false}, {`-`, false}, {`+1`, false},
		{`"\x"`, false}, {`"\u12"`, false}, {"\"a\nb\"", false}, {`tru`, false}, {`nulls`, false},
		{`{} {}`, false}, {`{'a':1}`, false}, {`{"a" 1}`, false}, {`[1 2]`, false},
		{strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1), false},
	}
	for _, tt := range tests {
		if got := validJSON([]byte(tt.in)); got != tt.want {
			t.Errorf("validJSON(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if got := validJSON([]byte(tt.in)); got && !json.Valid([]byte(tt.in)) {
			t.Errorf("validJSON(%q) accepts what encoding/json refuses", tt.in)
		}
	}
}

// validJSON agrees with encoding/json, except that it may refuse nesting
// deeper than maxDepth (which needs more than maxDepth bytes).
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,-3e2,true,false,null,"x\u0041"]}`, `[{}]`, `"\\"`, `0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, want := validJSON(b), json.Valid(b)
		if got && !want {
			t.Fatalf("validJSON accepts %q, encoding/json does not", b)
		}
		if !got && want && len(b) <= maxDepth {
			t.Fatalf("validJSON refuses valid %q", b)
		}
	})
}

func TestParseTimeAgreesWithTimeParse(t *testing.T) {
	t.Parallel()
	tests := []string{
		"2026-03-01T09:30:00Z", "2026-03-01T09:30:00.1Z", "2026-03-01T09:30:00.123456789Z",
		"2024-02-29T23:59:59.5Z", "0001-01-01T00:00:00.000000001Z", "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z",
	}
	for _, s := range tests {
		got, ok := domain.ParseCanonicalTime(s)
		want, err := time.Parse(time.RFC3339Nano, s)
		if !ok || err != nil || !reflect.DeepEqual(got, want.UTC()) {
			t.Errorf("ParseCanonicalTime(%q) = %v, %v; time.Parse = %v, %v", s, got, ok, want, err)
		}
	}
	for _, s := range []string{
		"2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-04-31T00:00:00Z", "2026-03-01T24:00:00Z",
		"2026-03-01T09:60:00Z", "2026-03-01T09:30:60Z", "2026-03-01T09:30:00.Z", "2026-03-01T09:30:00.1234567890Z",
		"2026-03-01 09:30:00Z", "2026-03-01T09:30:00+00:00", "2026-03-01T09:30:0xZ",
	} {
		if _, ok := domain.ParseCanonicalTime(s); ok {
			t.Errorf("ParseCanonicalTime(%q) accepted it", s)
		}
	}
}

func TestParseAckSubject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		subj         string
		seq, pending uint64
		ok           bool
	}{
		{"$JS.ACK.LEDGER.c1.1.42.7.1700000000000000000.5", 42, 5, true},
		{"$JS.ACK._.ACCHASH.LEDGER.c1.1.42.7.1700000000000000000.5.tok", 42, 5, true},
		{"$JS.ACK.dom.ACCHASH.LEDGER.c1.1.42.7.1700000000000000000.0", 42, 0, true},
		{"$JS.ACK.LEDGER.c1.1.x.7.17.5", 0, 0, false},
		{"$JS.ACK.LEDGER.c1.1.42", 0, 0, false},
		{"_INBOX.abc", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		seq, pending, ok := parseAckSubject(tt.subj)
		if seq != tt.seq || pending != tt.pending || ok != tt.ok {
			t.Errorf("parseAckSubject(%q) = %d, %d, %v; want %d, %d, %v", tt.subj, seq, pending, ok, tt.seq, tt.pending, tt.ok)
		}
	}
}
