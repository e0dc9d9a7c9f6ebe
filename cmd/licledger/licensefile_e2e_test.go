package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/adapters/licensefile"
	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore/eventstoretest"
)

// signedVendor is a vendor with keys made by `vendor keygen` in dir, and
// the request code of platform acme's machine.
type signedVendor struct {
	t    *testing.T
	dir  string
	keys string // the key directory, which serve --trusted-keys trusts
	key  string // the vendor's private key file
	code string // acme's request code
}

func newSignedVendor(t *testing.T) *signedVendor {
	t.Helper()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	vendorMustRun(t, "vendor", "keygen", "--out", keys, "--id", "vendor-2026")
	code := strings.TrimSpace(vendorMustRun(t, "request-code", "--platform", "acme", "--machine-id", "machine-acme-1"))
	return &signedVendor{t: t, dir: dir, keys: keys, key: filepath.Join(keys, "vendor-2026.key"), code: code}
}

// serveSigned runs a ledger that trusts the vendor's public key (the
// trusted directory holds the private key too: only *.pub counts) on
// clock, with acme registered under its request code.
func (v *signedVendor) serveSigned(clock *eventstoretest.Clock) *testLedger {
	v.t.Helper()
	l := mustRunMain(v.t, withClock(clock), withArgs("--trusted-keys", v.keys))
	if _, err := l.API.RegisterPlatform(v.t.Context(), httpclient.RegisterRequest{ID: "acme", Nodes: []string{"mn-1", "mn-2"}, RequestCode: v.code}); err != nil {
		v.t.Fatal(err)
	}
	return l
}

// issue runs `licledger vendor issue` with the vendor key and returns the
// file.
func (v *signedVendor) issue(name string, args ...string) []byte {
	v.t.Helper()
	out := filepath.Join(v.dir, name)
	vendorMustRun(v.t, append([]string{"vendor", "issue", "--key", v.key, "--out", out, "--issued", "2026-01-01", "--expires", "2027-01-01"}, args...)...)
	b, err := os.ReadFile(out)
	if err != nil {
		v.t.Fatal(err)
	}
	return b
}

// R9–R12 end to end through serve: files issued by `vendor issue`, bundled
// by `vendor bundle`, uploaded over HTTP, verified against the trusted key,
// recorded atomically; every refusal answered with its reason and recorded
// as license.upload_rejected with the file's digest, changing nothing else.
func TestSignedLicenseUploadsEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	v := newSignedVendor(t)
	clock := eventstoretest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	l := v.serveSigned(clock)
	at := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	entitlement := func(at time.Time) *httpclient.Entitlement {
		t.Helper()
		e, err := l.API.Entitlement(ctx, "acme", at)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	// R10: a Base and two Plus files as one bundle, recorded in one batch.
	v.issue("base.license", "--id", "L-1", "--kind", "base", "--edition", "standard", "--sockets", "16", "--request-code", v.code)
	vmware := v.issue("vmware.license", "--id", "L-2", "--kind", "plus", "--module", "vmware", "--quantity", "8", "--request-code", v.code)
	v.issue("gpu.license", "--id", "L-3", "--kind", "plus", "--module", "gpu", "--request-code", v.code)
	bundlePath := filepath.Join(v.dir, "acme.tar.gz")
	vendorMustRun(t, "vendor", "bundle", "--out", bundlePath,
		filepath.Join(v.dir, "base.license"), filepath.Join(v.dir, "vmware.license"), filepath.Join(v.dir, "gpu.license"))
	bundle, err := os.ReadFile(bundlePath)
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.API.UploadLicense(ctx, "acme", bundle, "application/gzip")
	if err != nil {
		t.Fatalf("bundle upload: %v", err)
	}
	if len(res.Events) != 3 || res.Version != 4 {
		t.Fatalf("bundle appended %d events, version %d; want 3 license.uploaded, version 4: %+v", len(res.Events), res.Version, res)
	}
	for i, ev := range res.Events {
		if ev.Type != domain.EventLicenseUploaded || ev.Version != uint64(2+i) || ev.Seq != res.Events[0].Seq+uint64(i) || !ev.Time.Equal(res.Events[0].Time) {
			t.Errorf("bundle event %d = %+v: want consecutive license.uploaded of one batch", i, ev)
		}
	}
	// A retried upload of the same bundle is recognised, not re-recorded.
	if res, err := l.API.UploadLicense(ctx, "acme", bundle, "application/gzip"); err != nil || res.Events == nil || len(res.Events) != 0 {
		t.Errorf("retried bundle: %v %+v, want an answer with no events", err, res)
	}

	before := entitlement(at)
	if before.Status != domain.StatusLicensed || before.Base == nil || before.Base.Edition != domain.EditionStandard || before.Base.License != "L-1" {
		t.Fatalf("entitlement: status %s base %+v, want licensed on standard L-1", before.Status, before.Base)
	}
	for module, want := range map[string]httpclient.ModuleEntitlement{
		"vmware": {Entitled: true, Source: domain.SourceRequestCode, License: "L-2", Quantity: 8},
		"gpu":    {Entitled: true, Source: domain.SourceRequestCode, License: "L-3"},
		"cdp":    {Entitled: false, Reason: "not-licensed"},
	} {
		got := before.Modules[module]
		got.ExpiresAt, got.DecidedBy = nil, nil // provenance: TestExplain*
		if !reflect.DeepEqual(got, want) {
			t.Errorf("module %s = %+v, want %+v", module, got, want)
		}
	}

	// R11, R12: refusals. Each is answered with its reason and recorded.
	tampered := bytes.Replace(vmware, []byte(`"quantity": 8`), []byte(`"quantity": 80`), 1)
	if bytes.Equal(tampered, vmware) {
		t.Fatal("the issued file does not hold the quantity as expected; fix the test")
	}
	otherCode := strings.TrimSpace(vendorMustRun(t, "request-code", "--platform", "globex", "--machine-id", "machine-globex-1"))
	vendorMustRun(t, "vendor", "keygen", "--out", filepath.Join(v.dir, "rogue"), "--id", "rogue-vendor")
	rogue := v.issue("rogue.license", "--key", filepath.Join(v.dir, "rogue", "rogue-vendor.key"), "--id", "L-9", "--kind", "plus", "--module", "cdp", "--request-code", v.code)
	keyBound := v.issue("k1-cdp.license", "--id", "L-10", "--kind", "plus", "--module", "cdp", "--usb-key", "K-1")
	tests := []struct {
		name        string
		body        []byte
		contentType string
		status      int
		code        string
		reason      string
	}{
		{"tampered file", tampered, "application/json", 400, domain.EINVALID, "bad-signature"},
		{"another platform's request code", v.issue("globex.license", "--id", "L-20", "--kind", "plus", "--module", "cdp", "--request-code", otherCode),
			"", 403, domain.EFORBIDDEN, "wrong-request-code"},
		{"untrusted vendor key", rogue, "application/json", 403, domain.EFORBIDDEN, "unknown-signing-key"},
		{"key-bound, no key inserted (R12)", keyBound, "application/json", 409, domain.ECONFLICT, "key-not-inserted"},
		// Found by outside testing: unsigned license JSON used to answer
		// 'license file has unknown member "id"'; it is a policy refusal.
		{"license JSON instead of a signed file", []byte(`{"id":"L-30","kind":"plus","module":"cdp","issued_at":"2026-01-01T00:00:00Z"}`),
			"application/json", 403, domain.EFORBIDDEN, domain.ReasonSignedFilesOnly},
		{"a bundle of license JSON instead of a signed bundle", []byte(`{"licenses":[{"id":"L-31","kind":"plus","module":"cdp","issued_at":"2026-01-01T00:00:00Z"}]}`),
			"application/json", 403, domain.EFORBIDDEN, domain.ReasonSignedFilesOnly},
		{"gzip that is no bundle", []byte("not a tarball"), "application/gzip", 400, domain.EINVALID, "malformed"},
		// Over the bundle reader's limit but within the upload limit: read,
		// refused and recorded like any other bad file.
		{"bundle over the size limit", bytes.Repeat([]byte{0x1f}, int(licensefile.DefaultLimits.MaxCompressed)+1), "application/gzip",
			400, domain.EINVALID, domain.ReasonBundleTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Raw: the answer's X-Licledger-Event header names the
			// recorded refusal, and the client returns no headers.
			r := rawHTTP(t, "POST", l.URL+"/v1/platforms/acme/licenses", tt.contentType, tt.body)
			got := r.apiError(t)
			if r.status != tt.status || got.Code != tt.code || got.Reason != tt.reason {
				t.Fatalf("got %d %s/%s, want %d %s/%s: %s", r.status, got.Code, got.Reason, tt.status, tt.code, tt.reason, got.Message)
			}
			// R11: the refusal is recorded with the digest of the bytes sent.
			id := r.header.Get("X-Licledger-Event")
			ev, err := domain.DecodeEvent(rawHTTP(t, "GET", l.URL+"/v1/events/"+id, "", nil).want(t, 200))
			if err != nil {
				t.Fatal(err)
			}
			d, err := domain.PlatformEventData(ev)
			if err != nil {
				t.Fatal(err)
			}
			rej, ok := d.(*domain.LicenseUploadRejected)
			if ev.Type != domain.EventLicenseUploadRejected || !ok {
				t.Fatalf("event %s is %s, want %s", id, ev.Type, domain.EventLicenseUploadRejected)
			}
			if rej.Digest != domain.Digest(tt.body) || rej.Reason != tt.reason || rej.Actor == "" {
				t.Errorf("recorded %+v, want digest %s reason %s and an actor", rej, domain.Digest(tt.body), tt.reason)
			}
		})
	}
	after := entitlement(at)
	after.AsOf, before.AsOf = nil, nil // the refusals are recorded: the log position moves on
	if !reflect.DeepEqual(after, before) {
		t.Errorf("refused uploads changed the entitlement:\n%+v\nwant\n%+v", after, before)
	}
	tl, err := l.API.Timeline(ctx, "acme", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	rejected := 0
	for _, e := range tl.Entries {
		if e.Type == domain.EventLicenseUploadRejected {
			rejected++
		}
	}
	if rejected != len(tests) {
		t.Errorf("timeline holds %d license.upload_rejected, want %d", rejected, len(tests))
	}

	// R12: the key-bound file is accepted once its key is inserted, and
	// only for that key.
	clock.Set(time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC))
	if _, err := l.API.InsertUSBKey(ctx, "acme", "mn-1", httpclient.USBKeyRequest{KeyID: "K-1"}); err != nil {
		t.Fatal(err)
	}
	if res, err := l.API.UploadLicense(ctx, "acme", keyBound, ""); err != nil || len(res.Events) != 1 {
		t.Fatalf("key-bound upload with K-1 inserted: %v %+v", err, res)
	}
	k2 := v.issue("k2-sriov.license", "--id", "L-11", "--kind", "plus", "--module", "sriov", "--usb-key", "K-2")
	if _, err := l.API.UploadLicense(ctx, "acme", k2, ""); httpclient.Status(err) != 409 || httpclient.Reason(err) != "wrong-key" {
		t.Errorf("file for K-2 with K-1 inserted: %v, want 409 wrong-key", err)
	}
	ent := entitlement(time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC))
	if cdp := ent.Modules["cdp"]; !cdp.Entitled || cdp.Source != domain.SourceUSBKey || cdp.KeyID != "K-1" || cdp.License != "L-10" {
		t.Errorf("cdp after the key-bound upload = %+v, want entitled by K-1's L-10", cdp)
	}
}

// R11: ?source= and ?key_id= may not contradict the signed binding. Raw:
// the client sends source and key_id only together, as WithUSBKeySource.
func TestSignedUploadBindingParameters(t *testing.T) {
	t.Parallel()
	v := newSignedVendor(t)
	l := v.serveSigned(eventstoretest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))
	file := v.issue("cdp.license", "--id", "L-1", "--kind", "plus", "--module", "cdp", "--request-code", v.code)
	for _, q := range []string{"?source=usb-key", "?key_id=K-1", "?source=usb-key&key_id=K-1"} {
		r := rawHTTP(t, "POST", l.URL+"/v1/platforms/acme/licenses"+q, "", file)
		if got := r.apiError(t); r.status != 400 || got.Reason != domain.ReasonBindingMismatch {
			t.Errorf("%s: %d %s/%s, want 400 %s", q, r.status, got.Code, got.Reason, domain.ReasonBindingMismatch)
		}
	}
	if r := rawHTTP(t, "POST", l.URL+"/v1/platforms/acme/licenses?source=request-code", "", file); r.status != 201 {
		t.Errorf("?source=request-code agreeing with the file: %d %s", r.status, r.body)
	}
}
