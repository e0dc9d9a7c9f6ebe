package domain

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// SpecVersion is the CloudEvents version of every event envelope.
const SpecVersion = "1.0"

// SchemaVersion is the envelope/data schema written by this code. Older
// versions stay readable through upcasters; history is never rewritten.
const SchemaVersion = 1

// Event is one immutable fact of the ledger: a CloudEvents 1.0 structured
// JSON envelope with the ledger's extensions. The field order below is the
// canonical encoding order; Canonical relies on it, so do not reorder.
//
// Who fills what: a Decide function sets Type, Subject and Data. The event
// store stamps SpecVersion, ID (unless the caller set one for idempotency),
// Source (unless set), Time, AggregateVersion, PrevDigest and SchemaVersion.
type Event struct {
	SpecVersion      string          `json:"specversion"`
	ID               string          `json:"id"`
	Source           string          `json:"source"`
	Type             string          `json:"type"`
	Subject          string          `json:"subject"`
	Time             time.Time       `json:"time"`
	DataContentType  string          `json:"datacontenttype,omitempty"`
	AggregateVersion uint64          `json:"aggregateversion"`
	PrevDigest       string          `json:"prevdigest"`
	SchemaVersion    int             `json:"schemaversion"`
	IdempotencyKey   string          `json:"idempotencykey,omitempty"`
	Data             json.RawMessage `json:"data"`
}

// NewEvent builds an event of the given type for an aggregate subject with
// data marshalled to JSON. It is what Decide functions use.
func NewEvent(subject, typ string, data any) (Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, Errorf(EINTERNAL, "encode %s data: %v", typ, err)
	}
	return Event{Type: typ, Subject: subject, Data: raw}, nil
}

// Canonical returns the event's canonical bytes: compact JSON, fields in
// declaration order, time in RFC 3339 UTC. The same event always yields
// the same bytes, so digests over them are stable.
func (e Event) Canonical() ([]byte, error) {
	e.Time = e.Time.UTC()
	if len(e.Data) == 0 {
		e.Data = json.RawMessage("null")
	} else {
		var buf bytes.Buffer
		if err := json.Compact(&buf, e.Data); err != nil {
			return nil, Errorf(EINVALID, "event %s: data is not JSON: %v", e.ID, err)
		}
		e.Data = buf.Bytes()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, Errorf(EINTERNAL, "encode event %s: %v", e.ID, err)
	}
	return b, nil
}

// Digest is the hex SHA-256 of an event's stored bytes; the next event of
// the same aggregate carries it as PrevDigest (R33).
func Digest(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// DecodeEvent parses stored event bytes and checks the envelope's required
// attributes. Unknown extension attributes are tolerated (CloudEvents
// allows them, and newer writers may add some); a missing required
// attribute or an unsupported schema version is an EINVALID error.
func DecodeEvent(raw []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return Event{}, Errorf(EINVALID, "event is not valid JSON: %v", err)
	}
	switch {
	case e.SpecVersion != SpecVersion:
		return Event{}, Errorf(EINVALID, "event %q: specversion %q, want %q", e.ID, e.SpecVersion, SpecVersion)
	case e.ID == "":
		return Event{}, Errorf(EINVALID, "event has no id")
	case e.Type == "":
		return Event{}, Errorf(EINVALID, "event %s has no type", e.ID)
	case e.Subject == "":
		return Event{}, Errorf(EINVALID, "event %s has no subject", e.ID)
	case e.Time.IsZero():
		return Event{}, Errorf(EINVALID, "event %s has no time", e.ID)
	case e.AggregateVersion == 0:
		return Event{}, Errorf(EINVALID, "event %s has no aggregateversion", e.ID)
	case e.SchemaVersion < 1 || e.SchemaVersion > SchemaVersion:
		return Event{}, Errorf(EINVALID, "event %s: unsupported schemaversion %d (this build reads 1..%d)", e.ID, e.SchemaVersion, SchemaVersion)
	}
	if _, err := ParseAggregate(e.Subject); err != nil {
		return Event{}, err
	}
	e.Time = e.Time.UTC()
	return e, nil
}

// Aggregate kinds: the first part of an event subject ("platform/acme").
const (
	KindPlatform     = "platform"
	KindSubscription = "subscription"
	KindPerpetual    = "perpetual"
	KindCoupon       = "coupon"
)

// Aggregate names one consistency boundary: Kind/ID.
type Aggregate struct {
	Kind string
	ID   string
}

func (a Aggregate) String() string { return a.Kind + "/" + a.ID }

// ParseAggregate parses an event subject like "platform/acme-prod". IDs are
// restricted to letters, digits, '-' and '_' (1..128 chars) because they
// become a NATS subject token, where '.', '*', '>' and spaces have meaning.
func ParseAggregate(subject string) (Aggregate, error) {
	kind, id, ok := strings.Cut(subject, "/")
	if !ok {
		return Aggregate{}, Errorf(EINVALID, "subject %q is not kind/id", subject)
	}
	switch kind {
	case KindPlatform, KindSubscription, KindPerpetual, KindCoupon:
	default:
		return Aggregate{}, Errorf(EINVALID, "subject %q: unknown aggregate kind %q", subject, kind)
	}
	if err := ValidateID(id); err != nil {
		return Aggregate{}, err
	}
	return Aggregate{Kind: kind, ID: id}, nil
}

// ValidateID checks an aggregate, license, node, host or key id.
func ValidateID(id string) error {
	if id == "" || len(id) > 128 {
		return Errorf(EINVALID, "id %q must be 1 to 128 characters", id)
	}
	for _, r := range id {
		ok := r == '-' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return Errorf(EINVALID, "id %q may only hold letters, digits, '-' and '_'", id)
		}
	}
	return nil
}
