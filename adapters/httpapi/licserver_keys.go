package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// License keys (domain/license_key.go, R27 Decision (trust)): creating a
// subscription or a perpetual license, and rotating its key, answers a
// new key in license_key, once; the log keeps only its hash.

// licenseKeySecret returns the secret part of a new license key for agg.
// With an Idempotency-Key it is derived (HMAC-SHA256 under the ledger's
// secret key) from the license and the caller-scoped key, so a retried
// request gets the same key back although the log only stores its hash;
// otherwise it is 192 random bits.
func (ls *licServer) licenseKeySecret(agg domain.Aggregate, idemKey string) string {
	if idemKey == "" {
		b := make([]byte, 24)
		rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	m := hmac.New(sha256.New, ls.key)
	m.Write([]byte("license-key\x00" + agg.String() + "\x00" + idemKey))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:24])
}

// keyedLicenseCommand is licenseCommand for the commands that issue a
// license key (create, purchase, rotate): build gets the new key's hash
// and returns the decision; the answer carries the key. A replay answers
// the key the first request issued, derived again; one the ledger can no
// longer derive (its secret key changed) is refused.
func keyedLicenseCommand[S any](w http.ResponseWriter, r *http.Request, ls *licServer, x Executor[S], id, name string, creates bool,
	build func(keyHash string) func(S, time.Time) ([]domain.Event, error)) error {
	cmd, err := newCommand[S](r, id, nil)
	if err != nil {
		return err
	}
	agg := domain.Aggregate{Kind: x.Kind().Name, ID: id}
	secret := ls.licenseKeySecret(agg, cmd.IdempotencyKey)
	hash := domain.HashSecret(secret)
	cmd.Creates, cmd.Decide = creates, build(hash)
	res, err := run(ls.s, r, x, name, cmd)
	if err != nil {
		return err
	}
	if res.Replayed && recordedKeyHash(res.Records) != hash {
		return domain.Reasonf(domain.ECONFLICT, domain.ReasonIdempotencyKeyReused,
			"Idempotency-Key %s was used for another request on %s, or issued a key this ledger can no longer derive; send a new key", r.Header.Get("Idempotency-Key"), agg)
	}
	out := LicenseCommandResult{License: agg.String(), Version: res.Version(x.Kind()), Events: appended(res.Records)}
	if len(res.Records) > 0 {
		out.LicenseKey = domain.FormatLicenseKey(agg, secret)
	}
	w.Header().Set("ETag", etag(out.Version))
	w.Header().Set("Cache-Control", "no-store") // the answer holds a secret
	writeJSON(w, commandStatus(r, len(out.Events)), out)
	return nil
}

// recordedKeyHash is the key hash the events of a keyed command recorded.
func recordedKeyHash(recs []eventstore.Record) string {
	for _, rec := range recs {
		var d struct {
			KeySHA256 string `json:"license_key_sha256"`
		}
		if json.Unmarshal(rec.Event.Data, &d) == nil && d.KeySHA256 != "" {
			return d.KeySHA256
		}
	}
	return ""
}

// RevokeKeyRequest is the optional body of DELETE .../license-key.
type RevokeKeyRequest struct {
	Reason string `json:"reason,omitempty"`
}

// rotateKey issues a new license key for a subscription or a perpetual
// license (POST /v1/{subscriptions,perpetual}/{id}/license-key): 201 with
// license_key; the old key is refused as license-key-rotated from now on.
func rotateKey[S any](ls *licServer, x Executor[S], decide func(S, domain.LicenseKeyRotate, time.Time) ([]domain.Event, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		return keyedLicenseCommand(w, r, ls, x, id, "rotate_license_key", false, func(hash string) func(S, time.Time) ([]domain.Event, error) {
			return func(st S, now time.Time) ([]domain.Event, error) {
				return decide(st, domain.LicenseKeyRotate{KeySHA256: hash}, now)
			}
		})
	}
}

// revokeKey revokes a license's key (DELETE .../license-key): activations
// with it are refused as license-key-revoked until a rotation.
func revokeKey[S any](ls *licServer, x Executor[S], decide func(S, domain.LicenseKeyRevoke, time.Time) ([]domain.Event, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		var req RevokeKeyRequest
		if err := decodeOptionalJSON(w, r, ls.s.cfg.MaxBodyBytes, &req); err != nil {
			return err
		}
		return licenseCommand(w, r, ls, x, id, "revoke_license_key", false, func(st S, now time.Time) ([]domain.Event, error) {
			return decide(st, domain.LicenseKeyRevoke{Reason: req.Reason}, now)
		})
	}
}

// The decide functions of the key commands, one per kind.
func decideSubscriptionKey[C domain.SubscriptionCommand](st *domain.SubscriptionState, c C, now time.Time) ([]domain.Event, error) {
	return domain.DecideSubscription(st, c, now)
}

func decidePerpetualKey[C domain.PerpetualCommand](st *domain.PerpetualState, c C, now time.Time) ([]domain.Event, error) {
	return domain.DecidePerpetual(st, c, now)
}
