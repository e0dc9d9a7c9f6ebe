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
