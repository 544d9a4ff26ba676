package otc

import (
	"bytes"
	"encoding/json"
	"testing"
)

var seeds = []string{`"plain"`, `"esc\"aped"`, `"\u00e9"`, "\"bad \xff\"", "\"ctl \x01\"", `""`, `"`, `"a"b"`, `"a" `, ` "a"`, `1`, `null`, `"é 日本"`, `"tab	"`}

func TestJSONString(t *testing.T) {
	for _, s := range seeds {
		check(t, []byte(s))
	}
}

// FuzzDecode holds Decode to json.Unmarshal.
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

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain-id_1.2", "<&>", "\"\\", "\x00\x1f\x7f", "é\u2028\u2029", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendJSONString([]byte("x"), s); !bytes.Equal(got, append([]byte("x"), want...)) {
			t.Fatalf("AppendJSONString(%q) = %s, want x%s", s, got, want)
		}
	})
}

func FuzzJSONCompacted(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{ "a" : 1 }`, `{"a":"<b>"}`, `{"a":"x\u2028"}`, "{\"a\":\"\u2028\"}", `["\"", "\\"]`, `{"a":"\\\"<"}`, `"é & co"`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		want, err := json.Marshal(json.RawMessage(b))
		if err != nil {
			t.Fatal(err)
		}
		if JSONCompacted(b) && !bytes.Equal(want, b) {
			t.Fatalf("JSONCompacted(%q), but encoding/json writes %q", b, want)
		}
		if !JSONCompacted(want) {
			t.Fatalf("encoding/json's %q is not Compacted", want)
		}
	})
}
