package licensefile

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/domain"
)

// R11: a file signed by a trusted vendor key verifies and comes back as it
// was issued, for both bindings of R9.
func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	key := testKey(t, "vendor-2026")
	v := testVerifier(t, Limits{}, key)
	community := domain.License{ID: "L-c", Kind: domain.KindBase, Edition: domain.EditionCommunity, IssuedAt: ts("2026-01-01T00:00:00Z")}
	tests := []struct {
		name string
		lic  domain.License
		b    Binding
	}{
		{"base by request code", baseLicense("L-1"), Binding{RequestCode: testCode}},
		{"plus by usb key", plusLicense("L-2", "vmware", 8), Binding{USBKey: "K-1"}},
		{"uncounted plus", plusLicense("L-3", "gpu", 0), Binding{RequestCode: testCode}},
		{"community without term", community, Binding{RequestCode: testCode}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := mustIssue(t, tt.lic, tt.b, key)
			got, err := v.Verify(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !got.License.Same(tt.lic) || got.Binding != tt.b || got.KeyID != "vendor-2026" {
				t.Fatalf("got %+v, want license %+v binding %+v", got, tt.lic, tt.b)
			}
			again, err := got.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, raw) {
				t.Fatalf("re-marshal differs:\n%s\n%s", again, raw)
			}
		})
	}
}

// The test vector of FORMAT.md: canonical bytes, signature and file for a
// fixed key, so a third-party implementation can check itself. The test
// also checks FORMAT.md quotes the golden bytes, keeping doc and code equal.
func TestFormatVector(t *testing.T) {
	t.Parallel()
	key := testKey(t, "vendor-2026")
	f, err := Sign(baseLicense("L-1"), Binding{RequestCode: testCode}, key)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := f.SignedBytes()
	if err != nil {
		t.Fatal(err)
	}
	file, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "vector.signed", signed)
	golden(t, "vector.license", file)
	golden(t, "vector.key", key.MarshalFile())

	doc, err := os.ReadFile("FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{string(signed), base64.StdEncoding.EncodeToString(f.Signature),
		hex.EncodeToString(key.Key.Seed()), base64.StdEncoding.EncodeToString(key.Public().Key)} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("FORMAT.md does not quote %q", want)
		}
	}
}

// R11: anything but a well-formed file of this format is refused as
// malformed, before any signature is checked.
func TestParseFileRejectsMalformed(t *testing.T) {
	t.Parallel()
	key := testKey(t, "vendor-2026")
	valid := string(mustIssue(t, baseLicense("L-1"), Binding{RequestCode: testCode}, key))
	sig := valid[strings.Index(valid, `"signature": "`)+len(`"signature": "`):]
	sig = sig[:strings.Index(sig, `"`)]
	head := `{"format":"licledger-license/1","key_id":"vendor-2026","signature":"` + sig + `",`
	lic := func(members string) string {
		return head + `"binding":{"request_code":"RC-1"},"license":{` + members + `}}`
	}
	okLic := `"id":"L-1","kind":"base","edition":"enterprise","sockets":4,"issued_at":"2026-01-01T00:00:00Z"`
	if _, err := ParseFile([]byte(lic(okLic))); err != nil {
		t.Fatalf("baseline rejected: %v", err)
	}
	tests := []struct{ name, raw string }{
		{"empty", ``},
		{"not json", `license please`},
		{"array", `[]`},
		{"null", `null`},
		{"trailing data", valid + `{}`},
		{"unknown member", strings.Replace(valid, `"format"`, `"extra": 1, "format"`, 1)},
		{"case-folded member", strings.Replace(valid, `"key_id"`, `"Key_ID"`, 1)},
		{"duplicate member", strings.Replace(valid, `"format"`, `"key_id": "other", "format"`, 1)},
		{"unknown license member", lic(okLic + `,"seats":3`)},
		{"duplicate license member", lic(okLic + `,"sockets":5`)},
		{"unknown binding member", head + `"binding":{"serial":"x"},"license":{` + okLic + `}}`},
		{"wrong format", strings.Replace(valid, Format, "licledger-license/2", 1)},
		{"no license", head + `"binding":{"request_code":"RC-1"}}`},
		{"null license", head + `"binding":{"request_code":"RC-1"},"license":null}`},
		{"no binding", head + `"license":{` + okLic + `}}`},
		{"both bindings", head + `"binding":{"request_code":"RC-1","usb_key":"K-1"},"license":{` + okLic + `}}`},
		{"empty binding", head + `"binding":{},"license":{` + okLic + `}}`},
		{"binding with dot", head + `"binding":{"usb_key":"K.1"},"license":{` + okLic + `}}`},
		{"bad license id", lic(strings.Replace(okLic, `"L-1"`, `"L 1"`, 1))},
		{"numeric id", lic(strings.Replace(okLic, `"L-1"`, `1`, 1))},
		{"time with offset", lic(strings.Replace(okLic, `00:00:00Z`, `08:00:00+08:00`, 1))},
		{"fractional seconds", lic(strings.Replace(okLic, `00:00:00Z`, `00:00:00.5Z`, 1))},
		{"date only", lic(strings.Replace(okLic, `2026-01-01T00:00:00Z`, `2026-01-01`, 1))},
		{"no issued_at", lic(`"id":"L-1","kind":"base","edition":"enterprise","sockets":4`)},
		{"expires before issue", lic(okLic + `,"expires_at":"2025-01-01T00:00:00Z"`)},
		{"expires at issue", lic(okLic + `,"expires_at":"2026-01-01T00:00:00Z"`)},
		{"unknown kind", lic(strings.Replace(okLic, `"base"`, `"gold"`, 1))},
		{"unknown edition", lic(strings.Replace(okLic, `"enterprise"`, `"ultimate"`, 1))},
		{"standard without sockets", lic(`"id":"L-1","kind":"base","edition":"standard","issued_at":"2026-01-01T00:00:00Z"`)},
		{"negative sockets", lic(strings.Replace(okLic, `"sockets":4`, `"sockets":-4`, 1))},
		{"fractional sockets", lic(strings.Replace(okLic, `"sockets":4`, `"sockets":4.5`, 1))},
		{"trial with sockets", lic(`"id":"L-1","kind":"base","edition":"enterprise-trial","sockets":2,"issued_at":"2026-01-01T00:00:00Z"`)},
		{"community with term", lic(`"id":"L-1","kind":"base","edition":"community","issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"`)},
		{"base with module", lic(okLic + `,"module":"gpu"`)},
		{"unknown module", lic(`"id":"L-1","kind":"plus","module":"teleport","issued_at":"2026-01-01T00:00:00Z"`)},
		{"counted module without quantity", lic(`"id":"L-1","kind":"plus","module":"vmware","issued_at":"2026-01-01T00:00:00Z"`)},
		{"uncounted module with quantity", lic(`"id":"L-1","kind":"plus","module":"gpu","quantity":2,"issued_at":"2026-01-01T00:00:00Z"`)},
		{"plus with edition", lic(`"id":"L-1","kind":"plus","module":"gpu","edition":"enterprise","issued_at":"2026-01-01T00:00:00Z"`)},
		{"explicit zero sockets", lic(`"id":"L-1","kind":"base","edition":"enterprise-trial","sockets":0,"issued_at":"2026-01-01T00:00:00Z"`)},
		{"explicit null expiry", lic(okLic + `,"expires_at":null`)},
		{"explicit empty module", lic(okLic + `,"module":""`)},
		{"null binding", head + `"binding":null,"license":{` + okLic + `}}`},
		{"bad key id", strings.Replace(valid, `"vendor-2026"`, `"vendor 2026"`, 1)},
		{"unsigned", strings.Replace(valid, `"signature": "`+sig+`"`, `"signature": ""`, 1)},
		{"signature not base64", strings.Replace(valid, sig, "!!"+sig[2:], 1)},
		{"signature too short", strings.Replace(valid, sig, sig[4:], 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFile([]byte(tt.raw))
			wantRefusal(t, err, domain.EINVALID, domain.ReasonMalformed)
		})
	}
	t.Run("too large", func(t *testing.T) {
		_, err := ParseFile(append([]byte(valid), bytes.Repeat([]byte(" "), MaxFileSize)...))
		wantRefusal(t, err, domain.EINVALID, domain.ReasonFileTooLarge)
	})
}

// R11: a file whose signature does not verify is refused; a file naming a
// key the ledger does not trust is refused as forbidden.
func TestVerifyRefusesBadSignatures(t *testing.T) {
	t.Parallel()
	key := testKey(t, "vendor-2026")
	v := testVerifier(t, Limits{}, key)
	raw := string(mustIssue(t, baseLicense("L-1"), Binding{RequestCode: testCode}, key))
	impostor := testKey(t, "impostor")
	sameIDOtherKey := PrivateKey{ID: "vendor-2026", Key: impostor.Key}
	tests := []struct {
		name         string
		raw          string
		code, reason string
	}{
		{"more sockets", strings.Replace(raw, `"sockets": 16`, `"sockets": 64`, 1), domain.EINVALID, domain.ReasonBadSignature},
		{"later expiry", strings.Replace(raw, `2027-01-01`, `2099-01-01`, 1), domain.EINVALID, domain.ReasonBadSignature},
		{"other request code", strings.Replace(raw, testCode, "RC-OTHER", 1), domain.EINVALID, domain.ReasonBadSignature},
		{"rebound to a usb key", strings.Replace(raw, `"request_code": "`+testCode+`"`, `"usb_key": "K-1"`, 1), domain.EINVALID, domain.ReasonBadSignature},
		{"forged with the trusted key id", string(mustIssue(t, baseLicense("L-1"), Binding{RequestCode: testCode}, sameIDOtherKey)), domain.EINVALID, domain.ReasonBadSignature},
		{"untrusted key", string(mustIssue(t, baseLicense("L-1"), Binding{RequestCode: testCode}, impostor)), domain.EFORBIDDEN, domain.ReasonUnknownSigningKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.raw == raw {
				t.Fatal("test case did not alter the file")
			}
			_, err := v.Verify([]byte(tt.raw))
			wantRefusal(t, err, tt.code, tt.reason)
		})
	}
	// Reformatting the JSON changes no signed byte: the signature covers the
	// canonical encoding, not the layout.
	compact := strings.Join(strings.Fields(raw), "")
	if _, err := v.Verify([]byte(compact)); err != nil {
		t.Fatalf("compacted file refused: %v", err)
	}
}

// R11 key rotation: a ledger trusting the old and the new vendor key
// accepts files signed by either; once the old key is dropped from the
// trusted set, its files are refused as unknown-signing-key.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	old, cur := testKey(t, "vendor-2025"), testKey(t, "vendor-2026")
	oldFile := mustIssue(t, baseLicense("L-old"), Binding{RequestCode: testCode}, old)
	newFile := mustIssue(t, baseLicense("L-new"), Binding{RequestCode: testCode}, cur)

	both := testVerifier(t, Limits{}, cur, old)
	for _, raw := range [][]byte{oldFile, newFile} {
		if _, err := both.Verify(raw); err != nil {
			t.Fatalf("rotation: %v", err)
		}
	}
	if got, want := strings.Join(both.KeyIDs(), ","), "vendor-2025,vendor-2026"; got != want {
		t.Fatalf("KeyIDs = %s, want %s", got, want)
	}
	retired := testVerifier(t, Limits{}, cur)
	_, err := retired.Verify(oldFile)
	wantRefusal(t, err, domain.EFORBIDDEN, domain.ReasonUnknownSigningKey)
	if _, err := retired.Verify(newFile); err != nil {
		t.Fatal(err)
	}
}

func TestNewVerifierRejects(t *testing.T) {
	t.Parallel()
	k := testKey(t, "vendor-2026").Public()
	tests := []struct {
		name string
		keys []PublicKey
	}{
		{"no keys", nil},
		{"duplicate id", []PublicKey{k, k}},
		{"bad id", []PublicKey{{ID: "a b", Key: k.Key}}},
		{"short key", []PublicKey{{ID: "x", Key: k.Key[:10]}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.keys, Limits{})
			if got, want := domain.ErrorCode(err), domain.EINVALID; got != want {
				t.Fatalf("code = %q, want %q (%v)", got, want, err)
			}
		})
	}
}

// Signing refuses to produce a file the verifier would call malformed.
func TestSignRefusesInvalidLicense(t *testing.T) {
	t.Parallel()
	key := testKey(t, "vendor-2026")
	bad := baseLicense("L-1")
	bad.Sockets = 0
	_, err := Sign(bad, Binding{RequestCode: testCode}, key)
	wantRefusal(t, err, domain.EINVALID, domain.ReasonMalformed)
	_, err = Sign(baseLicense("L-1"), Binding{}, key)
	wantRefusal(t, err, domain.EINVALID, domain.ReasonMalformed)
}

// R1–R3, R8: the catalog and term rules of a file are the domain's, not a
// copy: a license the domain refuses is refused with the domain's message
// (naming the rule), under this package's reason malformed (FORMAT.md §1);
// what the format adds (whole-second times) is refused here alone.
func TestLicenseRulesAreTheDomains(t *testing.T) {
	t.Parallel()
	mod := func(f func(*domain.License), l domain.License) domain.License { f(&l); return l }
	tests := []struct {
		name      string
		lic       domain.License
		domainToo bool // the domain refuses it as well
	}{
		{"R1 unknown edition", mod(func(l *domain.License) { l.Edition = "ultimate" }, baseLicense("L-1")), true},
		{"R1 community with a term", mod(func(l *domain.License) { l.Edition, l.Sockets = domain.EditionCommunity, 0 }, baseLicense("L-1")), true},
		{"R2 enterprise without sockets", mod(func(l *domain.License) { l.Sockets = 0 }, baseLicense("L-1")), true},
		{"R2 negative sockets", mod(func(l *domain.License) { l.Sockets = -4 }, baseLicense("L-1")), true},
		{"R3 unknown module", plusLicense("L-2", "teleport", 0), true},
		{"R3 counted module without quantity", plusLicense("L-2", "vmware", 0), true},
		{"R3 uncounted module with quantity", plusLicense("L-2", "gpu", 2), true},
		{"R8 expiry at issue", mod(func(l *domain.License) { l.ExpiresAt = &l.IssuedAt }, baseLicense("L-1")), true},
		{"fractional issued_at", mod(func(l *domain.License) { l.IssuedAt = l.IssuedAt.Add(time.Millisecond) }, baseLicense("L-1")), false},
		{"fractional expires_at", mod(func(l *domain.License) { l.ExpiresAt = tsp("2027-01-01T00:00:00.5Z") }, baseLicense("L-1")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := validateLicense(tt.lic)
			wantRefusal(t, err, domain.EINVALID, domain.ReasonMalformed)
			derr := domain.ValidateLicense(tt.lic)
			if got, want := derr != nil, tt.domainToo; got != want {
				t.Fatalf("domain refuses: %v, want %v (%v)", got, want, derr)
			}
			if derr != nil {
				if got, want := domain.ErrorMessage(err), domain.ErrorMessage(derr); got != want {
					t.Errorf("message = %q, want the domain's %q", got, want)
				}
			}
		})
	}
}
