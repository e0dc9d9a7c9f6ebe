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

// validateLicense checks a license object of a file: first what the format
// itself demands (FORMAT.md §1: whole-second times, so each license has one
// signed form), then the domain's catalog and term rules (R1–R3, R8,
// domain.ValidateLicense: they live there alone). Every refusal is
// malformed, as FORMAT.md §1 says of a file breaking a rule of its tables:
// a file naming an edition or module outside the catalog is a vendor tool
// bug or a forgery, either way nothing the ledger can evaluate. The message
// is the domain's, naming the rule.
func validateLicense(l domain.License) error {
	if l.IssuedAt.Nanosecond() != 0 {
		return malformedf("license %s: issued_at must be whole seconds", l.ID)
	}
	if l.ExpiresAt != nil && l.ExpiresAt.Nanosecond() != 0 {
		return malformedf("license %s: expires_at must be whole seconds", l.ID)
	}
	if err := domain.ValidateLicense(l); err != nil {
		return malformedf("%s", domain.ErrorMessage(err))
	}
	return nil
}
