package domain

import "time"

// ValidateLicense checks a license object against the catalog (R1–R3) and
// its term (R8): the one place these rules live. DecidePlatform applies it
// to every license a command brings; the license-file adapter to every
// file it reads, so a file the ledger would refuse is refused on reading.
// Refusals are EINVALID with reason invalid-license. It does not look at
// the clock: expired-on-arrival is the caller's check.
func ValidateLicense(l License) error {
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

// Same reports whether two license objects say the same thing: equal
// fields, times compared as instants (a license read back in another time
// zone is the same license).
func (a License) Same(b License) bool {
	if a.ID != b.ID || a.Kind != b.Kind || a.Edition != b.Edition || a.Module != b.Module ||
		a.Sockets != b.Sockets || a.Quantity != b.Quantity || !a.IssuedAt.Equal(b.IssuedAt) {
		return false
	}
	if (a.ExpiresAt == nil) != (b.ExpiresAt == nil) {
		return false
	}
	return a.ExpiresAt == nil || a.ExpiresAt.Equal(*b.ExpiresAt)
}
