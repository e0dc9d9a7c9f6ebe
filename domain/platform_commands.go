package domain

import "time"

// PlatformCommand is a request to change a platform, decided by
// DecidePlatform. The set is closed: only the structs of this file
// implement it.
type PlatformCommand interface {
	platformCommand()
}

// RegisterPlatform creates a platform with one or two management nodes
// (R15) and, optionally, its request code (R9).
type RegisterPlatform struct {
	Platform    string
	Nodes       []string
	RequestCode string
	Customer    string // optional: the customer owning the platform
}

// AddNode adds a second management node (R15: no new authorization).
type AddNode struct{ Node string }

// RemoveNode removes a management node; the last one stays, and a node
// holding a USB key keeps it until the key is pulled.
type RemoveNode struct{ Node string }

// UploadLicense records a verified license file, or a bundle of them (R10),
// all or nothing. Source is usb-key (KeyID names the key the file is bound
// to, R12) or request-code. Bundle is the bundle id when several licenses
// come in one file; Digest the hex SHA-256 of the uploaded bytes. The
// signature and request-code binding are checked by the license-file
// adapter before this command is built (R11).
type UploadLicense struct {
	Source   string
	KeyID    string
	Bundle   string
	Digest   string
	Licenses []License
}

// DeleteLicense deletes a request-code license (R14).
type DeleteLicense struct{ License string }

// InsertUSBKey records a USB key inserted on a management node with the
// licenses it carries.
type InsertUSBKey struct {
	Node     string
	KeyID    string
	Licenses []License
}

// RemoveUSBKey records a USB key pulled from a management node.
type RemoveUSBKey struct {
	Node  string
	KeyID string
}

// AddHost admits a compute host against the capacity of the platform's
// entitlement at the decision instant (R2, R7).
type AddHost struct {
	Host       string
	Hypervisor string
	Sockets    int
}

// RemoveHost releases a compute host.
type RemoveHost struct{ Host string }

// RejectUpload records a refused upload for auditors (R11 decision): the
// file's digest, the refusal's code, reason and message, and who tried.
type RejectUpload struct {
	Digest  string
	Code    string
	Reason  string
	Message string
	Actor   string
}

func (RegisterPlatform) platformCommand() {}
func (AddNode) platformCommand()          {}
func (RemoveNode) platformCommand()       {}
func (UploadLicense) platformCommand()    {}
func (DeleteLicense) platformCommand()    {}
func (InsertUSBKey) platformCommand()     {}
func (RemoveUSBKey) platformCommand()     {}
func (AddHost) platformCommand()          {}
func (RemoveHost) platformCommand()       {}
func (RejectUpload) platformCommand()     {}

// validateLicense checks a license object against the catalog and R8. It
// does not look at the clock: expired-on-arrival is the caller's check.
func validateLicense(l License) error {
	bad := func(format string, args ...any) error {
		return Reasonf(EINVALID, ReasonInvalidLicense, "license %s: "+format, append([]any{l.ID}, args...)...)
	}
	if err := ValidateID(l.ID); err != nil {
		return Reasonf(EINVALID, ReasonInvalidLicense, "license id: %s", ErrorMessage(err))
	}
	switch l.Kind {
	case KindBase:
		switch {
		case !KnownEdition(l.Edition):
			return bad("edition %q is not one of community, standard, enterprise-trial, enterprise (R1)", l.Edition)
		case l.Module != "" || l.Quantity != 0:
			return bad("a Base license has no module or quantity")
		case editionHasSocketQuota(l.Edition) && l.Sockets <= 0:
			return bad("a %s Base needs a positive socket quota, got %d (R2)", l.Edition, l.Sockets)
		case !editionHasSocketQuota(l.Edition) && l.Sockets != 0:
			return bad("a %s Base carries no socket quota (R2), got %d", l.Edition, l.Sockets)
		case l.Edition == EditionCommunity && l.ExpiresAt != nil:
			return bad("community has no term (R1); drop expires_at")
		}
	case KindPlus:
		info, ok := LookupModule(l.Module)
		switch {
		case !ok:
			return bad("module %q is not a Plus module of R3", l.Module)
		case l.Edition != "" || l.Sockets != 0:
			return bad("a Plus license has no edition or sockets")
		case info.Counted() && l.Quantity <= 0:
			return bad("module %s is counted in %s and needs a positive quantity, got %d (R3)", l.Module, info.Unit, l.Quantity)
		case !info.Counted() && l.Quantity != 0:
			return bad("module %s is not counted and carries no quantity, got %d (R3)", l.Module, l.Quantity)
		}
	default:
		return bad("kind %q is not %q or %q", l.Kind, KindBase, KindPlus)
	}
	if l.IssuedAt.IsZero() {
		return bad("no issued_at (R8)")
	}
	if l.ExpiresAt != nil && !l.ExpiresAt.After(l.IssuedAt) {
		return bad("expires_at %s is not after issued_at %s (R8)", l.ExpiresAt.UTC().Format(time.RFC3339), l.IssuedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// normalizeLicense returns l with its times in UTC, as events carry them.
func normalizeLicense(l License) License {
	l.IssuedAt = l.IssuedAt.UTC()
	if l.ExpiresAt != nil {
		t := l.ExpiresAt.UTC()
		l.ExpiresAt = &t
	}
	return l
}

// sameLicense reports whether two license objects say the same thing.
func sameLicense(a, b License) bool {
	if a.ID != b.ID || a.Kind != b.Kind || a.Edition != b.Edition || a.Module != b.Module ||
		a.Sockets != b.Sockets || a.Quantity != b.Quantity || !a.IssuedAt.Equal(b.IssuedAt) {
		return false
	}
	if (a.ExpiresAt == nil) != (b.ExpiresAt == nil) {
		return false
	}
	return a.ExpiresAt == nil || a.ExpiresAt.Equal(*b.ExpiresAt)
}
