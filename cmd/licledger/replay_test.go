package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/fixtures"
)

func replayRun(t *testing.T, in string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(in)
	defer func() { stdin = old }()
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), append([]string{"replay"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// The command prints, for any instant of a fixture, exactly the bytes the
// golden file holds for it (R32: the CLI, the goldens and the HTTP API
// print one document).
func TestReplayCommand(t *testing.T) {
	f, err := fixtures.Load("r19-first-pull")
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range f.Instants {
		code, out, errs := replayRun(t, "", "--events", "../../fixtures/r19-first-pull.jsonl", "--platform", f.Platform, "--at", at.Format(time.RFC3339))
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		if !bytes.Contains(f.Golden, []byte(out)) || !strings.HasPrefix(out, "{\n") {
			t.Fatalf("--at %s printed what the golden file does not hold:\n%s", at.Format(time.RFC3339), out)
		}
	}
	// --at defaults to the platform's last event; "-" reads stdin; a
	// complete stored log (ids, versions, digests given) replays the same.
	last := f.Events[len(f.Events)-1].Time
	want, err := fixtures.Render(f.Events, f.Platform, []time.Time{last})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := replayRun(t, canonicalLog(t, f), "--events", "-", "--platform", f.Platform)
	if code != 0 || out != string(want) {
		t.Fatalf("exit %d (%s), printed\n%s\nwant\n%s", code, errs, out, want)
	}
}

func TestReplayCommandRefuses(t *testing.T) {
	good := `{"type":"platform.registered","subject":"platform/p","time":"2026-01-01T00:00:00Z","data":{"nodes":["mn-1"]}}` + "\n"
	tests := []struct {
		name     string
		in       string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no flags", good, nil, 2, "--events and --platform are required"},
		{"malformed line", good + "# note\n{\"type\":\n", []string{"--events", "-", "--platform", "p"}, 2, "-: line 3: not an event object"},
		{"unknown type", good + `{"type":"platform.exploded","subject":"platform/p","time":"2026-01-02T00:00:00Z","data":{}}` + "\n",
			[]string{"--events", "-", "--platform", "p"}, 2, `line 2: unknown event type "platform.exploded"`},
		{"bad instant", good, []string{"--events", "-", "--platform", "p", "--at", "yesterday"}, 2, "not an RFC 3339 instant"},
		{"unknown platform", good, []string{"--events", "-", "--platform", "q"}, 1, `no event of platform "q"`},
		{"missing file", "", []string{"--events", "no-such.jsonl", "--platform", "p"}, 2, "cannot read the history"},
		{"extra argument", good, []string{"--events", "-", "--platform", "p", "now"}, 2, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := replayRun(t, tt.in, tt.args...)
			if code != tt.wantCode || !strings.Contains(errs, tt.wantErr) || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d mentioning %q", code, out, errs, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// canonicalLog writes a fixture's events as the ledger stores them.
func canonicalLog(t *testing.T, f fixtures.Fixture) string {
	t.Helper()
	var b strings.Builder
	for _, e := range f.Events {
		raw, err := e.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		b.Write(raw)
		b.WriteByte('\n')
	}
	return b.String()
}

// Replay checks a history against the rules the ledger writes by: an event
// the ledger would have refused fails the replay, naming the file's line,
// the event and the reason word the command path gives.
func TestReplayRefusesWhatTheLedgerWouldNotWrite(t *testing.T) {
	raw, err := os.ReadFile("../../fixtures/r14-delete.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	fixture := string(raw)
	lines := strings.Count(fixture, "\n")
	ev := func(typ, time, data string) string {
		return `{"type":"` + typ + `","subject":"platform/r14-delete","time":"` + time + `","data":` + data + "}\n"
	}
	tests := []struct {
		name   string
		extra  []string // appended to the fixture; the last one is refused
		reason string
		words  []string
	}{
		// R14: the key's vmware license cannot be deleted.
		{"R14 deleting a USB key's license", []string{ev("license.deleted", "2026-02-02T00:00:00Z", `{"license":"L-K-VMW"}`)},
			domain.ReasonKeyLicense, []string{"L-K-VMW", "K-14", "R14"}},
		// R14: a deleted license is gone; deleting it again names no license.
		{"R14 deleting a deleted license", []string{ev("license.deleted", "2026-02-02T00:00:00Z", `{"license":"L-RC-TEN"}`)},
			domain.ReasonUnknownLicense, []string{"L-RC-TEN"}},
		{"pulling a key from a node it is not on", []string{
			ev("platform.node_added", "2026-02-02T00:00:00Z", `{"node":"mn-2"}`),
			ev("usb_key.removed", "2026-02-03T00:00:00Z", `{"node":"mn-2","key_id":"K-14"}`)},
			domain.ReasonUnknownKey, []string{"K-14", "mn-2"}},
		// R15: one or two management nodes.
		{"R15 a third management node", []string{
			ev("platform.node_added", "2026-02-02T00:00:00Z", `{"node":"mn-2"}`),
			ev("platform.node_added", "2026-02-02T00:00:00Z", `{"node":"mn-3"}`)},
			domain.ReasonNodeCount, []string{"R15"}},
		// R2: the standard Base's 16 sockets.
		{"R2 a host beyond the socket quota", []string{
			ev("host.added", "2026-02-02T00:00:00Z", `{"host":"h-1","hypervisor":"kvm","sockets":12}`),
			ev("host.added", "2026-02-02T00:00:00Z", `{"host":"h-2","hypervisor":"kvm","sockets":8}`)},
			domain.ReasonCapacityExceeded, []string{"h-2"}},
		// R12: a key-bound upload needs its key inserted.
		{"R12 a license bound to a key not inserted", []string{ev("license.uploaded", "2026-02-02T00:00:00Z",
			`{"source":"usb-key","key_id":"K-99","license":{"id":"L-K99","kind":"plus","module":"cdp","issued_at":"2026-01-01T00:00:00Z"}}`)},
			domain.ReasonWrongKey, []string{"K-99", "R12"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := fixture + strings.Join(tt.extra, "")
			code, out, errs := replayRun(t, in, "--events", "-", "--platform", "r14-delete")
			wantLine := fmt.Sprintf("-: line %d: event ", lines+len(tt.extra))
			if code != 2 || out != "" || !strings.Contains(errs, wantLine) || !strings.Contains(errs, tt.reason) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 naming %q and %q", code, out, errs, wantLine, tt.reason)
			}
			for _, w := range tt.words {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q does not mention %q", errs, w)
				}
			}
		})
	}
}
