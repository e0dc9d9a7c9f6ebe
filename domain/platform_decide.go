package domain

import "time"

// DecidePlatform validates a command against the platform's current state
// at the instant now, by the guards of platform_guards.go that
// CheckPlatformEvent applies to a history, and returns the events to
// append (Type, Subject and Data set; the event store fills the rest), or a
// *Error with a code, a stable Reason word (the Reason* constants) and a
// message that says what to do. It never changes s.
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
	if err := checkRegistered(s); err != nil {
		return nil, err
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

func decideRegister(s *PlatformState, c RegisterPlatform) ([]Event, error) {
	d := PlatformRegistered{Nodes: append([]string(nil), c.Nodes...), RequestCode: c.RequestCode, Customer: c.Customer}
	if err := checkRegister(s, c.Platform, d); err != nil {
		return nil, err
	}
	return emit(platformSubject+c.Platform, EventPlatformRegistered, d)
}

func decideAddNode(s *PlatformState, c AddNode) ([]Event, error) {
	d := NodeChanged{Node: c.Node}
	if err := checkAddNode(s, d); err != nil {
		return nil, err
	}
	return emit(s.subject, EventPlatformNodeAdded, d)
}

func decideRemoveNode(s *PlatformState, c RemoveNode) ([]Event, error) {
	d := NodeChanged{Node: c.Node}
	if err := checkRemoveNode(s, d); err != nil {
		return nil, err
	}
	return emit(s.subject, EventPlatformNodeRemoved, d)
}

// decideUpload checks what only the whole upload shows (R10: a bundle is a
// request-code upload of one Base and any Plus licenses, each id once),
// then each license.uploaded event by the guards CheckPlatformEvent uses:
// every license on its own first, then against the platform, so nothing is
// emitted unless all pass (R10).
func decideUpload(s *PlatformState, c UploadLicense, now time.Time) ([]Event, error) {
	if len(c.Licenses) == 0 {
		return nil, Reasonf(EINVALID, ReasonInvalidCommand, "the upload holds no license")
	}
	if err := checkUploadFields(c.Source, c.KeyID, c.Bundle, c.Digest); err != nil {
		return nil, err
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
	seen := make(map[string]bool, len(c.Licenses))
	for _, l := range c.Licenses {
		if err := checkArrival(l, c.Source, c.KeyID, now); err != nil {
			return nil, err
		}
		if seen[l.ID] {
			return nil, Reasonf(EINVALID, ReasonInvalidCommand, "license %s appears twice in the upload", l.ID)
		}
		seen[l.ID] = true
	}
	var data []any
	for _, l := range c.Licenses {
		recorded, err := checkUploadState(s, l, c.Source, c.KeyID)
		if err != nil {
			return nil, err
		}
		if !recorded {
			data = append(data, LicenseUploaded{Source: c.Source, KeyID: c.KeyID, Bundle: c.Bundle, Digest: c.Digest, License: normalizeLicense(l)})
		}
	}
	return emit(s.subject, EventLicenseUploaded, data...)
}

func decideDelete(s *PlatformState, c DeleteLicense) ([]Event, error) {
	d := LicenseDeleted{License: c.License}
	if err := checkDelete(s, d); err != nil {
		return nil, err
	}
	return emit(s.subject, EventLicenseDeleted, d)
}

func decideInsertKey(s *PlatformState, c InsertUSBKey) ([]Event, error) {
	d := USBKeyInserted{Node: c.Node, KeyID: c.KeyID, Licenses: make([]License, len(c.Licenses))}
	for i, l := range c.Licenses {
		d.Licenses[i] = normalizeLicense(l)
	}
	if err := checkInsertKey(s, d); err != nil {
		return nil, err
	}
	return emit(s.subject, EventUSBKeyInserted, d)
}

func decideRemoveKey(s *PlatformState, c RemoveUSBKey) ([]Event, error) {
	d := USBKeyRemoved{Node: c.Node, KeyID: c.KeyID}
	if err := checkRemoveKey(s, d); err != nil {
		return nil, err
	}
	return emit(s.subject, EventUSBKeyRemoved, d)
}

func decideAddHost(s *PlatformState, c AddHost, now time.Time) ([]Event, error) {
	d := HostAdded{Host: c.Host, Hypervisor: c.Hypervisor, Sockets: c.Sockets}
	if err := checkAddHost(s, d, now); err != nil {
		return nil, err
	}
	return emit(s.subject, EventHostAdded, d)
}

func decideRemoveHost(s *PlatformState, c RemoveHost) ([]Event, error) {
	d := HostRemoved{Host: c.Host}
	if err := checkRemoveHost(s, d); err != nil {
		return nil, err
	}
	return emit(s.subject, EventHostRemoved, d)
}

func decideReject(s *PlatformState, c RejectUpload) ([]Event, error) {
	d := LicenseUploadRejected{Digest: c.Digest, Code: c.Code, Reason: c.Reason, Message: c.Message, Actor: c.Actor}
	if err := checkReject(d); err != nil {
		return nil, err
	}
	return emit(s.subject, EventLicenseUploadRejected, d)
}
