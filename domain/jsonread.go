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
// exactly is an error, where encoding/json would silently accept both.
// Strings with escapes or non-ASCII bytes, rare in ids, are handed to
// encoding/json so their semantics are exactly the standard ones.
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
	b, i := r.b, r.i
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	r.i = i
}

// peek returns the next non-space byte, or 0 at the end of input.
func (r *jsonReader) peek() byte {
	if i := r.i; uint(i) < uint(len(r.b)) && r.b[i] > ' ' {
		return r.b[i]
	}
	return r.peekSpace()
}

// cur is the byte at the read position, or 0 at the end. The hot loops
// write "c := r.cur(); if c <= ' ' { c = r.peekSpace() }" instead of
// calling peek: the compiler will not inline peek (a call inside costs
// too much) and the call is a tenth of the fold's time on compact data.
func (r *jsonReader) cur() byte {
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// peekSpace is peek's slow path: skip space, then peek.
//
//go:noinline
func (r *jsonReader) peekSpace() byte {
	r.ws()
	if r.i >= len(r.b) {
		return 0
	}
	return r.b[r.i]
}

// end checks that nothing but space follows the value read.
func (r *jsonReader) end() error {
	r.ws()
	if r.i < len(r.b) {
		return r.errorf("unexpected %q after the value", r.b[r.i])
	}
	return nil
}

// null consumes a null literal if one comes next.
func (r *jsonReader) null() bool {
	if r.peek() != 'n' {
		return false
	}
	return r.nullLiteral()
}

func (r *jsonReader) nullLiteral() bool {
	if len(r.b)-r.i >= 4 && string(r.b[r.i:r.i+4]) == "null" {
		r.i += 4
		return true
	}
	return false
}

// object reads an object (or null, which reads as no fields, as in
// encoding/json). For each field named in names it calls field with the
// name's index, and field must consume the value; other fields are
// skipped (the contract lets fields be added). A named field that appears
// twice is refused (encoding/json would merge or overwrite, a classic
// smuggling vector), and so is a near-miss in letter case. names holds at
// most 64 entries.
func (r *jsonReader) object(names []string, field func(i int) error) error {
	switch r.peek() {
	case '{':
	case 'n':
		if r.nullLiteral() {
			return nil
		}
		fallthrough
	default:
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
	var seen uint64 // named fields read so far
	for {
		if c := r.cur(); c != '"' && (c > ' ' || r.peekSpace() != '"') {
			return r.errorf("want a field name")
		}
		name, err := r.rawString()
		if err != nil {
			return err
		}
		if c := r.cur(); c != ':' && (c > ' ' || r.peekSpace() != ':') {
			return r.errorf("want ':' after field name %q", name)
		}
		r.i++
		i := -1
		for j, k := range names {
			if k == string(name) {
				i = j
				break
			}
		}
		switch {
		case i >= 0:
			if seen&(1<<i) != 0 {
				return r.errorf("field %q appears twice", name)
			}
			seen |= 1 << i
			if err := field(i); err != nil {
				return err
			}
		default:
			for _, k := range names {
				if strings.EqualFold(k, string(name)) {
					return r.errorf("field %q: field names are lower case (%q)", name, k)
				}
			}
			if err := r.skip(); err != nil {
				return err
			}
		}
		c := r.cur()
		if c <= ' ' {
			c = r.peekSpace()
		}
		switch c {
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
	switch r.peek() {
	case '[':
	case 'n':
		if r.nullLiteral() {
			return nil
		}
		fallthrough
	default:
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

// str reads a string; null reads as "".
func (r *jsonReader) str() (string, error) {
	b, _, err := r.strBytes()
	return string(b), err
}

// strBytes reads a string, or null, and returns its bytes, valid until
// the reader moves on.
func (r *jsonReader) strBytes() (b []byte, null bool, err error) {
	c := r.cur()
	if c <= ' ' {
		c = r.peekSpace()
	}
	switch c {
	case '"':
		b, err = r.rawString()
		return b, false, err
	case 'n':
		if r.nullLiteral() {
			return nil, true, nil
		}
	}
	return nil, false, r.errorf("want a string")
}

// intern returns the constant of values equal to b, so the common
// enumerations cost no allocation; any other string is copied, for the
// caller to refuse with a clear message.
func intern(b []byte, values ...string) string {
	for _, v := range values {
		if string(b) == v {
			return v
		}
	}
	return string(b)
}

// rawString reads a string literal at r.i. Plain ASCII without escapes is
// sliced from the input; anything else goes through encoding/json.
func (r *jsonReader) rawString() ([]byte, error) {
	b, start := r.b, r.i
	for i := start + 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			r.i = i + 1
			return b[start+1 : i], nil
		case c == '\\' || c >= 0x80:
			return r.slowString(start)
		case c < 0x20:
			r.i = i
			return nil, r.errorf("control character in string")
		}
	}
	r.i = len(b)
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

// int reads an integer, or null. Fractions, exponents and values out of
// range are errors, as in encoding/json.
func (r *jsonReader) int() (n int, null bool, err error) {
	switch c := r.peek(); {
	case c == 'n':
		if r.nullLiteral() {
			return 0, true, nil
		}
	case c == '-' || (c >= '0' && c <= '9'):
		lit, err := r.number()
		if err != nil {
			return 0, false, err
		}
		v, err := strconv.ParseInt(string(lit), 10, 0)
		if err != nil {
			return 0, false, r.errorf("number %s is not an integer in range", lit)
		}
		return int(v), false, nil
	}
	return 0, false, r.errorf("want a number")
}

// time reads an RFC 3339 time string through time.Time.UnmarshalJSON (the
// very parser encoding/json uses), normalized to UTC, or null.
func (r *jsonReader) time() (t time.Time, null bool, err error) {
	switch r.peek() {
	case '"':
		start := r.i
		if err := r.skipString(); err != nil {
			return time.Time{}, false, err
		}
		if t, ok := fastUTC(r.b[start:r.i]); ok {
			return t, false, nil
		}
		if err := t.UnmarshalJSON(r.b[start:r.i]); err != nil {
			return time.Time{}, false, r.errorf("bad time: %v", err)
		}
		return t.UTC(), false, nil
	case 'n':
		if r.nullLiteral() {
			return time.Time{}, true, nil
		}
	}
	return time.Time{}, false, r.errorf("want a time string")
}

// skip consumes any one value, checking its syntax.
func (r *jsonReader) skip() error {
	switch c := r.peek(); {
	case c == '{':
		return r.object(nil, nil)
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
	b, i := r.b, r.i+1
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			r.i = i + 1
			return nil
		case c < 0x20:
			r.i = i
			return r.errorf("control character in string")
		case c == '\\':
			if i+1 >= len(b) {
				r.i = i
				return r.errorf("unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 {
					r.i = i
					return r.errorf("bad \\u escape")
				}
				for _, h := range b[i+2 : i+6] {
					if !isHex(h) {
						r.i = i
						return r.errorf("bad \\u escape")
					}
				}
				i += 6
			default:
				r.i = i
				return r.errorf("bad escape")
			}
			continue
		}
		i++
	}
	r.i = len(b)
	return r.errorf("unterminated string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// fastUTC parses a quoted time in the layout the ledger writes (see
// ParseCanonicalTime); ok is false for anything else, which then goes the
// standard way (FuzzPlatformDataAgreesWithEncodingJSON, FuzzFastUTC).
func fastUTC(q []byte) (time.Time, bool) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return time.Time{}, false
	}
	return ParseCanonicalTime(q[1 : len(q)-1])
}
