package domain

import "time"

// Upload is a license upload on its way to a platform, as an edge (the
// HTTP API, a USB key's stored files) hands it to DecideUpload.
type Upload struct {
	// Digest is the hex SHA-256 of the uploaded bytes (Digest).
	Digest string
	// Command records the upload's licenses; unused when Refused is set.
	Command UploadLicense
	// Refused is why the file itself was refused before any platform was
	// looked at (signature, format, unsigned JSON on a signed ledger);
	// nil when it was accepted.
	Refused error
	// Check, if not nil, runs the binding rules only the file format
	// knows (a file's request code against the platform's, R11) on the
	// platform's state.
	Check func(*PlatformState) error
	// Actor is who uploaded, for the audit event of a refusal.
	Actor string
}

// DecideUpload decides an upload on a platform: its licenses as one atomic
// batch (R10), or, when it is refused — for what the file is, for its
// binding (R11, R12) or by the platform's state (expired on arrival,
// duplicate) — exactly one license.upload_rejected audit event with the
// digest, the refusal and the actor, and nothing else (R11 decision). An
// upload already recorded yields no events.
//
// A refusal that is not the uploader's doing (an internal failure, a
// ledger that accepts no uploads: RecordsRefusal) is returned as an error
// and records nothing.
func DecideUpload(s *PlatformState, u Upload, now time.Time) ([]Event, error) {
	cause := u.Refused
	if cause == nil && u.Check != nil {
		cause = u.Check(s)
	}
	if cause == nil {
		events, err := DecidePlatform(s, u.Command, now)
		if err == nil {
			return events, nil
		}
		cause = err
	}
	if !RecordsRefusal(cause) {
		return nil, cause
	}
	return DecidePlatform(s, RejectUpload{Digest: u.Digest, Code: ErrorCode(cause),
		Reason: ErrorReason(cause), Message: ErrorMessage(cause), Actor: u.Actor}, now)
}

// RecordsRefusal reports whether an upload's refusal is recorded as an
// audit event (R11): the uploader's input was refused. Internal failures
// are not the uploader's, and a ledger configured to accept no uploads
// refuses everyone alike: neither is recorded.
func RecordsRefusal(err error) bool {
	if ErrorReason(err) == ReasonUploadsDisabled {
		return false
	}
	switch ErrorCode(err) {
	case EINVALID, EFORBIDDEN, ECONFLICT, ENOTFOUND:
		return true
	}
	return false
}

// UploadRefusal turns a recorded license.upload_rejected back into the
// error it recorded, so a retried upload is answered as the first was;
// nil when events are not exactly one rejection.
func UploadRefusal(events []Event) error {
	if len(events) != 1 || events[0].Type != EventLicenseUploadRejected {
		return nil
	}
	d, err := PlatformEventData(events[0])
	if err != nil {
		return Errorf(EINTERNAL, "decode the recorded rejection: %s", ErrorMessage(err))
	}
	rej := d.(*LicenseUploadRejected)
	msg := rej.Message + " (the refused upload is recorded for auditors as event " + events[0].ID + ")"
	return &Error{Code: rej.Code, Reason: rej.Reason, Message: msg}
}
