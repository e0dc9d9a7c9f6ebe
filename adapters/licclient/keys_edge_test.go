package licclient_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/licledger/licledger/adapters/licclient"
	"github.com/licledger/licledger/domain"
)

// mitmKey is a man in the middle's own Ed25519 key.
type mitmKey struct{ priv ed25519.PrivateKey }

func (k mitmKey) ID() string             { return "ledger-mitm0001" }
func (k mitmKey) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// R27 Decision (trust), keys fetched on first use (Config.Keys nil): once
// the client holds the ledger's keys, a key id it does not hold makes it
// fetch GET /v1/ledger/keys again (a rotation). A man in the middle who
// answers that fetch with a key of its own, and a check with an answer
// signed by it valid for a year, must not extend the product's time: a
// new key counts only when a key already held vouches for it.
func TestKeyFetchedForUnknownIDMustBeVouchedFor(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c := w.product(nil)
	good := mustStart(t, c, licclient.Active)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	evil := mitmKey{priv}
	w.net.set(func(n *network) {
		n.rewrite = func(path string, b []byte) []byte {
			switch {
			case strings.HasSuffix(path, "/v1/ledger/keys"):
				var doc map[string][]map[string]any
				json.Unmarshal(b, &doc)
				doc["keys"] = append(doc["keys"], map[string]any{"key_id": evil.ID(), "algorithm": "ed25519",
					"public_key": base64.StdEncoding.EncodeToString(pub), "status": "current"})
				out, _ := json.Marshal(doc)
				return out
			case strings.HasSuffix(path, "/check"):
				return rewriteSigned(t, b, func(s *domain.Signed) {
					p, _ := base64.RawURLEncoding.DecodeString(s.Payload)
					claims := mustClaims(t, p)
					claims.ValidUntil = w.l.Clock.Now().Add(365 * 24 * time.Hour).UTC().Format(time.RFC3339Nano)
					*s = domain.SignAnswer(evil, claims)
				})
			}
			return b
		}
	})
	w.l.Clock.Advance(time.Hour)
	st, _ := c.CheckNow(t.Context())
	if st.Answer.KeyID == evil.ID() || st.State != licclient.Degraded {
		t.Fatalf("an answer signed by a key only the man in the middle vouches for: state %s (%s), signed by %s; want degraded on the answer signed by %s",
			st.State, st.Reason, st.Answer.KeyID, good.Answer.KeyID)
	}
}
