package main

import (
	"log/slog"

	"github.com/licledger/licledger/adapters/httpapi"
	"github.com/licledger/licledger/adapters/licensefile"
	"github.com/licledger/licledger/domain"
)

// signedLicenses is the httpapi.LicenseVerifier of a ledger that trusts
// vendor keys: an upload is one signed license file or a .tar.gz bundle of
// them (adapters/licensefile/FORMAT.md). It lives in cmd so that httpapi
// and licensefile stay independent of each other.
//
// Every refusal keeps the code and reason licensefile gives it
// (bad-signature, unknown-signing-key, wrong-request-code, bundle-…, and
// the domain's key-not-inserted, wrong-key, expired-on-arrival, …), and
// httpapi records it as license.upload_rejected with the file's digest
// (R11). An accepted upload is one atomic append of all its licenses
// (R10). Safe for concurrent use: the Verifier is immutable.
type signedLicenses struct{ v *licensefile.Verifier }

// ParseUpload implements httpapi.LicenseVerifier: signatures, shape and
// the uploader's claims now (licensefile), the platform-dependent binding
// (request code, R11) as the Check the command runs on the platform.
func (s signedLicenses) ParseUpload(raw []byte, meta httpapi.UploadMeta) (httpapi.VerifiedUpload, error) {
	u, err := s.v.ParseUpload(raw, meta.ContentType)
	if err != nil {
		return httpapi.VerifiedUpload{}, err // a *licensefile.Refusal: it unwraps to the *domain.Error
	}
	if err := u.CheckParams(meta.Source, meta.KeyID); err != nil {
		return httpapi.VerifiedUpload{}, err
	}
	return httpapi.VerifiedUpload{Command: u.Command(), Check: u.CheckPlatform}, nil
}

// Upload modes, as /readyz reports them under "license_uploads".
const (
	uploadsSigned       = "signed-files"
	uploadsInsecureJSON = "insecure-json"
	uploadsDisabled     = "disabled"
)

// uploadsStatus is the "license_uploads" section of /readyz.
type uploadsStatus struct {
	Mode        string   `json:"mode"`
	TrustedKeys []string `json:"trusted_keys,omitempty"`
	Hint        string   `json:"hint,omitempty"`
}

// disabledHint says how to turn uploads on; the refusal and /readyz show it.
const disabledHint = "start serve with --trusted-keys FILE_OR_DIR (vendor *.pub keys) to accept signed license files"

// wireLicenseUploads chooses how serve accepts license uploads:
//
//   - --trusted-keys: signed files and bundles only, verified against the
//     vendor public keys in FILE_OR_DIR (read once, at start);
//   - --insecure-json-licenses: the unsigned license objects of the event
//     contract (httpapi.JSONLicenses), for development and scripted tests,
//     where whoever holds an admin token may grant any license;
//   - neither: every upload is refused (403 license-uploads-disabled) and
//     the rest of the ledger serves as usual. Unsigned uploads are never a
//     silent default: they would let a typo grant an enterprise license.
//
// Both at once is a usage error. The verifier of --trusted-keys is
// returned (nil without): the USB key watcher checks the files keys store
// with it too.
func wireLicenseUploads(m *Main, trustedKeys string, insecureJSON bool, log *slog.Logger) (*licensefile.Verifier, error) {
	var st uploadsStatus
	var v *licensefile.Verifier
	switch {
	case trustedKeys != "" && insecureJSON:
		return nil, domain.Errorf(domain.EINVALID, "--trusted-keys and --insecure-json-licenses exclude each other: choose signed license files or unsigned JSON")
	case trustedKeys != "":
		keys, err := licensefile.LoadPublicKeys(trustedKeys)
		if err != nil {
			return nil, err
		}
		if v, err = licensefile.NewVerifier(keys, licensefile.Limits{}); err != nil {
			return nil, domain.Errorf(domain.EINVALID, "--trusted-keys %s: %s", trustedKeys, domain.ErrorMessage(err))
		}
		m.Verifier = signedLicenses{v: v}
		st = uploadsStatus{Mode: uploadsSigned, TrustedKeys: v.KeyIDs()}
		log.Info("license uploads: signed files only", "trusted_keys", v.KeyIDs(), "from", trustedKeys)
	case insecureJSON:
		m.Verifier = httpapi.JSONLicenses{}
		st = uploadsStatus{Mode: uploadsInsecureJSON}
		log.Warn("INSECURE LICENSE UPLOADS: unsigned license JSON is accepted, so any admin can grant any license. Use --trusted-keys outside development.")
	default:
		m.Verifier = httpapi.NoLicenseUploads{Hint: disabledHint}
		st = uploadsStatus{Mode: uploadsDisabled, Hint: disabledHint}
		log.Warn("license uploads are disabled: no vendor key is trusted; " + disabledHint)
	}
	setReady(m, "license_uploads", func() any { return st })
	return v, nil
}

// setReady adds a /readyz section to m.
func setReady(m *Main, name string, section func() any) {
	if m.Ready == nil {
		m.Ready = map[string]func() any{}
	}
	m.Ready[name] = section
}
