package httpapi

import (
	"net/http"
	"testing"

	"github.com/licledger/licledger/domain"
)

// Bodies whose meaning encoding/json would settle silently are refused:
// a key given twice (the last would win), a key that matches a field only
// when case is ignored, at any depth. Found by outside testing:
// {"id":"a","ID":"b"} registered platform b.
func TestStrictJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name, path, body string
		reason           string
	}{
		{"same key twice", "/v1/platforms", `{"id":"a","nodes":["mn-1"],"id":"b"}`, domain.ReasonDuplicateKey},
		{"same key up to case", "/v1/platforms", `{"id":"a","ID":"b","nodes":["mn-1"]}`, domain.ReasonDuplicateKey},
		{"a key in another case", "/v1/platforms", `{"ID":"b","nodes":["mn-1"]}`, domain.ReasonUnknownField},
		{"nested", "/v1/platforms/acme/nodes/mn-1/usb-keys", `{"key_id":"K-1","licenses":[{"id":"L-1","Kind":"plus"}]}`, domain.ReasonUnknownField},
		{"nested twice", "/v1/platforms/acme/nodes/mn-1/usb-keys", `{"key_id":"K-1","licenses":[{"id":"L-1","id":"L-2"}]}`, domain.ReasonDuplicateKey},
	}
	e.registerAcme()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.lastSeq()
			r := e.do("POST", tt.path, adminToken, []byte(tt.body))
			got := r.errorBody(t)
			if r.status != http.StatusBadRequest || got.Reason != tt.reason {
				t.Errorf("%s: %d %s/%s, want 400 %s: %s", tt.body, r.status, got.Code, got.Reason, tt.reason, got.Message)
			}
			if e.lastSeq() != before {
				t.Errorf("a refused body appended events")
			}
		})
	}
	// The exact members still work.
	if r := e.do("POST", "/v1/platforms", adminToken, []byte(`{"id":"ok","nodes":["mn-1"]}`)); r.status != http.StatusCreated {
		t.Fatalf("a plain body: %d %s", r.status, r.body)
	}
}
