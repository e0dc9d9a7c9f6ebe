package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"sync"

	"github.com/licledger/licledger/domain"
)

// checkKeys refuses what encoding/json would silently accept in a body
// meant for a value of type t: a key given twice in one object (the last
// would win), and a key that matches a field only when case is ignored
// ({"ID": ...} for "id"). Both are ways to smuggle a second meaning past
// a reader of the body, so the API refuses them, as signed license files
// do. Malformed JSON is left to the decoder's error.
func checkKeys(b []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := walkKeys(dec, t, ""); err != nil && err != io.EOF {
		if _, ok := err.(*domain.Error); ok {
			return err
		}
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// walkKeys reads one JSON value from dec, checking objects against t
// (nil: anything goes, only duplicates are refused).
func walkKeys(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType)) {
		t = nil // its own format: only duplicate keys are checked
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := walkKeys(dec, elem, path+"[]"); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	case json.Delim('{'):
		fields := jsonFields(t)
		seen := map[string]string{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key := kt.(string)
			folded := strings.ToLower(key)
			if prev, dup := seen[folded]; dup {
				return domain.Reasonf(domain.EINVALID, domain.ReasonDuplicateKey,
					"%skey %q is given twice (also as %q); send each member once", at(path), key, prev)
			}
			seen[folded] = key
			var ft reflect.Type
			if t != nil && t.Kind() == reflect.Map {
				ft = t.Elem()
			} else if fields != nil {
				f, exact := fields[key]
				if !exact {
					for name, ff := range fields {
						if strings.EqualFold(name, key) {
							return domain.Reasonf(domain.EINVALID, domain.ReasonUnknownField,
								"%sunknown field %q; did you mean %q? (member names are case-sensitive)", at(path), key, name)
						}
						_ = ff
					}
				}
				ft = f
			}
			if err := walkKeys(dec, ft, path+key+"."); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	}
	return nil
}

func at(path string) string {
	if path == "" {
		return ""
	}
	return "in " + strings.TrimSuffix(path, ".") + ": "
}

// fieldCache holds jsonFields by type: request types are few and fixed,
// and every request body is checked against one.
var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields maps a struct type's JSON member names to their types,
// following embedded structs as encoding/json does; nil for other types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	f := structFields(t)
	fieldCache.Store(t, f)
	return f
}

func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range jsonFields(ft) {
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
