package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// fill sets every field reachable from v: strings to distinct values that
// need escaping, bools to true, slices to one filled element, raw JSON to a
// small object (compact and HTML-escaped, as raw JSON is held). A field added to a result type later is filled too, so the
// comparison below fails until AppendJSON writes it.
func fill(v reflect.Value, n *int) {
	switch v.Kind() {
	case reflect.String:
		*n++
		v.SetString(fmt.Sprintf("v%d <&> \"q\" \u2028 é", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n)
			}
		}
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			*n++
			v.SetBytes([]byte(fmt.Sprintf(`{"raw":%d,"s":"\u003cx\u003e"}`, *n)))
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), n)
		}
		v.Set(s)
	}
}

func TestCreatedAppendJSONIsEncodingJSON(t *testing.T) {
	full := &Created{}
	n := 0
	fill(reflect.ValueOf(full).Elem(), &n)
	cases := map[string]*Created{
		"every field":             full,
		"empty":                   {},
		"empty lists":             {Checkpoints: []Checkpoint{}, Resources: []ResourceRef{}, SkippedResources: []SkippedResource{}, AssociatedResources: []ResourceRef{}, Requests: []json.RawMessage{}},
		"bare ids":                {Trigger: Ref{ID: "1", Source: "/s", Type: TypeServerTagged, Delivery: "d"}, Resources: []ResourceRef{{ID: "r", Bare: true}}},
		"checkpoint without JSON": {Checkpoints: []Checkpoint{{ID: "c"}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.AppendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("AppendJSON\n%s\nencoding/json\n%s", got, want)
			}
		})
	}
}

func FuzzCreatedAppendJSON(f *testing.F) {
	f.Add("id", "/src", "<b>&", "vault", "srv \xff\u2028", "BackupService.6135", false)
	f.Fuzz(func(t *testing.T, id, source, subject, vault, name, code string, dup bool) {
		c := &Created{
			Trigger:          Ref{ID: id, Source: source, Type: TypeDeployPre, Subject: subject, Delivery: name},
			VaultID:          vault,
			Checkpoints:      []Checkpoint{{ID: id, JSON: json.RawMessage(`{"id":"x"}`)}},
			Resources:        []ResourceRef{{ID: id, Name: name}, {ID: vault, Type: subject}},
			SkippedResources: []SkippedResource{{ID: id, Type: source, Name: name, Code: code, Reason: subject}},
			Duplicate:        dup,
		}
		if dup { // with and without associated resources
			c.AssociatedResources = []ResourceRef{{ID: vault, Type: code, Name: name}}
		}
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON\n%s\nencoding/json\n%s", got, want)
		}
	})
}
