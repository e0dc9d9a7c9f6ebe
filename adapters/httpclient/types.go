package httpclient

import (
	"time"

	"github.com/licledger/licledger/domain"
)

// Wire types. Each mirrors one of the API's request or response bodies
// (adapters/httpapi, domain, projections on the server), field for field
// and with the same JSON names and omissions, so a value decoded from the
// ledger encodes back to the same JSON. Times are UTC; a zero time.Time
// stands for a field the ledger left out. Fields may be added in later
// versions, never removed (the API's compatibility rule).

// Readiness is the answer of GET /readyz.
type Readiness struct {
	// Status is "ready", "writes-unavailable" (a command could not be
	// written now; EventStore says why), "catching-up" (the projections
	// lag the log) or "unavailable" (the log cannot be read; Error says why).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Projections is the projections' progress; nil when unavailable.
	Projections *ProjectionStatus `json:"projections,omitempty"`
	// EventStore says whether a write could succeed now.
	EventStore *EventStoreStatus `json:"event_store,omitempty"`
}

// EventStoreStatus is /readyz's event_store section.
type EventStoreStatus struct {
	Writable bool `json:"writable"`
	// Reason and Message are the refusal a command would get now
	// (ledger-unavailable, storage-full, ...); empty when writable.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// ProjectionStatus is the projections' progress against the log.
type ProjectionStatus struct {
	Applied  uint64 `json:"applied"`   // every projection has applied the log up to this sequence
	Head     uint64 `json:"head"`      // the last sequence in the log
	Lag      uint64 `json:"lag"`       // Head - Applied
	CaughtUp bool   `json:"caught_up"` // Applied >= Head
	Live     bool   `json:"live"`      // following new events as they are appended
	Error    string `json:"error,omitempty"`
}

// AppendedEvent is one event a command appended.
type AppendedEvent struct {
	ID      string    `json:"id"`      // the event's ULID (GET /v1/events/{id})
	Type    string    `json:"type"`    // e.g. "host.added"
	Version uint64    `json:"version"` // its position in the aggregate (1-based)
	Seq     uint64    `json:"seq"`     // its sequence in the log
	Time    time.Time `json:"time"`    // stamped by the ledger
}

// CommandResult is the answer to a platform command: the platform's
// version after it (use it with WithIfMatch) and the events appended, none
// when the command changed nothing (answered 200 instead of 201). A retry
// with the same Idempotency-Key gets the first answer.
type CommandResult struct {
	Platform string          `json:"platform"`
	Version  uint64          `json:"version"`
	Events   []AppendedEvent `json:"events"`
}

// LicenseCommandResult is the answer to a license-server command other
// than activation and check: the license (subscription/<id>,
// perpetual/<id> or coupon/<code>), its version after the command and the
// events appended.
type LicenseCommandResult struct {
	License string          `json:"license"`
	Version uint64          `json:"version"`
	Events  []AppendedEvent `json:"events"`
	// LicenseKey is the key a create, purchase or rotation issued, shown
	// in this answer only: hand it to the customer; Activate sends it.
	LicenseKey string `json:"license_key,omitempty"`
}

// RegisterRequest is the body of RegisterPlatform: the platform's id, its
// one or two management nodes (R15) and its request code (R9).
type RegisterRequest struct {
	ID          string   `json:"id"`
	Nodes       []string `json:"nodes"`
	RequestCode string   `json:"request_code,omitempty"`
	Customer    string   `json:"customer,omitempty"` // the customer owning the platform
}

// License is the license object of the event contract (design.md). Kind is
// "base" (with Edition) or "plus" (with Module, and Quantity for counted
// modules). A nil ExpiresAt never expires (community, perpetual).
type License struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Edition   string     `json:"edition,omitempty"`
	Module    string     `json:"module,omitempty"`
	Sockets   int        `json:"sockets,omitempty"`
	Quantity  int        `json:"quantity,omitempty"`
	IssuedAt  time.Time  `json:"issued_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// USBKeyRequest is the body of InsertUSBKey: the key inserted and the
// licenses it carries.
type USBKeyRequest struct {
	KeyID    string    `json:"key_id"`
	Licenses []License `json:"licenses"`
}

// HostRequest is the body of AddHost. Hypervisor is "kvm", "vmware" or
// "arm64".
type HostRequest struct {
	Host       string `json:"host"`
	Hypervisor string `json:"hypervisor"`
	Sockets    int    `json:"sockets"`
}

// EventRef names an event that decided an answer, by id and stream
// sequence (GET /v1/events/{id} serves it).
type EventRef struct {
	ID  string `json:"id"`
	Seq uint64 `json:"seq,omitempty"`
}

// LogPosition is where in the log a view stands: the instant it answers
// for and the stream sequence of the last event it includes.
type LogPosition struct {
	Time time.Time `json:"time"`
	Seq  uint64    `json:"seq"`
}

// Entitlement is what a platform is entitled to at an instant: the
// design's query shape, the same document `licledger replay` prints.
type Entitlement struct {
	Platform string    `json:"platform"`
	At       time.Time `json:"at"`
	// AsOf is the log position the answer stands at: ask again with
	// it (At and Seq options) for the same answer.
	AsOf *LogPosition `json:"as_of,omitempty"`
	// Status is "unlicensed", "community", "expired", "grace" or
	// "licensed", from the Base license that wins precedence (R13).
	Status   string                       `json:"status"`
	Base     *BaseEntitlement             `json:"base"` // nil when no Base takes part
	Modules  map[string]ModuleEntitlement `json:"modules"`
	Capacity Capacity                     `json:"capacity"`
	USBKey   USBKeyStatus                 `json:"usb_key"`
}

// BaseEntitlement is the Base license that wins precedence, with its
// provenance. GraceUntil is set while it is in force only through a buffer
// license (R17–R22).
type BaseEntitlement struct {
	Edition    string     `json:"edition"`
	Source     string     `json:"source"`
	KeyID      string     `json:"key_id,omitempty"`
	License    string     `json:"license"`
	IssuedAt   time.Time  `json:"issued_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	GraceUntil *time.Time `json:"grace_until,omitempty"`
	Sockets    int        `json:"sockets,omitempty"`
	InForce    bool       `json:"in_force"`
	Reason     string     `json:"reason,omitempty"` // why not in force
	DecidedBy  []EventRef `json:"decided_by,omitempty"`
}

// ModuleEntitlement is one Plus module's answer. When Entitled, Source is
// "included", "trial", "usb-key" or "request-code"; otherwise Reason says
// why not ("not-licensed", "base-required", "expired",
// "source-unavailable", "not-yet-valid").
type ModuleEntitlement struct {
	Entitled   bool       `json:"entitled"`
	Source     string     `json:"source,omitempty"`
	KeyID      string     `json:"key_id,omitempty"`
	License    string     `json:"license,omitempty"`
	Quantity   int        `json:"quantity,omitempty"`
	Unlimited  bool       `json:"unlimited,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	GraceUntil *time.Time `json:"grace_until,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	DecidedBy  []EventRef `json:"decided_by,omitempty"`
}

// Capacity is the host capacity at the instant (R2, R7).
type Capacity struct {
	Hosts         Quota `json:"hosts"`
	Sockets       Quota `json:"sockets"`
	VMwareSockets Quota `json:"vmware_sockets"`
	ARM64Hosts    Quota `json:"arm64_hosts"`
	// DecidedBy: the events that brought the licenses setting the quotas.
	DecidedBy []EventRef `json:"decided_by,omitempty"`
}

// Quota is a limit and its use: Quota is the limit, nil exactly when
// Unlimited.
type Quota struct {
	Quota     *int `json:"quota,omitempty"`
	Unlimited bool `json:"unlimited,omitempty"`
	Used      int  `json:"used"`
}

// USBKeyStatus is the USB key state ("none", "ready", "missing",
// "abnormal", "fault") and the buffer of the active key.
type USBKeyStatus struct {
	State            string     `json:"state"`
	ActiveKey        string     `json:"active_key,omitempty"`
	UnavailableSince *time.Time `json:"unavailable_since,omitempty"`
	Buffer           string     `json:"buffer,omitempty"` // "active", "expired" or "none"
	BufferExpiresAt  *time.Time `json:"buffer_expires_at,omitempty"`
	Inserted         []KeySlot  `json:"inserted"`
	// DecidedBy: the pulls that made the active key unavailable and
	// decided its buffer.
	DecidedBy []EventRef `json:"decided_by,omitempty"`
}

// KeySlot is a key inserted on a management node.
type KeySlot struct {
	Node  string `json:"node"`
	KeyID string `json:"key_id"`
}

// TimelinePage is one page of a platform's timeline, oldest first.
// NextAfter, when not 0, is the after of the next page (there may be
// more).
type TimelinePage struct {
	Platform  string          `json:"platform"`
	AsOf      *LogPosition    `json:"as_of,omitempty"`
	Entries   []TimelineEntry `json:"entries"`
	NextAfter uint64          `json:"next_after,omitempty"`
}

// TimelineEntry is one event of a platform in human terms.
type TimelineEntry struct {
	Version uint64    `json:"version"`
	Seq     uint64    `json:"seq"`
	Event   string    `json:"event"` // the event id
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Source  string    `json:"source"`
	Summary string    `json:"summary"`
}

// InstancePlan is the plan a subscription (or perpetual license) hands its
// instances on activation and every check (R23, R24). Instances is how
// many instances it includes (0 reads as 1); Devices and Assets are limits
// the product enforces itself (0: unlimited).
type InstancePlan struct {
	Name      string `json:"name"`
	Instances int    `json:"instances"`
	Devices   int    `json:"devices"`
	Assets    int    `json:"assets"`
}

// SubscriptionRequest is the body of CreateSubscription. Period is
// "monthly" or "annual"; LeaseSeconds 0 is the default lease (24 h, R27).
type SubscriptionRequest struct {
	ID           string       `json:"id"`
	Customer     string       `json:"customer,omitempty"`
	Plan         InstancePlan `json:"plan"`
	Period       string       `json:"period"`
	LeaseSeconds int64        `json:"lease_seconds,omitempty"`
}

// PerpetualRequest is the body of PurchasePerpetual (R28).
type PerpetualRequest struct {
	ID           string       `json:"id"`
	Customer     string       `json:"customer,omitempty"`
	Plan         InstancePlan `json:"plan"`
	LeaseSeconds int64        `json:"lease_seconds,omitempty"`
}

// CouponRequest is the body of CreateCoupon (R29). ExpiresAt is required.
type CouponRequest struct {
	Code            string    `json:"code"`
	Partner         string    `json:"partner"`
	DiscountPercent int       `json:"discount_percent"`
	RedemptionLimit int       `json:"redemption_limit"`
	ExpiresAt       time.Time `json:"expires_at"`
}

// ActivateRequest is the body of Activate. LicenseKey is
// "subscription/<id>" or "perpetual/<id>". ReleasedAt is the release
// instant of ProductVersion: perpetual licenses need it (R28) unless the
// ledger has a release list; subscriptions ignore it.
type ActivateRequest struct {
	LicenseKey     string    `json:"license_key"`
	ProductVersion string    `json:"product_version"`
	ReleasedAt     time.Time `json:"released_at,omitzero"`
}

// CheckRequest is the body of Check. A ProductVersion other than the
// recorded one reports an upgrade (for a perpetual license it must be
// covered, R28); empty keeps the recorded version.
type CheckRequest struct {
	LicenseKey     string    `json:"license_key"`
	Secret         string    `json:"secret"`
	ProductVersion string    `json:"product_version,omitempty"`
	ReleasedAt     time.Time `json:"released_at,omitzero"`
}

// DeactivateRequest is the body of Deactivate. A client proves the secret;
// an administrator may leave it out to free someone else's seat.
type DeactivateRequest struct {
	LicenseKey string `json:"license_key"`
	Secret     string `json:"secret,omitempty"`
	// Reason is recorded with an admin's release of a stuck seat.
	Reason string `json:"reason,omitempty"`
}

// InstanceCheckReply is what an activation or a check answers (R26, R27):
// the license's current plan, so a plan change reaches every instance on
// its next check (R24), and the seat's lease.
type InstanceCheckReply struct {
	License       string       `json:"license"` // "subscription/<id>" or "perpetual/<id>"
	Instance      string       `json:"instance"`
	Status        string       `json:"status"` // "active", "past_due", "canceled", "expired"
	Plan          InstancePlan `json:"plan"`
	InstanceLimit int          `json:"instance_limit"`
	Version       string       `json:"version"`                // the product version recorded
	PeriodEnd     time.Time    `json:"period_end,omitzero"`    // subscriptions
	UpdatesUntil  time.Time    `json:"updates_until,omitzero"` // perpetual licenses
	LeaseSeconds  int64        `json:"lease_seconds"`
	// SeatExpiresAt is when the seat is released unless the instance
	// checks in again before.
	SeatExpiresAt time.Time `json:"seat_expires_at"`
	// Fallback names the perpetual license a canceled or expired
	// subscription answered from, "perpetual/<id>" (R28).
	Fallback string `json:"fallback,omitempty"`
	// Signed is the ledger's signature over what the answer states
	// (domain.VerifyAnswer checks it with the keys of LedgerKeys).
	Signed *Signed `json:"signed,omitempty"`
}

// Signed is a signed answer or document: domain/answer.go has the bytes.
type Signed = domain.Signed

// LedgerKey is one of the ledger's public signing keys (LedgerKeys).
type LedgerKey struct {
	ID     string `json:"key_id"`
	Alg    string `json:"algorithm"`
	Key    []byte `json:"public_key"` // 32 bytes of Ed25519 public key
	Status string `json:"status"`     // "current" or "retired"
	// Endorsement is the ledger's root key vouching for a rotated key
	// (domain.VerifyEndorsement); absent on the root key.
	Endorsement *Signed `json:"endorsement,omitempty"`
}

// LedgerKeys is the answer of LedgerKeys.
type LedgerKeys struct {
	Keys []LedgerKey `json:"keys"`
}

// ActivateResponse is the answer to Activate: the new instance's id and
// secret, then the plan and lease as a check returns them (Instance
// repeats InstanceID). The secret is sent once (only its hash is stored);
// keep it, every check and the deactivation need it.
type ActivateResponse struct {
	InstanceID string `json:"instance_id"`
	Secret     string `json:"secret"`
	InstanceCheckReply
}

// InstanceView is one activated instance in a subscription's or perpetual
// license's view. Seat is "held", "released" or "deactivated".
type InstanceView struct {
	ID            string    `json:"id"`
	Version       string    `json:"version"`
	ReleasedAt    time.Time `json:"released_at,omitzero"`
	ActivatedAt   time.Time `json:"activated_at"`
	LastCheckIn   time.Time `json:"last_check_in"`
	Seat          string    `json:"seat"`
	SeatExpiresAt time.Time `json:"seat_expires_at,omitzero"`
	DeactivatedAt time.Time `json:"deactivated_at,omitzero"`
	DeactivatedBy string    `json:"deactivated_by,omitempty"`
	// DeactivatedReason is an admin's recorded reason for a release.
	DeactivatedReason string `json:"deactivated_reason,omitempty"`
}

// SubscriptionDoc is a subscription at an instant (GetSubscription).
// Status is "active", "past_due", "canceled" or "expired" (R23).
type SubscriptionDoc struct {
	Subscription string    `json:"subscription"`
	At           time.Time `json:"at"`
	// AsOf is the log position the answer stands at: ask again with
	// it (At and Seq options) for the same answer.
	AsOf           *LogPosition   `json:"as_of,omitempty"`
	Version        uint64         `json:"version"`
	Status         string         `json:"status"`
	Customer       string         `json:"customer,omitempty"`
	Plan           InstancePlan   `json:"plan"`
	Period         string         `json:"period"`
	PeriodStart    time.Time      `json:"period_start"`
	PeriodEnd      time.Time      `json:"period_end"`
	PastDueSince   time.Time      `json:"past_due_since,omitzero"`
	CanceledAt     time.Time      `json:"canceled_at,omitzero"`
	InstancesAdded int            `json:"instances_added"`
	InstanceLimit  int            `json:"instance_limit"`
	InstancesInUse int            `json:"instances_in_use"`
	LeaseSeconds   int64          `json:"lease_seconds"`
	Instances      []InstanceView `json:"instances"` // in activation order
	Fallback       string         `json:"fallback,omitempty"`
}

// PerpetualDoc is a perpetual license at an instant (GetPerpetual).
type PerpetualDoc struct {
	Perpetual string    `json:"perpetual"`
	At        time.Time `json:"at"`
	// AsOf is the log position the answer stands at: ask again with
	// it (At and Seq options) for the same answer.
	AsOf           *LogPosition   `json:"as_of,omitempty"`
	Version        uint64         `json:"version"`
	Status         string         `json:"status"`
	Customer       string         `json:"customer,omitempty"`
	Plan           InstancePlan   `json:"plan"`
	PurchasedAt    time.Time      `json:"purchased_at"`
	UpdatesUntil   time.Time      `json:"updates_until"`
	UpdateYears    int            `json:"update_years"`
	UpdatesActive  bool           `json:"updates_active"` // versions released at At are covered
	InstanceLimit  int            `json:"instance_limit"`
	InstancesInUse int            `json:"instances_in_use"`
	LeaseSeconds   int64          `json:"lease_seconds"`
	Instances      []InstanceView `json:"instances"`
}

// CouponDoc is a coupon at an instant (GetCoupon).
type CouponDoc struct {
	Coupon string    `json:"coupon"`
	At     time.Time `json:"at"`
	// AsOf is the log position the answer stands at: ask again with
	// it (At and Seq options) for the same answer.
	AsOf            *LogPosition       `json:"as_of,omitempty"`
	Version         uint64             `json:"version"`
	Status          string             `json:"status"`
	Partner         string             `json:"partner"`
	DiscountPercent int                `json:"discount_percent"`
	RedemptionLimit int                `json:"redemption_limit"`
	Redeemed        int                `json:"redeemed"`
	Remaining       int                `json:"remaining"`
	CreatedAt       time.Time          `json:"created_at"`
	ExpiresAt       time.Time          `json:"expires_at"`
	Redemptions     []CouponRedemption `json:"redemptions"`
}

// CouponRedemption is one redemption of a coupon (1-based count).
type CouponRedemption struct {
	Redemption   int       `json:"redemption"`
	Subscription string    `json:"subscription,omitempty"`
	At           time.Time `json:"at"`
}
