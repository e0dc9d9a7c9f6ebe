package domain

import (
	"crypto/subtle"
	"slices"
	"strings"
)

// License keys (R27, Decision (trust)). A subscription or a perpetual
// license is opened by a license key the ledger issues: a secret the
// customer's product sends to activate. The log, which auditors read and
// which is immutable, records only the key's hash (HashSecret), never the
// key. An admin can rotate the key (the old one is refused with its own
// reason) or revoke it.
//
// The key's form is "<prefix>.<license id>.<secret>": prefix lks for a
// subscription, lkp for a perpetual license, then the id (so the ledger
// finds the license without an index), then the secret, at least 128
// random bits in base64url. '.' never occurs in an id or in base64url.
//
// Licenses created before license keys existed have none: they keep
// opening with their legacy key, the subject "subscription/<id>", but only
// for a caller the API has authenticated with a client or admin token; an
// admin rotates the key to issue a real one, which ends the legacy key.

// License-key prefixes by aggregate kind.
const (
	LicenseKeyPrefixSubscription = "lks"
	LicenseKeyPrefixPerpetual    = "lkp"
)

// License-key event types, on a subscription or a perpetual license.
const (
	EventLicenseKeyIssued  = "license_key.issued"
	EventLicenseKeyRevoked = "license_key.revoked"
)

// LicenseKeyIssued is the data of license_key.issued: the hash of a new
// key, which replaces the current one.
type LicenseKeyIssued struct {
	KeySHA256 string `json:"license_key_sha256"`
}

// LicenseKeyRevoked is the data of license_key.revoked.
type LicenseKeyRevoked struct {
	Reason string `json:"reason,omitempty"`
}

// LicenseKeyRotate issues a new key (its hash) for a license; the current
// one is refused from then on.
type LicenseKeyRotate struct{ KeySHA256 string }

// LicenseKeyRevoke refuses the current key, with no successor, until a
// rotation issues a new one.
type LicenseKeyRevoke struct{ Reason string }

func (LicenseKeyRotate) subscriptionCommand() {}
func (LicenseKeyRevoke) subscriptionCommand() {}
func (LicenseKeyRotate) perpetualCommand()    {}
func (LicenseKeyRevoke) perpetualCommand()    {}

// LicenseKey is a presented key, parsed.
type LicenseKey struct {
	Aggregate Aggregate
	// Secret is the secret part; empty for a legacy key (the subject).
	Secret string
}

// Legacy reports whether the key is a legacy one: the license's subject.
func (k LicenseKey) Legacy() bool { return k.Secret == "" }

// ParseLicenseKey reads a license key: "lks.<id>.<secret>",
// "lkp.<id>.<secret>", or a legacy "subscription/<id>" or
// "perpetual/<id>". Errors are EINVALID bad-license-key; the message
// never quotes the key (it is a secret).
func ParseLicenseKey(s string) (LicenseKey, error) {
	bad := Reasonf(EINVALID, ReasonBadLicenseKey, "license_key is not a license key this ledger issues (lks.<id>.<secret> or lkp.<id>.<secret>)")
	if prefix, rest, ok := strings.Cut(s, "."); ok {
		id, secret, ok := strings.Cut(rest, ".")
		if !ok || len(secret) < 22 || strings.ContainsAny(secret, ".=+/") || ValidateID(id) != nil {
			return LicenseKey{}, bad
		}
		switch prefix {
		case LicenseKeyPrefixSubscription:
			return LicenseKey{Aggregate: Aggregate{Kind: KindSubscription, ID: id}, Secret: secret}, nil
		case LicenseKeyPrefixPerpetual:
			return LicenseKey{Aggregate: Aggregate{Kind: KindPerpetual, ID: id}, Secret: secret}, nil
		}
		return LicenseKey{}, bad
	}
	agg, err := ParseAggregate(s)
	if err != nil || (agg.Kind != KindSubscription && agg.Kind != KindPerpetual) {
		return LicenseKey{}, bad
	}
	return LicenseKey{Aggregate: agg}, nil
}

// FormatLicenseKey builds the key of a license from its secret.
func FormatLicenseKey(agg Aggregate, secret string) string {
	prefix := LicenseKeyPrefixSubscription
	if agg.Kind == KindPerpetual {
		prefix = LicenseKeyPrefixPerpetual
	}
	return prefix + "." + agg.ID + "." + secret
}

// LicenseKeys is the license-key part of a license's state.
type LicenseKeys struct {
	Current string   // hash of the key that opens the license; "" for a legacy license
	Retired []string // hashes of rotated keys, oldest first
	Revoked bool     // the current key is revoked
}

func (k LicenseKeys) clone() LicenseKeys {
	k.Retired = slices.Clone(k.Retired)
	return k
}

// evolve folds a license-key event; ok is false for other types.
func (k *LicenseKeys) evolve(e Event) (bool, error) {
	switch e.Type {
	case EventLicenseKeyIssued:
		var d LicenseKeyIssued
		if err := srvDecode(e, &d); err != nil {
			return true, err
		}
		if !validHash(d.KeySHA256) {
			return true, Errorf(EINVALID, "event %s: license_key_sha256 is not a hex SHA-256", e.ID)
		}
		if k.Current != "" {
			k.Retired = append(k.Retired, k.Current)
		}
		k.Current, k.Revoked = d.KeySHA256, false
		return true, nil
	case EventLicenseKeyRevoked:
		k.Revoked = true
		return true, nil
	}
	return false, nil
}

// Check decides whether a presented key opens the license; tokenCaller
// says the API authenticated the caller with a client or admin token (the
// only way a legacy key still opens a license that has none).
func (k LicenseKeys) Check(key LicenseKey, tokenCaller bool) error {
	if key.Legacy() {
		switch {
		case k.Current != "":
			return Reasonf(EUNAUTHORIZED, ReasonLicenseKeyRequired,
				"%s has a license key; activate with it, not with the license's name", key.Aggregate)
		case !tokenCaller:
			return Reasonf(EUNAUTHORIZED, ReasonLicenseKeyRequired,
				"%s predates license keys: its name opens it only with a client token; ask the vendor to rotate its key", key.Aggregate)
		}
		return nil
	}
	h := HashSecret(key.Secret)
	switch {
	case k.Current != "" && subtle.ConstantTimeCompare([]byte(h), []byte(k.Current)) == 1:
		if k.Revoked {
			return Reasonf(EFORBIDDEN, ReasonLicenseKeyRevoked, "the license key of %s is revoked", key.Aggregate)
		}
		return nil
	case slices.Contains(k.Retired, h):
		return Reasonf(EFORBIDDEN, ReasonLicenseKeyRotated, "this license key of %s was replaced by a newer one; use the current key", key.Aggregate)
	}
	return Reasonf(EUNAUTHORIZED, ReasonWrongLicenseKey, "the license key does not open %s", key.Aggregate)
}

// decide decides a key command for the license of subject.
func (k LicenseKeys) decide(subject string, cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case LicenseKeyRotate:
		if !validHash(c.KeySHA256) {
			return nil, Reasonf(EINVALID, ReasonInvalidCommand, "a new license key needs its hex SHA-256")
		}
		return srvEvents(subject, EventLicenseKeyIssued, LicenseKeyIssued{KeySHA256: c.KeySHA256})
	case LicenseKeyRevoke:
		if k.Revoked {
			return nil, nil
		}
		return srvEvents(subject, EventLicenseKeyRevoked, LicenseKeyRevoked{Reason: c.Reason})
	}
	return nil, Errorf(EINTERNAL, "license key: unsupported command %T", cmd)
}

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
