package eventstore

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"time"

	"github.com/licledger/licledger/domain"
)

// Fast encoding. domain.Event.Canonical goes through encoding/json's
// reflection, which costs as much as a third of a single append's client
// time. encodeCanonical writes the same bytes directly for the common case
// (plain ASCII attributes, data with nothing to escape) and answers
// ok=false otherwise, and the caller uses Canonical. A test holds the two
// byte-identical, and canonicalLayoutKnown switches the fast path off
// entirely if domain.Event ever gains, loses or reorders a field, so a
// change there can never silently drop an attribute.

// canonicalFields is domain.Event's JSON layout this encoder writes.
var canonicalFields = []string{
	"specversion", "id", "source", "type", "subject", "time", "datacontenttype,omitempty",
	"aggregateversion", "prevdigest", "schemaversion", "idempotencykey,omitempty", "data",
}

var canonicalLayoutKnown = func() bool {
	t := reflect.TypeFor[domain.Event]()
	if t.NumField() != len(canonicalFields) {
		return false
	}
	for i, want := range canonicalFields {
		if t.Field(i).Tag.Get("json") != want {
			return false
		}
	}
	return true
}()

// encodeCanonical returns e.Canonical() and the offset where the data
// value starts in it, or ok=false when e needs the general encoder.
func encodeCanonical(e domain.Event) (raw []byte, dataAt int, ok bool) {
	if !canonicalLayoutKnown {
		return nil, 0, false
	}
	data := []byte("null")
	switch {
	case len(e.Data) == 0:
	case isCompact(e.Data) && validJSON(e.Data):
		// What json.Marshal produced (the usual case): already compact.
		data = e.Data
		if needsHTMLEscape(data) {
			return nil, 0, false
		}
	default:
		var buf bytes.Buffer
		buf.Grow(len(e.Data))
		if err := json.Compact(&buf, e.Data); err != nil {
			return nil, 0, false
		}
		data = buf.Bytes()
		if needsHTMLEscape(data) {
			return nil, 0, false
		}
	}
	if y := e.Time.Year(); y < 0 || y > 9999 {
		return nil, 0, false
	}
	b := make([]byte, 0, 320+len(data))
	var good bool
	b = append(b, `{"specversion":`...)
	if b, good = appendPlain(b, e.SpecVersion); !good {
		return nil, 0, false
	}
	for _, f := range []struct{ key, val string }{
		{`,"id":`, e.ID}, {`,"source":`, e.Source}, {`,"type":`, e.Type}, {`,"subject":`, e.Subject},
	} {
		b = append(b, f.key...)
		if b, good = appendPlain(b, f.val); !good {
			return nil, 0, false
		}
	}
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if e.DataContentType != "" {
		b = append(b, `,"datacontenttype":`...)
		if b, good = appendPlain(b, e.DataContentType); !good {
			return nil, 0, false
		}
	}
	b = append(b, `,"aggregateversion":`...)
	b = strconv.AppendUint(b, e.AggregateVersion, 10)
	b = append(b, `,"prevdigest":`...)
	if b, good = appendPlain(b, e.PrevDigest); !good {
		return nil, 0, false
	}
	b = append(b, `,"schemaversion":`...)
	b = strconv.AppendInt(b, int64(e.SchemaVersion), 10)
	if e.IdempotencyKey != "" {
		b = append(b, `,"idempotencykey":`...)
		if b, good = appendPlain(b, e.IdempotencyKey); !good {
			return nil, 0, false
		}
	}
	b = append(b, `,"data":`...)
	dataAt = len(b)
	b = append(b, data...)
	b = append(b, '}')
	return b, dataAt, true
}

// isCompact reports whether data has no whitespace outside its strings.
func isCompact(data []byte) bool {
	inString := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inString && c == '\\':
			i++ // skip the escaped byte
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return true
}

// appendPlain appends s as a JSON string if encoding/json would write it
// verbatim: printable ASCII with no quote, backslash or HTML-sensitive
// character.
func appendPlain(b []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return b, false
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

// needsHTMLEscape reports whether encoding/json, which HTML-escapes raw
// JSON values it writes, would change data: '<', '>', '&', U+2028, U+2029.
func needsHTMLEscape(data []byte) bool {
	for i, c := range data {
		switch c {
		case '<', '>', '&':
			return true
		case 0xE2:
			if i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xA8 || data[i+2] == 0xA9) {
				return true
			}
		}
	}
	return false
}
