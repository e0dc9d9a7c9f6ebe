package domain

// The catalogue of refusals: every reason word the ledger answers with,
// the one code it always comes with, and the HTTP status it is answered
// with. The HTTP layer maps errors through it and nowhere else; the
// OpenAPI document and the README's table are tested against it; a test
// (reasons_test.go) fails when code uses a reason that is not here, uses
// one with another code, or when an entry here is never used.
//
// Reason words are part of the public contract: clients switch on them.
// Never change a published word; add a new one.

// Reason words, by area.
const (
	// Requests in general.
	ReasonInternal         = "internal"               // a bug or an infrastructure failure; the server log has the details
	ReasonInvalidID        = "invalid-id"             // an id breaks ValidateID
	ReasonInvalidCommand   = "invalid-command"        // a field is missing or malformed
	ReasonMalformedJSON    = "malformed-json"         // the body is not the one JSON object the endpoint takes
	ReasonUnknownField     = "unknown-field"          // the body has a field the endpoint does not know
	ReasonDuplicateKey     = "duplicate-key"          // a JSON object gives one member twice (or twice up to case)
	ReasonBodyTooLarge     = "body-too-large"         // the body is larger than the server accepts
	ReasonUnsupportedMedia = "unsupported-media-type" // the Content-Type is not one the endpoint takes
	ReasonMethodNotAllowed = "method-not-allowed"     // the path exists, the method does not
	ReasonNoRoute          = "no-route"               // no endpoint has this path
	ReasonBadParameter     = "bad-parameter"          // a query parameter or header is malformed
	ReasonMissingToken     = "missing-token"          // no bearer token
	ReasonBadToken         = "bad-token"              // a bearer token the server does not know
	ReasonRole             = "role-not-allowed"       // the token's role (or customer scope) may not use this endpoint
	ReasonRateLimited      = "rate-limited"           // too many requests, or failed secrets: wait
	ReasonUnknownCustomer  = "unknown-customer"       // no customer of this id holds anything

	// Commands and the event store.
	ReasonVersionMismatch      = "version-mismatch"       // If-Match names another version than the aggregate's
	ReasonConcurrentUpdate     = "concurrent-update"      // another writer kept winning the race; retry
	ReasonIdempotencyKeyReused = "idempotency-key-reused" // the Idempotency-Key belongs to another request
	ReasonDuplicateID          = "duplicate-id"           // an event id is already used by another event
	ReasonEventTooLarge        = "too-large"              // an event is larger than the stream accepts
	ReasonUnknownEvent         = "unknown-event"          // no event has this id
	ReasonUnknownEventType     = "unknown-event-type"     // an event type this build does not know
	ReasonNotCaughtUp          = "not-caught-up"          // the projections have not read the whole log yet
	ReasonDataDirInUse         = "data-dir-in-use"        // another process holds the data directory
	ReasonProjectionsInUse     = "projections-in-use"     // another process holds the projections database
	ReasonUnknownFixture       = "unknown-fixture"        // no fixture has this name
	ReasonBrokenChain          = "broken-chain"           // an imported event does not extend its aggregate's hash chain
	ReasonLedgerUnavailable    = "ledger-unavailable"     // NATS/JetStream cannot be reached or has no stream leader; nothing was written
	ReasonStorageFull          = "storage-full"           // JetStream has no room (disk or limits) to store the write; nothing was written
	ReasonOutcomeUnknown       = "outcome-unknown"        // the write was sent but not acknowledged: it may or may not be stored
	ReasonServerBusy           = "server-busy"            // the HTTP server holds its maximum of concurrent connections; the request was not read
	ReasonNoCheckpoint         = "no-checkpoint"          // no signed checkpoint was written yet
	ReasonLogDoesNotVerify     = "log-does-not-verify"    // the log has a missing, malformed or re-chained message: no checkpoint is signed over it

	// Platforms (DecidePlatform, R1–R22).
	ReasonUnknownPlatform   = "unknown-platform"      // no platform.registered for this id
	ReasonAlreadyRegistered = "platform-exists"       // register on an existing id
	ReasonInvalidLicense    = "invalid-license"       // a license object breaks the catalog (R1–R3, R8)
	ReasonExpiredOnArrival  = "expired-on-arrival"    // an uploaded license's term is over at upload
	ReasonDuplicateLicense  = "duplicate-license"     // the id is recorded with other content or holder
	ReasonBundleBase        = "bundle-needs-one-base" // a bundle holds exactly one Base (R10)
	ReasonBundleSource      = "bundle-binding"        // bundles are request-code uploads of one request code (R10)
	ReasonKeyNotInserted    = "key-not-inserted"      // the USB key is not inserted (where the command needs it: R12)
	ReasonWrongKey          = "wrong-key"             // another key authorizes (R12)
	ReasonKeyFault          = "key-fault"             // keys in fault cannot take a key-bound upload (R12, R17)
	ReasonKeyInserted       = "key-already-inserted"  // the key is in a node already
	ReasonUnknownKey        = "unknown-key"           // the key is not inserted on the node named
	ReasonKeyLicense        = "key-license"           // licenses from a USB key cannot be deleted (R14)
	ReasonUnknownLicense    = "unknown-license"       // no license with this id on the platform
	ReasonNodeCount         = "node-count"            // one or two management nodes (R15)
	ReasonNodeExists        = "node-exists"           // the node is already a management node
	ReasonUnknownNode       = "unknown-node"          // no such management node
	ReasonNodeHasKeys       = "node-has-keys"         // pull the node's keys first
	ReasonHostExists        = "host-exists"           // the host is already admitted
	ReasonUnknownHost       = "unknown-host"          // no such compute host
	ReasonNoBase            = "base-required"         // no Base in force admits no host (R2, R4)
	ReasonModuleRequired    = "module-required"       // arm64 hosts need the arm64 module
	ReasonCapacityExceeded  = "capacity-exceeded"     // the host does not fit the socket quota (R2, R7)

	// License files and uploads (R9–R12).
	ReasonMalformed         = "malformed"                // not a license file, bundle or license object
	ReasonFileTooLarge      = "file-too-large"           // a license file is larger than the format allows
	ReasonBadSignature      = "bad-signature"            // the signature does not verify (R11)
	ReasonUnknownSigningKey = "unknown-signing-key"      // signed by a key the ledger does not trust (R11)
	ReasonWrongRequestCode  = "wrong-request-code"       // issued for another platform's request code (R11)
	ReasonBundleTooLarge    = "bundle-too-large"         // a bundle over the reader's limits
	ReasonBundleBadEntry    = "bundle-bad-entry"         // a bundle entry that is not a license file
	ReasonBindingMismatch   = "binding-mismatch"         // ?source= or ?key_id= contradicts the signed binding
	ReasonUploadsDisabled   = "license-uploads-disabled" // the ledger trusts no vendor key, so accepts no upload
	ReasonSignedFilesOnly   = "signed-files-only"        // the ledger accepts only vendor-signed license files

	// Subscriptions, perpetual licenses, instances and coupons (R23–R29).
	ReasonSubscriptionUnknown       = "subscription-unknown"    // no subscription.created yet
	ReasonSubscriptionExists        = "subscription-exists"     // create on an existing id
	ReasonSubscriptionNotActive     = "subscription-not-active" // canceled or expired at the instant
	ReasonSubscriptionBelowInUse    = "below-instances-in-use"  // R24: downgrade below the seats held
	ReasonInvalidPlan               = "invalid-plan"            // a plan limit out of range
	ReasonInvalidPeriod             = "invalid-period"          // a period other than monthly or annual
	ReasonInvalidLease              = "invalid-lease"           // a lease outside the allowed range
	ReasonInvalidCount              = "invalid-count"           // a count of instances out of range
	ReasonInstanceTooMany           = "too-many-instances"      // R26: every seat is held
	ReasonInstanceUnknown           = "instance-unknown"        // never activated here
	ReasonInstanceBadSecret         = "bad-secret"              // the instance secret does not match
	ReasonInstanceSeatReleased      = "seat-released"           // R27: lease lapsed or deactivated
	ReasonInstanceExists            = "instance-exists"         // the instance id is already used
	ReasonInstanceVersionNotCovered = "version-not-covered"     // R28: released after the update window
	ReasonBadAnswerSignature        = "bad-answer-signature"    // R27: a signed answer or document does not verify
	ReasonFallbackNotAttached       = "fallback-not-attached"   // R28: detach with no perpetual fallback attached
	ReasonInvalidVersion            = "invalid-version"         // a product version that is empty or too long
	ReasonReleasedAtRequired        = "released-at-required"    // R28: a perpetual license needs the release instant
	ReasonBadLicenseKey             = "bad-license-key"         // not a license key the ledger issues
	ReasonWrongLicenseKey           = "wrong-license-key"       // the license key does not open the license
	ReasonLicenseKeyRotated         = "license-key-rotated"     // a key replaced by a newer one
	ReasonLicenseKeyRevoked         = "license-key-revoked"     // the license's key is revoked
	ReasonLicenseKeyRequired        = "license-key-required"    // the license's name is not its key
	ReasonUnknownVersion            = "unknown-version"         // the version is not in the vendor's release list
	ReasonReleasedAtMismatch        = "released-at-mismatch"    // released_at disagrees with the release list
	ReasonPerpetualUnknown          = "perpetual-unknown"       // no perpetual.purchased yet
	ReasonPerpetualExists           = "perpetual-exists"        // purchase on an existing id
	ReasonCouponUnknown             = "coupon-unknown"          // no coupon.created yet
	ReasonCouponExists              = "coupon-exists"           // create on an existing code
	ReasonCouponExpired             = "coupon-expired"          // R29: redeemed at or after expiry
	ReasonCouponExhausted           = "coupon-exhausted"        // R29: redemption limit reached
	ReasonCouponAlreadyRedeemed     = "coupon-already-redeemed" // the subscription redeemed the coupon already
	ReasonInvalidCoupon             = "invalid-coupon"          // a discount, limit or expiry out of range (R29)
	ReasonPartnerUnknown            = "partner-unknown"         // no coupon of the partner was created
)

// Refusal is one entry of the catalogue.
type Refusal struct {
	Reason  string // the stable word
	Code    string // the code it always comes with
	Status  int    // the HTTP status it is answered with
	Meaning string // one line for a person (README, OpenAPI)
}

// statusOfCode is the HTTP status of each code; a refusal overrides it
// only where HTTP has a more precise status.
var statusOfCode = map[string]int{
	EINVALID:      400,
	EUNAUTHORIZED: 401,
	EFORBIDDEN:    403,
	ENOTFOUND:     404,
	EMETHOD:       405,
	ERATELIMITED:  429,
	EUNAVAILABLE:  503,
	ECONFLICT:     409,
	EINTERNAL:     500,
}

// StatusOfCode returns the HTTP status of a code (500 for an unknown one).
func StatusOfCode(code string) int {
	if s, ok := statusOfCode[code]; ok {
		return s
	}
	return 500
}

// refusals is THE table. Order: as the constants above.
var refusals = []Refusal{
	{ReasonInternal, EINTERNAL, 500, "a bug or an infrastructure failure; the server log has the details"},
	{ReasonInvalidID, EINVALID, 400, "an id is empty, too long or has characters outside [A-Za-z0-9._-]"},
	{ReasonInvalidCommand, EINVALID, 400, "a field of the command is missing or malformed"},
	{ReasonMalformedJSON, EINVALID, 400, "the body is not the one JSON object the endpoint takes"},
	{ReasonUnknownField, EINVALID, 400, "the body has a field the endpoint does not know (member names are case-sensitive)"},
	{ReasonDuplicateKey, EINVALID, 400, "a JSON object gives one member twice, or twice up to case"},
	{ReasonBodyTooLarge, EINVALID, 413, "the body is larger than the server accepts"},
	{ReasonUnsupportedMedia, EINVALID, 415, "the Content-Type is not one the endpoint takes"},
	{ReasonMethodNotAllowed, EMETHOD, 405, "the path exists but not with this method (see Allow)"},
	{ReasonNoRoute, ENOTFOUND, 404, "no endpoint has this path"},
	{ReasonBadParameter, EINVALID, 400, "a query parameter or header is malformed"},
	{ReasonMissingToken, EUNAUTHORIZED, 401, "no bearer token was sent"},
	{ReasonBadToken, EUNAUTHORIZED, 401, "the bearer token is not one the server knows"},
	{ReasonRole, EFORBIDDEN, 403, "the token's role, or its customer scope, may not use this endpoint"},
	{ReasonRateLimited, ERATELIMITED, 429, "too many requests, or too many failed secrets, from this address or for this license; wait Retry-After"},
	{ReasonUnknownCustomer, ENOTFOUND, 404, "no customer of this id holds anything in the ledger"},

	{ReasonVersionMismatch, ECONFLICT, 412, "If-Match names another version than the aggregate's; reload and retry"},
	{ReasonConcurrentUpdate, ECONFLICT, 409, "other writers kept winning the race for the aggregate; retry"},
	{ReasonIdempotencyKeyReused, ECONFLICT, 409, "the Idempotency-Key was used for another request"},
	{ReasonDuplicateID, EINVALID, 400, "an event id is already used by another event"},
	{ReasonEventTooLarge, EINVALID, 400, "an event is larger than the stream accepts"},
	{ReasonUnknownEvent, ENOTFOUND, 404, "no event has this id"},
	{ReasonUnknownEventType, EINVALID, 400, "an event type this build does not know"},
	{ReasonNotCaughtUp, ECONFLICT, 409, "the projections have not read the whole log yet"},
	{ReasonDataDirInUse, ECONFLICT, 409, "another process holds the data directory"},
	{ReasonProjectionsInUse, ECONFLICT, 409, "another process holds the projections database"},
	{ReasonUnknownFixture, ENOTFOUND, 404, "no fixture has this name"},
	{ReasonBrokenChain, EINVALID, 400, "an imported event does not extend its aggregate's hash chain (R33)"},
	{ReasonLedgerUnavailable, EUNAVAILABLE, 503, "NATS/JetStream cannot be reached or has no stream leader; nothing was written: retry after Retry-After"},
	{ReasonStorageFull, EUNAVAILABLE, 503, "JetStream has no room (disk full or storage limits) to store the write; nothing was written: retry after Retry-After"},
	{ReasonOutcomeUnknown, EUNAVAILABLE, 503, "the write was sent but not acknowledged, so it may or may not be stored: retry the same request with the same Idempotency-Key"},
	{ReasonServerBusy, EUNAVAILABLE, 503, "the server already holds its maximum of concurrent connections (slow or idle clients); the request was not read: retry after Retry-After"},
	{ReasonNoCheckpoint, ENOTFOUND, 404, "no signed checkpoint was written yet"},
	{ReasonLogDoesNotVerify, ECONFLICT, 409, "the log has a missing, malformed or re-chained message, so the ledger signs no checkpoint over it; run licledger audit verify"},

	{ReasonUnknownPlatform, ENOTFOUND, 404, "no platform is registered with this id"},
	{ReasonAlreadyRegistered, ECONFLICT, 409, "a platform with this id is registered already"},
	{ReasonInvalidLicense, EINVALID, 400, "a license object breaks the catalog (R1–R3, R8)"},
	{ReasonExpiredOnArrival, EINVALID, 400, "the license's term is over at upload"},
	{ReasonDuplicateLicense, ECONFLICT, 409, "the license id is recorded with other content or another holder"},
	{ReasonBundleBase, EINVALID, 400, "a bundle holds exactly one Base license (R10)"},
	{ReasonBundleSource, EINVALID, 400, "a bundle is a request-code upload of one request code (R10)"},
	{ReasonKeyNotInserted, ECONFLICT, 409, "the USB key is not inserted where the command needs it (R12)"},
	{ReasonWrongKey, ECONFLICT, 409, "another USB key authorizes the platform (R12)"},
	{ReasonKeyFault, ECONFLICT, 409, "the USB keys are in fault and cannot take a key-bound upload (R12, R17)"},
	{ReasonKeyInserted, ECONFLICT, 409, "the USB key is inserted already"},
	{ReasonUnknownKey, ENOTFOUND, 404, "the USB key is not inserted on the node named"},
	{ReasonKeyLicense, ECONFLICT, 409, "a license that came from a USB key cannot be deleted (R14)"},
	{ReasonUnknownLicense, ENOTFOUND, 404, "no license with this id on the platform"},
	{ReasonNodeCount, ECONFLICT, 409, "a platform has one or two management nodes (R15)"},
	{ReasonNodeExists, ECONFLICT, 409, "the node is a management node already"},
	{ReasonUnknownNode, ENOTFOUND, 404, "no such management node"},
	{ReasonNodeHasKeys, ECONFLICT, 409, "the node holds USB keys; pull them first"},
	{ReasonHostExists, ECONFLICT, 409, "the host is admitted already"},
	{ReasonUnknownHost, ENOTFOUND, 404, "no such compute host"},
	{ReasonNoBase, ECONFLICT, 409, "no Base license is in force (R2, R4)"},
	{ReasonModuleRequired, ECONFLICT, 409, "the host needs a Plus module the platform lacks (arm64)"},
	{ReasonCapacityExceeded, ECONFLICT, 409, "the host does not fit the socket quota (R2, R7)"},

	{ReasonMalformed, EINVALID, 400, "not a license file, bundle or license object"},
	{ReasonFileTooLarge, EINVALID, 400, "the license file is larger than the format allows"},
	{ReasonBadSignature, EINVALID, 400, "the vendor signature does not verify (R11)"},
	{ReasonUnknownSigningKey, EFORBIDDEN, 403, "signed by a key the ledger does not trust (R11)"},
	{ReasonWrongRequestCode, EFORBIDDEN, 403, "issued for another platform's request code (R11)"},
	{ReasonBundleTooLarge, EINVALID, 400, "the bundle is over the reader's limits"},
	{ReasonBundleBadEntry, EINVALID, 400, "a bundle entry is not a license file"},
	{ReasonBindingMismatch, EINVALID, 400, "the file's signed binding contradicts where it was sent (?source=, ?key_id=, or a USB key storing a file bound to another)"},
	{ReasonUploadsDisabled, EFORBIDDEN, 403, "the ledger trusts no vendor key and accepts no upload"},
	{ReasonSignedFilesOnly, EFORBIDDEN, 403, "the ledger accepts only vendor-signed license files, not license JSON"},

	{ReasonSubscriptionUnknown, ENOTFOUND, 404, "no subscription with this id"},
	{ReasonSubscriptionExists, ECONFLICT, 409, "a subscription with this id exists already"},
	{ReasonSubscriptionNotActive, ECONFLICT, 409, "the subscription is canceled or expired"},
	{ReasonSubscriptionBelowInUse, ECONFLICT, 409, "the plan would allow fewer instances than hold a seat (R24)"},
	{ReasonInvalidPlan, EINVALID, 400, "a plan limit is out of range"},
	{ReasonInvalidPeriod, EINVALID, 400, "the period is not monthly or annual (R23)"},
	{ReasonInvalidLease, EINVALID, 400, "the lease is outside the allowed range (R27)"},
	{ReasonInvalidCount, EINVALID, 400, "the number of instances is out of range (R25)"},
	{ReasonInstanceTooMany, ECONFLICT, 409, "every seat is held (R26)"},
	{ReasonInstanceUnknown, ENOTFOUND, 404, "no instance with this id was activated on the license"},
	{ReasonInstanceBadSecret, EUNAUTHORIZED, 401, "the instance secret does not match"},
	{ReasonInstanceSeatReleased, ECONFLICT, 409, "the seat was released (lease lapsed or deactivated); activate again (R27)"},
	{ReasonInstanceExists, ECONFLICT, 409, "the instance id is used already"},
	{ReasonInstanceVersionNotCovered, EFORBIDDEN, 403, "the version was released after the update window (R28)"},
	{ReasonBadAnswerSignature, EUNAUTHORIZED, 401, "a signed answer or document does not verify with the ledger's keys (R27)"},
	{ReasonFallbackNotAttached, ECONFLICT, 409, "the subscription has no perpetual fallback attached (R28)"},
	{ReasonInvalidVersion, EINVALID, 400, "the product version is empty or too long"},
	{ReasonReleasedAtRequired, EINVALID, 400, "a perpetual license needs the version's release instant (R28)"},
	{ReasonBadLicenseKey, EINVALID, 400, "not a license key the ledger issues (lks.<id>.<secret>, lkp.<id>.<secret>)"},
	{ReasonWrongLicenseKey, EUNAUTHORIZED, 401, "the license key does not open the license"},
	{ReasonLicenseKeyRotated, EFORBIDDEN, 403, "the license key was replaced by a newer one; use the current key"},
	{ReasonLicenseKeyRevoked, EFORBIDDEN, 403, "the license key is revoked"},
	{ReasonLicenseKeyRequired, EUNAUTHORIZED, 401, "send the license key, not the license's name (legacy names need a client token)"},
	{ReasonUnknownVersion, EINVALID, 400, "the version is not in the vendor's release list"},
	{ReasonReleasedAtMismatch, EINVALID, 400, "released_at disagrees with the vendor's release list"},
	{ReasonPerpetualUnknown, ENOTFOUND, 404, "no perpetual license with this id"},
	{ReasonPerpetualExists, ECONFLICT, 409, "a perpetual license with this id exists already"},
	{ReasonCouponUnknown, ENOTFOUND, 404, "no coupon with this code"},
	{ReasonCouponExists, ECONFLICT, 409, "a coupon with this code exists already"},
	{ReasonCouponExpired, ECONFLICT, 409, "the coupon has expired (R29)"},
	{ReasonCouponExhausted, ECONFLICT, 409, "the coupon's redemption limit is reached (R29)"},
	{ReasonCouponAlreadyRedeemed, ECONFLICT, 409, "the subscription redeemed this coupon already"},
	{ReasonInvalidCoupon, EINVALID, 400, "a discount, redemption limit or expiry out of range (R29)"},
	{ReasonPartnerUnknown, ENOTFOUND, 404, "no coupon of this partner exists"},
}

var refusalByReason = func() map[string]Refusal {
	m := make(map[string]Refusal, len(refusals))
	for _, r := range refusals {
		m[r.Reason] = r
	}
	return m
}()

// Refusals returns the catalogue, in a stable order.
func Refusals() []Refusal {
	out := make([]Refusal, len(refusals))
	copy(out, refusals)
	return out
}

// LookupRefusal returns the catalogue entry of a reason word.
func LookupRefusal(reason string) (Refusal, bool) {
	r, ok := refusalByReason[reason]
	return r, ok
}

// Status returns the HTTP status an error is answered with: its reason's,
// else its code's.
func Status(err error) int {
	if r, ok := refusalByReason[ErrorReason(err)]; ok {
		return r.Status
	}
	return StatusOfCode(ErrorCode(err))
}

// DefaultReason is the reason an error without one is answered with, so
// every answer carries a reason: "invalid-command" for EINVALID (a field
// the domain checked without a word of its own), "internal" for
// EINTERNAL, "method-not-allowed" for EMETHOD. Every other code is only
// ever built with a reason (reasons_test.go checks it).
func DefaultReason(code string) string {
	switch code {
	case EINVALID:
		return ReasonInvalidCommand
	case EMETHOD:
		return ReasonMethodNotAllowed
	case EINTERNAL:
		return ReasonInternal
	}
	return ""
}
