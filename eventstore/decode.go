package eventstore

import (
	"encoding/json"
	"fmt"
	"unsafe"

	"github.com/licledger/licledger/domain"
)

// Record is one stored event: its stream sequence, the decoded envelope,
// and Raw, the exact bytes stored (canonical JSON; its domain.Digest is
// the next event's PrevDigest). Raw must not be modified: Event's strings
// and Data share its memory.
type Record struct {
	Seq   uint64
	Event domain.Event
	Raw   []byte
}

// DecodeError is what Read and Subscribe yield for a stored message that
// is not a valid event (not JSON, a missing attribute, an unsupported
// schema version, an event whose subject is not the one it is stored
// under). The Record yielded with it still has Seq and Raw, so a reader
// can report or skip it and go on.
type DecodeError struct {
	Seq     uint64
	Subject string // the JetStream subject the message was stored under
	Err     error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("stream sequence %d (%s): malformed event: %v", e.Seq, e.Subject, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// DecodeStored decodes an event's stored bytes (as a projection keeps
// them) with the read path's decoder: the same result as
// domain.DecodeEvent, several times faster on the ledger's own encoding,
// which matters when a query folds thousands of events (an as-of
// answer). Errors are domain.DecodeEvent's.
func DecodeStored(raw []byte) (domain.Event, error) {
	if ev, ok := decodeFast(raw); ok {
		return ev, nil
	}
	return domain.DecodeEvent(raw)
}

// decodeRecord decodes one stored message. The error, if any, is a
// *DecodeError.
func decodeRecord(seq uint64, subject string, raw []byte) (Record, error) {
	rec := Record{Seq: seq, Raw: raw}
	ev, ok := decodeFast(raw)
	if !ok {
		var err error
		if ev, err = domain.DecodeEvent(raw); err != nil {
			return rec, &DecodeError{Seq: seq, Subject: subject, Err: err}
		}
	}
	if !subjectMatches(subject, ev.Subject) {
		return rec, &DecodeError{Seq: seq, Subject: subject,
			Err: domain.Errorf(domain.EINVALID, "event %s names aggregate %q but is stored under subject %q", ev.ID, ev.Subject, subject)}
	}
	rec.Event = ev
	return rec, nil
}

// subjectMatches reports whether a JetStream subject "ledger.kind.id"
// belongs to the event subject "kind/id", without allocating.
func subjectMatches(natsSubject, eventSubject string) bool {
	const p = SubjectPrefix + "."
	if eventSubject == "" || len(natsSubject) != len(p)+len(eventSubject) || natsSubject[:len(p)] != p {
		return false
	}
	rest := natsSubject[len(p):]
	for i := 0; i < len(eventSubject); i++ {
		c := eventSubject[i]
		if c == '/' {
			c = '.'
		}
		if rest[i] != c {
			return false
		}
	}
	return true
}

// Fast decoding. Reading the log is dominated by decoding, and
// encoding/json's reflection costs several times the read itself. Every
// event this package writes is in one known shape (domain.Event.Canonical:
// compact JSON, plain ASCII strings, data last), so decodeFast parses that
// shape directly and answers ok=false for anything else (escapes,
// whitespace, unknown or repeated attributes, invalid values), and the
// caller falls back to domain.DecodeEvent, the reference decoder. When ok
// is true the result equals what domain.DecodeEvent returns for raw; a
// fuzz test holds the two to that.

// field indexes into the offsets table.
const (
	fSpec = iota
	fID
	fSource
	fType
	fSubject
	fTime
	fContentType
	fIdemKey
	fPrevDigest
	nStringFields
)

// stringField maps an attribute name to its index; a switch on
// string(bytes) neither allocates nor hashes.
func stringField(key []byte) (int, bool) {
	switch string(key) {
	case "specversion":
		return fSpec, true
	case "id":
		return fID, true
	case "source":
		return fSource, true
	case "type":
		return fType, true
	case "subject":
		return fSubject, true
	case "time":
		return fTime, true
	case "datacontenttype":
		return fContentType, true
	case "idempotencykey":
		return fIdemKey, true
	case "prevdigest":
		return fPrevDigest, true
	}
	return 0, false
}

func decodeFast(raw []byte) (domain.Event, bool) {
	var (
		ev         domain.Event
		off        [nStringFields][2]int // start, end of each string value in raw
		seen       uint32
		version    uint64
		schema     uint64
		haveData   bool
		headerSize int
	)
	n := len(raw)
	if n < 2 || raw[0] != '{' || raw[n-1] != '}' {
		return ev, false
	}
	i := 1
	for !haveData {
		// key
		if i >= n || raw[i] != '"' {
			return ev, false
		}
		ks := i + 1
		ke := ks
		for ke < n && raw[ke] != '"' {
			if raw[ke] == '\\' || raw[ke] < 0x20 || raw[ke] >= 0x80 {
				return ev, false
			}
			ke++
		}
		if ke+1 >= n || raw[ke+1] != ':' {
			return ev, false
		}
		key := raw[ks:ke]
		i = ke + 2
		var bit uint32
		switch string(key) { // no allocation: the compiler special-cases this
		case "aggregateversion", "schemaversion":
			v, j, ok := parseUint(raw, i)
			if !ok {
				return ev, false
			}
			if string(key) == "aggregateversion" {
				bit, version = 1<<nStringFields, v
			} else {
				bit, schema = 1<<(nStringFields+1), v
			}
			i = j
		case "data":
			// data is last: the value runs to the closing brace.
			v := raw[i : n-1]
			if len(v) == 0 || isSpace(v[0]) || isSpace(v[len(v)-1]) || !validJSON(v) {
				return ev, false
			}
			ev.Data = json.RawMessage(v[:len(v):len(v)])
			headerSize = i
			bit, haveData = 1<<(nStringFields+2), true
			i = n - 1
		default:
			f, known := stringField(key)
			if !known {
				return ev, false
			}
			s, e, ok := scanString(raw, i)
			if !ok {
				return ev, false
			}
			off[f] = [2]int{s, e}
			bit = 1 << f
			i = e + 1
		}
		if seen&bit != 0 {
			return ev, false // repeated attribute: leave it to the reference decoder
		}
		seen |= bit
		if i >= n {
			return ev, false
		}
		switch raw[i] {
		case ',':
			i++
		case '}':
			if i != n-1 || !haveData {
				return ev, false
			}
		default:
			return ev, false
		}
	}
	// The string attributes alias raw, with no copy and no allocation per
	// event. Safe because raw is never modified: it is the message buffer
	// nats.go allocates per message (or the store's own encoding), and
	// Record documents Raw as read-only (Data aliases it too).
	hdr := unsafe.String(&raw[0], headerSize)
	str := func(f int) string { return hdr[off[f][0]:off[f][1]] }
	ev.SpecVersion = str(fSpec)
	ev.ID = str(fID)
	ev.Source = str(fSource)
	ev.Type = str(fType)
	ev.Subject = str(fSubject)
	ev.DataContentType = str(fContentType)
	ev.IdempotencyKey = str(fIdemKey)
	ev.PrevDigest = str(fPrevDigest)
	ev.AggregateVersion = version
	if schema > uint64(domain.SchemaVersion) {
		return ev, false
	}
	ev.SchemaVersion = int(schema)
	if seen&(1<<fTime) == 0 {
		return ev, false
	}
	t, ok := domain.ParseCanonicalTime(str(fTime))
	if !ok || t.IsZero() {
		return ev, false
	}
	ev.Time = t
	// The checks domain.DecodeEvent makes; on failure it produces the
	// error message.
	if ev.SpecVersion != domain.SpecVersion || ev.ID == "" || ev.Type == "" || ev.Subject == "" ||
		ev.AggregateVersion == 0 || ev.SchemaVersion < 1 {
		return ev, false
	}
	if _, err := domain.ParseAggregate(ev.Subject); err != nil {
		return ev, false
	}
	return ev, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// scanString reads a JSON string starting at raw[i] == '"' that has no
// escapes and only printable ASCII; it returns the content's bounds.
func scanString(raw []byte, i int) (start, end int, ok bool) {
	if i >= len(raw) || raw[i] != '"' {
		return 0, 0, false
	}
	for j := i + 1; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '"':
			return i + 1, j, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// parseUint reads a JSON non-negative integer with no leading zeros.
func parseUint(raw []byte, i int) (v uint64, next int, ok bool) {
	j := i
	for j < len(raw) && raw[j] >= '0' && raw[j] <= '9' {
		d := uint64(raw[j] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, 0, false
		}
		v = v*10 + d
		j++
	}
	if j == i || (raw[i] == '0' && j-i > 1) {
		return 0, 0, false
	}
	return v, j, true
}
