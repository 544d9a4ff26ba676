package events

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// absent removes a member from ctsPayload's record.
type absentT struct{}

var absent absentT

// ctsPayload returns a FunctionGraph CTS payload whose record is a successful
// ECS tag creation, changed by the members of with.
func ctsPayload(t *testing.T, with map[string]any) []byte {
	t.Helper()
	rec := map[string]any{
		"time":          1714558505123,
		"user":          map[string]any{"name": "ops", "id": "u1", "domain": map[string]any{"name": "d", "id": "d1"}},
		"request":       map[string]any{"tags": []any{map[string]any{"key": "backup", "value": "daily"}}},
		"response":      map[string]any{},
		"code":          204,
		"service_type":  "ECS",
		"resource_type": "ecs",
		"resource_name": "ecs-1f0f-0002",
		"resource_id":   serverID,
		"trace_name":    "batchCreateServerTags",
		"trace_type":    "ApiCall",
		"record_time":   1714558505321,
		"trace_id":      "trace-1",
		"trace_status":  "normal",
	}
	for k, v := range with {
		if v == absent {
			delete(rec, k)
		} else {
			rec[k] = v
		}
	}
	b, err := json.Marshal(map[string]any{"cts": rec})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeCTSDrift(t *testing.T) {
	ms := time.UnixMilli(1714558505123).UTC()
	tmsRequest := `{"resources":[{"resource_id":"` + volumeID + `","resource_type":"evs"},` +
		`{"resource_id":"` + serverID + `","resource_type":"ecs","resource_name":"from-request"}],` +
		`"tags":[{"key":"backup","value":"daily"}]}`
	for _, tc := range []struct {
		name   string
		with   map[string]any
		time   time.Time
		tags   map[string]string
		server string // ServerName, when not the record's
		ignore string // IgnoreReason, for ignored records
	}{
		{name: "time as number", time: ms},
		{name: "time as numeric string", with: map[string]any{"time": "1714558505123"}, time: ms},
		{name: "time as float", with: map[string]any{"time": 1714558505123.0}, time: ms},
		{name: "time as RFC 3339", with: map[string]any{"time": "2024-05-01T10:15:05.123+00:00"}, time: ms},
		{name: "time empty falls back to record_time", with: map[string]any{"time": ""}, time: time.UnixMilli(1714558505321)},
		{name: "time absent falls back to record_time string", with: map[string]any{"time": absent, "record_time": "1714558505321"}, time: time.UnixMilli(1714558505321)},
		{name: "no time at all", with: map[string]any{"time": nil, "record_time": absent}},
		{name: "code as string", with: map[string]any{"code": "200"}, time: ms},
		{name: "code empty", with: map[string]any{"code": ""}, time: ms},
		{name: "code absent", with: map[string]any{"code": absent}, time: ms},
		{name: "code 399 is not a failure", with: map[string]any{"code": 399}, time: ms},
		{name: "trace_id as number", with: map[string]any{"trace_id": 12345}, time: ms},
		{name: "trace_status incident still counts", with: map[string]any{"trace_status": "incident"}, time: ms},
		{name: "request as JSON string", with: map[string]any{"request": `{"tags":[{"key":"backup","value":"daily"}]}`}, time: ms},
		{name: "request as empty string", with: map[string]any{"request": ""}, time: ms, tags: map[string]string{}},
		{name: "request absent", with: map[string]any{"request": absent}, time: ms, tags: map[string]string{}},
		{name: "response as string", with: map[string]any{"response": "not json at all"}, time: ms},
		{name: "single tag shape", with: map[string]any{"request": map[string]any{"tag": map[string]any{"key": "backup", "value": "daily"}}}, time: ms},
		{name: "tag map shape", with: map[string]any{"request": map[string]any{"tags": map[string]any{"backup": "daily"}}}, time: ms},
		{name: "tag values drift", with: map[string]any{"request": map[string]any{"tags": []any{
			map[string]any{"key": "backup", "value": "daily"}, map[string]any{"key": "n", "value": 2}, map[string]any{"key": "x", "value": nil},
		}}}, time: ms, tags: map[string]string{"backup": "daily", "n": "2", "x": ""}},
		{name: "trace name in any case", with: map[string]any{"trace_name": "CREATERESOURCETAG"}, time: ms},
		{name: "service TMS", with: map[string]any{"service_type": "tms", "trace_name": "createResourceTag"}, time: ms},
		{name: "service missing", with: map[string]any{"service_type": absent}, time: ms},
		{name: "resource type server", with: map[string]any{"resource_type": "server"}, time: ms},
		{name: "resource type OS::Nova::Server", with: map[string]any{"resource_type": "OS::Nova::Server"}, time: ms},
		{name: "resource type ecs:cloudservers", with: map[string]any{"resource_type": "ecs:cloudservers"}, time: ms},
		{name: "resource type empty", with: map[string]any{"resource_type": ""}, time: ms},
		{name: "TMS server from request", with: map[string]any{
			"service_type": "TMS", "trace_name": "createResourceTag", "resource_type": "tag", "resource_id": "", "request": tmsRequest,
		}, time: ms, server: "from-request"},
		{name: "resource_id {} as in the FunctionGraph sample", with: map[string]any{
			"resource_id": map[string]any{}, "request": tmsRequest,
		}, time: ms, server: "from-request"},

		{name: "tag deletion", with: map[string]any{"trace_name": "batchDeleteServerTags"}, time: ms,
			ignore: "operation batchDeleteServerTags is a tag deletion, not a tag creation"},
		{name: "TMS tag deletion", with: map[string]any{"trace_name": "batchDeleteResourceTags", "service_type": "TMS"}, time: ms,
			ignore: "operation batchDeleteResourceTags is a tag deletion, not a tag creation"},
		{name: "other operation", with: map[string]any{"trace_name": "rebootServer"}, time: ms,
			ignore: "operation rebootServer is not a tag creation"},
		{name: "failed", with: map[string]any{"code": "403"}, time: ms,
			ignore: "operation batchCreateServerTags failed with code 403"},
		{name: "failed with a bad request still ignored", with: map[string]any{"code": 500, "request": "{"}, time: ms,
			ignore: "operation batchCreateServerTags failed with code 500"},
		{name: "other service", with: map[string]any{"service_type": "EVS", "trace_name": "createResourceTag"}, time: ms,
			ignore: "service EVS is not ECS or TMS"},
		{name: "volume", with: map[string]any{"resource_type": "volume"}, time: ms,
			ignore: "resource type volume is not a server"},
		{name: "evs", with: map[string]any{"resource_type": "evs"}, time: ms,
			ignore: "resource type evs is not a server"},
		{name: "TMS without a server", with: map[string]any{
			"service_type": "TMS", "trace_name": "createResourceTag", "resource_id": "",
			"request": `{"resources":[{"resource_id":"` + volumeID + `","resource_type":"evs"},{"resource_id":"x","resource_type":"vpc"}]}`,
		}, time: ms, ignore: "no server among the tagged resources (types: evs, vpc)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeCTS(ctsPayload(t, tc.with))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Time.Equal(tc.time) {
				t.Errorf("Time = %v, want %v", got.Time, tc.time)
			}
			if tc.ignore != "" {
				if got.Kind != KindIgnored || got.IgnoreReason != tc.ignore {
					t.Errorf("Kind, IgnoreReason = %q, %q; want ignored, %q", got.Kind, got.IgnoreReason, tc.ignore)
				}
				return
			}
			if tc.tags == nil {
				tc.tags = map[string]string{"backup": "daily"}
			}
			if tc.server == "" {
				tc.server = "ecs-1f0f-0002"
			}
			st := got.ServerTagged
			if got.Kind != KindServerTagged || st == nil {
				t.Fatalf("Kind = %q (%s), want server.tagged", got.Kind, got.IgnoreReason)
			}
			if st.ServerID != serverID || st.ServerName != tc.server || got.Ref.Subject != serverID {
				t.Errorf("ServerID, ServerName, Subject = %q, %q, %q", st.ServerID, st.ServerName, got.Ref.Subject)
			}
			if len(st.Tags) != len(tc.tags) {
				t.Errorf("Tags = %v, want %v", st.Tags, tc.tags)
			}
			for k, v := range tc.tags {
				if st.Tags[k] != v {
					t.Errorf("Tags = %v, want %v", st.Tags, tc.tags)
				}
			}
			if err := consistent(got); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestDecodeCTSRef(t *testing.T) {
	got, err := DecodeCTS(ctsPayload(t, map[string]any{"service_type": absent, "trace_name": "stopServer"}))
	if err != nil {
		t.Fatal(err)
	}
	want := Ref{ID: "trace-1", Source: "cts", Type: "cts:stopServer", Subject: serverID, Sender: SenderCTS}
	if got.Ref != want {
		t.Errorf("Ref = %+v, want %+v", got.Ref, want)
	}
}

func TestDecodeCTSErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		with  map[string]any
		field string
		rule  string
	}{
		{"trace_id missing", map[string]any{"trace_id": absent}, "cts.trace_id", "required"},
		{"trace_id empty", map[string]any{"trace_id": ""}, "cts.trace_id", "required"},
		{"trace_id object", map[string]any{"trace_id": map[string]any{"a": 1}}, "cts.trace_id", "string"},
		{"trace_name missing", map[string]any{"trace_name": absent}, "cts.trace_name", "required"},
		{"resource_type bool", map[string]any{"resource_type": true}, "cts.resource_type", "string"},
		{"time words", map[string]any{"time": "yesterday"}, "cts.time", "RFC 3339"},
		{"time negative", map[string]any{"time": -5}, "cts.time", "1970"},
		{"time beyond 9999", map[string]any{"time": 1e17}, "cts.time", "9999"},
		{"time NaN", map[string]any{"time": "NaN"}, "cts.time", ""},
		{"time bool", map[string]any{"time": true}, "cts.time", ""},
		{"record_time object", map[string]any{"time": absent, "record_time": map[string]any{}}, "cts.record_time", ""},
		{"code words", map[string]any{"code": "ok"}, "cts.code", "HTTP status"},
		{"code fraction", map[string]any{"code": 204.5}, "cts.code", "HTTP status"},
		{"code too big", map[string]any{"code": 99999}, "cts.code", "HTTP status"},
		{"code bool", map[string]any{"code": false}, "cts.code", "HTTP status"},
		{"request not json", map[string]any{"request": "tags=backup"}, "cts.request", "JSON"},
		{"request array", map[string]any{"request": []any{1}}, "cts.request", "JSON"},
		{"request number", map[string]any{"request": 7}, "cts.request", "JSON"},
		{"request tags bad", map[string]any{"request": map[string]any{"tags": "backup"}}, "cts.request.tags", ""},
		{"request tag key missing", map[string]any{"request": `{"tags":[{"value":"v"}]}`}, "cts.request.tags[0].key", "required"},
		{"request single tag bad", map[string]any{"request": map[string]any{"tag": 5}}, "cts.request.tag", ""},
		{"resource_id not uuid", map[string]any{"resource_id": "i-123"}, "cts.resource_id", "UUID"},
		{"resource_id missing", map[string]any{"resource_id": absent}, "cts.resource_id", "required"},
		{"request resources not list", map[string]any{"resource_id": "", "request": map[string]any{"resources": "ecs"}}, "cts.request.resources", "list"},
		{"request resource not object", map[string]any{"resource_id": "", "request": map[string]any{"resources": []any{"ecs"}}}, "cts.request.resources[0]", "object"},
		{"request server not uuid", map[string]any{"resource_id": "", "request": map[string]any{"resources": []any{
			map[string]any{"resource_id": volumeID, "resource_type": "evs"}, map[string]any{"resource_id": "i-1", "resource_type": "ecs"},
		}}}, "cts.request.resources[1].resource_id", "UUID"},
		{"request server without id", map[string]any{"resource_id": "", "request": map[string]any{"resources": []any{
			map[string]any{"resource_type": "ecs"},
		}}}, "cts.request.resources[0].resource_id", "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeCTS(ctsPayload(t, tc.with))
			assertField(t, err, tc.field)
			if err != nil && !strings.Contains(err.Error(), tc.rule) {
				t.Errorf("error %q does not mention %q", err, tc.rule)
			}
		})
	}

	for name, payload := range map[string]string{
		"no cts":        `{"records":[]}`,
		"cts null":      `{"cts":null}`,
		"cts string":    `{"cts":"x"}`,
		"payload array": `[]`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeCTS([]byte(payload))
			var want = "cts"
			if name == "payload array" {
				want = "payload"
			}
			assertField(t, err, want)
		})
	}
}
