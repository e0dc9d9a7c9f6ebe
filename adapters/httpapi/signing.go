package httpapi

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/licledger/licledger/domain"
)

// Signed answers and the ledger's public keys (R27 Decision (trust); the
// byte format is domain/answer.go's). Every activation and check answer
// carries "signed"; an entitlement is signed on request (?signed=1). The
// keys a product verifies with are public: GET /v1/ledger/keys lists every
// key id, current and retired, so an answer stored before a rotation keeps
// verifying.

// PublicKey is one ledger key as GET /v1/ledger/keys lists it.
type PublicKey struct {
	ID     string            `json:"key_id"`
	Alg    string            `json:"algorithm"`  // "ed25519"
	Key    ed25519.PublicKey `json:"public_key"` // JSON: base64 (standard, padded), 32 bytes
	Status string            `json:"status"`     // "current" or "retired"
	// Endorsement is the ledger's root key vouching for this one
	// (domain.EndorseKey): a client that fetched the keys on first use
	// adds a rotated key only when a key it holds endorsed it.
	Endorsement *domain.Signed `json:"endorsement,omitempty"`
}

// LedgerKeysDoc is the answer of GET /v1/ledger/keys.
type LedgerKeysDoc struct {
	Keys []PublicKey `json:"keys"`
}

// SigningConfig is how a Server signs (Config.Signing). The zero value
// signs with a key made for this process only (tests, embedding): answers
// then verify only against its own /v1/ledger/keys.
type SigningConfig struct {
	// Signer signs answers and documents: the ledger key's current one.
	Signer domain.Signer
	// Keys is every published key, the current one included.
	Keys []PublicKey
}

// processKey is a signing key that lives as long as the process.
type processKey struct {
	id   string
	priv ed25519.PrivateKey
}

func (k processKey) ID() string             { return k.id }
func (k processKey) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

func newSigning(cfg SigningConfig) SigningConfig {
	if cfg.Signer != nil {
		return cfg
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sum := sha256.Sum256(pub)
	k := processKey{id: "process-" + hex.EncodeToString(sum[:4]), priv: priv}
	return SigningConfig{Signer: k, Keys: []PublicKey{{ID: k.id, Alg: "ed25519", Key: pub, Status: "current"}}}
}

// ledgerKeys answers GET /v1/ledger/keys (public: a product verifies
// before it holds any credential worth stealing).
func (s *Server) ledgerKeys(w http.ResponseWriter, r *http.Request) error {
	doc := LedgerKeysDoc{Keys: s.signing.Keys}
	if doc.Keys == nil {
		doc.Keys = []PublicKey{}
	}
	w.Header().Set("Cache-Control", "max-age=300")
	writeJSON(w, http.StatusOK, doc)
	return nil
}

// signReply adds the signature of what reply states, decided at now.
func (s *Server) signReply(kind string, reply *domain.InstanceCheckReply, now time.Time) {
	signed := domain.SignAnswer(s.signing.Signer, domain.NewAnswerClaims(kind, *reply, now))
	reply.Signed = &signed
}

// signRefusal signs err when it is a refusal an instance acts on (a 4xx
// with a reason, not a rate limit): what the license client verifies
// before it stops the product. Other errors pass unchanged.
func (s *Server) signRefusal(err error, license, instance, version, credential string) error {
	st, reason := Status(err), domain.ErrorReason(err)
	if err == nil || st < 400 || st >= 500 || st == http.StatusTooManyRequests || reason == "" {
		return err
	}
	c := domain.NewRefusalClaims(license, instance, version, reason, credential, s.cfg.Now())
	return &signedRefusal{err: err, signed: domain.SignAnswer(s.signing.Signer, c)}
}

// wantsSigned reads ?signed=1 (or true); anything else but absent, 0 or
// false is a bad parameter.
func wantsSigned(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("signed"); v {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	default:
		return false, badParam("signed", "%q is not 1 or 0", v)
	}
}

// writeSigned answers b signed under prefix: the envelope
// {"key_id","payload","signature"}, payload the bytes of b.
func (s *Server) writeSigned(w http.ResponseWriter, prefix string, b []byte) {
	writeJSON(w, http.StatusOK, domain.SignDocument(s.signing.Signer, prefix, b))
}
