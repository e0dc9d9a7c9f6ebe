package domain

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// USB key states (the state table of rules.md §3).
const (
	KeyStateNone     = "none"
	KeyStateReady    = "ready"
	KeyStateMissing  = "missing"
	KeyStateAbnormal = "abnormal"
	KeyStateFault    = "fault"
)

// Buffer license terms (R19, R20).
const (
	BufferTerm     = 30 * 24 * time.Hour // a fresh buffer runs this long from the pull
	BufferFreshGap = 60 * 24 * time.Hour // pulls this far apart or more get a fresh buffer
)

// platformSubject prefixes a platform id to make its event subject.
const platformSubject = KindPlatform + "/"

// PlatformState is the state of one platform aggregate folded from its
// events. It holds facts, not answers: which licenses were recorded from
// which source and in which order, which keys are inserted where, each
// key's pull history, and the managed hosts. PlatformEntitlement derives
// the answer for any instant at or after the last folded event, so one
// state serves every "as of" question up to the next event.
//
// The zero value is the state of a platform with no history. A state is
// not safe for concurrent mutation; readers that share one must not fold
// into it (fold into a Clone instead).
type PlatformState struct {
	id          string
	subject     string
	version     uint64    // events folded
	lastTime    time.Time // time of the last event folded
	lastEvent   string    // id of the event being folded, then of the last folded (provenance)
	registered  bool
	requestCode string
	customer    string
	nodes       []string // management nodes in the order added (R15)
	hosts       map[string]hostRecord
	usage       hostUsage
	rc          holder // the request-code licenses
	seq         uint64 // precedence position of the latest license brought (R13)
	rejected    int    // audited upload refusals (R11)

	inserted     []insertion // keys inserted now, earliest first
	everInserted bool
	keys         map[string]*keyRecord
	// authKey is the key that authorizes now (key state ready or
	// abnormal), "" otherwise. activeKey is the key whose licenses apply:
	// authKey, or the last key that authorized while it is unavailable
	// (pulled or in fault), whose buffer may still apply (R17–R21).
	authKey       string
	activeKey     string
	unavailableAt time.Time // when activeKey stopped authorizing; zero while it does
}

type hostRecord struct {
	hypervisor string
	sockets    int
}

// hostUsage keeps running totals so capacity costs nothing per query.
type hostUsage struct {
	hosts, kvmSockets, vmwareSockets, arm64Hosts int
}

func (u *hostUsage) add(h hostRecord, sign int) {
	u.hosts += sign
	switch h.hypervisor {
	case HypervisorKVM:
		u.kvmSockets += sign * h.sockets
	case HypervisorVMware:
		u.vmwareSockets += sign * h.sockets
	case HypervisorARM64:
		u.arm64Hosts += sign
	}
}

// licenseRecord is a recorded license, flattened (no pointers) so a copy
// is independent. Once folded only deleted and dead change.
type licenseRecord struct {
	id        string
	kind      string
	edition   string
	module    int // catalog index; -1 for a Base
	sockets   int
	quantity  int
	issued    time.Time
	expires   time.Time
	hasExpiry bool
	end       time.Time // end of the term (R8, R2); valid when hasEnd
	hasEnd    bool
	source    string
	keyID     string
	carried   bool   // brought by a key insertion, not uploaded bound to a key
	pos       uint64 // R13 precedence: higher is later
	event     string // id of the event that brought it (provenance)
	deleted   bool   // R14: takes no part in precedence
	dead      bool   // replaced or gone: no longer its holder's record
}

func newLicenseRecord(l License, source, keyID string) licenseRecord {
	r := licenseRecord{
		id: l.ID, kind: l.Kind, edition: l.Edition, module: -1,
		sockets: l.Sockets, quantity: l.Quantity, issued: l.IssuedAt.UTC(),
		source: source, keyID: keyID,
	}
	if l.Kind == KindPlus {
		r.module = moduleIndex(l.Module)
	}
	if l.ExpiresAt != nil {
		r.expires, r.hasExpiry = l.ExpiresAt.UTC(), true
	}
	r.end, r.hasEnd = licenseEnd(r.kind, r.edition, r.issued, r.expires, r.hasExpiry)
	return r
}

// license rebuilds the license object of the record.
func (r licenseRecord) license() License {
	l := License{ID: r.id, Kind: r.kind, Edition: r.edition, Sockets: r.sockets, Quantity: r.quantity, IssuedAt: r.issued}
	if r.module >= 0 {
		l.Module = catalog[r.module].Name
	}
	if r.hasExpiry {
		t := r.expires
		l.ExpiresAt = &t
	}
	return l
}

// inForce reports issued ≤ t < end (R8).
func (r *licenseRecord) inForce(t time.Time) bool {
	return !t.Before(r.issued) && (!r.hasEnd || t.Before(r.end))
}

// ID returns the platform id ("" before the first event or registration).
func (s *PlatformState) ID() string { return s.id }

// Registered reports whether platform.registered was folded.
func (s *PlatformState) Registered() bool { return s.registered }

// Version returns the number of events folded: the aggregate version an
// append of new events expects.
func (s *PlatformState) Version() uint64 { return s.version }

// LastEventTime returns the time of the last event folded.
func (s *PlatformState) LastEventTime() time.Time { return s.lastTime }

// RequestCode returns the platform's request code ("" if none).
func (s *PlatformState) RequestCode() string { return s.requestCode }

// Customer returns the customer owning the platform ("" if none).
func (s *PlatformState) Customer() string { return s.customer }

// RejectedUploads returns how many refused uploads were recorded (R11).
func (s *PlatformState) RejectedUploads() int { return s.rejected }

// Nodes returns the management nodes, in the order they were added.
func (s *PlatformState) Nodes() []string { return slices.Clone(s.nodes) }

// InsertedKeys returns the ids of the USB keys inserted now on any
// management node, earliest inserted first.
func (s *PlatformState) InsertedKeys() []string {
	out := make([]string, len(s.inserted))
	for i, in := range s.inserted {
		out[i] = in.key
	}
	return out
}

// Licenses returns the recorded licenses that are not deleted, in
// precedence order (R13: latest last).
func (s *PlatformState) Licenses() []License {
	recs := s.sortedLicenses()
	out := make([]License, len(recs))
	for i, r := range recs {
		out[i] = r.license()
	}
	return out
}

func (s *PlatformState) sortedLicenses() []licenseRecord {
	var recs []licenseRecord
	add := func(h *holder) {
		for _, r := range h.licenses {
			if !r.deleted {
				recs = append(recs, *r)
			}
		}
	}
	add(&s.rc)
	for _, kr := range s.keys {
		add(&kr.holder)
	}
	slices.SortFunc(recs, func(a, b licenseRecord) int { return cmp.Compare(a.pos, b.pos) })
	return recs
}

// Clone returns an independent deep copy: folding into either leaves the
// other unchanged. Used to resume a fold from a snapshot or to fork one.
func (s *PlatformState) Clone() *PlatformState {
	c := *s
	c.nodes = slices.Clone(s.nodes)
	c.inserted = slices.Clone(s.inserted)
	c.rc = s.rc.clone()
	if s.keys != nil {
		c.keys = make(map[string]*keyRecord, len(s.keys))
		for k, v := range s.keys {
			kr := *v
			kr.carried = slices.Clone(v.carried)
			kr.holder = v.holder.clone()
			c.keys[k] = &kr
		}
	}
	return &c
}

// Evolve is the value form of EvolvePlatform: it returns a new state and
// leaves s unchanged. It clones, so it is for tests and one-off use;
// projections fold in place.
func Evolve(s *PlatformState, e Event) (*PlatformState, error) {
	c := s.Clone()
	if err := EvolvePlatform(c, e); err != nil {
		return s, err
	}
	return c, nil
}

// EvolvePlatform folds one event into s in place. The event must belong to
// the platform of s (the first event names it). An unknown event type or
// data that does not decode is an EINVALID error naming the event, and s is
// left unchanged. Events that make no sense in the state (removing a host
// that is not there) are folded as harmlessly as possible: the history is
// the truth, DecidePlatform is where nonsense is refused.
func EvolvePlatform(s *PlatformState, e Event) error {
	named := s.subject != ""
	if !named {
		agg, err := ParseAggregate(e.Subject)
		if err != nil {
			return eventError(e, err)
		}
		if agg.Kind != KindPlatform {
			return Errorf(EINVALID, "event %s: subject %s is not a platform", e.ID, e.Subject)
		}
		if s.id != "" && s.id != agg.ID {
			return Errorf(EINVALID, "event %s of %s folded into the state of platform/%s", e.ID, e.Subject, s.id)
		}
	} else if e.Subject != s.subject {
		return Errorf(EINVALID, "event %s of %s folded into the state of %s", e.ID, e.Subject, s.subject)
	}
	t := e.Time.UTC()
	prevEvent := s.lastEvent
	s.lastEvent = e.ID // what the event records names it as its provenance
	var err error
	switch e.Type {
	case EventPlatformRegistered:
		var d PlatformRegistered
		if err = decodePlatformRegistered(e.Data, &d); err == nil {
			s.registered, s.requestCode, s.customer = true, d.RequestCode, d.Customer
			s.nodes = s.nodes[:0]
			for _, n := range d.Nodes {
				if !slices.Contains(s.nodes, n) {
					s.nodes = append(s.nodes, n)
				}
			}
		}
	case EventPlatformNodeAdded:
		var d NodeChanged
		if err = decodeNodeChanged(e.Data, &d); err == nil && !slices.Contains(s.nodes, d.Node) {
			s.nodes = append(s.nodes, d.Node)
		}
	case EventPlatformNodeRemoved:
		var d NodeChanged
		if err = decodeNodeChanged(e.Data, &d); err == nil {
			s.nodes = slices.DeleteFunc(s.nodes, func(n string) bool { return n == d.Node })
		}
	case EventLicenseUploaded:
		var d LicenseUploaded
		if err = decodeLicenseUploaded(e.Data, &d); err == nil {
			keyID := ""
			if d.Source == SourceUSBKey {
				keyID = d.KeyID
			}
			s.putLicense(newLicenseRecord(d.License, d.Source, keyID))
		}
	case EventLicenseUploadRejected:
		var d LicenseUploadRejected
		if err = decodeUploadRejected(e.Data, &d); err == nil {
			s.rejected++
		}
	case EventLicenseDeleted:
		var d LicenseDeleted
		if err = decodeLicenseDeleted(e.Data, &d); err == nil {
			s.deleteLicense(d.License)
		}
	case EventUSBKeyInserted:
		var d USBKeyInserted
		if err = decodeKeyInserted(e.Data, &d); err == nil {
			s.insertKey(d, t)
		}
	case EventUSBKeyRemoved:
		var d USBKeyRemoved
		if err = decodeKeyRemoved(e.Data, &d); err == nil {
			s.removeKey(d, t)
		}
	case EventHostAdded:
		var d HostAdded
		if err = decodeHostAdded(e.Data, &d); err == nil {
			if s.hosts == nil {
				s.hosts = make(map[string]hostRecord)
			}
			if old, ok := s.hosts[d.Host]; ok {
				s.usage.add(old, -1)
			}
			h := hostRecord{hypervisor: d.Hypervisor, sockets: d.Sockets}
			s.hosts[d.Host] = h
			s.usage.add(h, +1)
		}
	case EventHostRemoved:
		var d HostRemoved
		if err = decodeHostRemoved(e.Data, &d); err == nil {
			if old, ok := s.hosts[d.Host]; ok {
				s.usage.add(old, -1)
				delete(s.hosts, d.Host)
			}
		}
	default:
		err = Reasonf(EINVALID, ReasonUnknownEventType, "event %s: unknown platform event type %q", e.ID, e.Type)
	}
	if err != nil {
		s.lastEvent = prevEvent
		if ErrorReason(err) == ReasonUnknownEventType {
			return err
		}
		return eventError(e, err)
	}
	if !named {
		s.id, s.subject = strings.TrimPrefix(e.Subject, platformSubject), e.Subject
	}
	s.version++
	s.lastTime = t
	return nil
}

// putLicense records a license at the next precedence position.
func (s *PlatformState) putLicense(r licenseRecord) {
	s.seq++
	r.pos, r.event = s.seq, s.lastEvent
	s.holderOf(r.keyID).put(&r)
}

// deleteLicense marks a license deleted (R14). DecidePlatform only deletes
// request-code licenses; a deletion of anything else in the history is
// folded as written.
func (s *PlatformState) deleteLicense(id string) {
	for _, r := range s.recordsOf(id) {
		r.deleted = true
		s.lookupHolder(r.keyID).trim(r.slot())
	}
}
