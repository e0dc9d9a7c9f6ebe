package licensefile

import (
	"crypto/ed25519"
	"sort"
	"strings"

	"github.com/licledger/licledger/domain"
)

// Sign signs a license for a binding with a vendor key (the vendor side).
func Sign(l domain.License, b Binding, key PrivateKey) (File, error) {
	if len(key.Key) != ed25519.PrivateKeySize {
		return File{}, domain.Errorf(domain.EINVALID, "signing key %q is not an Ed25519 private key", key.ID)
	}
	f := File{License: l, Binding: b, KeyID: key.ID}
	msg, err := f.SignedBytes()
	if err != nil {
		return File{}, err
	}
	f.Signature = ed25519.Sign(key.Key, msg)
	return f, nil
}

// Issue signs a license and returns the file bytes to hand to a customer.
func Issue(l domain.License, b Binding, key PrivateKey) ([]byte, error) {
	f, err := Sign(l, b, key)
	if err != nil {
		return nil, err
	}
	return f.Marshal()
}

// Verifier checks license files and bundles against the vendor keys the
// ledger trusts. It is immutable after NewVerifier and safe for concurrent
// use.
type Verifier struct {
	keys   map[string]ed25519.PublicKey
	limits Limits
}

// NewVerifier builds a verifier trusting keys (at least one; ids unique)
// with the given bundle limits; zero fields of limits take DefaultLimits.
func NewVerifier(keys []PublicKey, limits Limits) (*Verifier, error) {
	if len(keys) == 0 {
		return nil, domain.Errorf(domain.EINVALID, "no trusted vendor keys: license files cannot be verified")
	}
	v := &Verifier{keys: make(map[string]ed25519.PublicKey, len(keys)), limits: limits.withDefaults()}
	for _, k := range keys {
		if err := domain.ValidateID(k.ID); err != nil {
			return nil, err
		}
		if len(k.Key) != ed25519.PublicKeySize {
			return nil, domain.Errorf(domain.EINVALID, "trusted key %s is not an Ed25519 public key", k.ID)
		}
		if _, dup := v.keys[k.ID]; dup {
			return nil, domain.Errorf(domain.EINVALID, "trusted key id %s appears twice", k.ID)
		}
		v.keys[k.ID] = k.Key
	}
	return v, nil
}

// KeyIDs lists the trusted key ids, sorted (for logs and /readyz).
func (v *Verifier) KeyIDs() []string {
	ids := make([]string, 0, len(v.keys))
	for id := range v.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Limits returns the bundle limits in effect.
func (v *Verifier) Limits() Limits { return v.limits }

// Verify parses one license file and checks its signature. Errors are
// *domain.Error: EINVALID malformed / file-too-large / bad-signature, or
// EFORBIDDEN unknown-signing-key when the file names a key the ledger does
// not trust (an untrusted or retired vendor key).
func (v *Verifier) Verify(raw []byte) (File, error) {
	f, err := ParseFile(raw)
	if err != nil {
		return File{}, err
	}
	pub, ok := v.keys[f.KeyID]
	if !ok {
		return File{}, domain.Reasonf(domain.EFORBIDDEN, domain.ReasonUnknownSigningKey,
			"license %s is signed by key %q, which this ledger does not trust (trusted: %s)", f.License.ID, f.KeyID, strings.Join(v.KeyIDs(), ", "))
	}
	msg, err := f.SignedBytes()
	if err != nil {
		return File{}, err
	}
	if !ed25519.Verify(pub, msg, f.Signature) {
		return File{}, domain.Reasonf(domain.EINVALID, domain.ReasonBadSignature,
			"license %s: signature does not verify with key %s; the file was altered or not signed by that key", f.License.ID, f.KeyID)
	}
	return f, nil
}
