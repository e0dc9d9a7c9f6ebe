package licensefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"slices"

	"github.com/licledger/licledger/domain"
)

// Upload is a verified upload: one license file or one bundle, every
// signature checked, not yet decided against a platform (see Decide).
type Upload struct {
	Digest string // hex SHA-256 of the uploaded bytes (domain.Digest)
	Bundle string // bundle id ("B-" + 16 hex digits of Digest); "" for a single file
	Files  []File // one, or a bundle's files with the Base first
}

// Source is domain.SourceRequestCode or domain.SourceUSBKey.
func (u Upload) Source() string { return u.Files[0].Binding.Source() }

// KeyID is the USB key a key-bound file is bound to, "" otherwise.
func (u Upload) KeyID() string { return u.Files[0].Binding.USBKey }

// Licenses returns the uploaded license objects in recording order.
func (u Upload) Licenses() []domain.License {
	out := make([]domain.License, len(u.Files))
	for i, f := range u.Files {
		out[i] = f.License
	}
	return out
}

// gzipMagic starts every gzip stream (RFC 1952).
var gzipMagic = []byte{0x1f, 0x8b}

// gzipTypes are the media types clients use for a .tar.gz.
var gzipTypes = []string{"application/gzip", "application/x-gzip", "application/x-tar+gzip",
	"application/tar+gzip", "application/x-compressed-tar", "application/x-gtar"}

// IsBundle reports whether an upload is a bundle: its bytes start with the
// gzip magic, or its content type says gzip. The bytes win over a JSON
// content type; a gzip content type on non-gzip bytes is refused later as
// malformed rather than guessed at.
func IsBundle(raw []byte, contentType string) bool {
	if bytes.HasPrefix(raw, gzipMagic) {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && slices.Contains(gzipTypes, mt)
}

// ParseUpload verifies an uploaded license file or bundle (see IsBundle):
// everything that does not depend on the platform. A refusal is a
// *Refusal wrapping the error of Verify or VerifyBundle, carrying the
// upload's digest for the audit event.
func (v *Verifier) ParseUpload(raw []byte, contentType string) (Upload, error) {
	u := Upload{Digest: domain.Digest(raw)}
	if IsBundle(raw, contentType) {
		files, err := v.VerifyBundle(raw)
		if err != nil {
			return Upload{}, refusal(u.Digest, err)
		}
		u.Files, u.Bundle = files, "B-"+u.Digest[:16]
		return u, nil
	}
	if unsignedLicenseJSON(raw) {
		return Upload{}, refusal(u.Digest, domain.Reasonf(domain.EFORBIDDEN, domain.ReasonSignedFilesOnly,
			"this is an unsigned license object; this ledger accepts only license files signed by the vendor (%s), or .tar.gz bundles of them", Format))
	}
	f, err := v.Verify(raw)
	if err != nil {
		return Upload{}, refusal(u.Digest, err)
	}
	u.Files = []File{f}
	return u, nil
}

// unsignedLicenseJSON reports whether raw is the event contract's license
// JSON (a license object, or {"licenses": [...]}) rather than a license
// file: a JSON object with no "format" member but a license's "kind" or a
// bundle's "licenses". Uploading one to a ledger that trusts vendor keys
// is a policy refusal, not a malformed file, and is answered as such.
func unsignedLicenseJSON(raw []byte) bool {
	var probe map[string]json.RawMessage
	if json.Unmarshal(raw, &probe) != nil {
		return false
	}
	_, format := probe["format"]
	_, kind := probe["kind"]
	_, licenses := probe["licenses"]
	return !format && (kind || licenses)
}

// Command is the domain command recording the upload: one atomic append
// of every license (R10), with the digest, source, key and bundle id.
func (u Upload) Command() domain.UploadLicense {
	return domain.UploadLicense{Source: u.Source(), KeyID: u.KeyID(), Bundle: u.Bundle, Digest: u.Digest, Licenses: u.Licenses()}
}

// CheckPlatform checks the binding of R11 that only this format knows
// about, the files' request code against the platform's recorded one
// (domain.Upload.Check); the rest is the domain's (R10, R12,
// expired-on-arrival, duplicate-license). An unregistered platform has
// nothing to check against.
func (u Upload) CheckPlatform(s *domain.PlatformState) error {
	if !s.Registered() {
		return nil
	}
	for _, f := range u.Files {
		if err := checkRequestCode(f, s.RequestCode()); err != nil {
			return err
		}
	}
	return nil
}

// CheckParams refuses an uploader's claims (?source=, ?key_id=) that
// contradict the binding signed into the files: the signature is
// authoritative, and a contradiction means the operator is uploading the
// wrong file or to the wrong place. Absent claims defer to the files.
func (u Upload) CheckParams(source, keyID string) error {
	if source != "" && source != u.Source() {
		return domain.Reasonf(domain.EINVALID, domain.ReasonBindingMismatch,
			"?source=%s, but the signed file is a %s license; drop the parameter, the file's signed binding decides", source, u.Source())
	}
	if keyID != "" && keyID != u.KeyID() {
		bound := "no USB key"
		if u.KeyID() != "" {
			bound = "USB key " + u.KeyID()
		}
		return domain.Reasonf(domain.EINVALID, domain.ReasonBindingMismatch,
			"?key_id=%s, but the signed file is bound to %s; drop the parameter, the file's signed binding decides", keyID, bound)
	}
	return nil
}

// checkRequestCode refuses a file bound to a request code that is not the
// platform's (R11). Key-bound files are the domain's to check (R12).
func checkRequestCode(f File, platformCode string) error {
	code := f.Binding.RequestCode
	switch {
	case code == "":
		return nil
	case platformCode == "":
		return domain.Reasonf(domain.EFORBIDDEN, domain.ReasonWrongRequestCode,
			"license %s is issued for request code %s, but this platform has no request code; it is authorized by USB key", f.License.ID, code)
	case code != platformCode:
		return domain.Reasonf(domain.EFORBIDDEN, domain.ReasonWrongRequestCode,
			"license %s is issued for request code %s, not this platform's %s; ask the vendor for a file issued for %s", f.License.ID, code, platformCode, platformCode)
	}
	return nil
}

// Refusal is an upload refused for what it is (malformed, bad signature,
// bundle refusals) or for the platform's state (wrong request code, R12,
// expired on arrival, duplicate). R11: the caller records it with
// Command, as a license.upload_rejected audit event, and answers with
// Err. It unwraps to the *domain.Error, so domain.ErrorCode and
// domain.ErrorReason see through it.
type Refusal struct {
	Digest string // hex SHA-256 of the uploaded bytes
	Err    *domain.Error
}

func (r *Refusal) Error() string { return r.Err.Error() }
func (r *Refusal) Unwrap() error { return r.Err }

// refusal wraps a classified refusal; internal errors stay as they are:
// a failure of ours is not the uploader's to be audited for.
func refusal(digest string, err error) error {
	var derr *domain.Error
	if !errors.As(err, &derr) || derr.Code == domain.EINTERNAL {
		return err
	}
	return &Refusal{Digest: digest, Err: derr}
}
