package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/licledger/licledger/domain"
)

// A ledger that trusts no vendor key refuses every upload with 403
// license-uploads-disabled and records nothing: R11 audits what an
// uploader sent, and here nothing was examined.
func TestNoLicenseUploads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Verifier = NoLicenseUploads{Hint: "start serve with --trusted-keys"} })
	e.registerAcme()
	seq := e.lastSeq()
	for _, body := range []string{bundleJSON, `{"id":"L-1","kind":"plus","module":"gpu","issued_at":"2026-01-01T00:00:00Z"}`, "not even JSON"} {
		r := e.do("POST", "/v1/platforms/acme/licenses", adminToken, []byte(body))
		got := r.errorBody(t)
		if r.status != http.StatusForbidden || got.Reason != domain.ReasonUploadsDisabled || !strings.Contains(got.Message, "--trusted-keys") {
			t.Errorf("upload: %d %+v, want 403 %s with the hint", r.status, got, domain.ReasonUploadsDisabled)
		}
	}
	if got := e.lastSeq(); got != seq {
		t.Errorf("refused uploads appended %d events, want none", got-seq)
	}
}

// Config.Ready sections appear in /readyz next to the projections, and
// never replace the ledger's own fields or make it unready.
func TestReadyzSections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.Ready = map[string]func() any{
			"usb_key_watcher": func() any { return map[string]string{"state": "unavailable", "error": "no hidraw"} },
			"status":          func() any { return "hijacked" },
		}
	})
	r := e.do("GET", "/readyz", "", nil)
	var got struct {
		Status        string
		USBKeyWatcher map[string]string `json:"usb_key_watcher"`
		Projections   map[string]any
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK || got.Status != "ready" || got.USBKeyWatcher["state"] != "unavailable" || got.Projections == nil {
		t.Errorf("readyz %d %s, want ready with the usb_key_watcher section", r.status, r.body)
	}
}

// verifiesSignatures stands for the signed license-file verifier
// (cmd wires adapters/licensefile): any verifier other than the insecure
// JSON one.
type verifiesSignatures struct{}

func (verifiesSignatures) ParseUpload([]byte, UploadMeta) (VerifiedUpload, error) {
	return VerifiedUpload{}, domain.Reasonf(domain.EINVALID, domain.ReasonMalformed, "not a signed file")
}

// A ledger that verifies vendor signatures has no back door around them:
// a USB key inserted through the API with license objects no vendor signed
// is refused signed-files-only, recorded for auditors with the body's
// digest (R11), and grants nothing; the key itself can still be recorded
// (issue: an admin token granted vmware ×32 this way).
func TestKeyLicensesNeedSignatures(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Verifier = verifiesSignatures{} })
	e.registerAcme()
	body := `{"key_id":"K-A","licenses":[{"id":"KL-2","kind":"plus","module":"vmware","quantity":32,"issued_at":"2026-01-01T00:00:00Z"}]}`
	r := e.do("POST", "/v1/platforms/acme/nodes/mn-1/usb-keys", adminToken, []byte(body))
	got := r.errorBody(t)
	if r.status != http.StatusForbidden || got.Reason != domain.ReasonSignedFilesOnly {
		t.Fatalf("key with unsigned licenses: %d %s/%s, want 403 %s", r.status, got.Code, got.Reason, domain.ReasonSignedFilesOnly)
	}
	var ent domain.Entitlement
	if err := json.Unmarshal(e.do("GET", "/v1/platforms/acme/entitlement", adminToken, nil).body, &ent); err != nil {
		t.Fatal(err)
	}
	if m := ent.Modules["vmware"]; m.Entitled || ent.USBKey.State != domain.KeyStateNone {
		t.Errorf("after the refusal: vmware %+v, key state %s; want nothing granted, no key", m, ent.USBKey.State)
	}
	var tl struct {
		Entries []struct{ Type, Event string }
	}
	json.Unmarshal(e.do("GET", "/v1/platforms/acme/timeline", adminToken, nil).body, &tl)
	last := tl.Entries[len(tl.Entries)-1]
	stored := e.do("GET", "/v1/events/"+last.Event, adminToken, nil).body
	if last.Type != domain.EventLicenseUploadRejected || !strings.Contains(string(stored), domain.Digest([]byte(body))) {
		t.Errorf("last event %s %s, want the refusal recorded with the body's digest", last.Type, stored)
	}
	if r := e.do("POST", "/v1/platforms/acme/nodes/mn-1/usb-keys", adminToken, []byte(`{"key_id":"K-A"}`)); r.status != http.StatusCreated {
		t.Errorf("the key alone: %d %s", r.status, r.body)
	}
}
