package domain

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// jsonReader is a small, strict JSON reader for event data on the fold's
// hot path. encoding/json costs 1–3 µs per event through reflection, which
// alone would cap a fold below a million events per second; this reader
// decodes the same shapes in a fraction of that.
//
// Contract: whatever jsonReader accepts, encoding/json accepts too and
// decodes to the same value (FuzzPlatformDataAgreesWithEncodingJSON checks
// it). It is stricter in two ways: a known field may appear only once, and
// a field name that matches a known field case-insensitively but not
// exactly is an error, where encoding/json would silently accept both. Strings with escapes or non-ASCII bytes, which
// are rare in ids, are handed to encoding/json so their semantics are
// exactly the standard ones.
type jsonReader struct {
	b     []byte
	i     int
	depth int
}

// maxJSONDepth matches encoding/json's nesting limit.
const maxJSONDepth = 10000

func (r *jsonReader) errorf(format string, args ...any) error {
	return Errorf(EINVALID, "data: "+format+" (at byte %d)", append(args, r.i)...)
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end of input.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i >= len(r.b) {
		return 0
	}
	return r.b[r.i]
}

// end checks that nothing but space follows the value read.
func (r *jsonReader) end() error {
	if r.peek() != 0 {
		return r.errorf("unexpected %q after the value", r.b[r.i])
	}
	return nil
}

// null consumes a null literal if one comes next.
func (r *jsonReader) null() bool {
	if r.peek() == 'n' && len(r.b)-r.i >= 4 && string(r.b[r.i:r.i+4]) == "null" {
		r.i += 4
		return true
	}
	return false
}

// object reads an object (or null, which reads as no fields, as in
// encoding/json), calling field for each name. field must consume the
// value and return true, or return false for a name it does not know, in
// which case the value is skipped (fields may be added to the contract).
// known lists the field names (at most 64): a known field that appears
// twice is refused (encoding/json would merge or overwrite, a classic
// smuggling vector), and so is a near-miss in letter case. The name passed
// to field is only valid during the call.
func (r *jsonReader) object(field func(name []byte) (bool, error), known ...string) error {
	if r.null() {
		return nil
	}
	if r.peek() != '{' {
		return r.errorf("want an object")
	}
	r.i++
	if r.depth++; r.depth > maxJSONDepth {
		return r.errorf("nested too deeply")
	}
	defer func() { r.depth-- }()
	if r.peek() == '}' {
		r.i++
		return nil
	}
	var seen uint64 // known fields read so far: a repeated one is refused
	for {
		if r.peek() != '"' {
			return r.errorf("want a field name")
		}
		name, err := r.rawString()
		if err != nil {
			return err
		}
		if r.peek() != ':' {
			return r.errorf("want ':' after field name %q", name)
		}
		r.i++
		for j, k := range known {
			if k == string(name) {
				if seen&(1<<j) != 0 {
					return r.errorf("field %q appears twice", name)
				}
				seen |= 1 << j
				break
			}
		}
		ok, err := field(name)
		if err != nil {
			return err
		}
		if !ok {
			for _, k := range known {
				if strings.EqualFold(k, string(name)) {
					return r.errorf("field %q: field names are lower case (%q)", name, k)
				}
			}
			if err := r.skip(); err != nil {
				return err
			}
		}
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return nil
		default:
			return r.errorf("want ',' or '}' in object")
		}
	}
}

// array reads an array (null reads as empty), calling elem per element.
func (r *jsonReader) array(elem func() error) error {
	if r.null() {
		return nil
	}
	if r.peek() != '[' {
		return r.errorf("want an array")
	}
	r.i++
	if r.depth++; r.depth > maxJSONDepth {
		return r.errorf("nested too deeply")
	}
	defer func() { r.depth-- }()
	if r.peek() == ']' {
		r.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return nil
		default:
			return r.errorf("want ',' or ']' in array")
		}
	}
}

// str reads a string; null reads as "" (encoding/json leaves it unset).
func (r *jsonReader) str() (string, error) {
	b, err := r.strBytes()
	return string(b), err
}

// enum reads a string and returns the matching constant of values, so the
// common enumerations cost no allocation; any other string is returned as
// read, for the caller to refuse with a clear message.
func (r *jsonReader) enum(values ...string) (string, error) {
	b, err := r.strBytes()
	for _, v := range values {
		if string(b) == v {
			return v, err
		}
	}
	return string(b), err
}

// strBytes reads a string (null reads as empty) and returns its bytes,
// valid until the reader moves on.
func (r *jsonReader) strBytes() ([]byte, error) {
	if r.null() {
		return nil, nil
	}
	if r.peek() != '"' {
		return nil, r.errorf("want a string")
	}
	return r.rawString()
}

// rawString reads a string literal at r.i. Plain ASCII without escapes is
// sliced from the input; anything else goes through encoding/json.
func (r *jsonReader) rawString() ([]byte, error) {
	start := r.i
	r.i++
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return r.b[start+1 : r.i-1], nil
		case c == '\\' || c >= 0x80:
			return r.slowString(start)
		case c < 0x20:
			return nil, r.errorf("control character in string")
		}
		r.i++
	}
	return nil, r.errorf("unterminated string")
}

// slowString decodes the string literal starting at start with
// encoding/json, after finding its end.
func (r *jsonReader) slowString(start int) ([]byte, error) {
	r.i = start + 1
	for r.i < len(r.b) {
		switch c := r.b[r.i]; {
		case c == '\\':
			r.i += 2
			continue
		case c == '"':
			r.i++
			var s string
			if err := json.Unmarshal(r.b[start:r.i], &s); err != nil {
				return nil, r.errorf("bad string: %v", err)
			}
			return []byte(s), nil
		case c < 0x20:
			return nil, r.errorf("control character in string")
		}
		r.i++
	}
	return nil, r.errorf("unterminated string")
}

// number consumes a JSON number and returns its literal.
func (r *jsonReader) number() ([]byte, error) {
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	switch {
	case r.i < len(r.b) && r.b[r.i] == '0':
		r.i++
	case r.i < len(r.b) && r.b[r.i] >= '1' && r.b[r.i] <= '9':
		r.digits()
	default:
		return nil, r.errorf("bad number")
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if r.digits() == 0 {
			return nil, r.errorf("bad number")
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if r.digits() == 0 {
			return nil, r.errorf("bad number")
		}
	}
	return r.b[start:r.i], nil
}

func (r *jsonReader) digits() int {
	n := 0
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
		n++
	}
	return n
}

// int reads an integer; null reads as 0. Fractions, exponents and values
// out of range are errors, as in encoding/json.
func (r *jsonReader) int() (int, error) {
	if r.null() {
		return 0, nil
	}
	if c := r.peek(); c != '-' && (c < '0' || c > '9') {
		return 0, r.errorf("want a number")
	}
	lit, err := r.number()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(lit), 10, 0)
	if err != nil {
		return 0, r.errorf("number %s is not an integer in range", lit)
	}
	return int(n), nil
}

// time reads an RFC 3339 time string through time.Time.UnmarshalJSON (the
// very parser encoding/json uses), normalized to UTC; null reads as the
// zero time.
func (r *jsonReader) time() (time.Time, error) {
	if r.null() {
		return time.Time{}, nil
	}
	if r.peek() != '"' {
		return time.Time{}, r.errorf("want a time string")
	}
	start := r.i
	if err := r.skipString(); err != nil {
		return time.Time{}, err
	}
	var t time.Time
	if err := t.UnmarshalJSON(r.b[start:r.i]); err != nil {
		return time.Time{}, r.errorf("bad time: %v", err)
	}
	return t.UTC(), nil
}

// skip consumes any one value, checking its syntax.
func (r *jsonReader) skip() error {
	switch c := r.peek(); {
	case c == '{':
		return r.object(func([]byte) (bool, error) { return false, nil })
	case c == '[':
		return r.array(r.skip)
	case c == '"':
		return r.skipString()
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := r.number()
		return err
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	case c == 0:
		return r.errorf("unexpected end of data")
	default:
		return r.errorf("unexpected %q", c)
	}
}

func (r *jsonReader) literal(lit string) error {
	if len(r.b)-r.i < len(lit) || string(r.b[r.i:r.i+len(lit)]) != lit {
		return r.errorf("bad literal")
	}
	r.i += len(lit)
	return nil
}

// skipString consumes a string literal, checking its escapes.
func (r *jsonReader) skipString() error {
	r.i++
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return nil
		case c < 0x20:
			return r.errorf("control character in string")
		case c == '\\':
			if r.i+1 >= len(r.b) {
				return r.errorf("unterminated string")
			}
			switch r.b[r.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.i += 2
			case 'u':
				if len(r.b)-r.i < 6 {
					return r.errorf("bad \\u escape")
				}
				for _, h := range r.b[r.i+2 : r.i+6] {
					if !isHex(h) {
						return r.errorf("bad \\u escape")
					}
				}
				r.i += 6
			default:
				return r.errorf("bad escape")
			}
			continue
		}
		r.i++
	}
	return r.errorf("unterminated string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}
