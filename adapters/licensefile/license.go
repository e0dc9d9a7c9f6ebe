package licensefile

import (
	"time"

	"github.com/licledger/licledger/domain"
)

// timeLayout is the only time form a license file may carry: UTC, whole
// seconds, "Z". One form per instant keeps the canonical encoding injective.
const timeLayout = "2006-01-02T15:04:05Z"

// formatTime renders t in timeLayout.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// parseTime accepts exactly the timeLayout form.
func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil || t.Format(timeLayout) != s {
		return time.Time{}, malformedf("%s %q must be a UTC time like 2026-01-01T00:00:00Z", field, s)
	}
	return t, nil
}

// validateLicense checks a license object against the domain's catalog
// (R1–R3, R8). Every refusal is malformed: a file naming an edition or
// module outside the catalog is a vendor tool bug or a forgery, either way
// nothing the ledger can evaluate.
func validateLicense(l domain.License) error {
	if err := domain.ValidateID(l.ID); err != nil {
		return malformedf("license id: %s", domain.ErrorMessage(err))
	}
	if l.IssuedAt.IsZero() {
		return malformedf("license %s: issued_at is required", l.ID)
	}
	if l.IssuedAt.Nanosecond() != 0 {
		return malformedf("license %s: issued_at must be whole seconds", l.ID)
	}
	if l.ExpiresAt != nil {
		if l.ExpiresAt.Nanosecond() != 0 {
			return malformedf("license %s: expires_at must be whole seconds", l.ID)
		}
		if !l.ExpiresAt.After(l.IssuedAt) {
			return malformedf("license %s: expires_at %s is not after issued_at %s", l.ID, formatTime(*l.ExpiresAt), formatTime(l.IssuedAt))
		}
	}
	if l.Sockets < 0 || l.Quantity < 0 {
		return malformedf("license %s: sockets and quantity may not be negative", l.ID)
	}
	switch l.Kind {
	case domain.KindBase:
		if !domain.KnownEdition(l.Edition) {
			return malformedf("license %s: unknown edition %q (want community, standard, enterprise-trial or enterprise)", l.ID, l.Edition)
		}
		if l.Module != "" || l.Quantity != 0 {
			return malformedf("license %s: a base license carries no module or quantity", l.ID)
		}
		switch l.Edition {
		case domain.EditionStandard, domain.EditionEnterprise:
			if l.Sockets <= 0 {
				return malformedf("license %s: a %s license needs a socket quota (R2)", l.ID, l.Edition)
			}
		default:
			if l.Sockets != 0 {
				return malformedf("license %s: a %s license carries no socket quota (R2)", l.ID, l.Edition)
			}
			if l.Edition == domain.EditionCommunity && l.ExpiresAt != nil {
				return malformedf("license %s: a community license has no term (R1)", l.ID)
			}
		}
	case domain.KindPlus:
		m, ok := domain.LookupModule(l.Module)
		counted := m.Counted()
		if !ok {
			return malformedf("license %s: unknown module %q", l.ID, l.Module)
		}
		if l.Edition != "" || l.Sockets != 0 {
			return malformedf("license %s: a plus license carries no edition or sockets", l.ID)
		}
		if counted && l.Quantity <= 0 {
			return malformedf("license %s: module %s is counted and needs a quantity (R3)", l.ID, l.Module)
		}
		if !counted && l.Quantity != 0 {
			return malformedf("license %s: module %s is not counted and takes no quantity (R3)", l.ID, l.Module)
		}
	default:
		return malformedf("license %s: kind %q must be base or plus", l.ID, l.Kind)
	}
	return nil
}

// sameLicense reports whether two license objects say the same thing.
func sameLicense(a, b domain.License) bool {
	if a.ID != b.ID || a.Kind != b.Kind || a.Edition != b.Edition || a.Module != b.Module ||
		a.Sockets != b.Sockets || a.Quantity != b.Quantity || !a.IssuedAt.Equal(b.IssuedAt) {
		return false
	}
	if (a.ExpiresAt == nil) != (b.ExpiresAt == nil) {
		return false
	}
	return a.ExpiresAt == nil || a.ExpiresAt.Equal(*b.ExpiresAt)
}
