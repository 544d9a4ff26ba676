package events

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/failure"
)

// fixtures returns the contents of every fixture in testdata/events.
func fixtures(f *testing.F) [][]byte {
	f.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	var out [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// checkResult fails unless err is a *failure.FieldError naming a field, or the
// trigger is internally consistent.
func checkResult(t *testing.T, tr Trigger, err error) {
	t.Helper()
	if err != nil {
		var de *failure.FieldError
		if !errors.As(err, &de) || de.Field == "" || de.Rule == "" {
			t.Fatalf("error %v (%T) is not a *failure.FieldError naming a field", err, err)
		}
		return
	}
	if err := consistent(tr); err != nil {
		t.Fatalf("inconsistent trigger %+v: %v", tr, err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, b := range fixtures(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"id":"1","source":"s","detail-type":"server.tagged","detail":{"server_id":"` + serverID + `"}}`))
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"x","data_base64":"e30="}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		tr, err := Decode(payload)
		checkResult(t, tr, err)
	})
}

func FuzzDecodeCTS(f *testing.F) {
	for _, b := range fixtures(f) {
		var probe map[string]json.RawMessage
		if json.Unmarshal(b, &probe) == nil && probe["cts"] != nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"cts":{"trace_id":"t","trace_name":"createResourceTag","resource_id":"","request":` +
		`"{\"resources\":[{\"resource_id\":\"` + serverID + `\",\"resource_type\":\"ecs\"}],\"tag\":{\"key\":\"k\"}}"}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		tr, err := DecodeCTS(payload)
		checkResult(t, tr, err)
	})
}

func FuzzDecodeEvent(f *testing.F) {
	for _, b := range fixtures(f) {
		var e event.Event
		if json.Unmarshal(b, &e) == nil {
			f.Add(e.Type(), []byte(e.Data()), "")
		}
	}
	for _, b := range fixtures(f) {
		var probe map[string]json.RawMessage
		if json.Unmarshal(b, &probe) == nil && probe["cts"] != nil {
			f.Add("ECS:CloudTrace:ApiCall", b, "TRUE")
		}
	}
	f.Add(TypeDeployPre, []byte(`{"service":"s","resources":["`+serverID+`",{"id":"`+serverID+`","type":"OS::Sfs::Turbo"}]}`), "false")
	f.Fuzz(func(t *testing.T, typ string, data []byte, dryrun string) {
		e := event.New()
		e.SetID("fuzz-1")
		e.SetSource("/fuzz")
		e.SetType(typ)
		e.DataEncoded = data
		if dryrun != "" {
			e.SetExtension(ExtensionDryRun, dryrun)
		}
		tr, err := DecodeEvent(e)
		checkResult(t, tr, err)
		// The same event, when valid, in the structured format (whose data
		// is a member of the parsed payload: parseMember) decodes the same.
		if e.Validate() != nil || !json.Valid(data) || !utf8.Valid(data) || !utf8.ValidString(e.Type()+dryrun) {
			return
		}
		structured := `{"specversion":"1.0","id":"fuzz-1","source":"/fuzz","type":` + quote(e.Type()) + `,"data":` + string(data)
		if dryrun != "" {
			structured += `,"` + ExtensionDryRun + `":` + quote(dryrun)
		}
		st, serr := DecodeStructured([]byte(structured + "}"))
		if (err == nil) != (serr == nil) || err == nil && !reflect.DeepEqual(tr, st) {
			t.Fatalf("DecodeEvent: %+v, %v; DecodeStructured of the same event: %+v, %v", tr, err, st, serr)
		}
	})
}

// quote is s as a JSON string.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
