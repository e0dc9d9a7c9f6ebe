package domain

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

// Stable refusal reasons of DecidePlatform (domain.Error.Reason). Where
// the license-file adapter refuses the same thing, the word is the same.
const (
	ReasonInvalidID         = "invalid-id"            // EINVALID: an id breaks ValidateID
	ReasonInvalidCommand    = "invalid-command"       // EINVALID: a field is missing or malformed
	ReasonInvalidLicense    = "invalid-license"       // EINVALID: a license object breaks the catalog (R1–R3, R8)
	ReasonExpiredOnArrival  = "expired-on-arrival"    // EINVALID: an uploaded license's term is over at upload
	ReasonDuplicateLicense  = "duplicate-license"     // ECONFLICT: the id is recorded with other content or holder
	ReasonBundleBase        = "bundle-needs-one-base" // EINVALID: a bundle holds exactly one Base (R10)
	ReasonBundleSource      = "bundle-binding"        // EINVALID: bundles are request-code uploads (R10)
	ReasonKeyNotInserted    = "key-not-inserted"      // ECONFLICT (upload, R12) or ENOTFOUND (key removal)
	ReasonWrongKey          = "wrong-key"             // ECONFLICT: another key authorizes (R12)
	ReasonKeyFault          = "key-fault"             // ECONFLICT: keys in fault cannot take a key-bound upload (R12, R17)
	ReasonKeyInserted       = "key-already-inserted"  // ECONFLICT: the key is in a node already
	ReasonKeyLicense        = "key-license"           // ECONFLICT: licenses from a USB key cannot be deleted (R14)
	ReasonUnknownLicense    = "unknown-license"       // ENOTFOUND
	ReasonNotRegistered     = "platform-not-registered"
	ReasonAlreadyRegistered = "platform-exists"
	ReasonNodeCount         = "node-count"        // EINVALID/ECONFLICT: one or two management nodes (R15)
	ReasonNodeExists        = "node-exists"       // ECONFLICT
	ReasonUnknownNode       = "unknown-node"      // ENOTFOUND
	ReasonNodeHasKeys       = "node-has-keys"     // ECONFLICT: pull its keys first
	ReasonHostExists        = "host-exists"       // ECONFLICT
	ReasonUnknownHost       = "unknown-host"      // ENOTFOUND
	ReasonNoBase            = "base-required"     // ECONFLICT: no Base in force admits no host (R2)
	ReasonModuleRequired    = "module-required"   // ECONFLICT: arm64 hosts need the arm64 module
	ReasonCapacityExceeded  = "capacity-exceeded" // ECONFLICT: the host does not fit (R2, R7)
)
