package otc

import (
	"encoding/json"
	"testing"
)

var seeds = []string{`"plain"`, `"esc\"aped"`, `"\u00e9"`, "\"bad \xff\"", "\"ctl \x01\"", `""`, `"`, `"a"b"`, `"a" `, ` "a"`, `1`, `null`, `"é 日本"`, `"tab	"`}

func TestJSONString(t *testing.T) {
	for _, s := range seeds {
		check(t, []byte(s))
	}
}

// FuzzJSONString holds JSONString to json.Unmarshal.
func FuzzJSONString(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(check)
}

func check(t *testing.T, v []byte) {
	var want string
	wantOK := len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &want) == nil
	got, ok := JSONString(v)
	if ok != wantOK || got != want {
		t.Errorf("JSONString(%q) = %q, %v; json.Unmarshal says %q, %v", v, got, ok, want, wantOK)
	}
}
