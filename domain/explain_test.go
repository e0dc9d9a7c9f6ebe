package domain

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Every explanation names its rules, says the decision in words and names
// the events that decided it, all of them events of the history.
func TestExplainPlatform(t *testing.T) {
	ent := baseLic("L-E", EditionEnterprise, 16, day(0), day(365))
	tests := []struct {
		name     string
		steps    func(h *history)
		at       time.Time
		item     string
		entitled bool
		because  []string // the decision says each of these
		rules    []string // among its rules
		events   int      // events named
	}{
		{
			name: "R5 included in the enterprise edition", steps: func(h *history) { rc(h, day(1), ent) },
			at: day(2), item: ModuleGPU, entitled: true,
			because: []string{"included in the enterprise edition of Base license L-E"}, rules: []string{"R5"}, events: 1,
		},
		{
			name: "R13 entitled through a license and its source", steps: func(h *history) { rc(h, day(1), std8); rc(h, day(2), ten) },
			at: day(3), item: ModuleTenant, entitled: true,
			because: []string{"license L-T through the platform's request code"}, rules: []string{"R13"}, events: 1,
		},
		{
			name: "R13 Base entitled, item omitted", steps: func(h *history) { rc(h, day(1), std8) },
			at: day(3), item: "", entitled: true,
			because: []string{"Base license L-S (standard edition) through the platform's request code"}, rules: []string{"R1", "R13"}, events: 1,
		},
		{
			name: "R4 Base missing", steps: func(h *history) { rc(h, day(1), ten) },
			at: day(2), item: ModuleTenant,
			because: []string{"Base missing"}, rules: []string{"R4"}, events: 0,
		},
		{
			name: "R4 R8 the Base expired", steps: func(h *history) {
				rc(h, day(1), baseLic("L-S", EditionStandard, 8, day(0), day(10)))
				rc(h, day(2), ten)
			},
			at: day(11), item: ModuleTenant,
			because: []string{"needs the Base in force", "expired on 2026-01-11T00:00:00Z"}, rules: []string{"R4", "R8"}, events: 1,
		},
		{
			name: "R3 not licensed", steps: func(h *history) { rc(h, day(1), std8) },
			at: day(2), item: ModuleTenant,
			because: []string{"not licensed: no license for tenant was ever recorded"}, rules: []string{"R3"}, events: 0,
		},
		{
			name: "R14 deleted", steps: func(h *history) { rc(h, day(1), std8); rc(h, day(2), ten); h.do(day(3), DeleteLicense{License: "L-T"}) },
			at: day(4), item: ModuleTenant,
			because: []string{"license L-T for tenant was deleted"}, rules: []string{"R14"}, events: 1,
		},
		{
			name: "R13 R8 superseded by a later upload that is expired",
			steps: func(h *history) {
				rc(h, day(1), std8, vmw16)
				rc(h, day(2), plusLic("L-V2", ModuleVMware, 4, day(0), day(5)))
			},
			at: day(6), item: ModuleVMware,
			because: []string{"vmware's license L-V2 expired on 2026-01-06T00:00:00Z", "it supersedes L-V16, brought earlier"}, rules: []string{"R8", "R13"}, events: 1,
		},
		{
			name:  "R19 in grace through the buffer",
			steps: func(h *history) { insert(h, day(1), "mn-1", "K-1", std8, ten); pull(h, day(3), "mn-1", "K-1") },
			at:    day(10), item: ModuleTenant, entitled: true,
			because: []string{"license L-T through USB key K-1", "stopped authorizing on 2026-01-04T00:00:00Z", "buffer license runs until 2026-02-03T00:00:00Z"},
			rules:   []string{"R19"}, events: 2,
		},
		{
			name:  "R19 key missing and buffer expired",
			steps: func(h *history) { insert(h, day(1), "mn-1", "K-1", std8, ten); pull(h, day(3), "mn-1", "K-1") },
			at:    day(40), item: ExplainBase,
			because: []string{"comes from USB key K-1", "key missing and buffer expired on 2026-02-03T00:00:00Z (R19)"}, rules: []string{"R19"}, events: 2,
		},
		{
			name: "R20 the 60-day rule since the pull of the buffer",
			steps: func(h *history) {
				insert(h, day(1), "mn-1", "K-1", std8, ten)
				pull(h, day(10), "mn-1", "K-1")
				insert(h, day(20), "mn-1", "K-1", std8, ten)
				pull(h, day(50), "mn-1", "K-1")
			},
			at: day(51), item: ModuleTenant,
			because: []string{"key missing and buffer expired on 2026-02-10T00:00:00Z", "within 60 days of its previous pull of 2026-01-11T00:00:00Z", "keeps the buffer of its pull of 2026-01-11T00:00:00Z"},
			rules:   []string{"R20"}, events: 3, // the insertion that brought it, the latest pull, the pull that decided the buffer
		},
		{
			name: "R18 pulled with nothing in force: no buffer",
			steps: func(h *history) {
				insert(h, day(1), "mn-1", "K-1", baseLic("L-S", EditionStandard, 8, day(0), day(2)))
				pull(h, day(3), "mn-1", "K-1")
			},
			at: day(4), item: ExplainBuffer,
			because: []string{"no buffer license (R18)"}, rules: []string{"R17", "R19"}, events: 1,
		},
		{
			name: "R2 R7 over capacity after a smaller Base",
			steps: func(h *history) {
				rc(h, day(1), std8)
				h.do(day(2), AddHost{Host: "h-1", Hypervisor: HypervisorKVM, Sockets: 8})
				rc(h, day(3), baseLic("L-S4", EditionStandard, 4, day(0), day(365)))
			},
			at: day(4), item: ExplainCapacity,
			because: []string{"over capacity: 8 KVM sockets (and VMware sockets beyond the vmware quota) used of a quota of 4"}, rules: []string{"R2", "R7"}, events: 1,
		},
		{
			name: "R2 within capacity", steps: func(h *history) { rc(h, day(1), std8, vmw8) },
			at: day(2), item: ExplainCapacity, entitled: true,
			because: []string{"within capacity: 0 of 8 sockets used"}, rules: []string{"R2"}, events: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory(t, "p")
			tt.steps(h)
			s, err := PlatformAsOf(h.events, "p", tt.at)
			if err != nil {
				t.Fatal(err)
			}
			x, err := ExplainPlatform(s, tt.at, tt.item)
			if err != nil {
				t.Fatal(err)
			}
			if x.Entitled != tt.entitled {
				t.Errorf("entitled = %v, want %v: %s", x.Entitled, tt.entitled, x.Because)
			}
			for _, want := range tt.because {
				if !strings.Contains(x.Because, want) {
					t.Errorf("because:\n got %s\nwant it to say %q", x.Because, want)
				}
			}
			for _, r := range tt.rules {
				if !slices.Contains(x.Rules, r) {
					t.Errorf("rules %v, want %s among them", x.Rules, r)
				}
			}
			if len(x.DecidedBy) != tt.events {
				t.Errorf("decided by %v, want %d events", x.DecidedBy, tt.events)
			}
			for _, ref := range x.DecidedBy {
				if !slices.ContainsFunc(h.events, func(e Event) bool { return e.ID == ref.ID }) {
					t.Errorf("decided by %s, not an event of the history", ref.ID)
				}
			}
		})
	}
	if _, err := ExplainPlatform(newHistory(t, "p").s, day(1), "warp-drive"); ErrorReason(err) != ReasonBadParameter {
		t.Errorf("unknown item: %v, want %s", err, ReasonBadParameter)
	}
}

// R20 compares a pull with the key's previous pull, not with the pull that
// granted the buffer: after pulls on days 10 (fresh buffer), 50 and 100,
// the last is within 60 days of day 50 but 90 days after day 10. The
// explanation must name the pull the rule compared with, never claim
// "within 60 days" of day 10.
func TestExplainR20ComparesWithThePreviousPull(t *testing.T) {
	h := newHistory(t, "p")
	insert(h, day(1), "mn-1", "K-1", std8, ten)
	pull(h, day(10), "mn-1", "K-1")
	insert(h, day(20), "mn-1", "K-1", std8, ten)
	pull(h, day(50), "mn-1", "K-1")
	insert(h, day(60), "mn-1", "K-1", std8, ten)
	pull(h, day(100), "mn-1", "K-1")
	for _, at := range []time.Time{day(101)} { // buffer expired
		s, err := PlatformAsOf(h.events, "p", at)
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range []string{ModuleTenant, ExplainBuffer} {
			x, err := ExplainPlatform(s, at, item)
			if err != nil {
				t.Fatal(err)
			}
			if want := "previous pull of " + instant(day(50)); !strings.Contains(x.Because, want) {
				t.Errorf("%s: because:\n got %s\nwant it to say %q", item, x.Because, want)
			}
			if bad := "60 days of its pull of " + instant(day(10)); strings.Contains(x.Because, bad) {
				t.Errorf("%s: because says %q, 90 days apart:\n%s", item, bad, x.Because)
			}
			if bad := "60-day rule since the pull of " + instant(day(10)); strings.Contains(x.Because, bad) {
				t.Errorf("%s: because says %q, 90 days apart:\n%s", item, bad, x.Because)
			}
		}
	}
}

// A key inserted while another authorizes (abnormal: R16, the earliest
// inserted authorizes) is inserted: its licenses take no part because the
// other key authorizes, and the explanation must say so, not that the key
// "is not inserted".
func TestExplainAKeyInsertedThatDoesNotAuthorize(t *testing.T) {
	h := newHistory(t, "p", "mn-1", "mn-2")
	insert(h, day(1), "mn-1", "K-1", std8)
	insert(h, day(2), "mn-2", "K-2", ten)
	s, err := PlatformAsOf(h.events, "p", day(3))
	if err != nil {
		t.Fatal(err)
	}
	x, err := ExplainPlatform(s, day(3), ModuleTenant)
	if err != nil {
		t.Fatal(err)
	}
	if x.Entitled {
		t.Fatalf("tenant entitled through a key that does not authorize: %s", x.Because)
	}
	if strings.Contains(x.Because, "K-2 is not inserted") {
		t.Errorf("because says K-2 is not inserted, but it is (on mn-2):\n%s", x.Because)
	}
	for _, want := range []string{"USB key K-2 is inserted", "K-1", "R16"} {
		if !strings.Contains(x.Because, want) {
			t.Errorf("because:\n got %s\nwant it to say %q", x.Because, want)
		}
	}
}
