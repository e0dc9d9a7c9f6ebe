package domain

import (
	"slices"
	"strings"
	"time"
)

// This file holds what the platform remembers of USB keys and how it
// answers for them: insertions and pulls over one or two management nodes
// (R15), the key state table (rules.md §3, R16, R17) and the buffer
// license a pull grants (R18-R22). platform_state.go folds the events
// that call it.

type insertion struct {
	node, key string
}

// keyRecord is what the platform remembers of one USB key.
type keyRecord struct {
	carried  []string  // license ids its latest insertion brought
	pulls    int       // times it stopped authorizing (R19, R20)
	lastPull time.Time // the latest of those times
	// buffer is the expiry of the buffer license its latest pull granted;
	// zero when that pull granted none (R18, or R20 inheriting none).
	buffer time.Time
	// Provenance: the event of the latest pull, and of the pull that
	// decided buffer (a fresh pull, R19/R20, or one with nothing in force,
	// R18) with its instant; a pull within 60 days of that one keeps its
	// buffer (R20) and leaves them.
	pullEvent, bufferEvent string
	bufferPull             time.Time
	// The pull before the latest one, which R20 compares the latest
	// with (zero for a key pulled once).
	prevPull time.Time
	holder   // its licenses, carried and uploaded bound to it
}

func (s *PlatformState) key(id string) *keyRecord {
	if s.keys == nil {
		s.keys = make(map[string]*keyRecord)
	}
	kr := s.keys[id]
	if kr == nil {
		kr = &keyRecord{}
		s.keys[id] = kr
	}
	return kr
}

// insertKey folds usb_key.inserted: the key brings its licenses, at this
// position in the log (R13); licenses an earlier insertion of the same key
// brought and this one does not are gone with the key's old contents.
func (s *PlatformState) insertKey(d USBKeyInserted, t time.Time) {
	kr := s.key(d.KeyID)
	ids := make([]string, len(d.Licenses))
	for i, l := range d.Licenses {
		ids[i] = l.ID
	}
	for _, old := range kr.carried {
		if r := kr.licenses[old]; r != nil && r.carried && !slices.Contains(ids, old) {
			r.dead = true
			delete(kr.licenses, old)
			kr.trim(r.slot())
		}
	}
	kr.carried = ids
	for _, l := range d.Licenses {
		r := newLicenseRecord(l, SourceUSBKey, d.KeyID)
		r.carried = true
		s.putLicense(r)
	}
	// A key is in one place at a time: an insertion elsewhere moves it.
	s.inserted = slices.DeleteFunc(s.inserted, func(in insertion) bool { return in.key == d.KeyID })
	s.inserted = append(s.inserted, insertion{node: d.Node, key: d.KeyID})
	s.everInserted = true
	s.rekey(t)
}

func (s *PlatformState) removeKey(d USBKeyRemoved, t time.Time) {
	s.inserted = slices.DeleteFunc(s.inserted, func(in insertion) bool { return in.key == d.KeyID && in.node == d.Node })
	s.rekey(t)
}

// keyTable computes the key state of §3 from the keys inserted per node,
// and the key that authorizes. The table generalizes as: no key inserted
// is missing (none if no key ever was); no node holding exactly one key is
// fault; exactly one key in all is ready; otherwise abnormal. Every row of
// the table follows (key_state_test.go walks them). In abnormal the key
// inserted earliest among those still inserted authorizes (R16).
func (s *PlatformState) keyTable() (state, auth string) {
	if len(s.inserted) == 0 {
		if s.everInserted {
			return KeyStateMissing, ""
		}
		return KeyStateNone, ""
	}
	if len(s.inserted) == 1 {
		return KeyStateReady, s.inserted[0].key
	}
	ones := 0 // nodes holding exactly one key
	for _, in := range s.inserted {
		n := 0
		for _, other := range s.inserted {
			if other.node == in.node {
				n++
			}
		}
		if n == 1 {
			ones++
		}
	}
	if ones == 0 {
		return KeyStateFault, ""
	}
	return KeyStateAbnormal, s.inserted[0].key
}

// rekey recomputes the key state after a key event at t and applies the
// transitions of the authorizing key.
func (s *PlatformState) rekey(t time.Time) {
	_, auth := s.keyTable()
	if auth == s.authKey {
		return
	}
	if s.authKey != "" {
		// The key stopped authorizing: pulled, or the state entered
		// fault, which R17 treats the same.
		s.pull(s.authKey, t)
	}
	s.authKey = auth
	if auth != "" {
		// A key authorizes (again). If it is another key, the previous
		// key's buffer is void at once (R21); its record stays for R20.
		s.activeKey, s.unavailableAt = auth, time.Time{}
	}
}

// pull applies R18–R20 when key id stops authorizing at t.
func (s *PlatformState) pull(id string, t time.Time) {
	kr := s.key(id)
	end, bounded, inForce := s.keyCoverage(id, t)
	fresh := kr.pulls == 0 || t.Sub(kr.lastPull) >= BufferFreshGap
	switch {
	case !inForce:
		// R18: nothing of the key is in force; no buffer, it stays expired.
		kr.buffer = time.Time{}
		kr.bufferEvent, kr.bufferPull = s.lastEvent, t
	case fresh:
		// R19 first pull, R20 ≥ 60 days after the previous pull.
		kr.buffer = t.Add(BufferTerm)
		kr.bufferEvent, kr.bufferPull = s.lastEvent, t
	default:
		// R20 < 60 days: keep the previous buffer's expiry (maybe past,
		// maybe none).
	}
	// R19 decision: the buffer never outlasts the licenses it copies.
	if !kr.buffer.IsZero() && bounded && end.Before(kr.buffer) {
		kr.buffer = end
	}
	kr.pulls++
	kr.prevPull = kr.lastPull
	kr.lastPull, kr.pullEvent = t, s.lastEvent
	s.activeKey, s.unavailableAt = id, t
}

// keyCoverage reports whether any of key id's licenses (its latest per
// slot: what it entitles) is in force at t, and the latest end among those
// that are (bounded is false if one never ends).
func (s *PlatformState) keyCoverage(id string, t time.Time) (end time.Time, bounded, inForce bool) {
	bounded = true
	kr := s.key(id)
	for slot := range slotCount {
		r := kr.top(slot)
		if r == nil || !r.inForce(t) {
			continue
		}
		inForce = true
		if !r.hasEnd {
			bounded = false
		} else if r.end.After(end) {
			end = r.end
		}
	}
	return end, bounded, inForce
}

// keyAvailability says whether the licenses of key id take part at t, and
// until when if only through a buffer (R13, R17–R22).
func (s *PlatformState) keyAvailability(id string, at time.Time) (ok, buffered bool, until time.Time) {
	switch {
	case id == "":
		return false, false, time.Time{}
	case id == s.authKey:
		return true, false, time.Time{}
	case s.authKey == "" && id == s.activeKey:
		kr := s.keys[id]
		if kr != nil && at.Before(kr.buffer) {
			return true, true, kr.buffer
		}
	}
	return false, false, time.Time{}
}

// insertedOn describes the keys inserted now, for refusal messages.
func (s *PlatformState) insertedOn() string {
	parts := make([]string, len(s.inserted))
	for i, in := range s.inserted {
		parts[i] = in.key + " on " + in.node
	}
	return strings.Join(parts, ", ")
}
