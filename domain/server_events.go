package domain

import "time"

// License-server event types (the design's event contract, rules R23–R30).
// A renamed or reshaped event keeps its old form readable through an
// upcaster; never reuse a name. Instance events belong to the aggregate
// whose seats they use: a subscription or a perpetual license.
const (
	EventSubscriptionCreated        = "subscription.created"
	EventSubscriptionPlanChanged    = "subscription.plan_changed"
	EventSubscriptionInstancesAdded = "subscription.instances_added"
	EventSubscriptionRenewed        = "subscription.renewed"
	EventSubscriptionPastDue        = "subscription.past_due"
	EventSubscriptionCanceled       = "subscription.canceled"
	// R28 Decision (fallback): a perpetual license attached to (detached
	// from) a subscription as its fallback.
	EventSubscriptionFallbackAttached = "subscription.fallback_attached"
	EventSubscriptionFallbackDetached = "subscription.fallback_detached"

	EventInstanceActivated   = "instance.activated"
	EventInstanceCheckedIn   = "instance.checked_in"
	EventInstanceDeactivated = "instance.deactivated"

	EventPerpetualPurchased      = "perpetual.purchased"
	EventPerpetualUpdatesRenewed = "perpetual.updates_renewed"

	EventCouponCreated  = "coupon.created"
	EventCouponRedeemed = "coupon.redeemed"
)

// Subscription periods (R23).
const (
	SubscriptionMonthly = "monthly"
	SubscriptionAnnual  = "annual"
)

// Subscription statuses (R23). Expired is never recorded: it is derived from
// the period end and the instant asked about.
const (
	SubscriptionStatusActive   = "active"
	SubscriptionStatusPastDue  = "past_due"
	SubscriptionStatusCanceled = "canceled"
	SubscriptionStatusExpired  = "expired"
)

// InstancePlan is the plan data a subscription (or perpetual license) hands
// to its instances on activation and on every check (R23, R24). Instances is
// how many instances the plan includes (0 is read as 1, R25); Devices and
// Assets are limits the product enforces itself (0 = unlimited), the ledger
// only carries them. Fields may be added, never removed.
type InstancePlan struct {
	Name      string `json:"name"`
	Instances int    `json:"instances"`
	Devices   int    `json:"devices"`
	Assets    int    `json:"assets"`
}

// SubscriptionCreated is the data of subscription.created. The period runs
// [PeriodStart, PeriodEnd); LeaseSeconds is the seat lease of R27.
type SubscriptionCreated struct {
	Customer     string       `json:"customer,omitempty"`
	Plan         InstancePlan `json:"plan"`
	Period       string       `json:"period"`
	PeriodStart  time.Time    `json:"period_start"`
	PeriodEnd    time.Time    `json:"period_end"`
	LeaseSeconds int64        `json:"lease_seconds"`
	// LicenseKeySHA256 is the hash of the license key issued with the
	// subscription (license_key.go); absent on subscriptions created
	// before license keys.
	LicenseKeySHA256 string `json:"license_key_sha256,omitempty"`
}

// SubscriptionPlanChanged is the data of subscription.plan_changed (R24). It
// carries the previous plan too, so a billing consumer can prorate without
// folding the history.
type SubscriptionPlanChanged struct {
	Plan          InstancePlan `json:"plan"`
	Previous      InstancePlan `json:"previous"`
	InstanceLimit int          `json:"instance_limit"`
}

// SubscriptionInstancesAdded is the data of subscription.instances_added
// (R25): Count more instances, InstanceLimit the new total.
type SubscriptionInstancesAdded struct {
	Count         int `json:"count"`
	InstanceLimit int `json:"instance_limit"`
}

// SubscriptionRenewed is the data of subscription.renewed: the new period.
// Reference is the payment or invoice id of the billing system, if any.
type SubscriptionRenewed struct {
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	Reference   string    `json:"reference,omitempty"`
}

// SubscriptionPastDue is the data of subscription.past_due.
type SubscriptionPastDue struct {
	Reference string `json:"reference,omitempty"`
}

// SubscriptionCanceled is the data of subscription.canceled.
type SubscriptionCanceled struct {
	Reason string `json:"reason,omitempty"`
}

// SubscriptionFallbackAttached is the data of subscription.fallback_attached
// (R28 Decision (fallback)): Perpetual is the fallback's subject,
// "perpetual/<id>"; UpdatesUntil its update window's end when attached, for
// billing (checks use the fallback's window as it is when they are decided).
type SubscriptionFallbackAttached struct {
	Perpetual    string    `json:"perpetual"`
	UpdatesUntil time.Time `json:"updates_until"`
}

// SubscriptionFallbackDetached is the data of subscription.fallback_detached.
type SubscriptionFallbackDetached struct {
	Perpetual string `json:"perpetual"`
}

// InstanceActivated is the data of instance.activated (R26). Only the hex
// SHA-256 of the secret is recorded (HashSecret); the secret itself goes
// to the client once and never into the log. ReleasedAt is the release
// instant of Version as the vendor's release list gives it (R28).
type InstanceActivated struct {
	Instance     string     `json:"instance"`
	Version      string     `json:"version"`
	ReleasedAt   *time.Time `json:"released_at,omitempty"`
	SecretSHA256 string     `json:"secret_sha256"`
}

// InstanceCheckedIn is the data of instance.checked_in (R27): recorded only
// when it changes what the history says (see InstanceCheckInRecordDivisor).
// Version and ReleasedAt are set when the instance reports a new version.
type InstanceCheckedIn struct {
	Instance   string     `json:"instance"`
	Version    string     `json:"version,omitempty"`
	ReleasedAt *time.Time `json:"released_at,omitempty"`
}

// InstanceDeactivated is the data of instance.deactivated: the seat is freed
// at once. By is "client" (the instance shut down, proving its secret) or
// "admin".
type InstanceDeactivated struct {
	Instance string `json:"instance"`
	By       string `json:"by"`
	// Reason is why an admin released the seat (a stuck instance moved to
	// another machine, ...); absent on a client's own deactivation and on
	// events recorded before it existed.
	Reason string `json:"reason,omitempty"`
}

// PerpetualPurchased is the data of perpetual.purchased (R28): one instance,
// any version released before UpdatesUntil, forever. UpdatesFrom is the
// purchase instant every paid year of updates counts from.
type PerpetualPurchased struct {
	Customer     string       `json:"customer,omitempty"`
	Plan         InstancePlan `json:"plan"`
	UpdatesFrom  time.Time    `json:"updates_from"`
	UpdatesUntil time.Time    `json:"updates_until"`
	LeaseSeconds int64        `json:"lease_seconds"`
	// LicenseKeySHA256: as in SubscriptionCreated.
	LicenseKeySHA256 string `json:"license_key_sha256,omitempty"`
}

// PerpetualUpdatesRenewed is the data of perpetual.updates_renewed (R28).
type PerpetualUpdatesRenewed struct {
	UpdatesUntil time.Time `json:"updates_until"`
	Previous     time.Time `json:"previous_updates_until"`
	Reference    string    `json:"reference,omitempty"`
}

// CouponCreated is the data of coupon.created (R29). The coupon is valid
// before ExpiresAt and for at most RedemptionLimit redemptions.
type CouponCreated struct {
	Partner         string    `json:"partner"`
	DiscountPercent int       `json:"discount_percent"`
	RedemptionLimit int       `json:"redemption_limit"`
	ExpiresAt       time.Time `json:"expires_at"`
}

// CouponRedeemed is the data of coupon.redeemed (R29): recorded against the
// partner, and against a subscription when one is named. Redemption is the
// 1-based count of this redemption, so a consumer sees the remaining
// allowance without folding.
type CouponRedeemed struct {
	Partner         string `json:"partner"`
	Subscription    string `json:"subscription,omitempty"`
	DiscountPercent int    `json:"discount_percent"`
	Redemption      int    `json:"redemption"`
}

// BillableEventTypes lists every event type a billing consumer receives
// (R30), in a stable order. The billing feed filters by aggregate subject,
// so this list also includes the instance events, which billing may use
// for usage reports or ignore.
var BillableEventTypes = []string{
	EventSubscriptionCreated, EventSubscriptionPlanChanged, EventSubscriptionInstancesAdded,
	EventSubscriptionRenewed, EventSubscriptionPastDue, EventSubscriptionCanceled,
	EventSubscriptionFallbackAttached, EventSubscriptionFallbackDetached,
	EventInstanceActivated, EventInstanceCheckedIn, EventInstanceDeactivated,
	EventPerpetualPurchased, EventPerpetualUpdatesRenewed,
	EventCouponCreated, EventCouponRedeemed,
}
