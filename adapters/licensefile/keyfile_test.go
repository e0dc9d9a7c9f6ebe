package licensefile

import (
	"bytes"
	"testing"

	"github.com/licledger/licledger/domain"
)

// R9, R11, R12: a file stored on a USB key counts for that key only when
// it verifies and is bound to exactly that key's id.
func TestVerifyKeyFile(t *testing.T) {
	t.Parallel()
	vendor, rogue := testKey(t, "vendor-2026"), testKey(t, "rogue")
	v := testVerifier(t, Limits{}, vendor)
	cdp := plusLicense("L-1", domain.ModuleCDP, 0)
	good := mustIssue(t, cdp, Binding{USBKey: "K-1"}, vendor)
	tests := []struct {
		name   string
		raw    []byte
		code   string
		reason string
	}{
		{"bound to this key", good, "", ""},
		{"tampered", bytes.Replace(good, []byte(`"cdp"`), []byte(`"gpu"`), 1), domain.EINVALID, domain.ReasonBadSignature},
		{"bound to another key", mustIssue(t, cdp, Binding{USBKey: "K-2"}, vendor), domain.EINVALID, domain.ReasonBindingMismatch},
		{"bound to a request code", mustIssue(t, cdp, Binding{RequestCode: testCode}, vendor), domain.EINVALID, domain.ReasonBindingMismatch},
		{"signed by an untrusted key", mustIssue(t, cdp, Binding{USBKey: "K-1"}, rogue), domain.EFORBIDDEN, domain.ReasonUnknownSigningKey},
		{"not a license file", []byte("\x00\x01"), domain.EINVALID, domain.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := v.VerifyKeyFile(tt.raw, "K-1")
			if code, reason := domain.ErrorCode(err), domain.ErrorReason(err); code != tt.code || reason != tt.reason {
				t.Fatalf("refusal %s/%s (%v), want %s/%s", code, reason, err, tt.code, tt.reason)
			}
			if err == nil && got.ID != cdp.ID {
				t.Errorf("license %+v, want %s", got, cdp.ID)
			}
		})
	}
}
