package domain

import (
	"errors"
	"strings"
	"testing"
)

// R9, R11: a key inserted with the files its storage holds is one batch:
// the insertion carrying the good files' licenses, then one audit event per
// refused file, with its digest and reason; bad files never keep the key
// or its good files out.
func TestDecideKeyInsertion(t *testing.T) {
	t.Parallel()
	digest := func(c string) string { return strings.Repeat(c, 64) }
	good := plusLic("L-CDP", ModuleCDP, 0, day(0), day(365))
	expired := plusLic("L-OLD", ModuleGPU, 0, day(-30), day(-1))
	malformed := plusLic("L-BAD", ModuleVMware, 0, day(0), day(365)) // vmware is counted: needs a quantity
	otherContent := plusLic("L-CDP", ModuleCDP, 0, day(0), day(100)) // good's id, another term

	h := newHistory(t, "keyfiles", "mn-1", "mn-2")
	h.do(day(1), UploadLicense{Source: SourceRequestCode, Licenses: []License{ent16("L-RC")}})
	files := []KeyFile{
		{Digest: digest("a"), License: good},
		{Digest: digest("b"), Refused: Reasonf(EINVALID, ReasonBadSignature, "license L-X: signature does not verify")},
		{Digest: digest("c"), License: malformed},
		{Digest: digest("d"), License: good}, // the same file twice: counted once, not refused
		{Digest: digest("e"), License: otherContent},
		{Digest: digest("f"), License: ent16("L-RC")}, // recorded from a request-code upload
		{Digest: digest("0"), License: expired},
	}
	evs, err := DecideKeyInsertion(h.s, KeyInsertion{Node: "mn-1", KeyID: "K-1", Files: files, Actor: "node/mn-1"}, day(2))
	if err != nil {
		t.Fatal(err)
	}
	type rejection struct{ digest, code, reason, mentions string }
	want := []rejection{
		{digest("b"), EINVALID, ReasonBadSignature, "license file 2 of 7 stored on USB key K-1: license L-X"},
		{digest("c"), EINVALID, ReasonInvalidLicense, "file 3 of 7"},
		{digest("e"), ECONFLICT, ReasonDuplicateLicense, "twice, with different content"},
		{digest("f"), ECONFLICT, ReasonDuplicateLicense, "request-code"},
	}
	if len(evs) != 1+len(want) || evs[0].Type != EventUSBKeyInserted {
		t.Fatalf("events %v, want usb_key.inserted and %d rejections", eventTypes(evs), len(want))
	}
	d, err := PlatformEventData(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	ins := d.(*USBKeyInserted)
	var ids []string
	for _, l := range ins.Licenses {
		ids = append(ids, l.ID)
	}
	if got, want := line(ins.Node, ins.KeyID, ids), line("mn-1", "K-1", []string{"L-CDP", "L-OLD"}); got != want {
		t.Errorf("inserted %s, want %s", got, want)
	}
	for i, w := range want {
		ev := evs[1+i]
		if ev.Type != EventLicenseUploadRejected {
			t.Fatalf("event %d is %s, want %s", i+1, ev.Type, EventLicenseUploadRejected)
		}
		d, err := PlatformEventData(ev)
		if err != nil {
			t.Fatal(err)
		}
		rej := d.(*LicenseUploadRejected)
		if rej.Digest != w.digest || rej.Code != w.code || rej.Reason != w.reason || rej.Actor != "node/mn-1" || !strings.Contains(rej.Message, w.mentions) {
			t.Errorf("rejection %d = %+v, want digest %s %s/%s by node/mn-1 mentioning %q", i, rej, w.digest[:4], w.code, w.reason, w.mentions)
		}
	}

	// The batch folds: the key authorizes and its good license is in force.
	for i := range evs {
		evs[i] = stamp(evs[i], h.s, day(2))
		if err := EvolvePlatform(h.s, evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	ent := h.at(day(2))
	got := ent.Modules[ModuleCDP]
	if ent.USBKey.State != KeyStateReady || !got.Entitled || got.Source != SourceUSBKey || got.KeyID != "K-1" || got.License != "L-CDP" ||
		got.ExpiresAt == nil || !got.ExpiresAt.Equal(day(365)) {
		t.Errorf("after the insertion: key %s, cdp %+v; want ready and cdp from K-1's L-CDP until %s (not the refused file's term)", ent.USBKey.State, got, day(365))
	}
}

// The insertion's own refusals record nothing, not even the files'
// rejections; a refusal that is not the file's (internal) records nothing.
func TestDecideKeyInsertionRefused(t *testing.T) {
	t.Parallel()
	bad := KeyFile{Digest: strings.Repeat("1", 64), Refused: Reasonf(EINVALID, ReasonBadSignature, "bad")}
	h := newHistory(t, "keyfiles-refused", "mn-1", "mn-2")
	h.do(day(1), InsertUSBKey{Node: "mn-2", KeyID: "K-2"})
	tests := []struct {
		name   string
		in     KeyInsertion
		code   string
		reason string
	}{
		{"unknown node", KeyInsertion{Node: "mn-9", KeyID: "K-1", Files: []KeyFile{bad}}, ENOTFOUND, ReasonUnknownNode},
		{"key inserted on the other node", KeyInsertion{Node: "mn-1", KeyID: "K-2", Files: []KeyFile{bad}}, ECONFLICT, ReasonKeyInserted},
		{"bad key id", KeyInsertion{Node: "mn-1", KeyID: "K 1"}, EINVALID, ReasonInvalidID},
		{"internal failure reading a file", KeyInsertion{Node: "mn-1", KeyID: "K-1", Files: []KeyFile{{Refused: errors.New("disk on fire")}}}, EINTERNAL, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := DecideKeyInsertion(h.s, tt.in, day(2))
			if got := ErrorCode(err); got != tt.code || ErrorReason(err) != tt.reason || evs != nil {
				t.Fatalf("got %v, %s/%s (%v); want nothing and %s/%s", eventTypes(evs), got, ErrorReason(err), err, tt.code, tt.reason)
			}
		})
	}
	// No files: the plain insertion.
	evs, err := DecideKeyInsertion(h.s, KeyInsertion{Node: "mn-1", KeyID: "K-1"}, day(2))
	if err != nil || len(evs) != 1 || evs[0].Type != EventUSBKeyInserted {
		t.Fatalf("no files: %v %v, want one usb_key.inserted", eventTypes(evs), err)
	}
}

func eventTypes(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}
