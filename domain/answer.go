package domain

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"time"
)

// Signed answers (R27 Decision (trust)): the "magic bytes" of seed 004. An
// activation or check answer carries a signed statement of what the ledger
// decided, so a product can verify it offline with nothing but the ledger's
// public key, and keep running on it for its tolerance (24 h) when the
// ledger cannot be reached.
//
// Byte format (licledger-answer/1), so any language can verify it:
//
//   - payload: the exact bytes the ledger signed, a UTF-8 JSON object
//     (AnswerClaims); a verifier never re-encodes it, it checks the
//     signature over the bytes it received and only then parses them;
//   - signature: Ed25519 (RFC 8032) over AnswerSigningPrefix followed by the
//     payload bytes. The prefix separates these signatures from every other
//     use of the ledger key (checkpoints, entitlement documents);
//   - on the wire: {"key_id", "payload": base64url without padding,
//     "signature": base64url without padding}, the key being the one
//     GET /v1/ledger/keys lists under key_id.
//
// The same envelope signs entitlement documents on request, with their own
// prefix (EntitlementSigningPrefix) and the document as payload.

// Signing prefixes: what each kind of signed document's signature covers
// before its payload bytes.
const (
	AnswerFormat             = "licledger-answer/1"
	AnswerSigningPrefix      = "licledger-answer/1\n"
	EntitlementSigningPrefix = "licledger-entitlement/1\n"
	// KeySigningPrefix signs a KeyEndorsement: a ledger key vouching
	// for another (GET /v1/ledger/keys' "endorsement"), so a client that
	// trusted the first keys it fetched accepts a rotated key only when a
	// key it already holds signed it, never one a man in the middle adds.
	KeySigningPrefix = "licledger-key/1\n"
)

// Answer kinds.
const (
	AnswerActivation = "activation"
	AnswerCheck      = "check"
	// AnswerRefusal is a signed refusal of an activation or a check: its
	// Status is the refusal's reason word and it holds no time (ValidUntil
	// equals IssuedAt). A client acts on a refusal only when it is signed,
	// so nobody between the product and the ledger can stop the product
	// by answering a refusal in the ledger's place.
	AnswerRefusal = "refusal"
)

// AnswerClaims is what a signed answer states. Times are RFC 3339 UTC with
// nanoseconds. Fields may be added, never removed or renamed; a verifier
// ignores fields it does not know.
type AnswerClaims struct {
	Format        string       `json:"format"`   // AnswerFormat
	Kind          string       `json:"kind"`     // AnswerActivation or AnswerCheck
	License       string       `json:"license"`  // "subscription/<id>" or "perpetual/<id>"
	Instance      string       `json:"instance"` // the instance the answer is for
	Status        string       `json:"status"`
	Plan          InstancePlan `json:"plan"`
	InstanceLimit int          `json:"instance_limit"`
	Version       string       `json:"version"` // the product version the answer is about
	// Fallback names the perpetual license a canceled or expired
	// subscription answered from (R28 Decision (fallback)), else "".
	Fallback   string `json:"fallback,omitempty"`
	IssuedAt   string `json:"issued_at"`   // the ledger's decision instant
	ValidUntil string `json:"valid_until"` // the product may run on this answer until then
	KeyID      string `json:"key_id"`      // the ledger key that signs it
	// Credential, on a refusal only, is HashSecret of the credential the
	// refused request presented (the instance secret of a check, the
	// license key of an activation): the refusal is of that request, so
	// one obtained with another credential (a wrong secret) does not
	// stop the instance that holds the right one.
	Credential string `json:"credential,omitempty"`
}

// Issued and Until parse IssuedAt and ValidUntil (zero when malformed).
func (c AnswerClaims) Issued() time.Time { return srvParseTime(c.IssuedAt) }

// Until parses ValidUntil.
func (c AnswerClaims) Until() time.Time { return srvParseTime(c.ValidUntil) }

func srvParseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Signed is the envelope of a signed document: the payload bytes, the
// signature over prefix+payload, and the id of the key that made it.
type Signed struct {
	KeyID     string `json:"key_id"`
	Payload   string `json:"payload"`   // base64url, no padding
	Signature string `json:"signature"` // base64url, no padding
}

// Signer is the ledger key as the signing code needs it
// (adapters/ledgerkey implements it).
type Signer interface {
	ID() string
	Sign(msg []byte) []byte
}

// NewAnswerClaims states reply as a signed answer will: issued at now,
// valid for the lease. Not capped at a subscription's period end: a
// renewal (or a perpetual fallback) may extend it while the product is
// offline, and R27 gives an offline product its 24 hours whatever the
// period; the next check after the end learns the status.
func NewAnswerClaims(kind string, reply InstanceCheckReply, now time.Time) AnswerClaims {
	now = now.UTC()
	until := now.Add(time.Duration(reply.LeaseSeconds) * time.Second)
	if reply.LeaseSeconds <= 0 {
		until = now.Add(InstanceDefaultLease)
	}
	return AnswerClaims{
		Format: AnswerFormat, Kind: kind, License: reply.License, Instance: reply.Instance, Status: reply.Status,
		Plan: reply.Plan, InstanceLimit: reply.InstanceLimit, Version: reply.Version, Fallback: reply.Fallback,
		IssuedAt: srvTimeText(now), ValidUntil: srvTimeText(until),
	}
}

// SignDocument signs payload under prefix with key.
func SignDocument(key Signer, prefix string, payload []byte) Signed {
	msg := make([]byte, 0, len(prefix)+len(payload))
	msg = append(append(msg, prefix...), payload...)
	return Signed{
		KeyID:     key.ID(),
		Payload:   base64.RawURLEncoding.EncodeToString(payload),
		Signature: base64.RawURLEncoding.EncodeToString(key.Sign(msg)),
	}
}

// SignAnswer encodes c (with the key's id) and signs it.
func SignAnswer(key Signer, c AnswerClaims) Signed {
	c.KeyID = key.ID()
	b, _ := json.Marshal(c) // plain strings and ints: never fails
	return SignDocument(key, AnswerSigningPrefix, b)
}

// VerifyDocument checks s against the public keys by id and returns the
// payload bytes. Errors are EUNAUTHORIZED with ReasonBadAnswerSignature
// (a key id not in keys, a malformed envelope, or a signature that does
// not verify: forged or tampered).
func VerifyDocument(keys map[string]ed25519.PublicKey, prefix string, s Signed) ([]byte, error) {
	pub, ok := keys[s.KeyID]
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, Reasonf(EUNAUTHORIZED, ReasonBadAnswerSignature, "signed by key %q, which is not a ledger key", s.KeyID)
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(s.Payload)
	sig, err2 := base64.RawURLEncoding.DecodeString(s.Signature)
	if err1 != nil || err2 != nil {
		return nil, Reasonf(EUNAUTHORIZED, ReasonBadAnswerSignature, "the payload or signature is not base64url")
	}
	msg := append([]byte(prefix), payload...)
	if !ed25519.Verify(pub, msg, sig) {
		return nil, Reasonf(EUNAUTHORIZED, ReasonBadAnswerSignature, "the signature by key %s does not match the payload", s.KeyID)
	}
	return payload, nil
}

// VerifyAnswer checks a signed answer and returns its claims. Besides
// VerifyDocument's errors, a payload that is not an AnswerClaims of this
// format, whose key_id differs from the envelope's, or without issue and
// validity instants is ReasonBadAnswerSignature too.
func VerifyAnswer(keys map[string]ed25519.PublicKey, s Signed) (AnswerClaims, error) {
	payload, err := VerifyDocument(keys, AnswerSigningPrefix, s)
	if err != nil {
		return AnswerClaims{}, err
	}
	var c AnswerClaims
	d := json.NewDecoder(bytes.NewReader(payload))
	if err := d.Decode(&c); err != nil || c.Format != AnswerFormat {
		return AnswerClaims{}, Reasonf(EUNAUTHORIZED, ReasonBadAnswerSignature, "the signed payload is not a %s answer", AnswerFormat)
	}
	if c.Kind != AnswerActivation && c.Kind != AnswerCheck {
		return AnswerClaims{}, Reasonf(EUNAUTHORIZED, ReasonBadAnswerSignature, "the signed payload is a %q, not an answer", c.Kind)
	}
	if c.KeyID != s.KeyID || c.Issued().IsZero() || !c.Until().After(c.Issued()) {
		return AnswerClaims{}, Reasonf(EUNAUTHORIZED, ReasonBadAnswerSignature, "the signed answer's key id or validity is inconsistent")
	}
	return c, nil
}

// NewRefusalClaims states a refusal of instance (empty for an activation)
// on license, for version, with reason, of a request that presented
// credential (kept as its HashSecret), decided at now.
func NewRefusalClaims(license, instance, version, reason, credential string, now time.Time) AnswerClaims {
	at := srvTimeText(now.UTC())
	return AnswerClaims{Format: AnswerFormat, Kind: AnswerRefusal, License: license, Instance: instance, Status: reason,
		Version: version, IssuedAt: at, ValidUntil: at, Credential: HashSecret(credential)}
}

// VerifyRefusal checks a signed refusal and returns its claims: the
// errors of VerifyDocument, and ReasonBadAnswerSignature for a payload
// that is not a refusal of this format or whose key id differs from the
// envelope's.
func VerifyRefusal(keys map[string]ed25519.PublicKey, s Signed) (AnswerClaims, error) {
	payload, err := VerifyDocument(keys, AnswerSigningPrefix, s)
	if err != nil {
		return AnswerClaims{}, err
	}
	var c AnswerClaims
	if err := json.NewDecoder(bytes.NewReader(payload)).Decode(&c); err != nil || c.Format != AnswerFormat || c.Kind != AnswerRefusal {
		return AnswerClaims{}, Reasonf(EUNAUTHORIZED, ReasonBadAnswerSignature, "the signed payload is not a %s refusal", AnswerFormat)
	}
	if c.KeyID != s.KeyID || c.Issued().IsZero() || c.Status == "" {
		return AnswerClaims{}, Reasonf(EUNAUTHORIZED, ReasonBadAnswerSignature, "the signed refusal's key id, instant or reason is missing")
	}
	return c, nil
}

// KeyEndorsement is the payload of a key endorsement: the key vouched for.
type KeyEndorsement struct {
	KeyID     string `json:"key_id"`
	PublicKey []byte `json:"public_key"` // JSON: standard base64 of the 32 bytes
}

// EndorseKey signs, with by, that the key id names pub.
func EndorseKey(by Signer, id string, pub ed25519.PublicKey) Signed {
	b, _ := json.Marshal(KeyEndorsement{KeyID: id, PublicKey: pub}) // a string and bytes: never fails
	return SignDocument(by, KeySigningPrefix, b)
}

// VerifyEndorsement checks that s, signed by one of keys, vouches for id
// naming pub. Errors are ReasonBadAnswerSignature, as VerifyDocument's.
func VerifyEndorsement(keys map[string]ed25519.PublicKey, s Signed, id string, pub ed25519.PublicKey) error {
	payload, err := VerifyDocument(keys, KeySigningPrefix, s)
	if err != nil {
		return err
	}
	var e KeyEndorsement
	if err := json.Unmarshal(payload, &e); err != nil || e.KeyID != id || !bytes.Equal(e.PublicKey, pub) {
		return Reasonf(EUNAUTHORIZED, ReasonBadAnswerSignature, "the endorsement by key %s does not vouch for key %s", s.KeyID, id)
	}
	return nil
}
