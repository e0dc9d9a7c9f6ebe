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
	Customer    string // optional: the customer owning the platform
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
