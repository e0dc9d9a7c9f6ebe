package eventstore

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/nats-io/nats.go"
)

// Authorship marks: how the ledger tells the events it wrote from events
// someone published straight to the stream (R31's "nothing but the ledger
// writes the log", checked rather than assumed).
//
// Every message the ledger publishes carries the header
//
//	Licledger-Mark: v1 <key id> <base64url HMAC-SHA256(mark secret, stored bytes)>
//
// where the mark secret is derived from the ledger's key for this purpose
// alone (ledgerkey.Key.Derive(MarkPurpose)). The MAC covers the event's
// stored bytes, which hold its id, aggregate, version and prevdigest, so a
// mark copied onto another event does not verify. A MAC rather than a
// signature: one HMAC per event costs about a microsecond where an Ed25519
// signature costs tens (BenchmarkAppendMark measures the append cost), and
// the only party who must check a mark is the ledger itself, when it
// verifies the log and before it signs a checkpoint: an outsider with the
// public key learns authorship from the signed checkpoint (its foreign
// list), never from a mark.
//
// Events stored before marking existed carry no mark. Every event before
// the first marked one is "legacy unmarked" (reported, not a problem: old
// data keeps working); after it, a missing or wrong mark is "foreign".
const (
	MarkHeader  = "Licledger-Mark"
	MarkPurpose = "event-marks"
	markVersion = "v1"
)

// MarkKey is the secret the store marks its events with.
type MarkKey struct {
	ID     string // the ledger key's id, named in each mark
	Secret []byte // ledgerkey.Key.Derive(MarkPurpose)
}

func (k *MarkKey) mac(raw []byte) []byte {
	m := hmac.New(sha256.New, k.Secret)
	m.Write(raw)
	return m.Sum(nil)
}

// mark is the header value for an event's stored bytes.
func (k *MarkKey) mark(raw []byte) string {
	return markVersion + " " + k.ID + " " + base64.RawURLEncoding.EncodeToString(k.mac(raw))
}

// Mark states of an event, as verification reports them.
const (
	MarkValid   = "valid"   // written by the ledger holding the key
	MarkMissing = "missing" // no mark header
	MarkWrong   = "wrong"   // a mark that does not verify (another key, or forged)
)

// check returns the state of the mark header value h for raw.
func (k *MarkKey) check(h string, raw []byte) string {
	if h == "" {
		return MarkMissing
	}
	parts := strings.Split(h, " ")
	if len(parts) != 3 || parts[0] != markVersion || parts[1] != k.ID {
		return MarkWrong
	}
	got, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(got, k.mac(raw)) {
		return MarkWrong
	}
	return MarkValid
}

// markMsg adds the store's mark to an event message (none without a
// MarkKey: a store that only reads, or a test of the unmarked path).
func (s *Store) markMsg(m *nats.Msg) {
	if k := s.cfg.Mark; k != nil {
		m.Header[MarkHeader] = []string{k.mark(m.Data)}
	}
}
