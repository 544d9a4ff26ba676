package events_test

import (
	"errors"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
)

func ExampleDecodeEvent() {
	e := event.New()
	e.SetID("7c4f3e2a-9b1d-4e8f-a6c5-2d3b4a5e6f70")
	e.SetSource("/restorepoint/tagger")
	e.SetType(events.TypeServerTagged)
	e.SetExtension(events.ExtensionDryRun, "true")
	_ = e.SetData(event.ApplicationJSON, map[string]any{
		"server_id": "94eba8b2-acc9-4d82-badc-127144cc5526",
		"tags":      []map[string]string{{"key": "backup", "value": "daily"}},
	})

	t, err := events.DecodeEvent(e)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t.Kind, t.ServerTagged.ServerID, t.ServerTagged.Tags["backup"], t.DryRun)
	// Output: server.tagged 94eba8b2-acc9-4d82-badc-127144cc5526 daily true
}

func ExampleDecode() {
	payload := []byte(`{
		"version": "0", "id": "e8f7a6b5-c4d3-4e2f-9a1b-0c9d8e7f6a5b",
		"detail-type": "deploy.pre", "source": "com.example.shop.ci",
		"time": "2024-05-01T12:00:00Z",
		"detail": {"service": "shop", "resources": ["94eba8b2-acc9-4d82-badc-127144cc5526"], "incremental": false}
	}`)

	t, err := events.Decode(payload)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t.Ref.Type, t.DeployPre.Service, len(t.DeployPre.Resources), *t.DeployPre.Incremental)
	// Output: io.restorepoint.deploy.pre shop 1 false
}

// Decode decodes a FunctionGraph CTS trigger payload, {"cts":{...}}.
func ExampleDecode_cts() {
	payload := []byte(`{"cts": {
		"trace_id": "a3b2e5c6-7d8f-4e90-8b12-3c4d5e6f7a81", "trace_name": "deleteResourceTag",
		"service_type": "TMS", "code": 204, "time": 1714562105000,
		"resource_id": "94eba8b2-acc9-4d82-badc-127144cc5526"
	}}`)

	t, err := events.Decode(payload)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t.Ref.Source, t.Ref.Type, t.Kind)
	fmt.Println(t.IgnoreReason)
	// Output:
	// cts/TMS cts:deleteResourceTag ignored
	// operation deleteResourceTag is a tag deletion, not a tag creation
}

// Decode's errors name the offending field.
func ExampleDecode_fieldError() {
	payload := []byte(`{"specversion": "1.0", "id": "1", "source": "/ci", "type": "io.restorepoint.deploy.pre",
		"data": {"service": "shop", "resources": [{"id": "94eba8b2-acc9-4d82-badc-127144cc5526", "type": "server"}]}}`)

	_, err := events.Decode(payload)
	var de *failure.FieldError
	if errors.As(err, &de) {
		fmt.Println(de.Field)
		fmt.Println(err)
	}
	// Output:
	// data.resources[0].type
	// data.resources[0].type: must be one of OS::Nova::Server, OS::Cinder::Volume, OS::Sfs::Turbo
}
