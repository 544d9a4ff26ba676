//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/handler/handlertest"
)

// Follow passes asked for by a schedule, in the deployed bootstraps: the
// Lambda bootstrap under the Runtime Interface Emulator (an EventBridge
// schedule, as template.yaml sends it, or a structured CloudEvent) and the
// FunctionGraph event function (a TIMER trigger whose user_event asks for
// it). Each pass answers with io.restorepoint.follow.done and sends the
// completion of each restore point that ended to the sink, once.

// followAvailableAfter is how long the emulator's backups take here.
const followAvailableAfter = time.Second

// scheduledFollow is an EventBridge scheduled event asking for a follow
// pass: what an EventBridge rule (or Scheduler) with detail-type
// io.restorepoint.follow delivers.
func scheduledFollow(id string) []byte {
	return fmt.Appendf(nil, `{"version":"0","id":%q,"detail-type":"io.restorepoint.follow","source":"aws.events",`+
		`"account":"123456789012","time":%q,"region":"eu-central-1",`+
		`"resources":["arn:aws:events:eu-central-1:123456789012:rule/restorepoint-follow"],"detail":{}}`,
		id, time.Now().UTC().Format(time.RFC3339))
}

// followCloudEvent is a structured CloudEvent asking for a follow pass.
func followCloudEvent(id string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/ops/schedules","type":%q}`, id, events.TypeFollow)
}

// followReport checks that body is an io.restorepoint.follow.done result
// and returns its report.
func followReport(t *testing.T, body []byte) events.FollowReport {
	t.Helper()
	var e event.Event
	var r events.FollowReport
	if err := json.Unmarshal(body, &e); err != nil || e.Type() != events.TypeFollowDone || e.DataAs(&r) != nil {
		t.Fatalf("answer %s, want an %s result", body, events.TypeFollowDone)
	}
	return r
}

// sinkCompletions returns the completion results the sink received: the
// available and failed results carrying a key marker.
func sinkCompletions(t *testing.T, sink *handlertest.Server) []events.Completion {
	t.Helper()
	var out []events.Completion
	for _, e := range sink.Events() {
		if e.Type() != events.TypeCheckpointAvailable && e.Type() != events.TypeCheckpointFailed {
			continue
		}
		var c events.Completion
		if err := e.DataAs(&c); err != nil {
			t.Fatalf("%s: %v", e.Type(), err)
		}
		if c.Marker != "" {
			out = append(out, c)
		}
	}
	return out
}

// awaitAvailable waits until every checkpoint of emu is available.
func awaitAvailable(t *testing.T, emu *cbrtest.Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := true
		for _, cp := range emu.Checkpoints() {
			all = all && cp.Status == "available"
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the checkpoints are not available after 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rieFollowPass runs the bootstrap under the RIE: a trigger makes a restore
// point; a scheduled follow pass while it is protecting reports it pending,
// one after it became available reports it to the sink; a structured
// CloudEvent asking for a pass then finds nothing left.
func rieFollowPass(t *testing.T, rie, bootstrap, dir string) {
	emu := cbrtest.NewServer(cbrtest.Options{AvailableAfter: followAvailableAfter})
	t.Cleanup(emu.Close)
	sink := handlertest.NewServer()
	t.Cleanup(sink.Close)
	invokeURL, out := startUnderRIE(t, dir, rie, bootstrap,
		"CBR_ENDPOINT="+emu.URL,
		"CBR_PROJECT_ID="+cbrtest.DefaultProjectID,
		"CBR_TOKEN="+cbrtest.DefaultToken,
		"CBR_DEFAULT_VAULT_ID="+cbrtest.ExampleVaultID,
		"RESULT_SINK="+sink.URL)
	invoke := func(t *testing.T, payload []byte) []byte {
		t.Helper()
		status, _, body := postUntilUp(t, invokeURL, http.Header{"Content-Type": {"application/json"}}, payload, 20*time.Second)
		if status != http.StatusOK {
			t.Fatalf("invoke: status %d: %s\n%s", status, body, out)
		}
		return body
	}
	trigger, err := os.ReadFile(filepath.Join("..", "..", "testdata", "lambda", "eventbridge-server-tagged.json"))
	if err != nil {
		t.Fatal(err)
	}
	var created event.Event
	if err := json.Unmarshal(invoke(t, trigger), &created); err != nil || created.Type() != events.TypeCheckpointCreated {
		t.Fatalf("trigger answered %v, want %s", created, events.TypeCheckpointCreated)
	}

	if r := followReport(t, invoke(t, scheduledFollow("follow-tick-1"))); r.Pending != 1 || r.Available != 0 {
		t.Fatalf("pass while protecting: %+v, want 1 pending", r)
	}
	awaitAvailable(t, emu)
	if r := followReport(t, invoke(t, scheduledFollow("follow-tick-2"))); r.Available != 1 || r.Pending != 0 || len(r.Errors) != 0 {
		t.Fatalf("pass once available: %+v, want 1 available", r)
	}
	if r := followReport(t, invoke(t, []byte(followCloudEvent("follow-ce-1")))); r.Available != 0 || r.Pending != 0 {
		t.Fatalf("pass after the end was reported: %+v, want nothing", r)
	}
	cs := sinkCompletions(t, sink)
	if len(cs) != 1 || cs[0].Error != nil || cs[0].VaultID != cbrtest.ExampleVaultID ||
		len(cs[0].Resources) != 1 || cs[0].Resources[0].ID != cbrtest.ExampleServerID {
		t.Fatalf("sink completions %+v, want the example server's restore point available, once", cs)
	}
}

// functionGraphFollowPass runs bootstrap as a FunctionGraph event function:
// a TIMER whose user_event is a deploy.pre makes a restore point, and TIMER
// ticks whose user_event is a structured CloudEvent of type
// io.restorepoint.follow follow it to its end.
func functionGraphFollowPass(t *testing.T, ctx context.Context, bootstrap string) {
	emu := cbrtest.NewServer(cbrtest.Options{AvailableAfter: followAvailableAfter})
	t.Cleanup(emu.Close)
	sink := handlertest.NewServer()
	t.Cleanup(sink.Close)
	rt := handlertest.NewFunctionGraphRuntimeServer()
	t.Cleanup(rt.Close)
	cmd := exec.Command(bootstrap)
	cmd.Env = []string{
		"FUNCTIONGRAPH_MODE=event",
		"RUNTIME_API_ADDR=" + rt.Addr,
		"RUNTIME_PROJECT_ID=" + cbrtest.DefaultProjectID,
		"RUNTIME_TIMEOUT=30",
		"CBR_AUTH=functiongraph",
		"CBR_ENDPOINT=" + emu.URL,
		"CBR_DEFAULT_VAULT_ID=" + cbrtest.ExampleVaultID,
		"RESULT_SINK=" + sink.URL,
	}
	logs := startDeployProcess(t, cmd)
	invoke := func(t *testing.T, id string, body []byte) []byte {
		t.Helper()
		ictx, icancel := context.WithTimeout(ctx, 30*time.Second)
		defer icancel()
		a, err := rt.Invoke(ictx, handlertest.FunctionGraphInvocation{RequestID: id, Body: body,
			AuthToken: cbrtest.DefaultToken, AccessKey: cbrtest.DemoTemporaryAccessKey,
			SecretKey: cbrtest.DemoTemporarySecretKey, SecurityToken: cbrtest.DemoSecurityToken})
		if err != nil || a.Endpoint != "response" {
			t.Fatalf("invoke %s: %v %s: %s\n%s", id, err, a.Endpoint, a.Body, logs)
		}
		return a.Body
	}
	timer := func(userEvent string) []byte {
		b, _ := json.Marshal(map[string]string{"version": "v1.0", "time": time.Now().Format(time.RFC3339),
			"trigger_type": "TIMER", "trigger_name": "restorepoint-follow", "user_event": userEvent})
		return b
	}
	trigger, err := os.ReadFile(filepath.Join("..", "..", "testdata", "functiongraph", "timer-cloudevent.json"))
	if err != nil {
		t.Fatal(err)
	}
	var created event.Event
	if err := json.Unmarshal(invoke(t, "fg-follow-0", trigger), &created); err != nil || created.Type() != events.TypeCheckpointCreated {
		t.Fatalf("trigger answered %v, want %s", created, events.TypeCheckpointCreated)
	}
	if r := followReport(t, invoke(t, "fg-follow-1", timer(followCloudEvent("tick-1")))); r.Pending != 1 || r.Available != 0 {
		t.Fatalf("pass while protecting: %+v, want 1 pending", r)
	}
	awaitAvailable(t, emu)
	if r := followReport(t, invoke(t, "fg-follow-2", timer(followCloudEvent("tick-2")))); r.Available != 1 || r.Pending != 0 || len(r.Errors) != 0 {
		t.Fatalf("pass once available: %+v, want 1 available", r)
	}
	if r := followReport(t, invoke(t, "fg-follow-3", timer(followCloudEvent("tick-3")))); r.Available != 0 || r.Pending != 0 {
		t.Fatalf("pass after the end was reported: %+v, want nothing", r)
	}
	cs := sinkCompletions(t, sink)
	if len(cs) != 1 || cs[0].Error != nil || len(cs[0].Resources) != 1 || cs[0].Resources[0].ID != cbrtest.ExampleServerID {
		t.Fatalf("sink completions %+v, want the example server's restore point available, once", cs)
	}
	if refused := rt.Refused(); len(refused) > 0 {
		t.Errorf("the bootstrap strayed from the runtime API: %v", refused)
	}
}
