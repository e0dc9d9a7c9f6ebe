package domain

import (
	"strings"
	"time"
)

// DecidePlatform validates a command against the platform's current state
// at the instant now and returns the events to append (Type, Subject and
// Data set; the event store fills the rest), or a *Error with a code, a
// stable Reason word (the Reason* constants) and a message that says what
// to do. It never changes s.
//
// An upload whose licenses are all recorded already, with the same content
// and from the same holder, returns no events and no error: a retried
// upload is harmless. A bundle mixing such licenses with new ones records
// only the new ones, still as one all-or-nothing append (R10).
//
// Safe for concurrent use on a state nobody folds into meanwhile.
func DecidePlatform(s *PlatformState, cmd PlatformCommand, now time.Time) ([]Event, error) {
	now = now.UTC()
	if c, ok := cmd.(RegisterPlatform); ok {
		return decideRegister(s, c)
	}
	if cmd == nil {
		return nil, Reasonf(EINVALID, ReasonInvalidCommand, "no command")
	}
	if !s.registered {
		return nil, Reasonf(ENOTFOUND, ReasonNotRegistered, "platform %q is not registered; register it first", s.id)
	}
	switch c := cmd.(type) {
	case AddNode:
		return decideAddNode(s, c)
	case RemoveNode:
		return decideRemoveNode(s, c)
	case UploadLicense:
		return decideUpload(s, c, now)
	case DeleteLicense:
		return decideDelete(s, c)
	case InsertUSBKey:
		return decideInsertKey(s, c)
	case RemoveUSBKey:
		return decideRemoveKey(s, c)
	case AddHost:
		return decideAddHost(s, c, now)
	case RemoveHost:
		return decideRemoveHost(s, c)
	case RejectUpload:
		return decideReject(s, c)
	}
	return nil, Reasonf(EINVALID, ReasonInvalidCommand, "unknown platform command %T", cmd)
}

// emit builds the events of one decision.
func emit(subject string, typ string, data ...any) ([]Event, error) {
	if len(data) == 0 {
		return nil, nil
	}
	out := make([]Event, len(data))
	for i, d := range data {
		e, err := NewEvent(subject, typ, d)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

func checkID(what, id string) error {
	if err := ValidateID(id); err != nil {
		return Reasonf(EINVALID, ReasonInvalidID, "%s: %s", what, ErrorMessage(err))
	}
	return nil
}

func decideRegister(s *PlatformState, c RegisterPlatform) ([]Event, error) {
	if err := checkID("platform", c.Platform); err != nil {
		return nil, err
	}
	if s.id != "" && s.id != c.Platform {
		return nil, Reasonf(EINVALID, ReasonInvalidCommand, "this is the state of platform %q, not %q", s.id, c.Platform)
	}
	if s.registered {
		return nil, Reasonf(ECONFLICT, ReasonAlreadyRegistered, "platform %q is registered already", c.Platform)
	}
	if len(c.Nodes) < 1 || len(c.Nodes) > 2 {
		return nil, Reasonf(EINVALID, ReasonNodeCount, "a platform has one or two management nodes (R15), got %d", len(c.Nodes))
	}
	for _, n := range c.Nodes {
		if err := checkID("node", n); err != nil {
			return nil, err
		}
	}
	if len(c.Nodes) == 2 && c.Nodes[0] == c.Nodes[1] {
		return nil, Reasonf(EINVALID, ReasonNodeExists, "management node %q is listed twice", c.Nodes[0])
	}
	if c.RequestCode != "" {
		if err := checkID("request code", c.RequestCode); err != nil {
			return nil, err
		}
	}
	return emit(platformSubject+c.Platform, EventPlatformRegistered,
		PlatformRegistered{Nodes: append([]string(nil), c.Nodes...), RequestCode: c.RequestCode})
}

func decideAddNode(s *PlatformState, c AddNode) ([]Event, error) {
	if err := checkID("node", c.Node); err != nil {
		return nil, err
	}
	for _, n := range s.nodes {
		if n == c.Node {
			return nil, Reasonf(ECONFLICT, ReasonNodeExists, "%s is a management node already", c.Node)
		}
	}
	if len(s.nodes) >= 2 {
		return nil, Reasonf(ECONFLICT, ReasonNodeCount, "platform %s has two management nodes (%s), the most it can have (R15)", s.id, strings.Join(s.nodes, ", "))
	}
	return emit(s.subject, EventPlatformNodeAdded, NodeChanged{Node: c.Node})
}

func decideRemoveNode(s *PlatformState, c RemoveNode) ([]Event, error) {
	if err := checkID("node", c.Node); err != nil {
		return nil, err
	}
	found := false
	for _, n := range s.nodes {
		found = found || n == c.Node
	}
	if !found {
		return nil, Reasonf(ENOTFOUND, ReasonUnknownNode, "%s is not a management node of %s (nodes: %s)", c.Node, s.id, strings.Join(s.nodes, ", "))
	}
	if len(s.nodes) == 1 {
		return nil, Reasonf(ECONFLICT, ReasonNodeCount, "%s is the only management node of %s; add another before removing it (R15)", c.Node, s.id)
	}
	for _, in := range s.inserted {
		if in.node == c.Node {
			return nil, Reasonf(ECONFLICT, ReasonNodeHasKeys, "USB key %s is inserted on %s; pull it (or move it to another node) first", in.key, c.Node)
		}
	}
	return emit(s.subject, EventPlatformNodeRemoved, NodeChanged{Node: c.Node})
}

func decideUpload(s *PlatformState, c UploadLicense, now time.Time) ([]Event, error) {
	if len(c.Licenses) == 0 {
		return nil, Reasonf(EINVALID, ReasonInvalidCommand, "the upload holds no license")
	}
	switch c.Source {
	case SourceRequestCode:
		if c.KeyID != "" {
			return nil, Reasonf(EINVALID, ReasonInvalidCommand, "a request-code upload is bound to no USB key, got key %q", c.KeyID)
		}
	case SourceUSBKey:
		if err := checkID("key id", c.KeyID); err != nil {
			return nil, err
		}
	default:
		return nil, Reasonf(EINVALID, ReasonInvalidCommand, "source %q is not %q or %q (R9)", c.Source, SourceRequestCode, SourceUSBKey)
	}
	if c.Digest != "" && !isSHA256Hex(c.Digest) {
		return nil, Reasonf(EINVALID, ReasonInvalidCommand, "digest %q is not a hex SHA-256", c.Digest)
	}
	if c.Bundle != "" {
		if err := checkID("bundle", c.Bundle); err != nil {
			return nil, err
		}
	}
	if len(c.Licenses) > 1 {
		if c.Source != SourceRequestCode {
			return nil, Reasonf(EINVALID, ReasonBundleSource, "a bundle is a request-code upload (R10); key-bound files are uploaded one by one")
		}
		if c.Bundle == "" {
			return nil, Reasonf(EINVALID, ReasonInvalidCommand, "an upload of %d licenses is a bundle and needs a bundle id", len(c.Licenses))
		}
		bases := 0
		for _, l := range c.Licenses {
			if l.Kind == KindBase {
				bases++
			}
		}
		if bases != 1 {
			return nil, Reasonf(EINVALID, ReasonBundleBase, "a bundle holds one Base license and any number of Plus licenses (R10), this one holds %d Base licenses", bases)
		}
	}
	// R10: validate everything before emitting anything.
	seen := make(map[string]bool, len(c.Licenses))
	for _, l := range c.Licenses {
		if err := ValidateLicense(l); err != nil {
			return nil, err
		}
		if seen[l.ID] {
			return nil, Reasonf(EINVALID, ReasonDuplicateLicense, "license %s appears twice in the upload", l.ID)
		}
		seen[l.ID] = true
		r := newLicenseRecord(l, c.Source, c.KeyID)
		if end := r.end; r.hasEnd && !now.Before(end) {
			return nil, Reasonf(EINVALID, ReasonExpiredOnArrival, "license %s expired at %s, before it arrived at %s; ask the vendor for a current license",
				l.ID, end.Format(time.RFC3339), now.Format(time.RFC3339))
		}
	}
	if c.Source == SourceUSBKey {
		if err := checkKeyBinding(s, c.KeyID, c.Licenses[0].ID); err != nil {
			return nil, err
		}
	}
	var data []any
	for _, l := range c.Licenses {
		recorded, err := checkRecorded(s, l, c.KeyID)
		if err != nil {
			return nil, err
		}
		if !recorded {
			data = append(data, LicenseUploaded{Source: c.Source, KeyID: c.KeyID, Bundle: c.Bundle, Digest: c.Digest, License: normalizeLicense(l)})
		}
	}
	return emit(s.subject, EventLicenseUploaded, data...)
}

// checkKeyBinding applies R12: a file bound to a key is accepted only while
// that key authorizes the platform.
func checkKeyBinding(s *PlatformState, keyID, license string) error {
	state, auth := s.keyTable()
	switch {
	case len(s.inserted) == 0:
		return Reasonf(ECONFLICT, ReasonKeyNotInserted,
			"license %s is bound to USB key %s, but no USB key is inserted on any management node; insert %s, then upload again (R12)", license, keyID, keyID)
	case state == KeyStateFault:
		return Reasonf(ECONFLICT, ReasonKeyFault,
			"license %s is bound to USB key %s, but the inserted keys (%s) are in fault; leave one key on one node, then upload again (R12, R17)", license, keyID, s.insertedOn())
	case auth != keyID:
		return Reasonf(ECONFLICT, ReasonWrongKey,
			"license %s is bound to USB key %s, but the key that authorizes this platform is %s (inserted: %s); insert %s instead, then upload again (R12)", license, keyID, auth, s.insertedOn(), keyID)
	}
	return nil
}

// checkRecorded reports whether the license is recorded already, the same
// and from the same holder (a harmless retry), and refuses an id recorded
// with other content or from another holder.
func checkRecorded(s *PlatformState, l License, keyID string) (bool, error) {
	want := normalizeLicense(l)
	for _, r := range s.recordsOf(l.ID) {
		if !r.license().Same(want) {
			return false, Reasonf(ECONFLICT, ReasonDuplicateLicense,
				"license %s is already recorded on this platform with different content; a vendor issues a new id for a new license", l.ID)
		}
		if r.keyID != keyID {
			return false, Reasonf(ECONFLICT, ReasonDuplicateLicense,
				"license %s is already recorded from %s; one license has one holder", l.ID, holderName(*r))
		}
	}
	h := s.lookupHolder(keyID)
	if h == nil {
		return false, nil
	}
	own := h.licenses[l.ID]
	return own != nil && !own.deleted, nil
}

func holderName(r licenseRecord) string {
	if r.source == SourceUSBKey {
		return "USB key " + r.keyID
	}
	return "a request-code upload"
}

func decideDelete(s *PlatformState, c DeleteLicense) ([]Event, error) {
	if err := checkID("license", c.License); err != nil {
		return nil, err
	}
	for _, r := range s.recordsOf(c.License) {
		if r.deleted {
			continue
		}
		if r.source == SourceUSBKey {
			return nil, Reasonf(ECONFLICT, ReasonKeyLicense, "license %s came from USB key %s; licenses from a USB key cannot be deleted (R14)", r.id, r.keyID)
		}
		return emit(s.subject, EventLicenseDeleted, LicenseDeleted{License: c.License})
	}
	return nil, Reasonf(ENOTFOUND, ReasonUnknownLicense, "no license %s is recorded on %s", c.License, s.id)
}

func decideInsertKey(s *PlatformState, c InsertUSBKey) ([]Event, error) {
	if err := checkID("node", c.Node); err != nil {
		return nil, err
	}
	if err := checkID("key id", c.KeyID); err != nil {
		return nil, err
	}
	if !s.hasNode(c.Node) {
		return nil, Reasonf(ENOTFOUND, ReasonUnknownNode, "%s is not a management node of %s (nodes: %s)", c.Node, s.id, strings.Join(s.nodes, ", "))
	}
	for _, in := range s.inserted {
		if in.key == c.KeyID {
			return nil, Reasonf(ECONFLICT, ReasonKeyInserted, "USB key %s is inserted on %s already; record its removal first", c.KeyID, in.node)
		}
	}
	seen := make(map[string]bool, len(c.Licenses))
	lics := make([]License, len(c.Licenses))
	for i, l := range c.Licenses {
		// A key may carry expired licenses: they are simply not in force
		// (R18 relies on it). Only malformed ones are refused.
		if err := ValidateLicense(l); err != nil {
			return nil, err
		}
		if seen[l.ID] {
			return nil, Reasonf(EINVALID, ReasonDuplicateLicense, "USB key %s carries license %s twice", c.KeyID, l.ID)
		}
		seen[l.ID] = true
		if _, err := checkRecorded(s, l, c.KeyID); err != nil {
			return nil, err
		}
		lics[i] = normalizeLicense(l)
	}
	return emit(s.subject, EventUSBKeyInserted, USBKeyInserted{Node: c.Node, KeyID: c.KeyID, Licenses: lics})
}

func decideRemoveKey(s *PlatformState, c RemoveUSBKey) ([]Event, error) {
	if err := checkID("node", c.Node); err != nil {
		return nil, err
	}
	if err := checkID("key id", c.KeyID); err != nil {
		return nil, err
	}
	for _, in := range s.inserted {
		if in.key == c.KeyID && in.node == c.Node {
			return emit(s.subject, EventUSBKeyRemoved, USBKeyRemoved{Node: c.Node, KeyID: c.KeyID})
		}
	}
	inserted := s.insertedOn()
	if inserted == "" {
		inserted = "none"
	}
	return nil, Reasonf(ENOTFOUND, ReasonKeyNotInserted, "USB key %s is not inserted on %s (inserted: %s)", c.KeyID, c.Node, inserted)
}

func decideAddHost(s *PlatformState, c AddHost, now time.Time) ([]Event, error) {
	if err := checkID("host", c.Host); err != nil {
		return nil, err
	}
	if !KnownHypervisor(c.Hypervisor) {
		return nil, Reasonf(EINVALID, ReasonInvalidCommand, "hypervisor %q is not kvm, vmware or arm64", c.Hypervisor)
	}
	if c.Sockets <= 0 {
		return nil, Reasonf(EINVALID, ReasonInvalidCommand, "host %s: sockets must be positive, got %d", c.Host, c.Sockets)
	}
	if _, ok := s.hosts[c.Host]; ok {
		return nil, Reasonf(ECONFLICT, ReasonHostExists, "host %s is managed already", c.Host)
	}
	if err := admit(PlatformEntitlement(s, now), c); err != nil {
		return nil, err
	}
	return emit(s.subject, EventHostAdded, HostAdded{Host: c.Host, Hypervisor: c.Hypervisor, Sockets: c.Sockets})
}

// admit checks a new host against the capacity of the entitlement (R2, R7).
func admit(ent Entitlement, c AddHost) error {
	full := func(what string, q Quota, need int) error {
		return Reasonf(ECONFLICT, ReasonCapacityExceeded, "host %s needs %d more %s, but %d of %d are in use; buy more or remove a host", c.Host, need, what, q.Used, q.Limit)
	}
	switch ent.Status {
	case StatusUnlicensed:
		return Reasonf(ECONFLICT, ReasonNoBase, "platform %s has no Base license; upload one (community is free) before adding hosts (R2)", ent.Platform)
	case StatusExpired:
		return Reasonf(ECONFLICT, ReasonNoBase, "the Base license of %s is not in force (%s); renew it before adding hosts (R2)", ent.Platform, ent.Base.Reason)
	}
	capa := ent.Capacity
	if !capa.Hosts.allows(1) {
		if ent.Base != nil && ent.Base.Edition == EditionEnterpriseTrial {
			return Reasonf(ECONFLICT, ReasonCapacityExceeded, "enterprise-trial admits exactly one host (R2) and %d is managed; buy a license to add %s", capa.Hosts.Used, c.Host)
		}
		return full("hosts", capa.Hosts, 1)
	}
	switch c.Hypervisor {
	case HypervisorARM64:
		arm := ent.Modules[ModuleARM64]
		if !arm.Entitled {
			return Reasonf(ECONFLICT, ReasonModuleRequired, "ARM host %s needs the arm64 Plus module, which is not entitled (%s)", c.Host, arm.Reason)
		}
		if !capa.ARM64Hosts.allows(1) {
			return full("arm64 hosts", capa.ARM64Hosts, 1)
		}
	case HypervisorKVM:
		if !capa.Sockets.allows(c.Sockets) {
			return full("CPU sockets", capa.Sockets, c.Sockets)
		}
	case HypervisorVMware:
		// R7: the vmware quota first, the rest from the Base's sockets.
		spill := c.Sockets
		if capa.VMwareSockets.Unlimited {
			spill = 0
		} else if free := capa.VMwareSockets.Limit - capa.VMwareSockets.Used; free > 0 {
			spill = max(0, c.Sockets-free)
		}
		if spill > 0 && !capa.Sockets.allows(spill) {
			return Reasonf(ECONFLICT, ReasonCapacityExceeded,
				"VMware host %s needs %d sockets: the vmware quota covers %d, and the other %d do not fit the Base quota (%d of %d in use) (R7)",
				c.Host, c.Sockets, c.Sockets-spill, spill, capa.Sockets.Used, capa.Sockets.Limit)
		}
	}
	return nil
}

func decideRemoveHost(s *PlatformState, c RemoveHost) ([]Event, error) {
	if err := checkID("host", c.Host); err != nil {
		return nil, err
	}
	if _, ok := s.hosts[c.Host]; !ok {
		return nil, Reasonf(ENOTFOUND, ReasonUnknownHost, "host %s is not managed by %s", c.Host, s.id)
	}
	return emit(s.subject, EventHostRemoved, HostRemoved{Host: c.Host})
}

func decideReject(s *PlatformState, c RejectUpload) ([]Event, error) {
	switch c.Code {
	case ECONFLICT, EINTERNAL, EINVALID, ENOTFOUND, EFORBIDDEN, EUNAUTHORIZED:
	default:
		return nil, Reasonf(EINVALID, ReasonInvalidCommand, "code %q is not a domain error code", c.Code)
	}
	if strings.TrimSpace(c.Message) == "" {
		return nil, Reasonf(EINVALID, ReasonInvalidCommand, "a rejected upload records why: the message is empty")
	}
	if c.Digest != "" && !isSHA256Hex(c.Digest) {
		return nil, Reasonf(EINVALID, ReasonInvalidCommand, "digest %q is not a hex SHA-256", c.Digest)
	}
	return emit(s.subject, EventLicenseUploadRejected, LicenseUploadRejected{
		Digest: c.Digest, Code: c.Code, Reason: c.Reason, Message: c.Message, Actor: c.Actor,
	})
}

func (s *PlatformState) hasNode(n string) bool {
	for _, x := range s.nodes {
		if x == n {
			return true
		}
	}
	return false
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
