package domain

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"
)

// Platform statuses (design.md, "Query shapes"), from the Base that wins
// precedence (R13): unlicensed when no Base takes part; community for a
// community Base, whatever its terms; expired when it is out of its term
// or only Bases of an unavailable key exist (Base reason
// source-unavailable); grace when it is in force through a buffer;
// licensed otherwise.
const (
	StatusUnlicensed = "unlicensed"
	StatusCommunity  = "community"
	StatusExpired    = "expired"
	StatusGrace      = "grace"
	StatusLicensed   = "licensed"
)

// Where an entitled module comes from: a license of a source (R9), the
// edition's inclusion (R5) or the trial (R6).
const (
	ModuleSourceIncluded = "included"
	ModuleSourceTrial    = "trial"
)

// Why a module (or the Base) is not entitled.
const (
	ReasonNotLicensed       = "not-licensed"       // no license for it takes part
	ReasonBaseRequired      = "base-required"      // R4: no non-community Base in force
	ReasonExpired           = "expired"            // the winning license's term is over
	ReasonNotYetValid       = "not-yet-valid"      // the winning license is issued after the instant
	ReasonSourceUnavailable = "source-unavailable" // R13: only licenses of an unavailable key exist
)

// Buffer states shown while the active key does not authorize.
const (
	BufferActive  = "active"  // the buffer license is in force
	BufferExpired = "expired" // it was granted and has run out
	BufferNone    = "none"    // none was granted (R18, or R20 inheriting none)
)

// Entitlement is what a platform is entitled to at an instant: the
// design's query shape. MarshalEntitlement prints it; the CLI, the HTTP
// API and the golden files all print exactly those bytes.
type Entitlement struct {
	Platform string    `json:"platform"`
	At       time.Time `json:"at"`
	// AsOf is the log position the answer stands at, set by the reader
	// that folded the history (absent for a history without stream
	// sequences, e.g. a fixture).
	AsOf     *LogPosition     `json:"as_of,omitempty"`
	Status   string           `json:"status"`
	Base     *BaseEntitlement `json:"base"` // null when no Base takes part (unlicensed)
	Modules  ModuleMap        `json:"modules"`
	Capacity Capacity         `json:"capacity"`
	USBKey   USBKeyStatus     `json:"usb_key"`
}

// BaseEntitlement is the Base license that wins precedence (R13), with its
// provenance. ExpiresAt is the end of its term (for enterprise-trial at
// most one year after issue, R2). GraceUntil is set when the Base takes
// part only through a buffer license (its key pulled or in fault,
// R17-R22): the entitlement then ends at GraceUntil or ExpiresAt, whichever
// comes first.
type BaseEntitlement struct {
	Edition    string     `json:"edition"`
	Source     string     `json:"source"`
	KeyID      string     `json:"key_id,omitempty"`
	License    string     `json:"license"`
	IssuedAt   time.Time  `json:"issued_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	GraceUntil *time.Time `json:"grace_until,omitempty"`
	Sockets    int        `json:"sockets,omitempty"`
	InForce    bool       `json:"in_force"`
	Reason     string     `json:"reason,omitempty"` // why not in force
	DecidedBy  []EventRef `json:"decided_by,omitempty"`
}

// ModuleEntitlement is one Plus module's answer. When entitled, Source is
// included, trial, usb-key or request-code and License names the license
// (the Base for included and trial); Quantity is set for counted modules,
// Unlimited for counted modules under a trial (R6). When not entitled,
// Reason says why, and License names the license that would apply if one
// was recorded. ExpiresAt is the end of the license's term; GraceUntil is
// set when the module is entitled only through a buffer license, its own
// key's or the Base's (a Plus module needs the Base, R4): the entitlement
// then ends at the sooner of the two.
type ModuleEntitlement struct {
	Entitled   bool       `json:"entitled"`
	Source     string     `json:"source,omitempty"`
	KeyID      string     `json:"key_id,omitempty"`
	License    string     `json:"license,omitempty"`
	Quantity   int        `json:"quantity,omitempty"`
	Unlimited  bool       `json:"unlimited,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	GraceUntil *time.Time `json:"grace_until,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	DecidedBy  []EventRef `json:"decided_by,omitempty"`
}

// ModuleMap holds every module of R3 by name. It marshals as a JSON object
// in the order of R3 (then any other names sorted), so the document reads
// like the catalog and is byte-stable.
type ModuleMap map[string]ModuleEntitlement

// MarshalJSON writes the modules in catalog order.
func (m ModuleMap) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	n := 0
	write := func(name string, v ModuleEntitlement) error {
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		k, _ := json.Marshal(name)
		buf.Write(k)
		buf.WriteByte(':')
		b, err := json.Marshal(v)
		buf.Write(b)
		return err
	}
	for _, info := range catalog {
		if v, ok := m[info.Name]; ok {
			if err := write(info.Name, v); err != nil {
				return nil, err
			}
		}
	}
	var extra []string
	for name := range m {
		if moduleIndex(name) < 0 {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	for _, name := range extra {
		if err := write(name, m[name]); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// Capacity is the host capacity at the instant (R2, R7): quotas from the
// winning Base and the vmware and arm64 modules, usage from the hosts.
type Capacity struct {
	// Hosts: unlimited except enterprise-trial (one host, R2); zero
	// without a Base in force.
	Hosts Quota `json:"hosts"`
	// Sockets: the Base (KVM) socket quota; used counts KVM sockets plus
	// the VMware sockets beyond the vmware quota (R7).
	Sockets Quota `json:"sockets"`
	// VMwareSockets: the vmware module's quantity; used counts the VMware
	// sockets it covers.
	VMwareSockets Quota `json:"vmware_sockets"`
	// ARM64Hosts: the arm64 module's quantity and the ARM hosts.
	// Decision: an ARM host needs the arm64 module (R3 counts ARM hosts)
	// and uses one of its units, not Base sockets.
	ARM64Hosts Quota `json:"arm64_hosts"`
	// DecidedBy: the events that brought the licenses setting the quotas
	// (the Base, vmware, arm64).
	DecidedBy []EventRef `json:"decided_by,omitempty"`
}

// Quota is a limit and its use. It marshals as {"quota":N,"used":U}, or
// {"unlimited":true,"used":U} when there is no limit.
type Quota struct {
	Limit     int
	Unlimited bool
	Used      int
}

type quotaJSON struct {
	Quota     *int `json:"quota,omitempty"`
	Unlimited bool `json:"unlimited,omitempty"`
	Used      int  `json:"used"`
}

// MarshalJSON implements json.Marshaler.
func (q Quota) MarshalJSON() ([]byte, error) {
	v := quotaJSON{Unlimited: q.Unlimited, Used: q.Used}
	if !q.Unlimited {
		v.Quota = &q.Limit
	}
	return json.Marshal(v)
}

// UnmarshalJSON implements json.Unmarshaler.
func (q *Quota) UnmarshalJSON(b []byte) error {
	var v quotaJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*q = Quota{Unlimited: v.Unlimited, Used: v.Used}
	if v.Quota != nil {
		q.Limit = *v.Quota
	}
	return nil
}

// allows reports whether n more units fit.
func (q Quota) allows(n int) bool { return q.Unlimited || q.Used+n <= q.Limit }

// USBKeyStatus is the key state (§3) and the buffer of the active key.
type USBKeyStatus struct {
	State string `json:"state"`
	// ActiveKey is the key whose licenses apply: the authorizing key, or
	// the last one that authorized while it is unavailable.
	ActiveKey string `json:"active_key,omitempty"`
	// While the active key does not authorize (pulled, or fault, R17):
	// since when, the buffer state, and the buffer's expiry if one was
	// granted (R18–R20).
	UnavailableSince *time.Time `json:"unavailable_since,omitempty"`
	Buffer           string     `json:"buffer,omitempty"`
	BufferExpiresAt  *time.Time `json:"buffer_expires_at,omitempty"`
	Inserted         []KeySlot  `json:"inserted"`
	// DecidedBy: while the active key does not authorize, the pull that
	// made it unavailable and the pull that decided its buffer (R18–R20).
	DecidedBy []EventRef `json:"decided_by,omitempty"`
}

// KeySlot is a key inserted on a management node.
type KeySlot struct {
	Node  string `json:"node"`
	KeyID string `json:"key_id"`
}

// MarshalEntitlement returns the canonical bytes of an entitlement:
// indented JSON, modules in catalog order, times in RFC 3339 UTC, and a
// trailing newline.
func MarshalEntitlement(e Entitlement) ([]byte, error) {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return nil, Errorf(EINTERNAL, "encode entitlement: %v", err)
	}
	return append(b, '\n'), nil
}

func timePtr(t time.Time) *time.Time { return &t }
