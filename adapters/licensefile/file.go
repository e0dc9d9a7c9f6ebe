// Package licensefile reads, writes, signs and verifies the vendor's signed
// license files and bundles (R9–R12), and derives platform request codes.
// FORMAT.md in this directory is the format's specification; this package
// is its reference implementation.
//
// Everything here is a pure function of its inputs plus the trusted keys: no
// clock, no event store. The caller supplies the platform's state (request
// code, inserted keys, recorded licenses, the upload instant) and records
// what comes out: a domain.UploadLicense command or a domain.RejectUpload.
package licensefile

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/licledger/licledger/domain"
)

// Format is the format identifier written into, and required of, every file.
const Format = "licledger-license/1"

// MaxFileSize bounds one license file (alone or inside a bundle). Real files
// are well under 1 KiB; the bound keeps a hostile upload from costing memory.
const MaxFileSize = 64 << 10

func malformedf(format string, args ...any) error {
	return domain.Reasonf(domain.EINVALID, domain.ReasonMalformed, format, args...)
}

// Binding says what a file is issued for: exactly one of a platform's
// request code or a USB key's id (R9).
type Binding struct {
	RequestCode string `json:"request_code,omitempty"`
	USBKey      string `json:"usb_key,omitempty"`
}

// Source is the authorization source (domain.SourceRequestCode or
// domain.SourceUSBKey) the binding implies.
func (b Binding) Source() string {
	if b.USBKey != "" {
		return domain.SourceUSBKey
	}
	return domain.SourceRequestCode
}

func (b Binding) validate() error {
	switch {
	case b.RequestCode != "" && b.USBKey != "":
		return malformedf("binding names both a request code and a USB key; a file is bound to exactly one")
	case b.RequestCode != "":
		if err := domain.ValidateID(b.RequestCode); err != nil {
			return malformedf("binding request_code: %s", domain.ErrorMessage(err))
		}
	case b.USBKey != "":
		if err := domain.ValidateID(b.USBKey); err != nil {
			return malformedf("binding usb_key: %s", domain.ErrorMessage(err))
		}
	default:
		return malformedf("binding names neither a request code nor a USB key")
	}
	return nil
}

// File is one parsed license file. ParseFile fills it without checking the
// signature; Verifier.Verify also checks the signature against a trusted key.
type File struct {
	License   domain.License
	Binding   Binding
	KeyID     string // id of the vendor key that signed it
	Signature []byte // Ed25519, 64 bytes
}

// wireFile and wireLicense are the JSON shapes of FORMAT.md. Times are
// strings so the parser can insist on the one canonical form.
type wireFile struct {
	Format    string       `json:"format"`
	License   *wireLicense `json:"license"`
	Binding   *Binding     `json:"binding"`
	KeyID     string       `json:"key_id"`
	Signature string       `json:"signature,omitempty"`
}

type wireLicense struct {
	ID        string  `json:"id"`
	Kind      string  `json:"kind"`
	Edition   string  `json:"edition,omitempty"`
	Module    string  `json:"module,omitempty"`
	Sockets   int     `json:"sockets,omitempty"`
	Quantity  int     `json:"quantity,omitempty"`
	IssuedAt  string  `json:"issued_at"`
	ExpiresAt *string `json:"expires_at,omitempty"`
}

// The exact member names allowed at each level. Anything else is refused,
// so no byte of a file escapes the signature unnoticed.
var (
	fileFields    = map[string]bool{"format": true, "license": true, "binding": true, "key_id": true, "signature": true}
	licenseFields = map[string]bool{"id": true, "kind": true, "edition": true, "module": true, "sockets": true, "quantity": true, "issued_at": true, "expires_at": true}
	bindingFields = map[string]bool{"request_code": true, "usb_key": true}
)

// ParseFile parses and validates a license file without checking its
// signature (that needs the trusted keys: see Verifier.Verify). Errors are
// *domain.Error with code EINVALID and reason malformed or file-too-large.
func ParseFile(raw []byte) (File, error) {
	if len(raw) > MaxFileSize {
		return File{}, domain.Reasonf(domain.EINVALID, domain.ReasonFileTooLarge, "license file is %d bytes; the limit is %d", len(raw), MaxFileSize)
	}
	if err := checkShape(raw); err != nil {
		return File{}, err
	}
	var w wireFile
	if err := json.Unmarshal(raw, &w); err != nil {
		return File{}, malformedf("license file: %v", err)
	}
	if w.Format != Format {
		return File{}, malformedf("unsupported format %q (this build reads %s)", w.Format, Format)
	}
	if w.License == nil {
		return File{}, malformedf("license file has no license")
	}
	if w.Binding == nil {
		return File{}, malformedf("license file has no binding")
	}
	lic, err := w.License.domain()
	if err != nil {
		return File{}, err
	}
	if err := validateLicense(lic); err != nil {
		return File{}, err
	}
	if err := w.Binding.validate(); err != nil {
		return File{}, err
	}
	if err := domain.ValidateID(w.KeyID); err != nil {
		return File{}, malformedf("key_id: %s", domain.ErrorMessage(err))
	}
	if w.Signature == "" {
		return File{}, malformedf("license file is not signed")
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(w.Signature)
	if err != nil || len(sig) != 64 {
		return File{}, malformedf("signature must be 64 bytes of standard padded base64")
	}
	return File{License: lic, Binding: *w.Binding, KeyID: w.KeyID, Signature: sig}, nil
}

func (w wireLicense) domain() (domain.License, error) {
	l := domain.License{ID: w.ID, Kind: w.Kind, Edition: w.Edition, Module: w.Module, Sockets: w.Sockets, Quantity: w.Quantity}
	issued, err := parseTime("issued_at", w.IssuedAt)
	if err != nil {
		return domain.License{}, err
	}
	l.IssuedAt = issued
	if w.ExpiresAt != nil {
		exp, err := parseTime("expires_at", *w.ExpiresAt)
		if err != nil {
			return domain.License{}, err
		}
		l.ExpiresAt = &exp
	}
	return l, nil
}

func toWire(l domain.License) *wireLicense {
	w := &wireLicense{ID: l.ID, Kind: l.Kind, Edition: l.Edition, Module: l.Module, Sockets: l.Sockets, Quantity: l.Quantity, IssuedAt: formatTime(l.IssuedAt)}
	if l.ExpiresAt != nil {
		s := formatTime(*l.ExpiresAt)
		w.ExpiresAt = &s
	}
	return w
}

// checkShape walks the JSON tokens: one object, known member names only,
// each at most once, nothing after it. encoding/json alone would accept
// unknown members, duplicates (last wins) and case-folded names.
func checkShape(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := checkObject(dec, "license file", fileFields); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return malformedf("license file has data after its JSON object")
	}
	return nil
}

func checkObject(dec *json.Decoder, what string, allowed map[string]bool) error {
	tok, err := dec.Token()
	if err != nil {
		return malformedf("%s is not JSON: %v", what, err)
	}
	if tok == nil && what != "license file" {
		return malformedf("%s is null; omit it or give an object", what)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return malformedf("%s must be a JSON object", what)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return malformedf("%s is not JSON: %v", what, err)
		}
		name, _ := tok.(string)
		if !allowed[name] {
			return malformedf("%s has unknown member %q", what, name)
		}
		if seen[name] {
			return malformedf("%s has member %q twice", what, name)
		}
		seen[name] = true
		switch {
		case what == "license file" && name == "license":
			err = checkObject(dec, "license", licenseFields)
		case what == "license file" && name == "binding":
			err = checkObject(dec, "binding", bindingFields)
		default:
			var v json.RawMessage
			if err = dec.Decode(&v); err != nil {
				err = malformedf("%s member %q is not JSON: %v", what, name, err)
			} else if s := string(v); s == "null" || s == `""` || s == "0" || s == "-0" {
				// An empty value is written by omitting the member: one
				// spelling per file keeps the signed bytes equal to the
				// file's own canonical form (FORMAT.md §2).
				err = malformedf("%s member %q is empty (%s); omit it instead", what, name, s)
			}
		}
		if err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return malformedf("%s is not JSON: %v", what, err)
	}
	return nil
}

// SignedBytes returns the exact bytes the signature covers: the canonical
// encoding of FORMAT.md (JSON, members sorted by name, no insignificant
// whitespace, empty optional members omitted) of everything but the
// signature. It validates the file first, so it only ever encodes strings
// from the restricted alphabet, which need no JSON escaping.
func (f File) SignedBytes() ([]byte, error) {
	if err := validateLicense(f.License); err != nil {
		return nil, err
	}
	if err := f.Binding.validate(); err != nil {
		return nil, err
	}
	if err := domain.ValidateID(f.KeyID); err != nil {
		return nil, malformedf("key_id: %s", domain.ErrorMessage(err))
	}
	l := f.License
	lic := map[string]any{"id": l.ID, "kind": l.Kind, "issued_at": formatTime(l.IssuedAt)}
	if l.Edition != "" {
		lic["edition"] = l.Edition
	}
	if l.Module != "" {
		lic["module"] = l.Module
	}
	if l.Sockets != 0 {
		lic["sockets"] = l.Sockets
	}
	if l.Quantity != 0 {
		lic["quantity"] = l.Quantity
	}
	if l.ExpiresAt != nil {
		lic["expires_at"] = formatTime(*l.ExpiresAt)
	}
	binding := map[string]any{}
	if f.Binding.RequestCode != "" {
		binding["request_code"] = f.Binding.RequestCode
	} else {
		binding["usb_key"] = f.Binding.USBKey
	}
	doc := map[string]any{"format": Format, "license": lic, "binding": binding, "key_id": f.KeyID}
	// encoding/json sorts map keys bytewise, which for these ASCII names is
	// the order FORMAT.md specifies.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, domain.Errorf(domain.EINTERNAL, "encode license %s: %v", l.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Marshal renders a signed file the way the vendor tool writes it:
// indented JSON in the member order of FORMAT.md, ending in a newline.
func (f File) Marshal() ([]byte, error) {
	if len(f.Signature) != 64 {
		return nil, domain.Errorf(domain.EINVALID, "license %s is not signed", f.License.ID)
	}
	if _, err := f.SignedBytes(); err != nil {
		return nil, err
	}
	b := f.Binding
	w := wireFile{Format: Format, License: toWire(f.License), Binding: &b, KeyID: f.KeyID,
		Signature: base64.StdEncoding.EncodeToString(f.Signature)}
	out, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return nil, domain.Errorf(domain.EINTERNAL, "encode license %s: %v", f.License.ID, err)
	}
	return append(out, '\n'), nil
}

func (f File) String() string {
	return fmt.Sprintf("%s license %s (%s) signed by %s", f.License.Kind, f.License.ID, f.Binding.Source(), f.KeyID)
}
