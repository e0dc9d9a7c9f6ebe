package domain

import "time"

// This file is precedence (R13) in one place: which license decides each
// slot (the Base, each Plus module) at an instant. PlatformEntitlement
// grants from it; LicenseStandings tells every recorded license where it
// stands by it, which is what the license inventory shows. So the license
// an entitlement uses is the one the inventory calls current, always.

// precedence is, per slot (0 the Base, 1+i the module catalog[i]):
//   - avail: the license brought latest among those that take part at the
//     instant: not deleted (R14), and request-code or of a key that
//     authorizes or whose buffer runs (R13, R16–R22). It decides the slot.
//   - any: the license brought latest among all not deleted, taking part or
//     not; when avail is empty it names what an unavailable source holds.
type precedence struct {
	avail, any [slotCount]pick
}

// pick keeps the license with the highest precedence position offered.
type pick struct {
	ok       bool
	rec      licenseRecord
	buffered bool      // takes part only through a buffer
	until    time.Time // the buffer's expiry when buffered
}

func (p *pick) offer(r *licenseRecord, buffered bool, until time.Time) {
	if !p.ok || r.pos > p.rec.pos {
		*p = pick{ok: true, rec: *r, buffered: buffered, until: until}
	}
}

// precedence computes the precedence of every slot at instant at. Each
// holder offers only its latest live license per slot: an earlier one of
// the same holder never outranks it.
func (s *PlatformState) precedence(at time.Time) precedence {
	var p precedence
	offer := func(keyID string, h *holder) {
		avail, buffered, until := true, false, time.Time{}
		if keyID != "" {
			avail, buffered, until = s.keyAvailability(keyID, at)
		}
		for slot := range slotCount {
			r := h.top(slot)
			if r == nil {
				continue
			}
			p.any[slot].offer(r, false, time.Time{})
			if avail {
				p.avail[slot].offer(r, buffered, until)
			}
		}
	}
	offer("", &s.rc)
	for id, kr := range s.keys {
		offer(id, &kr.holder)
	}
	return p
}

// License standings: where a recorded license stands in precedence at an
// instant (R13, R14, R16–R22).
const (
	// StandingCurrent: it decides its slot: the entitlement's Base, or the
	// license a module is granted from (or refused by, when out of its
	// term, R8).
	StandingCurrent = "current"
	// StandingSuperseded: its source takes part, but a license brought
	// later decides its slot (R13).
	StandingSuperseded = "superseded"
	// StandingUnavailable: its USB key takes no part: pulled or in fault
	// with no buffer running (R17–R20, R22), voided by another key (R21),
	// ignored beside the authorizing key (R16), or the key no longer
	// carries it.
	StandingUnavailable = "unavailable"
	// StandingDeleted: deleted, it takes no part (R14).
	StandingDeleted = "deleted"
)

// LicenseStanding is where one recorded license stands at an instant.
type LicenseStanding struct {
	Standing string
	// DecidedBy names the license that decides the slot of a superseded
	// one.
	DecidedBy string
	// Next, when set, is the standing the license takes, with no new
	// event, when the buffer running at the instant ends (R19–R22): a
	// license current through that buffer becomes unavailable, and the
	// request-code license it outranked shows through (R13).
	Next *StandingChange
}

// StandingChange is a standing taken at an instant.
type StandingChange struct {
	At       time.Time
	Standing string
}

// LicenseStandings returns, by license id, the standing at instant at of
// every license the state holds (deleted ones included; licenses a key no
// longer carries are gone from the state: a reader that remembers them
// should call them unavailable). It comes from the precedence that
// PlatformEntitlement grants from, so for every slot the license the
// entitlement names (when it names one for a Base in force or a module not
// included in the edition) is the one standing current. The answer holds
// from at until the next event, but for the change Next tells. at should
// not be before the last folded event (see PlatformEntitlement).
func LicenseStandings(s *PlatformState, at time.Time) map[string]LicenseStanding {
	at = at.UTC()
	now := s.standings(at)
	// The only change no event brings is the running buffer's end.
	if end, ok := s.runningBuffer(at); ok {
		later := s.standings(end)
		for id, st := range now {
			if l, ok := later[id]; ok && l.Standing != st.Standing {
				st.Next = &StandingChange{At: end, Standing: l.Standing}
				now[id] = st
			}
		}
	}
	return now
}

// runningBuffer reports the expiry of the buffer through which the active
// key takes part at at, if one runs.
func (s *PlatformState) runningBuffer(at time.Time) (time.Time, bool) {
	if s.authKey != "" || s.activeKey == "" {
		return time.Time{}, false
	}
	_, buffered, until := s.keyAvailability(s.activeKey, at)
	return until, buffered
}

func (s *PlatformState) standings(at time.Time) map[string]LicenseStanding {
	p := s.precedence(at)
	out := make(map[string]LicenseStanding)
	add := func(keyID string, h *holder) {
		avail := keyID == ""
		if !avail {
			avail, _, _ = s.keyAvailability(keyID, at)
		}
		for id, r := range h.licenses {
			var st LicenseStanding
			dec := p.avail[r.slot()]
			switch {
			case r.deleted:
				st = LicenseStanding{Standing: StandingDeleted}
			case dec.ok && dec.rec.pos == r.pos:
				st = LicenseStanding{Standing: StandingCurrent}
			case avail:
				st = LicenseStanding{Standing: StandingSuperseded, DecidedBy: dec.rec.id}
			default:
				st = LicenseStanding{Standing: StandingUnavailable}
			}
			// One id has one holder on the ledger's writes, but a history
			// folded as written may record it with several: the id stands
			// as its best-placed record does.
			if old, seen := out[id]; !seen || standingRank[st.Standing] > standingRank[old.Standing] {
				out[id] = st
			}
		}
	}
	add("", &s.rc)
	for id, kr := range s.keys {
		add(id, &kr.holder)
	}
	return out
}

// standingRank orders standings from taking no part to deciding.
var standingRank = map[string]int{StandingDeleted: 0, StandingUnavailable: 1, StandingSuperseded: 2, StandingCurrent: 3}
