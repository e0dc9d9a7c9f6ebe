package domain

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// standingsLine renders standings as "id=standing[>by][@next]" sorted by
// id, for compact got/want comparisons.
func standingsLine(m map[string]LicenseStanding) string {
	var parts []string
	for id, st := range m {
		p := id + "=" + st.Standing
		if st.DecidedBy != "" {
			p += ">" + st.DecidedBy
		}
		if st.Next != nil {
			p += "@" + st.Next.At.Format("01-02") + ":" + st.Next.Standing
		}
		parts = append(parts, p)
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// Where each license stands, step by step through the key rules. Every
// step names its rule.
func TestLicenseStandings(t *testing.T) {
	t.Parallel()
	h := newHistory(t, "stand", "mn-1", "mn-2")
	vmw := func(id string, q int) License { return plusLic(id, ModuleVMware, q, day(0), day(365)) }
	do := func(cmds ...PlatformCommand) []PlatformCommand { return cmds }
	steps := []struct {
		name string
		at   float64
		cmds []PlatformCommand // none: only ask at the instant
		want string
	}{
		{"R13 a request-code Base and vmware", 1,
			do(UploadLicense{Source: SourceRequestCode, Bundle: "B-1", Licenses: []License{ent16("L-B"), vmw("L-RC", 8)}}),
			"L-B=current L-RC=current"},
		// R13: the key's later license wins the slot, though smaller.
		{"R13 the latest brought wins", 2, do(InsertUSBKey{Node: "mn-1", KeyID: "K-1", Licenses: []License{vmw("L-K1", 4)}}),
			"L-B=current L-K1=current L-RC=superseded>L-K1"},
		// R16: a second key beside the authorizing one is ignored.
		{"R16 the other key in abnormal takes no part", 3, do(InsertUSBKey{Node: "mn-2", KeyID: "K-2", Licenses: []License{vmw("L-K2", 2)}}),
			"L-B=current L-K1=current L-K2=unavailable L-RC=superseded>L-K1"},
		// R16 decision: once the authorizing key leaves, the other one
		// authorizes, and K-1's buffer is void (R21).
		{"R16 R21 the other key takes over", 4, do(RemoveUSBKey{Node: "mn-1", KeyID: "K-1"}),
			"L-B=current L-K1=unavailable L-K2=current L-RC=superseded>L-K2"},
		// R19: the first pull grants a 30-day buffer: K-2's license stands
		// until it ends, then the request-code one shows through (R13).
		{"R19 a pull: current through the buffer", 5, do(RemoveUSBKey{Node: "mn-2", KeyID: "K-2"}),
			"L-B=current L-K1=unavailable L-K2=current@02-05:unavailable L-RC=superseded>L-K2@02-05:current"},
		{"R19 R13 the buffer over: the other source shows through", 40, nil,
			"L-B=current L-K1=unavailable L-K2=unavailable L-RC=current"},
		// R21: K-1 back brings its licenses again, latest.
		{"R21 a key inserted again brings its licenses", 41, do(InsertUSBKey{Node: "mn-1", KeyID: "K-1", Licenses: []License{vmw("L-K1", 4)}}),
			"L-B=current L-K1=current L-K2=unavailable L-RC=superseded>L-K1"},
		// R13, R8: a later license replaces an earlier one even when out of
		// its term; it stays current and the module reads expired.
		{"R8 a later expired license still decides", 42,
			do(UploadLicense{Source: SourceRequestCode, Licenses: []License{plusLic("L-RC2", ModuleVMware, 1, day(0), day(43))}}),
			"L-B=current L-K1=superseded>L-RC2 L-K2=unavailable L-RC2=current L-RC=superseded>L-RC2"},
		{"R8 expired, still current", 50, nil,
			"L-B=current L-K1=superseded>L-RC2 L-K2=unavailable L-RC2=current L-RC=superseded>L-RC2"},
		// R14: a deleted license takes no part; the key's shows through.
		{"R14 deleted", 51, do(DeleteLicense{License: "L-RC2"}),
			"L-B=current L-K1=current L-K2=unavailable L-RC2=deleted L-RC=superseded>L-K1"},
		// A key inserted again without a license no longer carries it: it
		// has no standing, and the request-code one decides again.
		{"a key no longer carrying a license", 52,
			do(RemoveUSBKey{Node: "mn-1", KeyID: "K-1"}, InsertUSBKey{Node: "mn-1", KeyID: "K-1"}),
			"L-B=current L-K2=unavailable L-RC2=deleted L-RC=current"},
	}
	for _, st := range steps {
		for _, c := range st.cmds {
			h.do(day(st.at), c)
		}
		if got := standingsLine(LicenseStandings(h.s, day(st.at))); got != st.want {
			t.Errorf("%s:\n got %s\nwant %s", st.name, got, st.want)
		}
	}
}

// The property that keeps the inventory and the entitlement one answer:
// on random histories, at instants between events and past the last one,
//   - the license the entitlement names for the Base or a module, when it
//     decides (not a source-unavailable name, not an inclusion of the
//     edition), stands current;
//   - each license standing current is the one the entitlement names for
//     its slot whenever the entitlement names a license from a source
//     there, and no slot has two;
//   - Next tells the truth: asked later in the same interval, the standing
//     is Next's from its instant on, the same before.
func TestStandingsAgreeWithEntitlement(t *testing.T) {
	t.Parallel()
	cases := []randomCase{{"license heavy", 31, licenseHeavy}, {"typical", 32, typical}, {"license heavy 2", 33, licenseHeavy}}
	forRandomHistories(t, 1500, cases, func(t *testing.T, seed uint64, events []Event) {
		r := rand.New(rand.NewPCG(seed, 3))
		s := &PlatformState{}
		checked := 0
		for i, e := range events {
			if err := EvolvePlatform(s, e); err != nil {
				t.Fatal(err)
			}
			if i+1 < len(events) && !events[i+1].Time.After(e.Time) {
				continue // ask only once the events of an instant are all in
			}
			end := e.Time.Add(120 * 24 * time.Hour)
			if i+1 < len(events) {
				end = events[i+1].Time
			}
			at := e.Time.Add(time.Duration(r.Int64N(int64(end.Sub(e.Time)))))
			later := at.Add(time.Duration(r.Int64N(int64(end.Sub(at)) + 1)))
			if later.Equal(end) && i+1 < len(events) {
				later = at
			}
			checkStandings(t, s, at, later)
			checked++
		}
		if checked < 200 {
			t.Fatalf("only %d instants checked", checked)
		}
	})
}

func checkStandings(t *testing.T, s *PlatformState, at, later time.Time) {
	t.Helper()
	st := LicenseStandings(s, at)
	ent := PlatformEntitlement(s, at)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("at %s (after event %d): "+format, append([]any{at.Format(time.RFC3339), s.Version()}, args...)...)
	}
	// The entitlement's deciding licenses stand current.
	if b := ent.Base; b != nil && b.Reason != ReasonSourceUnavailable && st[b.License].Standing != StandingCurrent {
		fail("the Base %s stands %q", b.License, st[b.License].Standing)
	}
	fromSource := func(m ModuleEntitlement) bool {
		return (m.Source == SourceRequestCode || m.Source == SourceUSBKey) && m.Reason != ReasonSourceUnavailable
	}
	for name, m := range ent.Modules {
		if fromSource(m) && st[m.License].Standing != StandingCurrent {
			fail("module %s uses %s, which stands %q", name, m.License, st[m.License].Standing)
		}
	}
	// Each current license is the entitlement's for its slot.
	seen := map[int]string{}
	for _, r := range s.sortedLicenses() {
		if st[r.id].Standing != StandingCurrent {
			continue
		}
		if other, dup := seen[r.slot()]; dup {
			fail("%s and %s both stand current in one slot", other, r.id)
		}
		seen[r.slot()] = r.id
		if r.kind == KindBase {
			if ent.Base == nil || ent.Base.License != r.id {
				fail("Base %s stands current, the entitlement names %+v", r.id, ent.Base)
			}
			continue
		}
		m := ent.Modules[catalog[r.module].Name]
		if fromSource(m) && m.License != r.id {
			fail("%s stands current for %s, the entitlement uses %s", r.id, catalog[r.module].Name, m.License)
		}
	}
	// Next is what a later question in the interval answers.
	after := LicenseStandings(s, later)
	for id, sg := range st {
		want := sg.Standing
		if sg.Next != nil && !later.Before(sg.Next.At) {
			want = sg.Next.Standing
		}
		if got := after[id].Standing; got != want {
			fail("%s stands %q at %s, Next said %q", id, got, later.Format(time.RFC3339), want)
		}
	}
}
