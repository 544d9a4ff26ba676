package events

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/failure"

	"github.com/restorepoint/restorepoint/otc"
)

// IDs used by the fixtures in testdata/events.
const (
	vaultID  = "3b5816b5-f29c-4172-9d9a-76c719a659ce"
	serverID = "94eba8b2-acc9-4d82-badc-127144cc5526"
	volumeID = "c7d9e1f3-4a6b-4c8d-9e0f-5a7b9c1d3e5f"
	bareID   = "c2d9e6a1-3f4b-4d7c-8a5e-0b1f2e3d4c5a"
)

var fixtureDir = filepath.Join("..", "testdata", "events")

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

func rfc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// fixtureTriggers is what every fixture in testdata/events decodes to.
var fixtureTriggers = map[string]Trigger{
	"server-tagged.json": {
		Ref: Ref{
			ID:      "7c4f3e2a-9b1d-4e8f-a6c5-2d3b4a5e6f70",
			Source:  "/restorepoint/tagger",
			Type:    TypeServerTagged,
			Subject: serverID,
		},
		Kind:        KindServerTagged,
		Time:        rfc("2024-05-01T10:15:00Z"),
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		ServerTagged: &ServerTagged{
			ServerID:   serverID,
			ServerName: "ecs-1f0f-0002",
			Tags:       map[string]string{"backup": "daily", "owner": "shop-team"},
			VaultID:    vaultID,
		},
	},
	"deploy-pre.json": {
		Ref: Ref{
			ID:      "d41f7a90-2c3b-4e5d-8f6a-7b8c9d0e1f23",
			Source:  "/ci/shop/pipelines/1842",
			Type:    TypeDeployPre,
			Subject: "shop",
		},
		Kind: KindDeployPre,
		Time: rfc("2024-05-01T11:00:00Z"),
		DeployPre: &DeployPre{
			Service:     "shop",
			Version:     "1.4.2",
			Environment: "production",
			Resources: []ResourceRef{
				{ID: serverID, Type: "OS::Nova::Server", Name: "ecs-1f0f-0002"},
				{ID: volumeID, Type: "OS::Cinder::Volume", Name: "db-data"},
				{ID: bareID, Bare: true},
			},
			VaultID:     vaultID,
			Incremental: ptr(false),
			Wait:        true,
			Name:        "pre-deploy-shop-1_4_2",
			Description: "Before deploying shop 1.4.2 to production",
		},
	},
	"checkpoint-requested.json": {
		Ref: Ref{
			ID:     "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
			Source: "/ops/runbooks/nightly",
			Type:   TypeCheckpointRequested,
		},
		Kind: KindCheckpointRequested,
		Time: rfc("2024-05-01T02:00:00Z"),
		CheckpointRequested: &CheckpointRequested{
			Body: json.RawMessage(`{"vault_id":"3b5816b5-f29c-4172-9d9a-76c719a659ce","parameters":{"auto_trigger":false,` +
				`"description":"nightly restore point","incremental":true,"name":"nightly-20240501",` +
				`"resources":["94eba8b2-acc9-4d82-badc-127144cc5526"]}}`),
			Wait: true,
		},
	},
	"checkpoint-requested-inner.json": {
		Ref: Ref{
			ID:     "6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d9e",
			Source: "/ops/runbooks/adhoc",
			Type:   TypeCheckpointRequested,
		},
		Kind: KindCheckpointRequested,
		Time: rfc("2024-05-01T14:30:00Z"),
		CheckpointRequested: &CheckpointRequested{
			Body: json.RawMessage(`{"vault_id":"3b5816b5-f29c-4172-9d9a-76c719a659ce","parameters":{` +
				`"description":"before manual maintenance","incremental":false,"resource_details":[` +
				`{"id":"94eba8b2-acc9-4d82-badc-127144cc5526","type":"OS::Nova::Server","name":"ecs-1f0f-0002"}]}}`),
		},
	},
	"cts-create-tag.json": {
		Ref: Ref{
			ID:      "e1f0c3a4-5b6d-4c7e-8f90-1a2b3c4d5e6f",
			Source:  "cts/ECS",
			Type:    "cts:batchCreateServerTags",
			Subject: serverID,
			Sender:  SenderCTS,
		},
		Kind: KindServerTagged,
		Time: time.UnixMilli(1714558505123).UTC(),
		ServerTagged: &ServerTagged{
			ServerID:   serverID,
			ServerName: "ecs-1f0f-0002",
			Tags:       map[string]string{"backup": "daily", "owner": "shop-team"},
		},
	},
	"cts-create-tag-string.json": {
		Ref: Ref{
			ID:      "f2a1d4b5-6c7e-4d8f-9a01-2b3c4d5e6f70",
			Source:  "cts/TMS",
			Type:    "cts:createResourceTag",
			Subject: serverID,
			Sender:  SenderCTS,
		},
		Kind: KindServerTagged,
		Time: time.UnixMilli(1714558623456).UTC(),
		ServerTagged: &ServerTagged{
			ServerID:   serverID,
			ServerName: "ecs-1f0f-0002",
			Tags:       map[string]string{"backup": "weekly", "tier": "2"},
		},
	},
	"cts-delete-tag.json": {
		Ref: Ref{
			ID:      "a3b2e5c6-7d8f-4e90-8b12-3c4d5e6f7a81",
			Source:  "cts/TMS",
			Type:    "cts:deleteResourceTag",
			Subject: serverID,
			Sender:  SenderCTS,
		},
		Kind:         KindIgnored,
		Time:         time.UnixMilli(1714562105000).UTC(),
		IgnoreReason: "operation deleteResourceTag is a tag deletion, not a tag creation",
	},
	"cts-failed.json": {
		Ref: Ref{
			ID:      "b4c3f6d7-8e9a-4fa1-9c23-4d5e6f7a8b92",
			Source:  "cts/ECS",
			Type:    "cts:batchCreateServerTags",
			Subject: serverID,
			Sender:  SenderCTS,
		},
		Kind:         KindIgnored,
		Time:         time.UnixMilli(1714558700000).UTC(),
		IgnoreReason: "operation batchCreateServerTags failed with code 403",
	},
	"eventgrid-cts.json": {
		Ref: Ref{
			ID:      "0d9c8b7a-6f5e-4d3c-a2b1-0f9e8d7c6b5a",
			Source:  "HC.ECS",
			Type:    "ECS:CloudTrace:ApiCall",
			Subject: serverID,
		},
		Kind: KindServerTagged,
		Time: rfc("2024-05-01T10:20:05.123Z"),
		ServerTagged: &ServerTagged{
			ServerID:   serverID,
			ServerName: "ecs-1f0f-0002",
			Tags:       map[string]string{"backup": "monthly"},
		},
	},
	"eventbridge-deploy-pre.json": {
		Ref: Ref{
			ID:     "e8f7a6b5-c4d3-4e2f-9a1b-0c9d8e7f6a5b",
			Source: "com.example.shop.ci",
			Type:   TypeDeployPre,
			Sender: SenderEventBridge,
		},
		Kind: KindDeployPre,
		Time: rfc("2024-05-01T12:00:00Z"),
		DeployPre: &DeployPre{
			Service:     "shop",
			Version:     "1.4.3",
			Environment: "staging",
			Resources:   []ResourceRef{{ID: serverID, Bare: true}},
			VaultID:     vaultID,
			Incremental: ptr(true),
			AutoTrigger: ptr(false),
		},
	},
}

// checkTrigger compares got with want field by field.
func checkTrigger(t *testing.T, got, want Trigger) {
	t.Helper()
	if got.Ref != want.Ref {
		t.Errorf("Ref = %+v, want %+v", got.Ref, want.Ref)
	}
	if got.Kind != want.Kind {
		t.Errorf("Kind = %q, want %q", got.Kind, want.Kind)
	}
	if !got.Time.Equal(want.Time) {
		t.Errorf("Time = %v, want %v", got.Time, want.Time)
	}
	if got.DryRun != want.DryRun {
		t.Errorf("DryRun = %v, want %v", got.DryRun, want.DryRun)
	}
	if got.TraceParent != want.TraceParent {
		t.Errorf("TraceParent = %q, want %q", got.TraceParent, want.TraceParent)
	}
	if got.IgnoreReason != want.IgnoreReason {
		t.Errorf("IgnoreReason = %q, want %q", got.IgnoreReason, want.IgnoreReason)
	}
	if !reflect.DeepEqual(got.ServerTagged, want.ServerTagged) {
		t.Errorf("ServerTagged = %s, want %s", dump(got.ServerTagged), dump(want.ServerTagged))
	}
	if !reflect.DeepEqual(got.DeployPre, want.DeployPre) {
		t.Errorf("DeployPre = %s, want %s", dump(got.DeployPre), dump(want.DeployPre))
	}
	switch g, w := got.CheckpointRequested, want.CheckpointRequested; {
	case (g == nil) != (w == nil):
		t.Errorf("CheckpointRequested = %+v, want %+v", g, w)
	case g != nil:
		if string(g.Body) != string(w.Body) {
			t.Errorf("CheckpointRequested.Body = %s\nwant %s", g.Body, w.Body)
		}
		if g.Wait != w.Wait {
			t.Errorf("CheckpointRequested.Wait = %v, want %v", g.Wait, w.Wait)
		}
	}
	if err := consistent(got); err != nil {
		t.Error(err)
	}
}

func dump(v any) string {
	b, _ := json.Marshal(v)
	if d, ok := v.(*DeployPre); ok && d != nil {
		var bare []bool
		for _, r := range d.Resources {
			bare = append(bare, r.Bare)
		}
		b2, _ := json.Marshal(bare)
		return string(b) + " bare=" + string(b2)
	}
	return string(b)
}

// consistent checks the invariants every decoded Trigger keeps.
func consistent(t Trigger) error {
	set := 0
	for _, p := range []bool{t.ServerTagged != nil, t.DeployPre != nil, t.CheckpointRequested != nil} {
		if p {
			set++
		}
	}
	switch {
	case t.Ref.ID == "" || t.Ref.Source == "":
		return errors.New("Ref has no ID or Source")
	case t.Kind == KindIgnored && (set != 0 || t.IgnoreReason == ""):
		return errors.New("ignored trigger with payload or without reason")
	case t.Kind != KindIgnored && (set != 1 || t.IgnoreReason != ""):
		return errors.New("trigger without exactly one payload")
	case t.Kind == KindServerTagged && (t.ServerTagged == nil || !otc.IsUUID(t.ServerTagged.ServerID)):
		return errors.New("server.tagged without a server UUID")
	case t.Kind == KindDeployPre && (t.DeployPre == nil || strings.TrimSpace(t.DeployPre.Service) == "" ||
		t.DeployPre.Resources == nil || len(t.DeployPre.Resources) > MaxTriggerResources):
		return errors.New("bad deploy.pre")
	case t.Kind == KindCheckpointRequested:
		var body map[string]json.RawMessage
		if t.CheckpointRequested == nil || json.Unmarshal(t.CheckpointRequested.Body, &body) != nil || body == nil {
			return errors.New("checkpoint.requested body is not an object")
		}
	case t.Kind != KindServerTagged && t.Kind != KindDeployPre && t.Kind != KindIgnored:
		return errors.New("unknown kind " + string(t.Kind))
	}
	return nil
}

func TestDecodeFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := fixtureTriggers[filepath.Base(f)]; !ok {
			t.Logf("%s: no expected trigger; not checked here", filepath.Base(f))
		}
	}
	for name, want := range fixtureTriggers {
		t.Run(name, func(t *testing.T) {
			got, err := Decode(readFixture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			checkTrigger(t, got, want)
		})
	}
}

// TestStructuredFixturesAreCloudEvents checks that the structured fixtures are
// CloudEvents 1.0 the sdk accepts, and that DecodeEvent of the sdk's event
// agrees with Decode of the raw JSON.
func TestStructuredFixturesAreCloudEvents(t *testing.T) {
	for name, want := range fixtureTriggers {
		payload := readFixture(t, name)
		if !strings.Contains(string(payload), `"specversion"`) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			var e event.Event
			if err := json.Unmarshal(payload, &e); err != nil {
				t.Fatal(err)
			}
			if err := e.Validate(); err != nil {
				t.Fatal(err)
			}
			if e.DataContentType() != event.ApplicationJSON {
				t.Errorf("datacontenttype = %q", e.DataContentType())
			}
			got, err := DecodeEvent(e)
			if err != nil {
				t.Fatal(err)
			}
			checkTrigger(t, got, want)
		})
	}
}

// TestDecodeSpecificFunctions decodes fixtures with the decoder of their shape.
func TestDecodeSpecificFunctions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		decode func([]byte) (Trigger, error)
	}{
		{"cts-create-tag.json", DecodeCTS},
		{"cts-create-tag-string.json", DecodeCTS},
		{"cts-delete-tag.json", DecodeCTS},
		{"cts-failed.json", DecodeCTS},
		{"eventbridge-deploy-pre.json", DecodeEventBridge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.decode(readFixture(t, tc.name))
			if err != nil {
				t.Fatal(err)
			}
			checkTrigger(t, got, fixtureTriggers[tc.name])
		})
	}
}

// newEvent returns a valid CloudEvent of type typ with JSON data.
func newEvent(typ, data string) event.Event {
	e := event.New()
	e.SetID("evt-1")
	e.SetSource("/test")
	e.SetType(typ)
	if data != "" {
		_ = e.SetData(event.ApplicationJSON, []byte(data))
	}
	return e
}

func TestDecodeEventData(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  string
		data string
		want Trigger
	}{
		{
			name: "server.tagged with tag list and drifting values",
			typ:  TypeServerTagged,
			data: `{"server_id":"` + serverID + `","tags":[{"key":"backup","value":"daily"},{"key":"n","value":3},` +
				`{"key":"on","value":true},{"key":"empty","value":null},{"key":"nokey"},"nova=style","flag"]}`,
			want: Trigger{Kind: KindServerTagged, ServerTagged: &ServerTagged{ServerID: serverID, Tags: map[string]string{
				"backup": "daily", "n": "3", "on": "true", "empty": "", "nokey": "", "nova": "style", "flag": "",
			}}},
		},
		{
			name: "server.tagged with tag object and drifting values",
			typ:  TypeServerTagged,
			data: `{"server_id":"` + serverID + `","tags":{"backup":"daily","n":1.5,"off":false,"x":null},"wait":true}`,
			want: Trigger{Kind: KindServerTagged, ServerTagged: &ServerTagged{ServerID: serverID, Wait: true, Tags: map[string]string{
				"backup": "daily", "n": "1.5", "off": "false", "x": "",
			}}},
		},
		{
			name: "server.tagged with a tag and a member given twice: the last counts",
			typ:  TypeServerTagged,
			data: `{"server_id":"` + serverID + `","tags":{"backup":{"bad":1},"k\u0065y":"v","backup":"weekly"},"wait":false,"wait":true}`,
			want: Trigger{Kind: KindServerTagged, ServerTagged: &ServerTagged{ServerID: serverID, Wait: true, Tags: map[string]string{
				"backup": "weekly", "key": "v",
			}}},
		},
		{
			name: "server.tagged minimal",
			typ:  TypeServerTagged,
			data: `{"server_id":"` + strings.ToUpper(serverID) + `","vault_id":""}`,
			want: Trigger{Kind: KindServerTagged, ServerTagged: &ServerTagged{ServerID: strings.ToUpper(serverID)}},
		},
		{
			name: "deploy.pre without resources is the whole vault",
			typ:  TypeDeployPre,
			data: `{"service":"shop"}`,
			want: Trigger{Kind: KindDeployPre, DeployPre: &DeployPre{Service: "shop", Resources: []ResourceRef{}}},
		},
		{
			name: "deploy.pre with empty resources, explicit false and auto_trigger",
			typ:  TypeDeployPre,
			data: `{"service":"shop","resources":[],"incremental":false,"auto_trigger":true}`,
			want: Trigger{Kind: KindDeployPre, DeployPre: &DeployPre{
				Service: "shop", Resources: []ResourceRef{}, Incremental: ptr(false), AutoTrigger: ptr(true),
			}},
		},
		{
			name: "deploy.pre with an SFS Turbo",
			typ:  TypeDeployPre,
			data: `{"service":"shop","resources":[{"id":"` + volumeID + `","type":"OS::Sfs::Turbo"}]}`,
			want: Trigger{Kind: KindDeployPre, DeployPre: &DeployPre{
				Service: "shop", Resources: []ResourceRef{{ID: volumeID, Type: "OS::Sfs::Turbo"}},
			}},
		},
		{
			name: "checkpoint.requested inner with wait taken out of the body",
			typ:  TypeCheckpointRequested,
			data: `{ "vault_id" : "v-1", "wait": true, "parameters": { "name": "a <b>" } }`,
			want: Trigger{Kind: KindCheckpointRequested, CheckpointRequested: &CheckpointRequested{
				Body: json.RawMessage(`{"vault_id":"v-1","parameters":{"name":"a <b>"}}`), Wait: true,
			}},
		},
		{
			name: "checkpoint.requested wrapped without wait",
			typ:  TypeCheckpointRequested,
			data: `{"checkpoint": {"vault_id": "v-1"}}`,
			want: Trigger{Kind: KindCheckpointRequested, CheckpointRequested: &CheckpointRequested{
				Body: json.RawMessage(`{"vault_id":"v-1"}`),
			}},
		},
		{
			name: "bare CTS record in an Event Grid event",
			typ:  "ECS:CloudTrace:ConsoleAction",
			data: `{"trace_id":"t-1","trace_name":"createServerTags","resource_id":"` + serverID + `","resource_type":"server",` +
				`"request":{"tag":{"key":"backup","value":"daily"}},"time":"2024-05-01T10:00:00+02:00"}`,
			want: Trigger{Ref: Ref{Subject: serverID}, Kind: KindServerTagged, Time: rfc("2024-05-01T08:00:00Z"), ServerTagged: &ServerTagged{
				ServerID: serverID, Tags: map[string]string{"backup": "daily"},
			}},
		},
		{
			name: "wrapped CTS record in an Event Grid event, not a tag creation",
			typ:  "ECS:CloudTrace:ApiCall",
			data: `{"cts":{"trace_id":"t-2","trace_name":"stopServer","service_type":"ECS","resource_id":"` + serverID + `"}}`,
			want: Trigger{Ref: Ref{Subject: serverID}, Kind: KindIgnored, IgnoreReason: "operation stopServer is not a tag creation"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeEvent(newEvent(tc.typ, tc.data))
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Ref.ID, tc.want.Ref.Source, tc.want.Ref.Type = "evt-1", "/test", tc.typ
			checkTrigger(t, got, tc.want)
		})
	}
}

func TestDecodeEventExtensions(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		name        string
		ext         map[string]any
		dryRun      bool
		traceParent string
		errField    string
	}{
		{name: "none"},
		{name: "dryrun bool", ext: map[string]any{"dryrun": true}, dryRun: true},
		{name: "dryrun string", ext: map[string]any{"dryrun": "TRUE"}, dryRun: true},
		{name: "dryrun false", ext: map[string]any{"dryrun": "false"}},
		{name: "dryrun bad", ext: map[string]any{"dryrun": "yes"}, errField: "dryrun"},
		{name: "dryrun number", ext: map[string]any{"dryrun": 1}, errField: "dryrun"},
		{name: "traceparent", ext: map[string]any{"traceparent": tp}, traceParent: tp},
		{name: "traceparent future version", ext: map[string]any{"traceparent": "01" + tp[2:] + "-extra"}, traceParent: "01" + tp[2:] + "-extra"},
		// Carried as it came: the telemetry continues the trace or drops it.
		{name: "traceparent invalid is carried", ext: map[string]any{"traceparent": "not-a-traceparent"}, traceParent: "not-a-traceparent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEvent(TypeServerTagged, `{"server_id":"`+serverID+`"}`)
			for k, v := range tc.ext {
				e.SetExtension(k, v)
			}
			got, err := DecodeEvent(e)
			if tc.errField != "" {
				assertField(t, err, tc.errField)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.DryRun != tc.dryRun || got.TraceParent != tc.traceParent {
				t.Errorf("DryRun, TraceParent = %v, %q; want %v, %q", got.DryRun, got.TraceParent, tc.dryRun, tc.traceParent)
			}
		})
	}
}

func TestDecodeStructuredExtensions(t *testing.T) {
	head := `{"specversion":"1.0","id":"1","source":"/s","type":"` + TypeServerTagged + `","data":{"server_id":"` + serverID + `"},`
	payload := head + `"dryrun":true,"time":"2024-05-01T10:15:05.123Z","comexampleother":7,"flag":false,"nothing":null}`
	got, err := Decode([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	if !got.DryRun || !got.Time.Equal(time.UnixMilli(1714558505123)) {
		t.Errorf("DryRun, Time = %v, %v", got.DryRun, got.Time)
	}
	// The CloudEvents 1.0 spec: time is RFC 3339, extension names are
	// lower-case letters and digits, extension values strings, booleans or
	// integers.
	for _, tc := range []struct{ member, field string }{
		{`"time":1714558505123`, "time"},
		{`"time":"2024-05-01 10:15:05"`, "time"},
		{`"my_ext":"x"`, "my_ext"},
		{`"my-ext":"x"`, "my-ext"},
		{`"my ext":"x"`, `["my ext"]`},
		{`"MyExt":"x"`, "MyExt"},
		{`"ext":{"a":1}`, "ext"},
		{`"ext":1.5`, "ext"},
		{`"ext":[1]`, "ext"},
		{`"dataschema":7`, "dataschema"},
	} {
		_, err := Decode([]byte(head + tc.member + `}`))
		assertField(t, err, tc.field)
	}
}

func TestDecodeStructuredDataEncodings(t *testing.T) {
	data := `{"server_id":"` + serverID + `"}`
	b64 := "eyJzZXJ2ZXJfaWQiOiI5NGViYThiMi1hY2M5LTRkODItYmFkYy0xMjcxNDRjYzU1MjYifQ=="
	quoted, _ := json.Marshal(data)
	for name, payload := range map[string]string{
		"data_base64":       `{"specversion":"1.0","id":"1","source":"/s","type":"` + TypeServerTagged + `","data_base64":"` + b64 + `"}`,
		"text data":         `{"specversion":"1.0","id":"1","source":"/s","type":"` + TypeServerTagged + `","datacontenttype":"text/plain","data":` + string(quoted) + `}`,
		"json with charset": `{"specversion":"1.0","id":"1","source":"/s","type":"` + TypeServerTagged + `","datacontenttype":"application/json; charset=utf-8","data":` + data + `}`,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Decode([]byte(payload))
			if err != nil {
				t.Fatal(err)
			}
			if got.ServerTagged == nil || got.ServerTagged.ServerID != serverID {
				t.Errorf("ServerTagged = %+v", got.ServerTagged)
			}
		})
	}
}

// assertField checks that err is a *failure.FieldError on field.
func assertField(t *testing.T, err error, field string) {
	t.Helper()
	var de *failure.FieldError
	if !errors.As(err, &de) {
		t.Fatalf("error = %v (%T), want a *failure.FieldError on %q", err, err, field)
	}
	if de.Field != field {
		t.Errorf("error field = %q, want %q (error: %v)", de.Field, field, err)
	}
	if c := failure.ClassOf(err); c != failure.Invalid {
		t.Errorf("class = %q, want invalid (error: %v)", c, err)
	}
	if de.Rule == "" || de.Error() != de.Field+": "+de.Rule {
		t.Errorf("error %q: bad rule or message", de.Error())
	}
}

func TestDecodeEventErrors(t *testing.T) {
	uuid := `"` + serverID + `"`
	many := `[` + strings.Repeat(uuid+`,`, MaxTriggerResources) + uuid + `]`
	for _, tc := range []struct {
		name  string
		typ   string
		data  string
		field string
		rule  string // a part of the rule, when it matters
	}{
		{"unknown type", "com.example.other", `{"server_id":` + uuid + `}`, "type", TypeDeployPre},
		{"unknown type no data", "com.example.other", ``, "type", "CTS record"},
		{"no data", TypeServerTagged, ``, "data", "required"},
		{"null data", TypeServerTagged, `null`, "data", "required"},
		{"array data", TypeServerTagged, `[]`, "data", "must be a JSON object"},
		{"invalid json", TypeServerTagged, `{"server_id":`, "data", "valid JSON"},

		{"server_id missing", TypeServerTagged, `{}`, "data.server_id", "required, a UUID"},
		{"server_id empty", TypeServerTagged, `{"server_id":""}`, "data.server_id", "required, a UUID"},
		{"server_id not uuid", TypeServerTagged, `{"server_id":"web-1"}`, "data.server_id", "must be a UUID"},
		{"server_id number", TypeServerTagged, `{"server_id":42}`, "data.server_id", "must be a UUID"},
		{"server_name number", TypeServerTagged, `{"server_id":` + uuid + `,"server_name":1}`, "data.server_name", "must be a string"},
		{"vault_id not uuid", TypeServerTagged, `{"server_id":` + uuid + `,"vault_id":"vault"}`, "data.vault_id", "must be a UUID"},
		{"wait string", TypeServerTagged, `{"server_id":` + uuid + `,"wait":"yes"}`, "data.wait", "must be a boolean"},
		{"tags string", TypeServerTagged, `{"server_id":` + uuid + `,"tags":"backup"}`, "data.tags", ""},
		{"tag value object", TypeServerTagged, `{"server_id":` + uuid + `,"tags":{"backup":{"x":1}}}`, "data.tags.backup", ""},
		{"tag value odd key", TypeServerTagged, `{"server_id":` + uuid + `,"tags":{"cost center":[]}}`, `data.tags["cost center"]`, ""},
		{"tag empty key", TypeServerTagged, `{"server_id":` + uuid + `,"tags":{"":"x"}}`, "data.tags", "empty"},
		{"tag list key missing", TypeServerTagged, `{"server_id":` + uuid + `,"tags":[{"key":"a"},{"value":"v"}]}`, "data.tags[1].key", "required"},
		{"tag list value array", TypeServerTagged, `{"server_id":` + uuid + `,"tags":[{"key":"a","value":[1]}]}`, "data.tags[0].value", ""},
		{"tag list number", TypeServerTagged, `{"server_id":` + uuid + `,"tags":[1]}`, "data.tags[0]", ""},
		{"tag list empty key string", TypeServerTagged, `{"server_id":` + uuid + `,"tags":["=v"]}`, "data.tags[0]", "empty"},
		{"invalid UTF-8 in name", TypeServerTagged, "{\"server_id\":" + uuid + ",\"server_name\":\"web-\xff\"}", "data.server_name", "UTF-8"},
		{"invalid UTF-8 in tag", TypeServerTagged, "{\"server_id\":" + uuid + ",\"tags\":[{\"key\":\"a\"},{\"key\":\"b\",\"value\":\"\xc3\"}]}", "data.tags[1].value", "UTF-8"},
		{"invalid UTF-8 in key", TypeServerTagged, "{\"server_id\":" + uuid + ",\"tags\":{\"k\xff\":\"v\"}}", "data.tags[\"k\ufffd\"]", "UTF-8"},

		{"service missing", TypeDeployPre, `{}`, "data.service", "required"},
		{"service blank", TypeDeployPre, `{"service":"  "}`, "data.service", "non-blank"},
		{"version number", TypeDeployPre, `{"service":"shop","version":1.4}`, "data.version", "string"},
		{"description number", TypeDeployPre, `{"service":"shop","description":1}`, "data.description", "string"},
		{"resources object", TypeDeployPre, `{"service":"shop","resources":{}}`, "data.resources", "list"},
		{"resource empty string", TypeDeployPre, `{"service":"shop","resources":[` + uuid + `,""]}`, "data.resources[1]", "UUID"},
		{"resource not uuid", TypeDeployPre, `{"service":"shop","resources":["vol-1"]}`, "data.resources[0]", "UUID"},
		{"resource number", TypeDeployPre, `{"service":"shop","resources":[7]}`, "data.resources[0]", ""},
		{"resource id missing", TypeDeployPre, `{"service":"shop","resources":[{"type":"OS::Nova::Server"}]}`, "data.resources[0].id", "required"},
		{"resource type missing", TypeDeployPre, `{"service":"shop","resources":[` + uuid + `,{"id":` + uuid + `}]}`, "data.resources[1].type", "must be one of"},
		{"resource type unknown", TypeDeployPre, `{"service":"shop","resources":[{"id":` + uuid + `,"type":"OS::Nova::Volume"}]}`, "data.resources[0].type", "OS::Cinder::Volume"},
		{"resource name number", TypeDeployPre, `{"service":"shop","resources":[{"id":` + uuid + `,"type":"OS::Nova::Server","name":5}]}`, "data.resources[0].name", "string"},
		{"too many resources", TypeDeployPre, `{"service":"shop","resources":` + many + `}`, "data.resources", "10000"},
		{"incremental string", TypeDeployPre, `{"service":"shop","incremental":"false"}`, "data.incremental", "boolean"},
		{"auto_trigger number", TypeDeployPre, `{"service":"shop","auto_trigger":0}`, "data.auto_trigger", "boolean"},
		{"deploy vault_id", TypeDeployPre, `{"service":"shop","vault_id":"x"}`, "data.vault_id", "UUID"},
		{"invalid UTF-8 in resource name", TypeDeployPre, "{\"service\":\"shop\",\"resources\":[{\"id\":" + uuid + ",\"type\":\"OS::Nova::Server\",\"name\":\"\xff\"}]}", "data.resources[0].name", "UTF-8"},

		{"vault_id missing", TypeCheckpointRequested, `{"parameters":{}}`, "data.vault_id", "required"},
		{"vault_id number", TypeCheckpointRequested, `{"vault_id":1}`, "data.vault_id", "string"},
		{"wrapped vault_id missing", TypeCheckpointRequested, `{"checkpoint":{}}`, "data.checkpoint.vault_id", "required"},
		{"checkpoint not object", TypeCheckpointRequested, `{"checkpoint":"x"}`, "data.checkpoint", "object"},
		{"checkpoint null", TypeCheckpointRequested, `{"checkpoint":null}`, "data.checkpoint", "required"},
		{"checkpoint wait string", TypeCheckpointRequested, `{"checkpoint":{"vault_id":"v"},"wait":"true"}`, "data.wait", "boolean"},

		{"cts trace_id missing", "ECS:CloudTrace:ApiCall", `{"cts":{"trace_name":"createResourceTag"}}`, "data.cts.trace_id", "required"},
		{"bare cts trace_name missing", "ECS:CloudTrace:ApiCall", `{"trace_id":"t"}`, "data.trace_name", "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEvent(newEvent(tc.typ, tc.data))
			assertField(t, err, tc.field)
			if err != nil && !strings.Contains(err.Error(), tc.rule) {
				t.Errorf("error %q does not mention %q", err, tc.rule)
			}
		})
	}
}

func TestDecodeEventEnvelopeErrors(t *testing.T) {
	e := newEvent(TypeServerTagged, `{"server_id":"`+serverID+`"}`)
	e.Context.(*event.EventContextV1).ID = "" // SetID refuses ""
	_, err := DecodeEvent(e)
	assertField(t, err, "id")

	e = newEvent(TypeServerTagged, `{"server_id":"`+serverID+`"}`)
	e.Context = &event.EventContextV1{ID: "evt-1", Type: TypeServerTagged} // no source
	_, err = DecodeEvent(e)
	assertField(t, err, "source")

	_, err = DecodeEvent(event.Event{})
	assertField(t, err, "specversion")
}

func TestDecodeEventBridge(t *testing.T) {
	envelope := func(detailType, detail string) string {
		return `{"version":"0","id":"eb-1","detail-type":"` + detailType + `","source":"com.example","account":"123456789012",` +
			`"time":"2024-05-01T12:00:00Z","region":"eu-central-1","resources":[],"detail":` + detail + `}`
	}
	server := `{"server_id":"` + serverID + `","tags":{"backup":"daily"}}`
	for _, detailType := range []string{"server.tagged", "io.restorepoint.server.tagged"} {
		t.Run(detailType, func(t *testing.T) {
			for name, decode := range map[string]func([]byte) (Trigger, error){"DecodeEventBridge": DecodeEventBridge, "Decode": Decode} {
				got, err := decode([]byte(envelope(detailType, server)))
				if err != nil {
					t.Fatal(name, err)
				}
				checkTrigger(t, got, Trigger{
					Ref:  Ref{ID: "eb-1", Source: "com.example", Type: TypeServerTagged, Sender: SenderEventBridge},
					Kind: KindServerTagged,
					Time: rfc("2024-05-01T12:00:00Z"),
					ServerTagged: &ServerTagged{
						ServerID: serverID, Tags: map[string]string{"backup": "daily"},
					},
				})
			}
		})
	}
	t.Run("checkpoint.requested", func(t *testing.T) {
		got, err := DecodeEventBridge([]byte(envelope("checkpoint.requested", `{"vault_id":"`+vaultID+`"}`)))
		if err != nil {
			t.Fatal(err)
		}
		if got.Kind != KindCheckpointRequested || got.Ref.Type != TypeCheckpointRequested {
			t.Errorf("Kind, Type = %q, %q", got.Kind, got.Ref.Type)
		}
	})

	for _, tc := range []struct {
		name, payload, field string
	}{
		{"unknown detail-type", envelope("EC2 Instance State-change Notification", `{}`), "detail-type"},
		{"other prefix", envelope("com.example.server.tagged", server), "detail-type"},
		{"detail-type number", `{"id":"1","source":"s","detail-type":1,"detail":{}}`, "detail-type"},
		{"no detail", `{"id":"1","source":"s","detail-type":"deploy.pre"}`, "detail"},
		{"detail error", envelope("deploy.pre", `{"service":""}`), "detail.service"},
		{"detail resource error", envelope("deploy.pre", `{"service":"s","resources":[{"id":"`+serverID+`","type":"x"}]}`), "detail.resources[0].type"},
		{"no id", `{"source":"s","detail-type":"deploy.pre","detail":{"service":"s"}}`, "id"},
		{"no source", `{"id":"1","detail-type":"deploy.pre","detail":{"service":"s"}}`, "source"},
		{"bad time", `{"id":"1","source":"s","time":"yesterday","detail-type":"deploy.pre","detail":{"service":"s"}}`, "time"},
		{"not an object", `[1]`, "payload"},
		{"utf8 in detail", "{\"id\":\"1\",\"source\":\"s\",\"detail-type\":\"deploy.pre\",\"detail\":{\"service\":\"\xff\"}}", "detail.service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEventBridge([]byte(tc.payload))
			assertField(t, err, tc.field)
		})
	}
}

func TestDecodeSniffing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		kind    Kind
		field   string
	}{
		{"structured cloudevent", `{"specversion":"1.0","id":"1","source":"/s","type":"` + TypeDeployPre + `","data":{"service":"s"}}`, KindDeployPre, ""},
		{"eventbridge", `{"id":"1","source":"s","detail-type":"deploy.pre","detail":{"service":"s"}}`, KindDeployPre, ""},
		{"cts", `{"cts":{"trace_id":"t","trace_name":"deleteResourceTag"}}`, KindIgnored, ""},
		{"none", `{"hello":"world"}`, "", "payload"},
		{"empty", ``, "", "payload"},
		{"not json", `hello`, "", "payload"},
		{"array", `[]`, "", "payload"},
		{"null", `null`, "", "payload"},
		{"bad specversion", `{"specversion":"0.3","id":"1","source":"/s","type":"` + TypeDeployPre + `"}`, "", "specversion"},
		{"no id", `{"specversion":"1.0","source":"/s","type":"` + TypeDeployPre + `"}`, "", "id"},
		{"no source", `{"specversion":"1.0","id":"1","type":"` + TypeDeployPre + `"}`, "", "source"},
		{"no type", `{"specversion":"1.0","id":"1","source":"/s"}`, "", "type"},
		{"bad time", `{"specversion":"1.0","id":"1","source":"/s","type":"` + TypeDeployPre + `","time":"now"}`, "", "time"},
		{"data and data_base64", `{"specversion":"1.0","id":"1","source":"/s","type":"` + TypeDeployPre + `","data":{},"data_base64":"e30="}`, "", "data_base64"},
		{"bad base64", `{"specversion":"1.0","id":"1","source":"/s","type":"` + TypeDeployPre + `","data_base64":"!!"}`, "", "data_base64"},
		{"structured data error", `{"specversion":"1.0","id":"1","source":"/s","type":"` + TypeDeployPre + `","data":{"service":1}}`, "", "data.service"},
		{"structured dryrun error", `{"specversion":"1.0","id":"1","source":"/s","type":"` + TypeDeployPre + `","dryrun":"maybe","data":{"service":"s"}}`, "", "dryrun"},
		{"cts not object", `{"cts":"x"}`, "", "cts"},
		{"utf8 in cts", "{\"cts\":{\"trace_id\":\"t\",\"trace_name\":\"createResourceTag\",\"resource_name\":\"\xff\"}}", "", "cts.resource_name"},
		{"utf8 in structured data", "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"x\",\"data\":{\"a\":[\"ok\",{\"b\":\"\xff\"}]}}", "", "data.a[1].b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.payload))
			// The front doors answer "unsupported" for exactly these.
			if want := tc.field == rootField; errors.Is(err, ErrUnrecognized) != want {
				t.Errorf("errors.Is(%v, ErrUnrecognized) = %v, want %v", err, !want, want)
			}
			if tc.field != "" {
				assertField(t, err, tc.field)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tc.kind {
				t.Errorf("Kind = %q, want %q", got.Kind, tc.kind)
			}
		})
	}
}
