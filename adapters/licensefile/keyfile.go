package licensefile

import "github.com/licledger/licledger/domain"

// VerifyKeyFile checks a license file read from the storage of USB key
// keyID (adapters/hid reads it, see hid.KeyFileVerifier, which this
// implements without either package importing the other): the file must
// verify (Verify's refusals) and be bound to exactly keyID. A file bound
// to another key, or to a request code, is refused as binding-mismatch: a
// key authorizes with the files issued for it, and a request-code file is
// uploaded, not carried.
func (v *Verifier) VerifyKeyFile(raw []byte, keyID string) (domain.License, error) {
	f, err := v.Verify(raw)
	if err != nil {
		return domain.License{}, err
	}
	switch b := f.Binding; {
	case b.USBKey == keyID:
		return f.License, nil
	case b.USBKey != "":
		return domain.License{}, domain.Reasonf(domain.EINVALID, domain.ReasonBindingMismatch,
			"license %s is bound to USB key %s, but it is stored on USB key %s; a key authorizes only with the files issued for its own id", f.License.ID, b.USBKey, keyID)
	default:
		return domain.License{}, domain.Reasonf(domain.EINVALID, domain.ReasonBindingMismatch,
			"license %s is issued for request code %s, but it is stored on USB key %s; upload request-code files to the platform instead", f.License.ID, b.RequestCode, keyID)
	}
}
