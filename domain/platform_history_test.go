package domain

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// Helpers shared by the platform tests: a history builder that decides and
// folds like the ledger does, and a seeded random history generator.

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// day returns t0 plus n days.
func day(n float64) time.Time { return t0.Add(time.Duration(n * float64(24*time.Hour))) }

// stamp fills what the event store fills: version, time, ids.
func stamp(e Event, s *PlatformState, at time.Time) Event {
	e.SpecVersion = SpecVersion
	e.AggregateVersion = s.Version() + 1
	e.ID = fmt.Sprintf("E%06d", e.AggregateVersion)
	e.Source = "test"
	e.Time = at
	e.SchemaVersion = SchemaVersion
	return e
}

// history decides commands against its state and folds what they yield.
type history struct {
	t      *testing.T
	s      *PlatformState
	events []Event
}

func newHistory(t *testing.T, id string, nodes ...string) *history {
	t.Helper()
	if len(nodes) == 0 {
		nodes = []string{"mn-1"}
	}
	h := &history{t: t, s: &PlatformState{}}
	h.do(day(0), RegisterPlatform{Platform: id, Nodes: nodes, RequestCode: "RC-" + id})
	return h
}

// try decides cmd at the instant and folds the events on success.
func (h *history) try(at time.Time, cmd PlatformCommand) ([]Event, error) {
	h.t.Helper()
	evs, err := DecidePlatform(h.s, cmd, at)
	if err != nil {
		return nil, err
	}
	for i := range evs {
		evs[i] = stamp(evs[i], h.s, at)
		if err := EvolvePlatform(h.s, evs[i]); err != nil {
			h.t.Fatalf("fold %s: %v", evs[i].Type, err)
		}
		h.events = append(h.events, evs[i])
	}
	return evs, nil
}

// do is try that must succeed.
func (h *history) do(at time.Time, cmd PlatformCommand) []Event {
	h.t.Helper()
	evs, err := h.try(at, cmd)
	if err != nil {
		h.t.Fatalf("%T: %v", cmd, err)
	}
	return evs
}

// line joins values with spaces, for compact got/want comparisons.
func line(v ...any) string { return strings.TrimSuffix(fmt.Sprintln(v...), "\n") }

// at evaluates the entitlement at an instant.
func (h *history) at(at time.Time) Entitlement {
	return PlatformEntitlement(h.s, at)
}

// License constructors for tests.
func baseLic(id, edition string, sockets int, issued, expires time.Time) License {
	l := License{ID: id, Kind: KindBase, Edition: edition, Sockets: sockets, IssuedAt: issued}
	if !expires.IsZero() {
		l.ExpiresAt = &expires
	}
	return l
}

func plusLic(id, module string, quantity int, issued, expires time.Time) License {
	l := License{ID: id, Kind: KindPlus, Module: module, Quantity: quantity, IssuedAt: issued}
	if !expires.IsZero() {
		l.ExpiresAt = &expires
	}
	return l
}

// ent16 is an enterprise Base of 16 sockets for the year 2026.
func ent16(id string) License { return baseLic(id, EditionEnterprise, 16, day(0), day(365)) }

// Kinds of random commands, and how often each is tried in a mix.
const (
	cmdAddNode = iota
	cmdRemoveNode
	cmdInsertKey
	cmdRemoveKey
	cmdUploadRC
	cmdUploadKey
	cmdUploadBundle
	cmdDelete
	cmdAddHost
	cmdRemoveHost
	cmdReject
	cmdKinds
)

type historyMix [cmdKinds]int

var (
	// licenseHeavy stresses the license and key paths: half the events
	// carry a license, a quarter are key insertions and removals.
	licenseHeavy = historyMix{2, 1, 15, 15, 12, 5, 3, 3, 24, 18, 2}
	// typical is what a platform's log looks like over years: mostly
	// hosts coming and going, now and then a key or a license.
	typical = historyMix{1, 1, 3, 3, 2, 1, 1, 1, 45, 38, 4}
)

func (m historyMix) pick(r *rand.Rand) int {
	total := 0
	for _, w := range m {
		total += w
	}
	x := r.IntN(total)
	for k, w := range m {
		if x < w {
			return k
		}
		x -= w
	}
	return cmdKinds - 1
}

// randomHistory generates a plausible platform history of n events from a
// seed: commands are drawn from the mix, DecidePlatform keeps what is
// allowed, and time advances by minutes to weeks so buffers start, run out
// and restart.
func randomHistory(tb testing.TB, seed uint64, n int, mix historyMix) []Event {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	s := &PlatformState{}
	now := t0
	var out []Event
	apply := func(cmd PlatformCommand) {
		evs, err := DecidePlatform(s, cmd, now)
		if err != nil {
			if ErrorCode(err) == EINTERNAL {
				tb.Fatalf("%T: internal error %v", cmd, err)
			}
			return
		}
		for _, e := range evs {
			e = stamp(e, s, now)
			if err := EvolvePlatform(s, e); err != nil {
				tb.Fatalf("fold %s: %v", e.Type, err)
			}
			out = append(out, e)
		}
	}
	apply(RegisterPlatform{Platform: "random", Nodes: []string{"mn-1"}, RequestCode: "RC-random"})
	nextLicense := 0
	newLicense := func() License {
		nextLicense++
		id := fmt.Sprintf("L-%d", nextLicense)
		issued := now.Add(-time.Duration(r.IntN(400)) * 24 * time.Hour)
		expires := issued.Add(time.Duration(30+r.IntN(700)) * 24 * time.Hour)
		if r.IntN(3) == 0 {
			eds := Editions()
			ed := eds[r.IntN(len(eds))]
			l := baseLic(id, ed, 0, issued, expires)
			if editionHasSocketQuota(ed) {
				l.Sockets = 4 + r.IntN(64)
			}
			if ed == EditionCommunity {
				l.ExpiresAt = nil
			}
			return l
		}
		m := catalog[r.IntN(moduleCount)]
		q := 0
		if m.Counted() {
			q = 1 + r.IntN(32)
		}
		if r.IntN(10) == 0 {
			expires = time.Time{}
		}
		return plusLic(id, m.Name, q, issued, expires)
	}
	keys := []string{"K-1", "K-2", "K-3"}
	for len(out) < n {
		switch x := r.IntN(100); {
		case x < 60:
			now = now.Add(time.Duration(r.IntN(180)) * time.Minute)
		case x < 95:
			now = now.Add(time.Duration(r.IntN(72)) * time.Hour)
		default:
			now = now.Add(time.Duration(r.IntN(70)) * 24 * time.Hour)
		}
		nodes := s.Nodes()
		switch mix.pick(r) {
		case cmdAddNode:
			apply(AddNode{Node: "mn-2"})
		case cmdRemoveNode:
			apply(RemoveNode{Node: nodes[r.IntN(len(nodes))]})
		case cmdInsertKey:
			lics := make([]License, r.IntN(3))
			for i := range lics {
				lics[i] = newLicense()
			}
			apply(InsertUSBKey{Node: nodes[r.IntN(len(nodes))], KeyID: keys[r.IntN(len(keys))], Licenses: lics})
		case cmdRemoveKey:
			if len(s.inserted) > 0 {
				slot := s.inserted[r.IntN(len(s.inserted))]
				apply(RemoveUSBKey{Node: slot.node, KeyID: slot.key})
			}
		case cmdUploadRC:
			apply(UploadLicense{Source: SourceRequestCode, Licenses: []License{newLicense()}})
		case cmdUploadKey:
			apply(UploadLicense{Source: SourceUSBKey, KeyID: keys[r.IntN(len(keys))], Licenses: []License{newLicense()}})
		case cmdUploadBundle:
			b := newLicense()
			b.Kind, b.Module, b.Quantity, b.Edition, b.Sockets = KindBase, "", 0, EditionEnterprise, 32
			apply(UploadLicense{Source: SourceRequestCode, Bundle: fmt.Sprintf("B-%d", nextLicense), Licenses: []License{b, newLicense(), newLicense()}})
		case cmdDelete:
			apply(DeleteLicense{License: fmt.Sprintf("L-%d", 1+r.IntN(nextLicense+1))})
		case cmdAddHost:
			hv := []string{HypervisorKVM, HypervisorKVM, HypervisorVMware, HypervisorARM64}[r.IntN(4)]
			apply(AddHost{Host: fmt.Sprintf("h-%d", r.IntN(200)), Hypervisor: hv, Sockets: 1 + r.IntN(4)})
		case cmdRemoveHost:
			apply(RemoveHost{Host: fmt.Sprintf("h-%d", r.IntN(200))})
		default:
			apply(RejectUpload{Code: EFORBIDDEN, Reason: "bad-signature", Message: "signature does not verify", Actor: "admin"})
		}
	}
	return out[:n]
}

// randomCase is one random history for forRandomHistories.
type randomCase struct {
	name string
	seed uint64
	mix  historyMix
}

// forRandomHistories runs check, as a parallel subtest, on a random history
// of n events for each case.
func forRandomHistories(t *testing.T, n int, cases []randomCase, check func(t *testing.T, seed uint64, events []Event)) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			check(t, c.seed, randomHistory(t, c.seed, n, c.mix))
		})
	}
}
