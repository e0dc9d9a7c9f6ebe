package domain

import (
	"fmt"
	"time"
)

// KeyFile is one license file a USB key stores, as the edge that read it
// from the dongle hands it over: verified, with the License it grants, or
// refused by the edge (Refused: malformed, bad signature, untrusted
// signing key, bound to another key or to a request code).
type KeyFile struct {
	Digest  string  // hex SHA-256 of the file's bytes (Digest)
	License License // the license the file grants; unused when Refused is set
	Refused error   // why the edge refused the file; nil when it verified
}

// KeyInsertion is a USB key seen inserted on a management node, with the
// license files read from its storage: inserting the key is the
// authorization (R9), no upload needed.
type KeyInsertion struct {
	Node  string
	KeyID string
	Files []KeyFile
	// Actor is who the refusals are recorded as coming from (the node's
	// watcher, "node/mn-1").
	Actor string
}

// DecideKeyInsertion decides a USB key insertion together with the files
// its storage holds, as one atomic batch: a usb_key.inserted carrying the
// licenses of the files accepted, then one license.upload_rejected per
// refused file, in file order, with the file's digest and why (R11). A bad
// file never keeps the key or its good files out.
//
// A file is refused when the edge refused it, or when its license would
// make the insertion invalid: malformed against the catalog
// (invalid-license), the id of an earlier file of the key with other
// content, or an id recorded on the platform with other content or from
// another holder (duplicate-license). A file saying exactly what an earlier
// one says adds nothing. Expired licenses are not refused: a key may carry
// them, they are simply not in force (R18).
//
// Nothing is recorded, and the error is returned, when the insertion
// itself is refused (InsertUSBKey's refusals: unknown node, key inserted
// elsewhere) or a file's refusal is not the file's doing (RecordsRefusal
// false: an internal failure of the edge). The caller checks idempotency:
// a key already recorded on the node is refused here as inserted.
func DecideKeyInsertion(s *PlatformState, in KeyInsertion, now time.Time) ([]Event, error) {
	var licenses []License
	var rejected []RejectUpload
	carried := make(map[string]License, len(in.Files))
	for i, f := range in.Files {
		cause := f.Refused
		if cause == nil {
			cause = checkKeyFileLicense(s, in.KeyID, f.License, carried)
		}
		if cause == nil {
			if _, dup := carried[f.License.ID]; !dup {
				carried[f.License.ID] = f.License
				licenses = append(licenses, f.License)
			}
			continue
		}
		if !RecordsRefusal(cause) {
			return nil, cause
		}
		rejected = append(rejected, RejectUpload{
			Digest: f.Digest, Code: ErrorCode(cause), Reason: ErrorReason(cause), Actor: in.Actor,
			Message: fmt.Sprintf("license file %d of %d stored on USB key %s: %s", i+1, len(in.Files), in.KeyID, ErrorMessage(cause)),
		})
	}
	events, err := DecidePlatform(s, InsertUSBKey{Node: in.Node, KeyID: in.KeyID, Licenses: licenses}, now)
	if err != nil {
		return nil, err
	}
	for _, r := range rejected {
		evs, err := DecidePlatform(s, r, now)
		if err != nil {
			return nil, err
		}
		events = append(events, evs...)
	}
	return events, nil
}

// checkKeyFileLicense applies to one file's license the checks
// InsertUSBKey makes of every license a key carries, so that one bad file
// is refused alone instead of refusing the insertion.
func checkKeyFileLicense(s *PlatformState, keyID string, l License, carried map[string]License) error {
	if err := ValidateLicense(l); err != nil {
		return err
	}
	if prev, ok := carried[l.ID]; ok && !prev.Same(l) {
		return Reasonf(ECONFLICT, ReasonDuplicateLicense,
			"license %s is stored on USB key %s twice, with different content; a vendor issues a new id for a new license", l.ID, keyID)
	}
	_, err := checkRecorded(s, l, keyID)
	return err
}
