package domain

// Small helpers shared by the license-server aggregates (subscription,
// perpetual, coupon, instances). Their names carry a srv prefix because
// package domain is shared with the platform half.

import (
	"crypto/subtle"
	"encoding/json"
	"time"
)

// srvSameHash compares two hex hashes in constant time.
func srvSameHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func srvValidateVersion(version string, releasedAt time.Time, needReleased bool) error {
	if version == "" || len(version) > 64 {
		return Reasonf(EINVALID, ReasonInvalidVersion, "product version must be 1 to 64 characters, got %q", version)
	}
	if needReleased && releasedAt.IsZero() {
		return Reasonf(EINVALID, ReasonReleasedAtRequired, "product version %s needs its release time: send released_at, or have the vendor's release list configured (R28)", version)
	}
	return nil
}

// srvLease reads a lease in seconds from an event (0 means the default).
func srvLease(seconds int64) (time.Duration, error) {
	if seconds == 0 {
		return InstanceDefaultLease, nil
	}
	d := time.Duration(seconds) * time.Second
	if seconds < 0 || d < InstanceMinLease || d > InstanceMaxLease {
		return 0, Reasonf(EINVALID, ReasonInvalidLease, "lease of %d seconds is outside %v..%v", seconds, InstanceMinLease, InstanceMaxLease)
	}
	return d, nil
}

// srvCommandLease validates a lease given in a command (0 = default).
func srvCommandLease(d time.Duration) (time.Duration, error) {
	if d == 0 {
		return InstanceDefaultLease, nil
	}
	if d < InstanceMinLease || d > InstanceMaxLease || d%time.Second != 0 {
		return 0, Reasonf(EINVALID, ReasonInvalidLease, "lease %v must be whole seconds within %v..%v", d, InstanceMinLease, InstanceMaxLease)
	}
	return d, nil
}

// srvDecode unmarshals an event's data into v.
func srvDecode(e Event, v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return Errorf(EINVALID, "event %s (%s): bad data: %v", e.ID, e.Type, err)
	}
	return nil
}

// srvTimeText formats an instant as RFC 3339 UTC for views and messages;
// the zero time is "".
func srvTimeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// srvUTC returns t in UTC, keeping the zero time zero.
func srvUTC(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// srvAddMonths adds n calendar months, clamping the day to the end of the
// target month (Jan 31 + 1 month = Feb 28/29), so periods never drift into
// the month after.
func srvAddMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	if last := first.AddDate(0, 1, -1).Day(); d > last {
		d = last
	}
	return time.Date(first.Year(), first.Month(), d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}

// srvAsOf feeds evolve the events of one subject up to and including at.
func srvAsOf(events []Event, subject string, at time.Time, evolve func(Event) error) error {
	found := false
	for _, e := range events {
		if e.Subject != subject {
			continue
		}
		found = true
		if !at.IsZero() && e.Time.After(at) {
			break
		}
		if err := evolve(e); err != nil {
			return err
		}
	}
	if !found {
		return Errorf(ENOTFOUND, "no events of %s", subject)
	}
	return nil
}

// srvEvents wraps one new event in a slice.
func srvEvents(subject, typ string, data any) ([]Event, error) {
	e, err := NewEvent(subject, typ, data)
	if err != nil {
		return nil, err
	}
	return []Event{e}, nil
}
