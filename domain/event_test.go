package domain

import (
	"encoding/json"
	"testing"
	"time"
)

func TestCanonicalIsStable(t *testing.T) {
	e := Event{
		SpecVersion: SpecVersion, ID: "01J0000000000000000000000A", Source: "api",
		Type: EventHostAdded, Subject: "platform/acme",
		Time:             time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CST", 8*3600)),
		AggregateVersion: 1, SchemaVersion: SchemaVersion,
		Data: json.RawMessage(`{ "host": "h-1",  "hypervisor":"kvm", "sockets": 2 }`),
	}
	got, err := e.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"specversion":"1.0","id":"01J0000000000000000000000A","source":"api","type":"host.added","subject":"platform/acme","time":"2026-01-01T19:04:05Z","aggregateversion":1,"prevdigest":"","schemaversion":1,"data":{"host":"h-1","hypervisor":"kvm","sockets":2}}`
	if string(got) != want {
		t.Fatalf("canonical\n got %s\nwant %s", got, want)
	}
	back, err := DecodeEvent(got)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.Canonical()
	if string(again) != string(got) {
		t.Fatalf("decode/encode not a fixed point:\n%s\n%s", got, again)
	}
}

func TestDecodeEventRejects(t *testing.T) {
	valid := `{"specversion":"1.0","id":"x","source":"s","type":"t","subject":"platform/a","time":"2026-01-01T00:00:00Z","aggregateversion":1,"prevdigest":"","schemaversion":1,"data":{}}`
	if _, err := DecodeEvent([]byte(valid)); err != nil {
		t.Fatalf("valid event rejected: %v", err)
	}
	tests := []struct{ name, raw string }{
		{"not json", `nope`},
		{"wrong specversion", `{"specversion":"0.3","id":"x","type":"t","subject":"platform/a","time":"2026-01-01T00:00:00Z","aggregateversion":1,"schemaversion":1}`},
		{"no id", `{"specversion":"1.0","type":"t","subject":"platform/a","time":"2026-01-01T00:00:00Z","aggregateversion":1,"schemaversion":1}`},
		{"no type", `{"specversion":"1.0","id":"x","subject":"platform/a","time":"2026-01-01T00:00:00Z","aggregateversion":1,"schemaversion":1}`},
		{"bad subject", `{"specversion":"1.0","id":"x","type":"t","subject":"platform/a.b","time":"2026-01-01T00:00:00Z","aggregateversion":1,"schemaversion":1}`},
		{"unknown kind", `{"specversion":"1.0","id":"x","type":"t","subject":"widget/a","time":"2026-01-01T00:00:00Z","aggregateversion":1,"schemaversion":1}`},
		{"no time", `{"specversion":"1.0","id":"x","type":"t","subject":"platform/a","aggregateversion":1,"schemaversion":1}`},
		{"no version", `{"specversion":"1.0","id":"x","type":"t","subject":"platform/a","time":"2026-01-01T00:00:00Z","schemaversion":1}`},
		{"future schema", `{"specversion":"1.0","id":"x","type":"t","subject":"platform/a","time":"2026-01-01T00:00:00Z","aggregateversion":1,"schemaversion":99}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEvent([]byte(tt.raw))
			if got, want := ErrorCode(err), EINVALID; got != want {
				t.Fatalf("code = %q, want %q (err %v)", got, want, err)
			}
		})
	}
}

func TestErrorCode(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{Errorf(ECONFLICT, "x"), ECONFLICT},
		{json.Unmarshal([]byte("x"), new(int)), EINTERNAL},
	}
	for _, tt := range tests {
		if got := ErrorCode(tt.err); got != tt.want {
			t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
