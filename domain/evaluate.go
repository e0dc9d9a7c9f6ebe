package domain

import (
	"slices"
	"time"
)

// PlatformEntitlement evaluates what the platform is entitled to at the
// instant at, from the events folded into s. at should not be before the
// last folded event: a state answers for its own instant and later, until
// the next event (to ask about an earlier instant, fold the prefix of the
// history up to it, see PlatformAsOf). It reads nothing but s and at, so
// the same state and instant always give the same answer (R32).
//
// How the rules combine:
//   - Licenses take part unless deleted (R14) or their source is
//     unavailable: key licenses take part while their key authorizes, or
//     through the buffer while the key that last authorized is pulled or
//     in fault (R17–R22); request-code licenses always take part (R13).
//   - Among the licenses that take part, the latest brought wins for the
//     Base and for each module (R13), even if it is out of its term, in
//     which case the module reads expired: a later license replaces an
//     earlier one, it does not stack under it. This precedence is
//     computed once, in precedence.go, which LicenseStandings (the
//     inventory's states) shares.
//   - Plus modules need the winning Base in force and not community (R4);
//     enterprise includes the R5 modules and enterprise-trial every module
//     (R5, R6).
func PlatformEntitlement(s *PlatformState, at time.Time) Entitlement {
	at = at.UTC()
	p := s.precedence(at) // R13, R14, R16–R22: precedence.go
	baseAvail, baseAny := p.avail[0], p.any[0]
	modAvail, modAny := p.avail[1:], p.any[1:]

	ent := Entitlement{Platform: s.id, At: at, Status: StatusUnlicensed, Modules: make(ModuleMap, moduleCount)}
	baseUsable, baseInForce := false, false
	var baseRec licenseRecord
	switch {
	case !baseAny.ok:
		// unlicensed: no Base takes part.
	case !baseAvail.ok:
		ent.Status = StatusExpired
		ent.Base = baseOf(baseAny.rec, false, ReasonSourceUnavailable)
		ent.Base.DecidedBy = s.decidedBy(baseAny.rec)
	default:
		baseRec = baseAvail.rec
		reason := termReason(baseRec, at)
		baseInForce = reason == "" || baseRec.edition == EditionCommunity // community has no term (R1)
		switch {
		case baseRec.edition == EditionCommunity:
			ent.Status = StatusCommunity
		case !baseInForce:
			ent.Status = StatusExpired
		case baseAvail.buffered:
			ent.Status = StatusGrace
		default:
			ent.Status = StatusLicensed
		}
		if baseInForce {
			reason = ""
		}
		ent.Base = baseOf(baseRec, baseInForce, reason)
		ent.Base.DecidedBy = s.decidedBy(baseRec)
		if baseInForce && baseAvail.buffered {
			ent.Base.GraceUntil = timePtr(baseAvail.until)
		}
		baseUsable = baseInForce && baseRec.edition != EditionCommunity
	}

	for i, info := range catalog {
		var m ModuleEntitlement
		switch {
		case !baseUsable:
			m.Reason = ReasonBaseRequired // R4
			if ent.Base != nil {
				m.DecidedBy = ent.Base.DecidedBy
			}
		case editionIncludes(baseRec.edition, info):
			m = ModuleEntitlement{Entitled: true, Source: ModuleSourceIncluded, License: baseRec.id, DecidedBy: ent.Base.DecidedBy}
			if !info.Enterprise {
				m.Source = ModuleSourceTrial // R6
			}
			m.Unlimited = info.Counted() // R6 decision: unlimited
			m.ExpiresAt = endPtr(baseRec)
		case modAvail[i].ok:
			r := modAvail[i].rec
			m = ModuleEntitlement{Source: r.source, KeyID: r.keyID, License: r.id, ExpiresAt: endPtr(r), DecidedBy: s.decidedBy(r)}
			if info.Counted() {
				m.Quantity = r.quantity
			}
			m.Reason = termReason(r, at)
			m.Entitled = m.Reason == ""
			if m.Entitled && modAvail[i].buffered {
				m.GraceUntil = timePtr(modAvail[i].until)
			}
		case modAny[i].ok:
			r := modAny[i].rec
			m = ModuleEntitlement{Source: r.source, KeyID: r.keyID, License: r.id, Reason: ReasonSourceUnavailable, DecidedBy: s.decidedBy(r)}
		default:
			m.Reason = ReasonNotLicensed
		}
		if m.Entitled && baseAvail.buffered && (m.GraceUntil == nil || baseAvail.until.Before(*m.GraceUntil)) {
			// A Plus module needs the Base (R4): it ends with the Base's buffer.
			m.GraceUntil = timePtr(baseAvail.until)
			m.DecidedBy = refs(append(eventIDs(m.DecidedBy), eventIDs(ent.Base.DecidedBy)...)...)
		}
		ent.Modules[info.Name] = m
	}

	ent.Capacity = capacity(s.usage, baseInForce, baseRec, ent.Modules)
	if baseInForce {
		ids := []string{baseRec.event}
		for _, name := range []string{ModuleVMware, ModuleARM64} {
			if m := ent.Modules[name]; m.Entitled && m.Source != ModuleSourceIncluded && m.Source != ModuleSourceTrial {
				ids = append(ids, eventIDs(m.DecidedBy)...)
			}
		}
		ent.Capacity.DecidedBy = refs(ids...)
	}
	ent.USBKey = s.keyStatus(at)
	return ent
}

// termReason is "" when r is in force at t (R8), else why not.
func termReason(r licenseRecord, t time.Time) string {
	switch {
	case t.Before(r.issued):
		return ReasonNotYetValid
	case !r.inForce(t):
		return ReasonExpired
	}
	return ""
}

func endPtr(r licenseRecord) *time.Time {
	if r.hasEnd {
		return timePtr(r.end)
	}
	return nil
}

func baseOf(r licenseRecord, inForce bool, reason string) *BaseEntitlement {
	return &BaseEntitlement{
		Edition: r.edition, Source: r.source, KeyID: r.keyID, License: r.id,
		IssuedAt: r.issued, ExpiresAt: endPtr(r), Sockets: r.sockets,
		InForce: inForce, Reason: reason,
	}
}

// capacity computes quotas and usage (R2, R6, R7). Decisions: no Base in
// force admits nothing (quotas 0; managed hosts stay and show as used);
// community and the trial have unlimited sockets, the trial one host.
func capacity(u hostUsage, baseInForce bool, base licenseRecord, mods ModuleMap) Capacity {
	c := Capacity{
		Hosts:         Quota{Used: u.hosts},
		Sockets:       Quota{Used: u.kvmSockets},
		VMwareSockets: moduleQuota(mods[ModuleVMware]),
		ARM64Hosts:    moduleQuota(mods[ModuleARM64]),
	}
	switch {
	case !baseInForce:
		// no Base in force admits nothing: quotas stay zero.
	case base.edition == EditionCommunity:
		c.Hosts.Unlimited, c.Sockets.Unlimited = true, true // R1: no host limit
	case base.edition == EditionEnterpriseTrial:
		c.Hosts.Limit, c.Sockets.Unlimited = 1, true // R2: one host, whatever its sockets
	default:
		c.Hosts.Unlimited, c.Sockets.Limit = true, base.sockets // R2
	}
	// R7: VMware sockets use the vmware quota first, the rest the Base's.
	c.VMwareSockets.Used = u.vmwareSockets
	if !c.VMwareSockets.Unlimited && c.VMwareSockets.Used > c.VMwareSockets.Limit {
		c.VMwareSockets.Used = c.VMwareSockets.Limit
	}
	c.Sockets.Used += u.vmwareSockets - c.VMwareSockets.Used
	c.ARM64Hosts.Used = u.arm64Hosts
	return c
}

func moduleQuota(m ModuleEntitlement) Quota {
	switch {
	case !m.Entitled:
		return Quota{}
	case m.Unlimited:
		return Quota{Unlimited: true}
	}
	return Quota{Limit: m.Quantity}
}

// keyStatus reports the key state and the active key's buffer at t.
func (s *PlatformState) keyStatus(at time.Time) USBKeyStatus {
	state, _ := s.keyTable()
	k := USBKeyStatus{State: state, ActiveKey: s.activeKey, Inserted: make([]KeySlot, len(s.inserted))}
	for i, in := range s.inserted {
		k.Inserted[i] = KeySlot{Node: in.node, KeyID: in.key}
	}
	if s.activeKey == "" || s.authKey != "" {
		return k
	}
	since := s.unavailableAt
	k.UnavailableSince = &since
	k.DecidedBy = refs(s.pullRefs(s.activeKey)...)
	kr := s.keys[s.activeKey]
	switch {
	case kr == nil || kr.buffer.IsZero():
		k.Buffer = BufferNone
	case at.Before(kr.buffer):
		k.Buffer, k.BufferExpiresAt = BufferActive, timePtr(kr.buffer)
	default:
		k.Buffer, k.BufferExpiresAt = BufferExpired, timePtr(kr.buffer)
	}
	return k
}

// PlatformAsOf folds, in order, the events of platform/<id> from a log
// (events of other aggregates are passed over) up to and including the
// instant at; a zero at folds them all. It is "as of T" (R32): the state
// of the history's prefix up to T. Errors are those of EvolvePlatform,
// and ENOTFOUND when the log holds no event of the platform.
func PlatformAsOf(events []Event, id string, at time.Time) (*PlatformState, error) {
	subject := platformSubject + id
	s := &PlatformState{}
	found := false
	for _, e := range events {
		if e.Subject != subject {
			continue
		}
		found = true
		if !at.IsZero() && e.Time.After(at) {
			break
		}
		if err := EvolvePlatform(s, e); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, Reasonf(ENOTFOUND, ReasonUnknownPlatform, "no events of platform %q", id)
	}
	if s.id == "" {
		s.id, s.subject = id, subject
	}
	return s, nil
}

// PlatformLastEventTime returns the time of the last event of platform/<id> in a
// log, and false if there is none.
func PlatformLastEventTime(events []Event, id string) (time.Time, bool) {
	subject := platformSubject + id
	for _, e := range slices.Backward(events) {
		if e.Subject == subject {
			return e.Time.UTC(), true
		}
	}
	return time.Time{}, false
}
