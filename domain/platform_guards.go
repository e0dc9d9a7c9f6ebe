package domain

import (
	"strings"
	"time"
)

// This file holds the platform's write rules, each in one place: what must
// hold of the state for an event to be appended. DecidePlatform builds an
// event's data from a command and asks these guards; CheckPlatformEvent
// asks the same guards of an event read from a history (`licledger replay`),
// so a history is judged by exactly the rules the ledger writes by, and a
// refusal carries the same code and reason word on both paths.

// CheckPlatformEvent reports whether the ledger would have appended event e
// to the platform whose history up to e is folded into s: nil if so, else
// the *Error DecidePlatform gives for the command that would have produced
// it (same code, same Reason word). s is not changed; fold e into it
// afterwards to check the next event.
//
// Checked: registration (R15 node count, ids, registered once), every other
// event needs a registered platform; management nodes (R15: two at most,
// the last one stays, a node holding a key stays); uploads (R1–R3, R8 via
// ValidateLicense, expired on arrival at the event's time, R12 key binding,
// one holder and one content per license id, and no upload of a license
// recorded already, the same and from the same holder, which the ledger
// records once); deletions (R14: a known, request-code, not yet deleted
// license); keys (inserted on a known node, not inserted twice, pulled from
// the node it is on); hosts (R2, R7: fits the capacity of the entitlement
// at the event's time; removed only when managed); rejected uploads (a
// known code, a message). Not checked, because one event cannot show it:
// the rules of a whole bundle (R10: one Base, all or nothing).
func CheckPlatformEvent(s *PlatformState, e Event) error {
	data, err := PlatformEventData(e)
	if err != nil {
		return err
	}
	at := e.Time.UTC()
	if d, ok := data.(*PlatformRegistered); ok {
		agg, err := ParseAggregate(e.Subject)
		if err != nil {
			return eventError(e, err)
		}
		return checkRegister(s, agg.ID, *d)
	}
	if err := checkRegistered(s); err != nil {
		return err
	}
	switch d := data.(type) {
	case *NodeChanged:
		if e.Type == EventPlatformNodeAdded {
			return checkAddNode(s, *d)
		}
		return checkRemoveNode(s, *d)
	case *LicenseUploaded:
		if err := checkUploadFields(d.Source, d.KeyID, d.Bundle, d.Digest); err != nil {
			return err
		}
		if err := checkArrival(d.License, d.Source, d.KeyID, at); err != nil {
			return err
		}
		recorded, err := checkUploadState(s, d.License, d.Source, d.KeyID)
		if err != nil {
			return err
		}
		if recorded {
			return Reasonf(ECONFLICT, ReasonDuplicateLicense,
				"license %s is recorded already, the same and from the same holder; the ledger records a retried upload once and appends nothing for it", d.License.ID)
		}
		return nil
	case *LicenseDeleted:
		return checkDelete(s, *d)
	case *USBKeyInserted:
		return checkInsertKey(s, *d)
	case *USBKeyRemoved:
		return checkRemoveKey(s, *d)
	case *HostAdded:
		return checkAddHost(s, *d, at)
	case *HostRemoved:
		return checkRemoveHost(s, *d)
	case *LicenseUploadRejected:
		return checkReject(*d)
	}
	return Reasonf(EINVALID, ReasonInvalidCommand, "event %s: no write rule for platform event type %q", e.ID, e.Type)
}

// CheckPlatformHistory checks the events of platform/<id> in a log, in
// order (other aggregates' events are passed over): each with
// CheckPlatformEvent against the fold of those before it. It returns -1 and
// nil when the ledger would have appended every one of them; else the index
// in events of the first it would have refused and the refusal (or the
// fold's error for an event that does not fold).
func CheckPlatformHistory(events []Event, id string) (int, error) {
	subject := platformSubject + id
	s := &PlatformState{}
	for i, e := range events {
		if e.Subject != subject {
			continue
		}
		if err := CheckPlatformEvent(s, e); err != nil {
			return i, err
		}
		if err := EvolvePlatform(s, e); err != nil {
			return i, err
		}
	}
	return -1, nil
}

func checkID(what, id string) error {
	if err := ValidateID(id); err != nil {
		return Reasonf(EINVALID, ReasonInvalidID, "%s: %s", what, ErrorMessage(err))
	}
	return nil
}

// checkRegistered: every event but the registration needs a registered
// platform.
func checkRegistered(s *PlatformState) error {
	if !s.registered {
		return Reasonf(ENOTFOUND, ReasonUnknownPlatform, "platform %q is not registered; register it first", s.id)
	}
	return nil
}

// checkRegister applies R15 to a registration: once, one or two distinct
// nodes.
func checkRegister(s *PlatformState, platform string, d PlatformRegistered) error {
	if err := checkID("platform", platform); err != nil {
		return err
	}
	if s.id != "" && s.id != platform {
		return Reasonf(EINVALID, ReasonInvalidCommand, "this is the state of platform %q, not %q", s.id, platform)
	}
	if s.registered {
		return Reasonf(ECONFLICT, ReasonAlreadyRegistered, "platform %q is registered already", platform)
	}
	if len(d.Nodes) < 1 || len(d.Nodes) > 2 {
		return Reasonf(EINVALID, ReasonInvalidCommand, "a platform has one or two management nodes (R15), got %d", len(d.Nodes))
	}
	for _, n := range d.Nodes {
		if err := checkID("node", n); err != nil {
			return err
		}
	}
	if len(d.Nodes) == 2 && d.Nodes[0] == d.Nodes[1] {
		return Reasonf(EINVALID, ReasonInvalidCommand, "management node %q is listed twice", d.Nodes[0])
	}
	if d.RequestCode != "" {
		if err := checkID("request code", d.RequestCode); err != nil {
			return err
		}
	}
	if d.Customer != "" {
		if err := checkID("customer", d.Customer); err != nil {
			return err
		}
	}
	return nil
}

func checkAddNode(s *PlatformState, d NodeChanged) error {
	if err := checkID("node", d.Node); err != nil {
		return err
	}
	if s.hasNode(d.Node) {
		return Reasonf(ECONFLICT, ReasonNodeExists, "%s is a management node already", d.Node)
	}
	if len(s.nodes) >= 2 {
		return Reasonf(ECONFLICT, ReasonNodeCount, "platform %s has two management nodes (%s), the most it can have (R15)", s.id, strings.Join(s.nodes, ", "))
	}
	return nil
}

func checkRemoveNode(s *PlatformState, d NodeChanged) error {
	if err := checkID("node", d.Node); err != nil {
		return err
	}
	if !s.hasNode(d.Node) {
		return Reasonf(ENOTFOUND, ReasonUnknownNode, "%s is not a management node of %s (nodes: %s)", d.Node, s.id, strings.Join(s.nodes, ", "))
	}
	if len(s.nodes) == 1 {
		return Reasonf(ECONFLICT, ReasonNodeCount, "%s is the only management node of %s; add another before removing it (R15)", d.Node, s.id)
	}
	for _, in := range s.inserted {
		if in.node == d.Node {
			return Reasonf(ECONFLICT, ReasonNodeHasKeys, "USB key %s is inserted on %s; pull it (or move it to another node) first", in.key, d.Node)
		}
	}
	return nil
}

// checkUploadFields checks what an upload says of itself: its source and
// key (R9), digest and bundle id.
func checkUploadFields(source, keyID, bundle, digest string) error {
	switch source {
	case SourceRequestCode:
		if keyID != "" {
			return Reasonf(EINVALID, ReasonInvalidCommand, "a request-code upload is bound to no USB key, got key %q", keyID)
		}
	case SourceUSBKey:
		if err := checkID("key id", keyID); err != nil {
			return err
		}
	default:
		return Reasonf(EINVALID, ReasonInvalidCommand, "source %q is not %q or %q (R9)", source, SourceRequestCode, SourceUSBKey)
	}
	if digest != "" && !isSHA256Hex(digest) {
		return Reasonf(EINVALID, ReasonInvalidCommand, "digest %q is not a hex SHA-256", digest)
	}
	if bundle != "" {
		if err := checkID("bundle", bundle); err != nil {
			return err
		}
	}
	return nil
}

// checkArrival checks an uploaded license on its own: the catalog and its
// term (R1–R3, R8), and that its term is not over when it arrives at at.
func checkArrival(l License, source, keyID string, at time.Time) error {
	if err := ValidateLicense(l); err != nil {
		return err
	}
	r := newLicenseRecord(l, source, keyID)
	if end := r.end; r.hasEnd && !at.Before(end) {
		return Reasonf(EINVALID, ReasonExpiredOnArrival, "license %s expired at %s, before it arrived at %s; ask the vendor for a current license",
			l.ID, end.Format(time.RFC3339), at.Format(time.RFC3339))
	}
	return nil
}

// checkUploadState checks an uploaded license against the platform: R12
// for a key-bound one, and one content and one holder per id
// (checkRecorded, whose answer it returns).
func checkUploadState(s *PlatformState, l License, source, keyID string) (recorded bool, err error) {
	if source == SourceUSBKey {
		if err := checkKeyBinding(s, keyID, l.ID); err != nil {
			return false, err
		}
	} else {
		keyID = ""
	}
	return checkRecorded(s, l, keyID)
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

// checkDelete applies R14: only a recorded, not yet deleted, request-code
// license can be deleted.
func checkDelete(s *PlatformState, d LicenseDeleted) error {
	if err := checkID("license", d.License); err != nil {
		return err
	}
	for _, r := range s.recordsOf(d.License) {
		if r.deleted {
			continue
		}
		if r.source == SourceUSBKey {
			return Reasonf(ECONFLICT, ReasonKeyLicense, "license %s came from USB key %s; licenses from a USB key cannot be deleted (R14)", r.id, r.keyID)
		}
		return nil
	}
	return Reasonf(ENOTFOUND, ReasonUnknownLicense, "no license %s is recorded on %s", d.License, s.id)
}

// checkInsertKey: a key is inserted on a management node, once at a time,
// carrying well-formed licenses (R1–R3, R8; expired ones are fine, R18
// relies on them), each once, none recorded with other content or from
// another holder.
func checkInsertKey(s *PlatformState, d USBKeyInserted) error {
	if err := checkID("node", d.Node); err != nil {
		return err
	}
	if err := checkID("key id", d.KeyID); err != nil {
		return err
	}
	if !s.hasNode(d.Node) {
		return Reasonf(ENOTFOUND, ReasonUnknownNode, "%s is not a management node of %s (nodes: %s)", d.Node, s.id, strings.Join(s.nodes, ", "))
	}
	for _, in := range s.inserted {
		if in.key == d.KeyID {
			return Reasonf(ECONFLICT, ReasonKeyInserted, "USB key %s is inserted on %s already; record its removal first", d.KeyID, in.node)
		}
	}
	seen := make(map[string]bool, len(d.Licenses))
	for _, l := range d.Licenses {
		if err := ValidateLicense(l); err != nil {
			return err
		}
		if seen[l.ID] {
			return Reasonf(EINVALID, ReasonInvalidCommand, "USB key %s carries license %s twice", d.KeyID, l.ID)
		}
		seen[l.ID] = true
		if _, err := checkRecorded(s, l, d.KeyID); err != nil {
			return err
		}
	}
	return nil
}

// checkRemoveKey: a key is pulled from the node it is inserted on.
func checkRemoveKey(s *PlatformState, d USBKeyRemoved) error {
	if err := checkID("node", d.Node); err != nil {
		return err
	}
	if err := checkID("key id", d.KeyID); err != nil {
		return err
	}
	for _, in := range s.inserted {
		if in.key == d.KeyID && in.node == d.Node {
			return nil
		}
	}
	inserted := s.insertedOn()
	if inserted == "" {
		inserted = "none"
	}
	return Reasonf(ENOTFOUND, ReasonUnknownKey, "USB key %s is not inserted on %s (inserted: %s)", d.KeyID, d.Node, inserted)
}

// checkAddHost admits a new host against the capacity of the entitlement at
// the instant at (R2, R7).
func checkAddHost(s *PlatformState, d HostAdded, at time.Time) error {
	if err := checkID("host", d.Host); err != nil {
		return err
	}
	if !KnownHypervisor(d.Hypervisor) {
		return Reasonf(EINVALID, ReasonInvalidCommand, "hypervisor %q is not kvm, vmware or arm64", d.Hypervisor)
	}
	if d.Sockets <= 0 {
		return Reasonf(EINVALID, ReasonInvalidCommand, "host %s: sockets must be positive, got %d", d.Host, d.Sockets)
	}
	if _, ok := s.hosts[d.Host]; ok {
		return Reasonf(ECONFLICT, ReasonHostExists, "host %s is managed already", d.Host)
	}
	return admit(PlatformEntitlement(s, at), d)
}

// admit checks a new host against the capacity of the entitlement (R2, R7).
func admit(ent Entitlement, d HostAdded) error {
	full := func(what string, q Quota, need int) error {
		return Reasonf(ECONFLICT, ReasonCapacityExceeded, "host %s needs %d more %s, but %d of %d are in use; buy more or remove a host", d.Host, need, what, q.Used, q.Limit)
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
			return Reasonf(ECONFLICT, ReasonCapacityExceeded, "enterprise-trial admits exactly one host (R2) and %d is managed; buy a license to add %s", capa.Hosts.Used, d.Host)
		}
		return full("hosts", capa.Hosts, 1)
	}
	switch d.Hypervisor {
	case HypervisorARM64:
		arm := ent.Modules[ModuleARM64]
		if !arm.Entitled {
			return Reasonf(ECONFLICT, ReasonModuleRequired, "ARM host %s needs the arm64 Plus module, which is not entitled (%s)", d.Host, arm.Reason)
		}
		if !capa.ARM64Hosts.allows(1) {
			return full("arm64 hosts", capa.ARM64Hosts, 1)
		}
	case HypervisorKVM:
		if !capa.Sockets.allows(d.Sockets) {
			return full("CPU sockets", capa.Sockets, d.Sockets)
		}
	case HypervisorVMware:
		// R7: the vmware quota first, the rest from the Base's sockets.
		spill := d.Sockets
		if capa.VMwareSockets.Unlimited {
			spill = 0
		} else if free := capa.VMwareSockets.Limit - capa.VMwareSockets.Used; free > 0 {
			spill = max(0, d.Sockets-free)
		}
		if spill > 0 && !capa.Sockets.allows(spill) {
			return Reasonf(ECONFLICT, ReasonCapacityExceeded,
				"VMware host %s needs %d sockets: the vmware quota covers %d, and the other %d do not fit the Base quota (%d of %d in use) (R7)",
				d.Host, d.Sockets, d.Sockets-spill, spill, capa.Sockets.Used, capa.Sockets.Limit)
		}
	}
	return nil
}

func checkRemoveHost(s *PlatformState, d HostRemoved) error {
	if err := checkID("host", d.Host); err != nil {
		return err
	}
	if _, ok := s.hosts[d.Host]; !ok {
		return Reasonf(ENOTFOUND, ReasonUnknownHost, "host %s is not managed by %s", d.Host, s.id)
	}
	return nil
}

// checkReject: a rejected upload records a domain error code and why.
func checkReject(d LicenseUploadRejected) error {
	switch d.Code {
	case ECONFLICT, EINTERNAL, EINVALID, ENOTFOUND, EFORBIDDEN, EUNAUTHORIZED:
	default:
		return Reasonf(EINVALID, ReasonInvalidCommand, "code %q is not a domain error code", d.Code)
	}
	if strings.TrimSpace(d.Message) == "" {
		return Reasonf(EINVALID, ReasonInvalidCommand, "a rejected upload records why: the message is empty")
	}
	if d.Digest != "" && !isSHA256Hex(d.Digest) {
		return Reasonf(EINVALID, ReasonInvalidCommand, "digest %q is not a hex SHA-256", d.Digest)
	}
	return nil
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
