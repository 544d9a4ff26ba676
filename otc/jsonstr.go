package otc

// JSON string literals, decoded by encoding/json: the event decoders read
// ids, names and types field by field.

import "encoding/json"

// JSONString decodes v if it is a JSON string literal, with the result and
// the verdict of json.Unmarshal into a string.
func JSONString(v []byte) (string, bool) {
	var s string
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}
