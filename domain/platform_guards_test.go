package domain

import (
	"testing"
	"time"
)

// eventAt builds the event an append of data at instant at would store on
// the platform of s.
func eventAt(t *testing.T, s *PlatformState, at time.Time, typ string, data any) Event {
	t.Helper()
	e, err := NewEvent(s.subject, typ, data)
	if err != nil {
		t.Fatal(err)
	}
	return stamp(e, s, at)
}

// The rules of writing live once: a command DecidePlatform refuses and the
// event it would have produced, read from a history, are refused by the
// same guard, with the same code and reason word. Each row names its rule.
func TestCheckPlatformEventRefusesAsDecideDoes(t *testing.T) {
	t.Parallel()
	// A standard Base of 8 sockets and a cdp license by request code, K-1
	// on mn-1 carrying a vmware license, a second node, a host of 6
	// sockets, and a deleted request-code license.
	h := newHistory(t, "guards")
	h.do(day(1), UploadLicense{Source: SourceRequestCode, Bundle: "B-1", Licenses: []License{
		baseLic("L-S", EditionStandard, 8, day(0), day(365)), plusLic("L-RC", ModuleCDP, 0, day(0), day(365)),
	}})
	h.do(day(1), InsertUSBKey{Node: "mn-1", KeyID: "K-1", Licenses: []License{plusLic("L-K", ModuleVMware, 4, day(0), day(365))}})
	h.do(day(1), AddNode{Node: "mn-2"})
	h.do(day(1), AddHost{Host: "h-1", Hypervisor: HypervisorKVM, Sockets: 6})
	h.do(day(1), UploadLicense{Source: SourceRequestCode, Licenses: []License{plusLic("L-GONE", ModuleTenant, 0, day(0), day(365))}})
	h.do(day(1), DeleteLicense{License: "L-GONE"})
	at := day(2)

	tests := []struct {
		name   string
		cmd    PlatformCommand
		typ    string
		data   any
		code   string
		reason string
	}{
		// R14: a USB key's license cannot be deleted.
		{"R14 delete a key license", DeleteLicense{License: "L-K"}, EventLicenseDeleted, LicenseDeleted{License: "L-K"}, ECONFLICT, ReasonKeyLicense},
		// R14: a deleted license takes no part; it cannot be deleted again.
		{"R14 delete a deleted license", DeleteLicense{License: "L-GONE"}, EventLicenseDeleted, LicenseDeleted{License: "L-GONE"}, ENOTFOUND, ReasonUnknownLicense},
		{"R14 delete an unknown license", DeleteLicense{License: "L-NONE"}, EventLicenseDeleted, LicenseDeleted{License: "L-NONE"}, ENOTFOUND, ReasonUnknownLicense},
		// R15: one or two management nodes.
		{"R15 a third node", AddNode{Node: "mn-3"}, EventPlatformNodeAdded, NodeChanged{Node: "mn-3"}, ECONFLICT, ReasonNodeCount},
		{"R15 a node twice", AddNode{Node: "mn-2"}, EventPlatformNodeAdded, NodeChanged{Node: "mn-2"}, ECONFLICT, ReasonNodeExists},
		{"R15 remove a node holding a key", RemoveNode{Node: "mn-1"}, EventPlatformNodeRemoved, NodeChanged{Node: "mn-1"}, ECONFLICT, ReasonNodeHasKeys},
		{"R15 remove an unknown node", RemoveNode{Node: "mn-9"}, EventPlatformNodeRemoved, NodeChanged{Node: "mn-9"}, ENOTFOUND, ReasonUnknownNode},
		{"R15 register again", RegisterPlatform{Platform: "guards", Nodes: []string{"mn-1"}}, EventPlatformRegistered, PlatformRegistered{Nodes: []string{"mn-1"}}, ECONFLICT, ReasonAlreadyRegistered},
		// Keys are pulled from where they are, and inserted once at a time.
		{"pull a key from another node", RemoveUSBKey{Node: "mn-2", KeyID: "K-1"}, EventUSBKeyRemoved, USBKeyRemoved{Node: "mn-2", KeyID: "K-1"}, ENOTFOUND, ReasonUnknownKey},
		{"insert an inserted key", InsertUSBKey{Node: "mn-2", KeyID: "K-1"}, EventUSBKeyInserted, USBKeyInserted{Node: "mn-2", KeyID: "K-1", Licenses: []License{}}, ECONFLICT, ReasonKeyInserted},
		{"insert on an unknown node", InsertUSBKey{Node: "mn-9", KeyID: "K-2"}, EventUSBKeyInserted, USBKeyInserted{Node: "mn-9", KeyID: "K-2", Licenses: []License{}}, ENOTFOUND, ReasonUnknownNode},
		// R12: a key-bound file needs its key to authorize.
		{"R12 upload bound to another key",
			UploadLicense{Source: SourceUSBKey, KeyID: "K-2", Licenses: []License{plusLic("L-X", ModuleGPU, 0, day(0), day(365))}},
			EventLicenseUploaded, LicenseUploaded{Source: SourceUSBKey, KeyID: "K-2", License: plusLic("L-X", ModuleGPU, 0, day(0), day(365))}, ECONFLICT, ReasonWrongKey},
		// R1–R3, R8: the catalog and terms.
		{"R3 counted module without quantity",
			UploadLicense{Source: SourceRequestCode, Licenses: []License{plusLic("L-X", ModuleVMware, 0, day(0), day(365))}},
			EventLicenseUploaded, LicenseUploaded{Source: SourceRequestCode, License: plusLic("L-X", ModuleVMware, 0, day(0), day(365))}, EINVALID, ReasonInvalidLicense},
		{"R8 expired on arrival",
			UploadLicense{Source: SourceRequestCode, Licenses: []License{plusLic("L-X", ModuleGPU, 0, day(0), day(1))}},
			EventLicenseUploaded, LicenseUploaded{Source: SourceRequestCode, License: plusLic("L-X", ModuleGPU, 0, day(0), day(1))}, EINVALID, ReasonExpiredOnArrival},
		// R13, R14: one license id, one holder.
		{"a key's license uploaded by request code",
			UploadLicense{Source: SourceRequestCode, Licenses: []License{plusLic("L-K", ModuleVMware, 4, day(0), day(365))}},
			EventLicenseUploaded, LicenseUploaded{Source: SourceRequestCode, License: plusLic("L-K", ModuleVMware, 4, day(0), day(365))}, ECONFLICT, ReasonDuplicateLicense},
		// R2: hosts fit the Base's sockets at the instant.
		{"R2 a host beyond the socket quota", AddHost{Host: "h-2", Hypervisor: HypervisorKVM, Sockets: 4},
			EventHostAdded, HostAdded{Host: "h-2", Hypervisor: HypervisorKVM, Sockets: 4}, ECONFLICT, ReasonCapacityExceeded},
		{"R2 a host twice", AddHost{Host: "h-1", Hypervisor: HypervisorKVM, Sockets: 1},
			EventHostAdded, HostAdded{Host: "h-1", Hypervisor: HypervisorKVM, Sockets: 1}, ECONFLICT, ReasonHostExists},
		{"a host with no sockets", AddHost{Host: "h-2", Hypervisor: HypervisorKVM},
			EventHostAdded, HostAdded{Host: "h-2", Hypervisor: HypervisorKVM}, EINVALID, ReasonInvalidCommand},
		{"remove an unknown host", RemoveHost{Host: "h-9"}, EventHostRemoved, HostRemoved{Host: "h-9"}, ENOTFOUND, ReasonUnknownHost},
		// R11: a rejected upload records a code and why.
		{"R11 rejection without a message", RejectUpload{Code: EFORBIDDEN}, EventLicenseUploadRejected, LicenseUploadRejected{Code: EFORBIDDEN}, EINVALID, ReasonInvalidCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecidePlatform(h.s, tt.cmd, at)
			refused(t, err, tt.code, tt.reason)
			err = CheckPlatformEvent(h.s, eventAt(t, h.s, at, tt.typ, tt.data))
			refused(t, err, tt.code, tt.reason)
		})
	}

	t.Run("an unregistered platform", func(t *testing.T) {
		t.Parallel()
		fresh := &PlatformState{id: "guards", subject: "platform/guards"}
		_, err := DecidePlatform(fresh, AddNode{Node: "mn-2"}, at)
		refused(t, err, ENOTFOUND, ReasonUnknownPlatform)
		err = CheckPlatformEvent(fresh, eventAt(t, fresh, at, EventPlatformNodeAdded, NodeChanged{Node: "mn-2"}))
		refused(t, err, ENOTFOUND, ReasonUnknownPlatform)
	})
}

// A retried upload is harmless on the command path (no event); an event
// recording the same license again from the same holder is one the ledger
// never writes, and it would move the license's precedence (R13).
func TestCheckPlatformEventRefusesARecordedUploadAgain(t *testing.T) {
	t.Parallel()
	h := newHistory(t, "retry")
	l := plusLic("L-1", ModuleGPU, 0, day(0), day(365))
	evs := h.do(day(1), UploadLicense{Source: SourceRequestCode, Licenses: []License{l}})
	again, err := DecidePlatform(h.s, UploadLicense{Source: SourceRequestCode, Licenses: []License{l}}, day(2))
	if err != nil || len(again) != 0 {
		t.Fatalf("retry decided %d events, %v; want none and no error", len(again), err)
	}
	e := evs[0]
	e = stamp(e, h.s, day(2))
	refused(t, CheckPlatformEvent(h.s, e), ECONFLICT, ReasonDuplicateLicense, "L-1", "once")
}

// Every history the command path writes passes the history check: the two
// paths accept the same events (and, by the table above, refuse alike).
func TestRandomHistoriesPassTheCheck(t *testing.T) {
	t.Parallel()
	cases := []randomCase{{"license heavy", 21, licenseHeavy}, {"typical", 22, typical}}
	forRandomHistories(t, 2000, cases, func(t *testing.T, _ uint64, events []Event) {
		if i, err := CheckPlatformHistory(events, "random"); err != nil {
			t.Fatalf("event %d (%s at %s) written by DecidePlatform is refused by the check: %v", i, events[i].Type, events[i].Time, err)
		}
	})
}
