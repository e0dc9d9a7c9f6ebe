package domain

import "time"

// Platform event types (the design's event contract). A renamed or reshaped
// event keeps its old form readable through an upcaster; never reuse a name.
const (
	EventPlatformRegistered    = "platform.registered"
	EventPlatformNodeAdded     = "platform.node_added"
	EventPlatformNodeRemoved   = "platform.node_removed"
	EventLicenseUploaded       = "license.uploaded"
	EventLicenseUploadRejected = "license.upload_rejected"
	EventLicenseDeleted        = "license.deleted"
	EventUSBKeyInserted        = "usb_key.inserted"
	EventUSBKeyRemoved         = "usb_key.removed"
	EventHostAdded             = "host.added"
	EventHostRemoved           = "host.removed"
)

// License kinds.
const (
	KindBase = "base"
	KindPlus = "plus"
)

// Editions of a Base license (R1).
const (
	EditionCommunity       = "community"
	EditionStandard        = "standard"
	EditionEnterpriseTrial = "enterprise-trial"
	EditionEnterprise      = "enterprise"
)

// Authorization sources (R9).
const (
	SourceUSBKey      = "usb-key"
	SourceRequestCode = "request-code"
)

// Hypervisors of a compute host.
const (
	HypervisorKVM    = "kvm"
	HypervisorVMware = "vmware"
	HypervisorARM64  = "arm64"
)

// License is the license object of the event contract. Exactly one of
// Edition (kind base) or Module (kind plus) is set. A nil ExpiresAt never
// expires (community, perpetual). Fields may be added, never removed.
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

// PlatformRegistered is the data of platform.registered.
type PlatformRegistered struct {
	Nodes       []string `json:"nodes"`
	RequestCode string   `json:"request_code,omitempty"`
	// Customer owns the platform (customer-scoped tokens see only their
	// customer's); absent on platforms registered before customers.
	Customer string `json:"customer,omitempty"`
}

// NodeChanged is the data of platform.node_added and platform.node_removed.
type NodeChanged struct {
	Node string `json:"node"`
}

// LicenseUploaded is the data of license.uploaded. Source is usb-key or
// request-code; KeyID is set for key-bound files; Bundle groups the events
// of one bundle upload (R10); Digest is the SHA-256 of the uploaded file.
type LicenseUploaded struct {
	Source  string  `json:"source"`
	KeyID   string  `json:"key_id,omitempty"`
	Bundle  string  `json:"bundle,omitempty"`
	Digest  string  `json:"digest,omitempty"`
	License License `json:"license"`
}

// LicenseUploadRejected is the audit record of a refused upload (R11).
type LicenseUploadRejected struct {
	Digest  string `json:"digest"`
	Code    string `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Actor   string `json:"actor,omitempty"`
}

// LicenseDeleted is the data of license.deleted.
type LicenseDeleted struct {
	License string `json:"license"`
}

// USBKeyInserted is the data of usb_key.inserted: the key brings its own
// licenses with it.
type USBKeyInserted struct {
	Node     string    `json:"node"`
	KeyID    string    `json:"key_id"`
	Licenses []License `json:"licenses,omitempty"`
}

// USBKeyRemoved is the data of usb_key.removed.
type USBKeyRemoved struct {
	Node  string `json:"node"`
	KeyID string `json:"key_id"`
}

// HostAdded is the data of host.added.
type HostAdded struct {
	Host       string `json:"host"`
	Hypervisor string `json:"hypervisor"`
	Sockets    int    `json:"sockets"`
}

// HostRemoved is the data of host.removed.
type HostRemoved struct {
	Host string `json:"host"`
}
