package domain

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Explanations: an entitlement item's answer in words, with the rules that
// gave it and the events that decided it. The wording lives here and only
// here; it reads the same facts PlatformEntitlement decides from (its
// answer, the precedence, the keys' pulls and buffers), so it cannot
// disagree with the answer it explains.

// Explained items besides the module names.
const (
	ExplainBase     = "base"
	ExplainCapacity = "capacity"
	ExplainBuffer   = "buffer"
)

// Explanation is why one item of a platform's entitlement is what it is.
type Explanation struct {
	Platform     string       `json:"platform,omitempty"`
	Subscription string       `json:"subscription,omitempty"`
	At           time.Time    `json:"at"`
	AsOf         *LogPosition `json:"as_of,omitempty"`
	// Item is "base", a module name, "capacity" or "buffer"; for a
	// subscription "seats" or an instance id.
	Item string `json:"item"`
	// Entitled: the Base or module is entitled; the hosts fit the
	// capacity; the USB key authorizes or its buffer runs; a new instance
	// would get a seat; the instance holds one.
	Entitled bool `json:"entitled"`
	// Reason is the entitlement's reason word when not entitled
	// ("over-capacity" for capacity, the buffer state for the buffer).
	Reason string `json:"reason,omitempty"`
	// Because is the decision in words, instants in RFC 3339 UTC.
	Because   string     `json:"because"`
	Rules     []string   `json:"rules"`
	DecidedBy []EventRef `json:"decided_by"`
}

// Over-capacity is the reason an explanation of capacity gives when a
// quota is exceeded (the entitlement itself refuses nothing for it: the
// next host is refused, capacity-exceeded).
const ReasonOverCapacity = "over-capacity"

// ExplainPlatform explains item ("base", a module of R3, "capacity" or
// "buffer"; "" means the Base) of the platform's entitlement at instant
// at, for a state folded as PlatformEntitlement wants it. An unknown item
// is EINVALID bad-parameter.
func ExplainPlatform(s *PlatformState, at time.Time, item string) (Explanation, error) {
	at = at.UTC()
	ent := PlatformEntitlement(s, at)
	if item == "" {
		item = ExplainBase
	}
	x := Explanation{Platform: s.id, At: at, Item: item, Rules: []string{}}
	switch item {
	case ExplainBase:
		x.explainBase(s, ent)
	case ExplainCapacity:
		x.explainCapacity(ent)
	case ExplainBuffer:
		x.explainBuffer(s, at, ent)
	default:
		i := moduleIndex(item)
		if i < 0 {
			return Explanation{}, Reasonf(EINVALID, ReasonBadParameter,
				"%q is not a module of the catalog (R3), nor base, capacity or buffer", item)
		}
		x.explainModule(s, at, ent, catalog[i])
	}
	if x.DecidedBy == nil {
		x.DecidedBy = []EventRef{}
	}
	// In rule order: R4 before R13.
	slices.SortFunc(x.Rules, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b)) })
	x.Rules = slices.Compact(x.Rules)
	return x, nil
}

// SetSeqs fills in the stream sequence of every event named, from seqs by
// event id.
func (x *Explanation) SetSeqs(seqs map[string]uint64) {
	for i := range x.DecidedBy {
		x.DecidedBy[i].Seq = seqs[x.DecidedBy[i].ID]
	}
}

// say sets the decision, its rules and its events.
func (x *Explanation) say(because string, decided []EventRef, rules ...string) {
	x.Because = because
	x.DecidedBy = append(x.DecidedBy, decided...)
	x.Rules = append(x.Rules, rules...)
}

func instant(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// sourceText names where a license comes from.
func sourceText(source, keyID string) string {
	if source == SourceUSBKey {
		return "USB key " + keyID
	}
	return "the platform's request code"
}

func (x *Explanation) explainBase(s *PlatformState, ent Entitlement) {
	b := ent.Base
	switch {
	case b == nil:
		if deleted := s.slotRecords(0, true); len(deleted) > 0 {
			r := deleted[len(deleted)-1]
			x.say(fmt.Sprintf("unlicensed: Base license %s was deleted, and no other Base takes part", r.id), refs(r.event), "R14")
			return
		}
		x.say("unlicensed: no Base license was ever recorded for the platform", nil, "R1")
	case b.InForce:
		x.Entitled = true
		text := fmt.Sprintf("entitled: Base license %s (%s edition) through %s, the Base brought latest among those that take part",
			b.License, b.Edition, sourceText(b.Source, b.KeyID))
		rules := []string{"R1", "R13"}
		if b.GraceUntil != nil {
			text += "; " + s.keyText(b.KeyID, ent.At)
			rules = append(rules, "R19")
		}
		x.say(text+x.supersedes(s, 0, b.License), b.DecidedBy, rules...)
	default:
		x.Reason = b.Reason
		x.explainRefusal(s, ent.At, "the Base", b.License, b.Source, b.KeyID, b.Reason, b.DecidedBy, 0)
	}
}

func (x *Explanation) explainModule(s *PlatformState, at time.Time, ent Entitlement, info ModuleInfo) {
	m := ent.Modules[info.Name]
	x.Entitled, x.Reason = m.Entitled, m.Reason
	slot := moduleIndex(info.Name) + 1
	switch {
	case m.Entitled && m.Source == ModuleSourceIncluded:
		x.say(fmt.Sprintf("entitled: included in the %s edition of Base license %s", ent.Base.Edition, m.License), m.DecidedBy, "R5")
	case m.Entitled && m.Source == ModuleSourceTrial:
		x.say(fmt.Sprintf("entitled: the enterprise-trial Base %s includes every module, counted ones unlimited", m.License), m.DecidedBy, "R6")
	case m.Entitled:
		text := fmt.Sprintf("entitled: license %s through %s, the latest brought for %s among those that take part", m.License, sourceText(m.Source, m.KeyID), info.Name)
		rules := []string{"R13"}
		if m.GraceUntil != nil {
			key := m.KeyID
			rules = append(rules, "R19")
			if m.Source != SourceUSBKey || (ent.Base.GraceUntil != nil && ent.Base.GraceUntil.Equal(*m.GraceUntil)) {
				key = ent.Base.KeyID // it ends with the Base's buffer (R4)
				rules = append(rules, "R4")
			}
			text += "; " + s.keyText(key, at)
		}
		x.say(text+x.supersedes(s, slot, m.License), m.DecidedBy, rules...)
	case m.Reason == ReasonBaseRequired:
		b := ent.Base
		switch {
		case b == nil:
			x.say("not entitled: Base missing: no Base license takes part, and a Plus module needs the Base", nil, "R4")
		case b.InForce && b.Edition == EditionCommunity:
			x.say(fmt.Sprintf("not entitled: the Base %s is the community edition, which takes no Plus module", b.License), b.DecidedBy, "R1", "R4")
		default:
			x.say(fmt.Sprintf("not entitled: a Plus module needs the Base in force, and the Base %s is not: %s", b.License,
				refusalText(s, at, "it", b.License, b.Source, b.KeyID, b.Reason)), b.DecidedBy, append(refusalRules(b.Reason), "R4")...)
		}
	case m.Reason == ReasonNotLicensed:
		if deleted := s.slotRecords(slot, true); len(deleted) > 0 {
			r := deleted[len(deleted)-1]
			x.say(fmt.Sprintf("not entitled: license %s for %s was deleted, and no other takes part", r.id, info.Name), refs(r.event), "R14")
			return
		}
		x.say(fmt.Sprintf("not entitled: not licensed: no license for %s was ever recorded for the platform", info.Name), nil, "R3")
	default:
		x.explainRefusal(s, at, info.Name, m.License, m.Source, m.KeyID, m.Reason, m.DecidedBy, slot)
	}
}

// explainRefusal explains a Base or module whose deciding license does
// not entitle: out of its term, or its source unavailable.
func (x *Explanation) explainRefusal(s *PlatformState, at time.Time, what, license, source, keyID, reason string, decided []EventRef, slot int) {
	x.say(fmt.Sprintf("not entitled: %s", refusalText(s, at, what+"'s license "+license, license, source, keyID, reason))+
		x.supersedes(s, slot, license), decided, append(refusalRules(reason), "R13")...)
}

// refusalRules are the rules behind a license that does not entitle: its
// term (R8), or its key's availability and buffer (R17–R20).
func refusalRules(reason string) []string {
	if reason == ReasonSourceUnavailable {
		return []string{"R17", "R19", "R20"}
	}
	return []string{"R8"}
}

// refusalText says why license (from source) does not entitle at at.
func refusalText(s *PlatformState, at time.Time, subject, license, source, keyID, reason string) string {
	r, _ := s.record(license, keyID)
	switch reason {
	case ReasonExpired:
		return fmt.Sprintf("%s expired on %s", subject, instant(r.end))
	case ReasonNotYetValid:
		return fmt.Sprintf("%s is issued on %s, after the instant", subject, instant(r.issued))
	case ReasonSourceUnavailable:
		return fmt.Sprintf("%s comes from USB key %s, which takes no part: %s", subject, keyID, s.keyText(keyID, at))
	}
	return fmt.Sprintf("%s does not entitle (%s)", subject, reason)
}

// supersedes names the licenses of the slot brought earlier that the
// deciding one replaced though they still take part (R13): "superseded by
// a later upload". Empty when there is none.
func (x *Explanation) supersedes(s *PlatformState, slot int, license string) string {
	var older []string
	for id, st := range LicenseStandings(s, x.At) {
		if st.Standing == StandingSuperseded && st.DecidedBy == license {
			if r, ok := s.record(id, ""); !ok || r.slot() == slot {
				older = append(older, id)
			}
		}
	}
	if len(older) == 0 {
		return ""
	}
	slices.Sort(older)
	x.Rules = append(x.Rules, "R13")
	return fmt.Sprintf("; it supersedes %s, brought earlier: a later license replaces an earlier one, it does not stack", strings.Join(older, ", "))
}

// keyText says where USB key id stands at at: authorizing, or since when
// it does not and what its buffer is (R17–R21).
func (s *PlatformState) keyText(id string, at time.Time) string {
	kr := s.keys[id]
	switch {
	case kr == nil:
		return fmt.Sprintf("USB key %s was never inserted", id)
	case id == s.authKey:
		return fmt.Sprintf("USB key %s is inserted and authorizes", id)
	case kr.pulls == 0:
		// Never authorized: not inserted, or inserted beside a key that
		// authorizes (abnormal, R16) or in the fault state (R17).
		for _, in := range s.inserted {
			switch {
			case in.key != id:
			case s.authKey != "":
				return fmt.Sprintf("USB key %s is inserted on %s but does not authorize: USB key %s, inserted earlier, does (key state abnormal, R16)", id, in.node, s.authKey)
			default:
				return fmt.Sprintf("USB key %s is inserted on %s but does not authorize: no management node holds exactly one key (key state fault, R17)", id, in.node)
			}
		}
		return fmt.Sprintf("USB key %s is not inserted", id)
	case s.activeKey != id:
		return fmt.Sprintf("USB key %s stopped authorizing on %s and another key authorized since, which voids its buffer (R21)", id, instant(kr.lastPull))
	}
	text := fmt.Sprintf("USB key %s stopped authorizing on %s (pulled, or its node's key state went to fault, R17)", id, instant(kr.lastPull))
	inherited := kr.bufferEvent != kr.pullEvent
	switch {
	case kr.buffer.IsZero() && !inherited:
		return text + ", with none of its licenses in force then: no buffer license (R18)"
	// An inherited buffer: R20 compared this pull with the key's previous
	// one (prevPull), and the buffer kept is the one the pull of
	// bufferPull decided, which may be several pulls back.
	case kr.buffer.IsZero():
		return text + fmt.Sprintf(", within 60 days of its previous pull of %s: the 60-day rule keeps the buffer of its pull of %s, which granted none (R20)",
			instant(kr.prevPull), instant(kr.bufferPull))
	case inherited && at.Before(kr.buffer):
		return text + fmt.Sprintf(", within 60 days of its previous pull of %s: the 60-day rule keeps the buffer of its pull of %s, which runs until %s (R20)",
			instant(kr.prevPull), instant(kr.bufferPull), instant(kr.buffer))
	case inherited:
		return text + fmt.Sprintf("; key missing and buffer expired on %s: within 60 days of its previous pull of %s, the 60-day rule gives no fresh buffer and keeps the buffer of its pull of %s (R20)",
			instant(kr.buffer), instant(kr.prevPull), instant(kr.bufferPull))
	case at.Before(kr.buffer):
		return text + fmt.Sprintf("; its buffer license runs until %s (R19)", instant(kr.buffer))
	}
	return text + fmt.Sprintf("; key missing and buffer expired on %s (R19)", instant(kr.buffer))
}

func (x *Explanation) explainCapacity(ent Entitlement) {
	c := ent.Capacity
	var over []string
	for _, q := range []struct {
		what string
		q    Quota
	}{{"hosts", c.Hosts}, {"KVM sockets (and VMware sockets beyond the vmware quota)", c.Sockets}, {"ARM64 hosts", c.ARM64Hosts}} {
		if !q.q.Unlimited && q.q.Used > q.q.Limit {
			over = append(over, fmt.Sprintf("%d %s used of a quota of %d", q.q.Used, q.what, q.q.Limit))
		}
	}
	switch {
	case ent.Base == nil || !ent.Base.InForce:
		x.Reason = ReasonOverCapacity
		x.Entitled = c.Hosts.Used == 0
		x.say(fmt.Sprintf("no Base in force admits no host: %d host(s) managed", c.Hosts.Used), c.DecidedBy, "R2", "R4")
	case len(over) > 0:
		x.Reason = ReasonOverCapacity
		x.say("over capacity: "+strings.Join(over, "; "), c.DecidedBy, "R2", "R7")
	default:
		x.Entitled = true
		x.say(fmt.Sprintf("within capacity: %s; %d host(s) managed", quotaText(c.Sockets, "sockets"), c.Hosts.Used), c.DecidedBy, "R2", "R7")
	}
}

func quotaText(q Quota, what string) string {
	if q.Unlimited {
		return fmt.Sprintf("%d %s used, no limit", q.Used, what)
	}
	return fmt.Sprintf("%d of %d %s used", q.Used, q.Limit, what)
}

func (x *Explanation) explainBuffer(s *PlatformState, at time.Time, ent Entitlement) {
	k := ent.USBKey
	switch {
	case k.ActiveKey == "":
		x.Entitled = true
		x.say(fmt.Sprintf("no USB key authorizes or did (key state %s): request-code licenses need no buffer", k.State), nil, "R13")
	case k.Buffer == "":
		x.Entitled = true
		x.say(s.keyText(k.ActiveKey, at)+": no buffer needed", nil, "R16")
	default:
		x.Entitled, x.Reason = k.Buffer == BufferActive, k.Buffer
		x.say(s.keyText(k.ActiveKey, at), k.DecidedBy, "R17", "R19")
	}
}

// slotRecords lists the slot's license records in precedence order,
// deleted ones only when deleted is set.
func (s *PlatformState) slotRecords(slot int, deleted bool) []licenseRecord {
	var out []licenseRecord
	for _, r := range s.sortedAll() {
		if r.slot() == slot && r.deleted == deleted {
			out = append(out, r)
		}
	}
	return out
}

// record finds a license record by id (in key keyID's holder first).
func (s *PlatformState) record(id, keyID string) (licenseRecord, bool) {
	if kr := s.keys[keyID]; kr != nil {
		if r := kr.licenses[id]; r != nil {
			return *r, true
		}
	}
	for _, r := range s.sortedAll() {
		if r.id == id {
			return r, true
		}
	}
	return licenseRecord{}, false
}

// sortedAll is every live record, deleted ones included, in precedence
// order.
func (s *PlatformState) sortedAll() []licenseRecord {
	var recs []licenseRecord
	add := func(h *holder) {
		for _, r := range h.licenses {
			recs = append(recs, *r)
		}
	}
	add(&s.rc)
	for _, kr := range s.keys {
		add(&kr.holder)
	}
	slices.SortFunc(recs, func(a, b licenseRecord) int { return int(a.pos) - int(b.pos) })
	return recs
}
