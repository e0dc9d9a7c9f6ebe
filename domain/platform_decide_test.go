package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// refused asserts a refusal: a *Error with the code and reason, whose
// message mentions each of the words.
func refused(t *testing.T, err error, code, reason string, words ...string) {
	t.Helper()
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want a *domain.Error %s/%s", err, err, code, reason)
	}
	if de.Code != code || de.Reason != reason {
		t.Fatalf("refusal = %s/%s (%s), want %s/%s", de.Code, de.Reason, de.Message, code, reason)
	}
	for _, w := range words {
		if !strings.Contains(de.Message, w) {
			t.Errorf("message %q does not mention %q", de.Message, w)
		}
	}
}

// R15: one or two management nodes; going to two needs nothing else.
func TestDecideNodes(t *testing.T) {
	s := &PlatformState{}
	for _, tt := range []struct {
		name   string
		cmd    RegisterPlatform
		code   string
		reason string
	}{
		{"no node", RegisterPlatform{Platform: "p", Nodes: nil}, EINVALID, ReasonInvalidCommand},
		{"three nodes", RegisterPlatform{Platform: "p", Nodes: []string{"a", "b", "c"}}, EINVALID, ReasonInvalidCommand},
		{"same node twice", RegisterPlatform{Platform: "p", Nodes: []string{"a", "a"}}, EINVALID, ReasonInvalidCommand},
		{"bad platform id", RegisterPlatform{Platform: "p.q", Nodes: []string{"a"}}, EINVALID, ReasonInvalidID},
		{"bad node id", RegisterPlatform{Platform: "p", Nodes: []string{"a b"}}, EINVALID, ReasonInvalidID},
		{"bad request code", RegisterPlatform{Platform: "p", Nodes: []string{"a"}, RequestCode: "RC 1"}, EINVALID, ReasonInvalidID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecidePlatform(s, tt.cmd, day(0))
			refused(t, err, tt.code, tt.reason)
		})
	}
	_, err := DecidePlatform(s, AddNode{Node: "mn-2"}, day(0))
	refused(t, err, ENOTFOUND, ReasonUnknownPlatform)

	h := newHistory(t, "nodes")
	_, err = h.try(day(1), RegisterPlatform{Platform: "nodes", Nodes: []string{"mn-1"}})
	refused(t, err, ECONFLICT, ReasonAlreadyRegistered)
	_, err = h.try(day(1), RegisterPlatform{Platform: "other", Nodes: []string{"mn-1"}})
	refused(t, err, EINVALID, ReasonInvalidCommand, "nodes")
	_, err = h.try(day(1), RemoveNode{Node: "mn-1"})
	refused(t, err, ECONFLICT, ReasonNodeCount, "only management node")
	_, err = h.try(day(1), AddNode{Node: "mn-1"})
	refused(t, err, ECONFLICT, ReasonNodeExists)

	h.do(day(1), InsertUSBKey{Node: "mn-1", KeyID: "K-1", Licenses: []License{ent16("L-1")}})
	h.do(day(2), AddNode{Node: "mn-2"})
	if got := h.at(day(2)); got.Status != StatusLicensed || got.USBKey.State != KeyStateReady {
		t.Fatalf("after adding a node: %s/%s, want licensed/ready (R15: no new authorization)", got.Status, got.USBKey.State)
	}
	_, err = h.try(day(2), AddNode{Node: "mn-3"})
	refused(t, err, ECONFLICT, ReasonNodeCount, "two management nodes")
	_, err = h.try(day(2), RemoveNode{Node: "mn-1"})
	refused(t, err, ECONFLICT, ReasonNodeHasKeys, "K-1")
	_, err = h.try(day(2), RemoveNode{Node: "mn-9"})
	refused(t, err, ENOTFOUND, ReasonUnknownNode)
	h.do(day(3), RemoveNode{Node: "mn-2"})
	if got := h.s.Nodes(); len(got) != 1 || got[0] != "mn-1" {
		t.Fatalf("nodes = %v, want [mn-1]", got)
	}
}

// R2, R7: hosts are admitted against the capacity at the decision instant.
func TestDecideAddHost(t *testing.T) {
	t.Run("R2 socket quota", func(t *testing.T) {
		h := newHistory(t, "r2")
		_, err := h.try(day(1), AddHost{Host: "h-1", Hypervisor: HypervisorKVM, Sockets: 2})
		refused(t, err, ECONFLICT, ReasonNoBase, "no Base license")
		h.do(day(1), UploadLicense{Source: SourceRequestCode, Licenses: []License{baseLic("L-S", EditionStandard, 8, day(0), day(100))}})
		h.do(day(2), AddHost{Host: "h-1", Hypervisor: HypervisorKVM, Sockets: 4})
		h.do(day(2), AddHost{Host: "h-2", Hypervisor: HypervisorKVM, Sockets: 4})
		_, err = h.try(day(2), AddHost{Host: "h-3", Hypervisor: HypervisorKVM, Sockets: 1})
		refused(t, err, ECONFLICT, ReasonCapacityExceeded, "8 of 8")
		_, err = h.try(day(2), AddHost{Host: "h-1", Hypervisor: HypervisorKVM, Sockets: 1})
		refused(t, err, ECONFLICT, ReasonHostExists)
		h.do(day(3), RemoveHost{Host: "h-2"})
		h.do(day(3), AddHost{Host: "h-3", Hypervisor: HypervisorKVM, Sockets: 4})
		_, err = h.try(day(100), AddHost{Host: "h-4", Hypervisor: HypervisorKVM, Sockets: 1})
		refused(t, err, ECONFLICT, ReasonNoBase, "not in force")
	})
	t.Run("R2 trial admits exactly one host", func(t *testing.T) {
		h := newHistory(t, "trial")
		h.do(day(1), UploadLicense{Source: SourceRequestCode, Licenses: []License{baseLic("L-T", EditionEnterpriseTrial, 0, day(0), day(365))}})
		h.do(day(2), AddHost{Host: "h-big", Hypervisor: HypervisorKVM, Sockets: 64})
		_, err := h.try(day(2), AddHost{Host: "h-2", Hypervisor: HypervisorKVM, Sockets: 1})
		refused(t, err, ECONFLICT, ReasonCapacityExceeded, "exactly one host")
	})
	t.Run("R1 community has no host limit", func(t *testing.T) {
		h := newHistory(t, "comm")
		h.do(day(1), UploadLicense{Source: SourceRequestCode, Licenses: []License{{ID: "L-C", Kind: KindBase, Edition: EditionCommunity, IssuedAt: day(0)}}})
		for i, hv := range []string{HypervisorKVM, HypervisorVMware, HypervisorKVM} {
			h.do(day(2), AddHost{Host: "h-" + string(rune('a'+i)), Hypervisor: hv, Sockets: 128})
		}
		_, err := h.try(day(2), AddHost{Host: "h-arm", Hypervisor: HypervisorARM64, Sockets: 1})
		refused(t, err, ECONFLICT, ReasonModuleRequired, "arm64", ReasonBaseRequired)
	})
	t.Run("R7 vmware quota first, then the Base's", func(t *testing.T) {
		h := newHistory(t, "r7")
		h.do(day(1), UploadLicense{Source: SourceRequestCode, Bundle: "B-1", Licenses: []License{
			ent16("L-E"), plusLic("L-V", ModuleVMware, 8, day(0), day(365)),
		}})
		h.do(day(2), AddHost{Host: "vm-1", Hypervisor: HypervisorVMware, Sockets: 10}) // 8 on vmware, 2 spill
		h.do(day(2), AddHost{Host: "kvm-1", Hypervisor: HypervisorKVM, Sockets: 14})   // 2 + 14 = 16
		_, err := h.try(day(2), AddHost{Host: "vm-2", Hypervisor: HypervisorVMware, Sockets: 1})
		refused(t, err, ECONFLICT, ReasonCapacityExceeded, "R7")
		c := h.at(day(2)).Capacity
		if got, want := line(c.VMwareSockets.Used, c.VMwareSockets.Limit, c.Sockets.Used, c.Sockets.Limit), "8 8 16 16"; got != want {
			t.Fatalf("vmware used/quota, sockets used/quota = %s, want %s", got, want)
		}
	})
	t.Run("arm64 hosts count against the arm64 module", func(t *testing.T) {
		h := newHistory(t, "arm")
		h.do(day(1), UploadLicense{Source: SourceRequestCode, Bundle: "B-1", Licenses: []License{
			baseLic("L-S", EditionStandard, 1, day(0), day(365)), plusLic("L-A", ModuleARM64, 1, day(0), day(365)),
		}})
		h.do(day(2), AddHost{Host: "arm-1", Hypervisor: HypervisorARM64, Sockets: 2})
		_, err := h.try(day(2), AddHost{Host: "arm-2", Hypervisor: HypervisorARM64, Sockets: 2})
		refused(t, err, ECONFLICT, ReasonCapacityExceeded, "arm64 hosts")
		h.do(day(2), AddHost{Host: "kvm-1", Hypervisor: HypervisorKVM, Sockets: 1}) // ARM hosts use no Base sockets
	})
	t.Run("bad input", func(t *testing.T) {
		h := newHistory(t, "bad")
		for _, c := range []AddHost{
			{Host: "h 1", Hypervisor: HypervisorKVM, Sockets: 1},
			{Host: "h-1", Hypervisor: "xen", Sockets: 1},
			{Host: "h-1", Hypervisor: HypervisorKVM, Sockets: 0},
		} {
			_, err := h.try(day(1), c)
			if ErrorCode(err) != EINVALID {
				t.Errorf("%+v: err = %v, want invalid", c, err)
			}
		}
		_, err := h.try(day(1), RemoveHost{Host: "h-9"})
		refused(t, err, ENOTFOUND, ReasonUnknownHost)
	})
}

// R10: a bundle is validated whole before anything is emitted, and yields
// one event per license with the bundle id, to be appended atomically.
func TestDecideBundle(t *testing.T) {
	h := newHistory(t, "r10")
	good := []License{ent16("L-B"), plusLic("L-V", ModuleVMware, 8, day(0), day(365)), plusLic("L-T", ModuleTenant, 0, day(0), day(365))}
	digest := strings.Repeat("ab", 32)
	bad := append(append([]License(nil), good[:2]...), plusLic("L-X", ModuleTenant, 3, day(0), day(365)))
	_, err := h.try(day(1), UploadLicense{Source: SourceRequestCode, Bundle: "B-1", Digest: digest, Licenses: bad})
	refused(t, err, EINVALID, ReasonInvalidLicense, "L-X")
	if h.s.Version() != 1 {
		t.Fatalf("a refused bundle changed the state: version %d", h.s.Version())
	}
	for _, tt := range []struct {
		name   string
		cmd    UploadLicense
		reason string
	}{
		{"two bases", UploadLicense{Source: SourceRequestCode, Bundle: "B-1", Licenses: []License{ent16("L-1"), ent16("L-2")}}, ReasonBundleBase},
		{"no base", UploadLicense{Source: SourceRequestCode, Bundle: "B-1", Licenses: good[1:]}, ReasonBundleBase},
		{"key-bound bundle", UploadLicense{Source: SourceUSBKey, KeyID: "K-1", Bundle: "B-1", Licenses: good}, ReasonBundleSource},
		{"no bundle id", UploadLicense{Source: SourceRequestCode, Licenses: good}, ReasonInvalidCommand},
		{"same license twice", UploadLicense{Source: SourceRequestCode, Bundle: "B-1", Licenses: []License{good[0], good[1], good[1]}}, ReasonInvalidCommand},
		{"bad digest", UploadLicense{Source: SourceRequestCode, Bundle: "B-1", Digest: "xyz", Licenses: good}, ReasonInvalidCommand},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.try(day(1), tt.cmd)
			refused(t, err, EINVALID, tt.reason)
		})
	}
	evs := h.do(day(1), UploadLicense{Source: SourceRequestCode, Bundle: "B-1", Digest: digest, Licenses: good})
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	for i, e := range evs {
		d, err := PlatformEventData(e)
		if err != nil {
			t.Fatal(err)
		}
		u := d.(*LicenseUploaded)
		if u.Bundle != "B-1" || u.Digest != digest || u.License.ID != good[i].ID || e.Subject != "platform/r10" {
			t.Errorf("event %d = %+v", i, u)
		}
	}
	// A retried bundle is recognised, not recorded twice.
	again, err := h.try(day(2), UploadLicense{Source: SourceRequestCode, Bundle: "B-1", Digest: digest, Licenses: good})
	if err != nil || len(again) != 0 {
		t.Fatalf("retry = %d events, %v; want none, nil", len(again), err)
	}
}

// R11 decision: a refused upload is recorded for auditors and changes no
// entitlement.
func TestDecideRejectUpload(t *testing.T) {
	h := newHistory(t, "r11")
	h.do(day(1), UploadLicense{Source: SourceRequestCode, Licenses: []License{ent16("L-1")}})
	before, _ := MarshalEntitlement(h.at(day(2)))
	digest := strings.Repeat("0f", 32)
	evs := h.do(day(1), RejectUpload{Digest: digest, Code: EFORBIDDEN, Reason: "bad-signature", Message: "signature does not verify", Actor: "alice"})
	d, err := PlatformEventData(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := *d.(*LicenseUploadRejected), (LicenseUploadRejected{Digest: digest, Code: EFORBIDDEN, Reason: "bad-signature", Message: "signature does not verify", Actor: "alice"}); got != want {
		t.Fatalf("recorded %+v, want %+v", got, want)
	}
	after, _ := MarshalEntitlement(h.at(day(2)))
	if string(before) != string(after) {
		t.Fatalf("a rejected upload changed the entitlement:\n%s\n%s", before, after)
	}
	_, err = h.try(day(1), RejectUpload{Code: "oops", Message: "x"})
	refused(t, err, EINVALID, ReasonInvalidCommand, "oops")
	_, err = h.try(day(1), RejectUpload{Code: EINVALID, Message: " "})
	refused(t, err, EINVALID, ReasonInvalidCommand, "message")
}

// R12: a key-bound upload needs that key authorizing the platform; the
// refusal names the key needed and the keys inserted.
func TestDecideKeyBoundUpload(t *testing.T) {
	lic := plusLic("L-KV", ModuleVMware, 4, day(0), day(365))
	up := UploadLicense{Source: SourceUSBKey, KeyID: "K-1", Licenses: []License{lic}}
	h := newHistory(t, "r12", "mn-1", "mn-2")
	h.do(day(1), UploadLicense{Source: SourceRequestCode, Licenses: []License{ent16("L-RC")}})
	_, err := h.try(day(1), up)
	refused(t, err, ECONFLICT, ReasonKeyNotInserted, "K-1", "no USB key is inserted")
	h.do(day(1), InsertUSBKey{Node: "mn-1", KeyID: "K-2"})
	_, err = h.try(day(1), up)
	refused(t, err, ECONFLICT, ReasonWrongKey, "K-1", "K-2 on mn-1")
	h.do(day(2), InsertUSBKey{Node: "mn-2", KeyID: "K-1"}) // abnormal: K-2 authorizes (R16)
	_, err = h.try(day(2), up)
	refused(t, err, ECONFLICT, ReasonWrongKey, "authorizes this platform is K-2")
	h.do(day(3), RemoveUSBKey{Node: "mn-1", KeyID: "K-2"}) // K-1 alone: ready
	h.do(day(3), up)
	ent := h.at(day(3))
	if m := ent.Modules[ModuleVMware]; m.Source != SourceUSBKey || m.KeyID != "K-1" || m.License != "L-KV" {
		t.Fatalf("vmware = %+v, want from USB key K-1", m)
	}
	h.do(day(4), InsertUSBKey{Node: "mn-2", KeyID: "K-3"}) // 0 and 2: fault
	_, err = h.try(day(4), UploadLicense{Source: SourceUSBKey, KeyID: "K-1", Licenses: []License{plusLic("L-K2", ModuleTenant, 0, day(0), day(365))}})
	refused(t, err, ECONFLICT, ReasonKeyFault, "fault", "K-1 on mn-2, K-3 on mn-2")
	_, err = h.try(day(4), UploadLicense{Source: SourceUSBKey, Licenses: []License{lic}})
	refused(t, err, EINVALID, ReasonInvalidID)
	_, err = h.try(day(4), UploadLicense{Source: SourceRequestCode, KeyID: "K-1", Licenses: []License{lic}})
	refused(t, err, EINVALID, ReasonInvalidCommand)
	_, err = h.try(day(4), UploadLicense{Source: "fax", Licenses: []License{lic}})
	refused(t, err, EINVALID, ReasonInvalidCommand)
}

// R14: request-code licenses can be deleted, key licenses cannot.
func TestDecideDelete(t *testing.T) {
	h := newHistory(t, "r14")
	h.do(day(1), InsertUSBKey{Node: "mn-1", KeyID: "K-1", Licenses: []License{plusLic("L-K", ModuleTenant, 0, day(0), day(365))}})
	h.do(day(1), UploadLicense{Source: SourceUSBKey, KeyID: "K-1", Licenses: []License{plusLic("L-KU", ModuleCDP, 0, day(0), day(365))}})
	h.do(day(1), UploadLicense{Source: SourceRequestCode, Licenses: []License{plusLic("L-R", ModuleGPU, 0, day(0), day(365))}})
	for _, id := range []string{"L-K", "L-KU"} {
		_, err := h.try(day(2), DeleteLicense{License: id})
		refused(t, err, ECONFLICT, ReasonKeyLicense, id, "K-1", "R14")
	}
	h.do(day(2), DeleteLicense{License: "L-R"})
	_, err := h.try(day(3), DeleteLicense{License: "L-R"})
	refused(t, err, ENOTFOUND, ReasonUnknownLicense)
	_, err = h.try(day(3), DeleteLicense{License: "L-none"})
	refused(t, err, ENOTFOUND, ReasonUnknownLicense)
	for _, l := range h.s.Licenses() {
		if l.ID == "L-R" {
			t.Fatal("a deleted license is still listed")
		}
	}
	// Uploading it again restores it, at a new position.
	h.do(day(4), UploadLicense{Source: SourceRequestCode, Licenses: []License{plusLic("L-R", ModuleGPU, 0, day(0), day(365))}})
	if got := h.s.Licenses(); got[len(got)-1].ID != "L-R" {
		t.Fatalf("restored license not latest: %v", got)
	}
}

// R1–R3, R8: license objects are checked against the catalog; an upload
// already over at arrival is refused; ids are unique per platform.
func TestDecideUploadValidation(t *testing.T) {
	never := func(l License) License { l.ExpiresAt = nil; return l }
	tests := []struct {
		name   string
		lic    License
		reason string
	}{
		{"unknown kind", License{ID: "L", Kind: "gold", IssuedAt: day(0)}, ReasonInvalidLicense},
		{"bad id", ent16("L 1"), ReasonInvalidLicense},
		{"unknown edition", baseLic("L", "platinum", 4, day(0), day(9)), ReasonInvalidLicense},
		{"standard without sockets", baseLic("L", EditionStandard, 0, day(0), day(9)), ReasonInvalidLicense},
		{"trial with sockets", baseLic("L", EditionEnterpriseTrial, 4, day(0), day(9)), ReasonInvalidLicense},
		{"community with a term", baseLic("L", EditionCommunity, 0, day(0), day(9)), ReasonInvalidLicense},
		{"unknown module", plusLic("L", "teleport", 0, day(0), day(9)), ReasonInvalidLicense},
		{"counted without quantity", plusLic("L", ModuleVMware, 0, day(0), day(9)), ReasonInvalidLicense},
		{"negative quantity", plusLic("L", ModuleContainerCPU, -2, day(0), day(9)), ReasonInvalidLicense},
		{"uncounted with quantity", plusLic("L", ModuleTenant, 2, day(0), day(9)), ReasonInvalidLicense},
		{"plus with edition", License{ID: "L", Kind: KindPlus, Module: ModuleTenant, Edition: EditionStandard, IssuedAt: day(0)}, ReasonInvalidLicense},
		{"no issue time", plusLic("L", ModuleTenant, 0, time.Time{}, day(9)), ReasonInvalidLicense},
		{"expires before issue", plusLic("L", ModuleTenant, 0, day(5), day(4)), ReasonInvalidLicense},
		{"expired on arrival", plusLic("L", ModuleTenant, 0, day(0), day(10)), ReasonExpiredOnArrival},
		{"trial year over on arrival", never(baseLic("L", EditionEnterpriseTrial, 0, day(-400), day(0))), ReasonExpiredOnArrival},
	}
	h := newHistory(t, "valid")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.try(day(10), UploadLicense{Source: SourceRequestCode, Licenses: []License{tt.lic}})
			refused(t, err, EINVALID, tt.reason)
		})
	}
	_, err := h.try(day(10), UploadLicense{Source: SourceRequestCode})
	refused(t, err, EINVALID, ReasonInvalidCommand, "no license")

	h.do(day(10), UploadLicense{Source: SourceRequestCode, Licenses: []License{ent16("L-1")}})
	other := ent16("L-1")
	other.Sockets = 64
	_, err = h.try(day(10), UploadLicense{Source: SourceRequestCode, Licenses: []License{other}})
	refused(t, err, ECONFLICT, ReasonDuplicateLicense, "different content")
	evs, err := h.try(day(11), UploadLicense{Source: SourceRequestCode, Licenses: []License{ent16("L-1")}})
	if err != nil || len(evs) != 0 {
		t.Fatalf("same license again = %d events, %v; want a no-op", len(evs), err)
	}
	// A key may carry expired licenses (R18 needs them); one carrying a
	// license recorded from another holder is refused.
	h.do(day(12), InsertUSBKey{Node: "mn-1", KeyID: "K-1", Licenses: []License{plusLic("L-old", ModuleTenant, 0, day(0), day(1))}})
	h.do(day(13), RemoveUSBKey{Node: "mn-1", KeyID: "K-1"})
	_, err = h.try(day(14), InsertUSBKey{Node: "mn-1", KeyID: "K-2", Licenses: []License{ent16("L-1")}})
	refused(t, err, ECONFLICT, ReasonDuplicateLicense, "request-code upload")
	_, err = h.try(day(14), InsertUSBKey{Node: "mn-1", KeyID: "K-2", Licenses: []License{ent16("L-9"), ent16("L-9")}})
	refused(t, err, EINVALID, ReasonInvalidCommand)
	_, err = h.try(day(14), InsertUSBKey{Node: "mn-9", KeyID: "K-2"})
	refused(t, err, ENOTFOUND, ReasonUnknownNode)
	h.do(day(14), InsertUSBKey{Node: "mn-1", KeyID: "K-2"})
	_, err = h.try(day(14), InsertUSBKey{Node: "mn-1", KeyID: "K-2"})
	refused(t, err, ECONFLICT, ReasonKeyInserted)
	_, err = h.try(day(14), RemoveUSBKey{Node: "mn-1", KeyID: "K-1"})
	refused(t, err, ENOTFOUND, ReasonUnknownKey, "K-2 on mn-1")
}

// DecidePlatform never changes the state it decides on.
func TestDecideDoesNotMutate(t *testing.T) {
	events := randomHistory(t, 7, 2000, licenseHeavy)
	s, err := PlatformAsOf(events, "random", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	before := s.Clone()
	now := s.LastEventTime()
	for _, cmd := range []PlatformCommand{
		UploadLicense{Source: SourceUSBKey, KeyID: "K-new", Licenses: []License{ent16("L-new")}},
		UploadLicense{Source: SourceRequestCode, Licenses: []License{plusLic("L-new", ModuleTenant, 0, now, now.Add(time.Hour))}},
		InsertUSBKey{Node: "mn-1", KeyID: "K-9", Licenses: []License{ent16("L-k9")}},
		DeleteLicense{License: "L-3"},
		AddHost{Host: "h-new", Hypervisor: HypervisorVMware, Sockets: 3},
	} {
		_, _ = DecidePlatform(s, cmd, now)
	}
	if !statesEqual(s, before) {
		t.Fatal("DecidePlatform changed the state")
	}
}
