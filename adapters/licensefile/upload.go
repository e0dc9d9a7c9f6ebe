package licensefile

import (
	"bytes"
	"context"
	"errors"
	"mime"
	"slices"
	"time"

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
	f, err := v.Verify(raw)
	if err != nil {
		return Upload{}, refusal(u.Digest, err)
	}
	u.Files = []File{f}
	return u, nil
}

// Command is the domain command recording the upload: one atomic append
// of every license (R10), with the digest, source, key and bundle id.
func (u Upload) Command() domain.UploadLicense {
	return domain.UploadLicense{Source: u.Source(), KeyID: u.KeyID(), Bundle: u.Bundle, Digest: u.Digest, Licenses: u.Licenses()}
}

// Decide is the decide step of recording the upload on a platform, for
// eventstore's Execute: it checks the binding of R11 that only this
// adapter knows about (the file's request code against the platform's
// recorded one), then leaves the rest to domain.DecidePlatform (R10 whole
// or nothing, R12 key-not-inserted / wrong-key / key-fault,
// expired-on-arrival, duplicate-license; an already-recorded upload
// yields no events). Every refusal comes back as a *Refusal for the caller
// to record with RejectUpload; other errors are returned as they are.
func (u Upload) Decide(s *domain.PlatformState, now time.Time) ([]domain.Event, error) {
	if s.Registered() {
		for _, f := range u.Files {
			if err := checkRequestCode(f, s.RequestCode()); err != nil {
				return nil, refusal(u.Digest, err)
			}
		}
	}
	events, err := domain.DecidePlatform(s, u.Command(), now)
	if err != nil {
		if s.Registered() {
			return nil, refusal(u.Digest, err)
		}
		return nil, err // nothing to record a refusal on
	}
	return events, nil
}

// checkRequestCode refuses a file bound to a request code that is not the
// platform's (R11). Key-bound files are the domain's to check (R12).
func checkRequestCode(f File, platformCode string) error {
	code := f.Binding.RequestCode
	switch {
	case code == "":
		return nil
	case platformCode == "":
		return domain.Reasonf(domain.EFORBIDDEN, ReasonWrongRequestCode,
			"license %s is issued for request code %s, but this platform has no request code; it is authorized by USB key", f.License.ID, code)
	case code != platformCode:
		return domain.Reasonf(domain.EFORBIDDEN, ReasonWrongRequestCode,
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

// Command is the domain command auditing the refusal; actor says who
// tried (the API caller).
func (r *Refusal) Command(actor string) domain.RejectUpload {
	return domain.RejectUpload{Digest: r.Digest, Code: r.Err.Code, Reason: r.Err.Reason, Message: r.Err.Message, Actor: actor}
}

// refusal wraps a classified refusal; internal errors stay as they are:
// a failure of ours is not the uploader's to be audited for.
func refusal(digest string, err error) error {
	var derr *domain.Error
	if !errors.As(err, &derr) || derr.Code == domain.EINTERNAL {
		return err
	}
	return &Refusal{Digest: digest, Err: derr}
}

// PlatformExecutor runs decide on a platform's current state at the
// decision instant and appends the events it returns as one atomic batch,
// retrying on a lost optimistic-concurrency race (so decide may run more
// than once). decide has the shape of httpapi.PlatformDecider, so
// httpapi.ExecutePlatform wrapped in a closure is one; README.md shows it.
type PlatformExecutor func(ctx context.Context, platform string, decide func(s *domain.PlatformState, now time.Time) ([]domain.Event, error)) error

// Submit verifies an upload and records it on a platform, whole or
// nothing: its licenses as one atomic append (R10), or, when it is
// refused, one license.upload_rejected audit event naming the digest, the
// refusal and actor, and nothing else (R11).
//
// It returns the accepted upload (an upload already recorded is accepted
// again and appends nothing), or a *Refusal once the refusal is recorded,
// or the error that kept either from being recorded (ENOTFOUND for an
// unknown platform, store errors).
func (v *Verifier) Submit(ctx context.Context, exec PlatformExecutor, platform string, raw []byte, contentType, actor string) (Upload, error) {
	u, err := v.ParseUpload(raw, contentType)
	if err == nil {
		if err = exec(ctx, platform, u.Decide); err == nil {
			return u, nil
		}
	}
	var ref *Refusal
	if !errors.As(err, &ref) {
		return Upload{}, err
	}
	rerr := exec(ctx, platform, func(s *domain.PlatformState, now time.Time) ([]domain.Event, error) {
		return domain.DecidePlatform(s, ref.Command(actor), now)
	})
	if rerr != nil {
		return Upload{}, rerr
	}
	return Upload{}, ref
}
