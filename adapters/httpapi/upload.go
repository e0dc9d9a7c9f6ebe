package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// UploadMeta is what the request says about an uploaded body besides its
// bytes.
type UploadMeta struct {
	ContentType string // of the raw body or of the multipart file part
	Filename    string // of the multipart file part, "" for a raw body
	Source      string // ?source=: request-code (default) or usb-key
	KeyID       string // ?key_id=: the USB key a key-bound upload is for
}

// VerifiedUpload is an upload a LicenseVerifier accepted: the command to
// decide, and optionally the checks that depend on the platform.
type VerifiedUpload struct {
	Command domain.UploadLicense
	// Check, if not nil, runs inside the command's attempt with the
	// platform's state (a file's request code binding: R11); see
	// domain.Upload. Errors are *domain.Error.
	Check func(st *domain.PlatformState) error
}

// LicenseVerifier turns an uploaded body into licenses to record. It is the
// hook for signed license files and bundles (adapters/licensefile): parse,
// verify signatures, and report the binding as Command.Source/KeyID and
// Check.
//
// Contract: ParseUpload is pure (no clock, no I/O beyond its arguments)
// and safe for concurrent use. Errors are *domain.Error; EINVALID,
// EFORBIDDEN and ECONFLICT refusals are recorded on the platform as
// license.upload_rejected audit events (R11) and answered with their
// status; EINTERNAL is answered 500 and not recorded.
type LicenseVerifier interface {
	ParseUpload(raw []byte, meta UploadMeta) (VerifiedUpload, error)
}

// JSONLicenses is the LicenseVerifier used until signed files are wired:
// it accepts the license objects of the event contract, one object or a
// bundle {"licenses": [...]}, with unknown fields refused. The source
// comes from ?source= (default request-code) and ?key_id=. It verifies no
// signature: run it only where uploads come from trusted admins.
type JSONLicenses struct{}

// NoLicenseUploads is the LicenseVerifier of a ledger that accepts no
// license uploads at all; Hint tells the caller how to enable them. It is
// the safe choice when no vendor key is trusted: an unsigned license
// object would otherwise grant whatever its sender writes in it.
type NoLicenseUploads struct{ Hint string }

// ParseUpload implements LicenseVerifier: it refuses every upload with
// domain.ReasonUploadsDisabled.
func (n NoLicenseUploads) ParseUpload(raw []byte, meta UploadMeta) (VerifiedUpload, error) {
	msg := "this ledger accepts no license uploads: it trusts no vendor key to verify them"
	if n.Hint != "" {
		msg += "; " + n.Hint
	}
	return VerifiedUpload{}, domain.Reasonf(domain.EFORBIDDEN, domain.ReasonUploadsDisabled, "%s", msg)
}

// ParseUpload implements LicenseVerifier.
func (JSONLicenses) ParseUpload(raw []byte, meta UploadMeta) (VerifiedUpload, error) {
	malformed := func(format string, args ...any) error {
		return domain.Reasonf(domain.EINVALID, domain.ReasonMalformed, format, args...)
	}
	source := meta.Source
	if source == "" {
		source = domain.SourceRequestCode
	}
	cmd := domain.UploadLicense{Source: source, KeyID: meta.KeyID, Digest: domain.Digest(raw)}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return VerifiedUpload{}, malformed("the upload is not a license JSON object: %s", domain.ErrorMessage(jsonErr(err)))
	}
	if _, isBundle := probe["licenses"]; isBundle {
		var b struct {
			Licenses []domain.License `json:"licenses"`
		}
		if err := strictUnmarshal(raw, &b); err != nil {
			return VerifiedUpload{}, malformed("license bundle: %s", domain.ErrorMessage(err))
		}
		if len(b.Licenses) == 0 {
			return VerifiedUpload{}, malformed("license bundle holds no licenses")
		}
		cmd.Licenses, cmd.Bundle = b.Licenses, "B-"+cmd.Digest[:16]
	} else {
		var l domain.License
		if err := strictUnmarshal(raw, &l); err != nil {
			return VerifiedUpload{}, malformed("license: %s", domain.ErrorMessage(err))
		}
		cmd.Licenses = []domain.License{l}
	}
	return VerifiedUpload{Command: cmd}, nil
}

// readUpload returns the uploaded bytes: the raw body, or the one file
// part of a multipart/form-data body.
func readUpload(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, UploadMeta, error) {
	q := r.URL.Query()
	meta := UploadMeta{ContentType: r.Header.Get("Content-Type"), Source: q.Get("source"), KeyID: q.Get("key_id")}
	switch meta.Source {
	case "", domain.SourceRequestCode, domain.SourceUSBKey:
	default:
		return nil, meta, badParam("source", "%q is not %s or %s", meta.Source, domain.SourceRequestCode, domain.SourceUSBKey)
	}
	mt, _, _ := mime.ParseMediaType(meta.ContentType)
	if mt != "multipart/form-data" {
		b, err := readBody(w, r, limit)
		if err != nil {
			return nil, meta, err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, meta, domain.Reasonf(domain.EINVALID, domain.ReasonMalformedJSON, "empty upload: send the license file as the body, or as the file part of a multipart form")
		}
		return b, meta, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, meta, domain.Reasonf(domain.EINVALID, domain.ReasonMalformedJSON, "multipart body: %v", err)
	}
	var file []byte
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, meta, multipartErr(err, limit)
		}
		if part.FileName() == "" && part.FormName() != "file" {
			part.Close()
			continue
		}
		if file != nil {
			return nil, meta, domain.Reasonf(domain.EINVALID, domain.ReasonMalformedJSON, "one file per upload; put several licenses in a bundle")
		}
		if file, err = io.ReadAll(part); err != nil {
			return nil, meta, multipartErr(err, limit)
		}
		meta.Filename, meta.ContentType = part.FileName(), part.Header.Get("Content-Type")
		part.Close()
	}
	if file == nil {
		return nil, meta, domain.Reasonf(domain.EINVALID, domain.ReasonMalformedJSON, "the multipart form has no file part (name it \"file\")")
	}
	return file, meta, nil
}

func multipartErr(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return domain.Reasonf(domain.EINVALID, domain.ReasonBodyTooLarge, "request body is larger than %d bytes", limit)
	}
	return domain.Reasonf(domain.EINVALID, domain.ReasonMalformedJSON, "multipart body: %v", err)
}

// uploadLicense records an uploaded license file or bundle, atomically
// (R10). A refused upload is recorded as license.upload_rejected with the
// file's digest, the refusal and the caller (R11), and answered with the
// refusal's status and error; a retry with the same Idempotency-Key gets
// the same answer and records nothing more.
func (s *Server) uploadLicense(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	raw, meta, err := readUpload(w, r, s.cfg.MaxUploadBytes)
	if err != nil {
		return err
	}
	up, perr := s.cfg.Verifier.ParseUpload(raw, meta)
	if perr != nil && !domain.RecordsRefusal(perr) {
		return perr
	}
	caller, _ := CallerOf(r.Context())
	u := domain.Upload{Digest: domain.Digest(raw), Command: up.Command, Refused: perr, Check: up.Check, Actor: caller.Actor}
	res, recs, err := s.execute(r, "upload_license", id, false, func(st *domain.PlatformState, now time.Time) ([]domain.Event, error) {
		return domain.DecideUpload(st, u, now)
	})
	if err != nil {
		return err
	}
	if rej := recordedRefusal(recs); rej != nil {
		w.Header().Set("X-Licledger-Event", recs[0].Event.ID)
		return rej
	}
	writeResult(w, r, res)
	return nil
}

// recordedRefusal is the error a recorded license.upload_rejected
// answers with (domain.UploadRefusal); nil for any other records.
func recordedRefusal(recs []eventstore.Record) error {
	events := make([]domain.Event, len(recs))
	for i, rec := range recs {
		events[i] = rec.Event
	}
	return domain.UploadRefusal(events)
}
