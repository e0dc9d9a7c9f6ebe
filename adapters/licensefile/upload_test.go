package licensefile

import (
	"slices"
	"testing"

	"github.com/licledger/licledger/domain"
)

// R9, R10: an upload is classified by its bytes (gzip magic) or a gzip
// content type, digested over the uploaded bytes, and a bundle gets an id
// derived from that digest so a retried upload carries the same id.
func TestParseUpload(t *testing.T) {
	t.Parallel()
	key := testKey(t, "vendor-2026")
	v := testVerifier(t, Limits{}, key)
	rc := Binding{RequestCode: testCode}
	single := mustIssue(t, plusLicense("L-2", "vmware", 8), Binding{USBKey: "K-1"}, key)
	bundle := mustBundle(t,
		Entry{Name: "plus.license", Data: mustIssue(t, plusLicense("L-3", "gpu", 0), rc, key)},
		Entry{Name: "base.license", Data: mustIssue(t, baseLicense("L-1"), rc, key)})
	tests := []struct {
		name        string
		raw         []byte
		contentType string
		source      string
		keyID       string
		bundle      bool
		ids         []string
	}{
		{"single json", single, "application/json", domain.SourceUSBKey, "K-1", false, []string{"L-2"}},
		{"single without type", single, "", domain.SourceUSBKey, "K-1", false, []string{"L-2"}},
		{"bundle by type", bundle, "application/gzip", domain.SourceRequestCode, "", true, []string{"L-1", "L-3"}},
		{"bundle sniffed despite json type", bundle, "application/json", domain.SourceRequestCode, "", true, []string{"L-1", "L-3"}},
		{"bundle sniffed, octet-stream", bundle, "application/octet-stream", domain.SourceRequestCode, "", true, []string{"L-1", "L-3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := v.ParseUpload(tt.raw, tt.contentType)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := u.Digest, domain.Digest(tt.raw); got != want {
				t.Errorf("digest = %s, want %s", got, want)
			}
			if got, want := u.Source(), tt.source; got != want {
				t.Errorf("source = %s, want %s", got, want)
			}
			if got, want := u.KeyID(), tt.keyID; got != want {
				t.Errorf("key = %q, want %q", got, want)
			}
			wantBundle := ""
			if tt.bundle {
				wantBundle = "B-" + u.Digest[:16]
			}
			if got := u.Bundle; got != wantBundle {
				t.Errorf("bundle = %q, want %q", got, wantBundle)
			}
			var ids []string
			for _, l := range u.Licenses() {
				ids = append(ids, l.ID)
			}
			if got, want := ids, tt.ids; !slices.Equal(got, want) {
				t.Errorf("licenses = %v, want %v", got, want)
			}
		})
	}
	t.Run("gzip type on json bytes", func(t *testing.T) {
		_, err := v.ParseUpload(single, "application/gzip")
		wantRefusal(t, err, domain.EINVALID, domain.ReasonMalformed)
	})
}

func TestIsBundle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw         []byte
		contentType string
		want        bool
	}{
		{[]byte{0x1f, 0x8b, 0}, "", true},
		{[]byte("{}"), "application/gzip", true},
		{[]byte("{}"), "application/x-gzip; charset=binary", true},
		{[]byte("{}"), "application/json", false},
		{[]byte("{}"), "not a media type;;", false},
		{nil, "", false},
	}
	for _, tt := range tests {
		if got := IsBundle(tt.raw, tt.contentType); got != tt.want {
			t.Errorf("IsBundle(%q, %q) = %v, want %v", tt.raw, tt.contentType, got, tt.want)
		}
	}
}
