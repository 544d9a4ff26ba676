package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/otc"
)

// ErrUnrecognized matches (with errors.Is) the error of a payload that is no
// trigger at all: not a JSON object, or an object of no kind Decode knows.
// That error is a *failure.FieldError on the field "payload".
var ErrUnrecognized = errors.New("events: not a known trigger payload")

// rootField names the payload as a whole in a field error.
const rootField = "payload"

// fieldErr returns the error for the field at path; an error about the
// payload as a whole matches ErrUnrecognized.
func fieldErr(path, rule string) *failure.FieldError {
	if path == "" || path == rootField {
		return &failure.FieldError{Field: rootField, Rule: rule, Err: ErrUnrecognized}
	}
	return &failure.FieldError{Field: path, Rule: rule}
}

// child returns the path of member key of the object at path:
// "data" + "server_id" = "data.server_id"; keys that are not plain names are
// quoted: data.tags["cost center"].
func child(path, key string) string {
	if !isPlainName(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// index returns the path of element i of the array at path.
func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func isPlainName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case (c >= '0' && c <= '9') || c == '-':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// object is a decoded JSON object whose members are still raw, so that each
// one can be checked on its own and reported by its path.
type object struct {
	path    string
	src     json.RawMessage // the object as it came
	members []member        // in order
}

// member is a member of an object: its key as written, its value raw.
type member struct {
	key   otc.Key
	value json.RawMessage
}

// parseObject checks that raw is a valid UTF-8 JSON object and splits it
// into its members. path is where raw sits ("" for a whole payload).
func parseObject(raw []byte, path string) (object, error) {
	// The common case: a valid object, split by otc.Members without
	// copying its members (FuzzMembers holds it to json.Unmarshal into a
	// map). Anything else takes the checks below, which name the problem.
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' && utf8.Valid(raw) && json.Valid(t) {
		return splitObject(t, path), nil
	}
	if err := checkJSON(raw, path); err != nil {
		return object{}, err
	}
	if isNull(raw) {
		return object{}, fieldErr(path, "required, a JSON object")
	}
	return object{}, fieldErr(path, "must be a JSON object")
}

// parseMember is parseObject for raw that is a member of an object
// parseObject accepted, and so valid JSON and valid UTF-8 already: an object
// is split without checking it again.
func parseMember(raw []byte, path string) (object, error) {
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		return splitObject(t, path), nil
	}
	return parseObject(raw, path)
}

// splitObject splits the valid JSON object t into its members.
func splitObject(t []byte, path string) object {
	o := object{path: path, src: t, members: make([]member, 0, 8)}
	for key, value := range otc.Members(t) {
		o.members = append(o.members, member{key, value})
	}
	return o
}

// checkJSON checks that raw is present, valid JSON and valid UTF-8.
func checkJSON(raw []byte, path string) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return fieldErr(path, "required, a JSON object")
	}
	if !json.Valid(raw) {
		var v any
		err := json.Unmarshal(raw, &v)
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return fieldErr(path, fmt.Sprintf("must be valid JSON (%v at offset %d)", syntax, syntax.Offset))
		}
		return fieldErr(path, "must be valid JSON")
	}
	if !utf8.Valid(raw) {
		return fieldErr(invalidUTF8Path(raw, path), "must be valid UTF-8")
	}
	return nil
}

// invalidUTF8Path returns the path of the first string of the valid JSON
// document raw (rooted at root) that holds invalid UTF-8. encoding/json
// replaces such bytes silently, so they are found by offset.
func invalidUTF8Path(raw []byte, root string) string {
	bad := int64(0)
	for i := 0; i < len(raw); {
		r, n := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && n <= 1 {
			bad = int64(i)
			break
		}
		i += n
	}

	type frame struct {
		path    string
		obj     bool
		wantKey bool
		key     string
		idx     int
	}
	var stack []frame
	next := func() { // the current container's member is complete
		if n := len(stack); n > 0 {
			if stack[n-1].obj {
				stack[n-1].wantKey = true
			} else {
				stack[n-1].idx++
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return root
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			next()
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
			top := &stack[n-1]
			top.key, top.wantKey = tok.(string), false
			if dec.InputOffset() > bad {
				return child(top.path, top.key)
			}
			continue
		}
		path := root
		if n := len(stack); n > 0 {
			if top := stack[n-1]; top.obj {
				path = child(top.path, top.key)
			} else {
				path = index(top.path, top.idx)
			}
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, frame{path: path, obj: d == '{', wantKey: d == '{'})
			continue
		}
		if dec.InputOffset() > bad {
			return path
		}
		next()
	}
}

func isNull(raw []byte) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// at returns the path of member key.
func (o object) at(key string) string { return child(o.path, key) }

// value returns member key as it is written, or nil when it is absent. Of
// a key given more than once, the last counts, as in encoding/json.
func (o object) value(key string) json.RawMessage {
	for i := len(o.members) - 1; i >= 0; i-- {
		if o.members[i].key.Is(key) {
			return o.members[i].value
		}
	}
	return nil
}

// present reports whether key is a member, even a null one.
func (o object) present(key string) bool { return o.value(key) != nil }

// raw returns member key, or nil when it is absent or null.
func (o object) raw(key string) json.RawMessage {
	v := o.value(key)
	if v == nil || isNull(v) {
		return nil
	}
	return v
}

// string returns the string member key; absent or null is "".
func (o object) string(key string) (string, error) {
	v := o.raw(key)
	if v == nil {
		return "", nil
	}
	s, ok := otc.JSONString(v)
	if !ok {
		return "", fieldErr(o.at(key), "must be a string")
	}
	return s, nil
}

// text returns the string member key, which goes to CBR as it is: it must
// pass otc.TextRule with max (no control characters, bidirectional
// controls, < or >; at most max characters, no bound when 0).
func (o object) text(key string, max int) (string, error) {
	s, err := o.string(key)
	if err != nil {
		return "", err
	}
	if rule := otc.TextRule(s, max); rule != "" {
		return "", fieldErr(o.at(key), rule)
	}
	return s, nil
}

// bool returns the boolean member key; absent or null is false.
func (o object) bool(key string) (bool, error) {
	b, err := o.optBool(key)
	if b == nil {
		return false, err
	}
	return *b, err
}

// optBool returns the boolean member key; absent or null is nil, so an
// explicit false survives.
func (o object) optBool(key string) (*bool, error) {
	v := o.raw(key)
	if v == nil {
		return nil, nil
	}
	var b bool
	switch string(v) { // a member's value is its JSON literal, nothing around it
	case "true":
		b = true
	case "false":
	default:
		return nil, fieldErr(o.at(key), "must be a boolean")
	}
	return &b, nil
}

// uuid returns the member key, which must be a UUID; absent, null or "" is
// allowed unless required.
func (o object) uuid(key string, required bool) (string, error) {
	s, err := o.string(key)
	switch {
	case err != nil:
		return "", fieldErr(o.at(key), "must be a UUID")
	case s == "" && required:
		return "", fieldErr(o.at(key), "required, a UUID")
	case s != "" && !otc.IsUUID(s):
		return "", fieldErr(o.at(key), "must be a UUID")
	}
	return s, nil
}

// scalarText returns the text of a JSON string, number or boolean; null is "".
// ok is false for objects and arrays.
func scalarText(v json.RawMessage) (text string, ok bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || isNull(v) {
		return "", true
	}
	switch c := v[0]; {
	case c == '"':
		return otc.JSONString(v)
	case c == 't' || c == 'f' || c == '-' || (c >= '0' && c <= '9'):
		return string(v), true // JSON numbers and booleans are their own text
	}
	return "", false
}
