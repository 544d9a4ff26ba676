package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/handler"
	"github.com/restorepoint/restorepoint/handler/handlertest"
	"github.com/restorepoint/restorepoint/internal/app"
)

// The follow schedules of the deploy files (the SAM template's schedule,
// the FunctionGraph follow timer, the Knative PingSource): each is read from
// its file, decoded with the decoder of the front door it reaches, and run
// through that front door, in process, against the emulator: it must run a
// follow pass that reports the restore point made before it to the sink.

// followWorld is the emulator, a recording sink and the app, configured
// with env and the emulator's endpoint, project and sink.
type followWorld struct {
	emu  *cbrtest.Server
	sink *handlertest.Server
	app  *app.App
}

func newFollowWorld(t *testing.T, e env) *followWorld {
	t.Helper()
	w := &followWorld{emu: cbrtest.NewServer(cbrtest.Options{AvailableAfter: -1}), sink: handlertest.NewServer()}
	t.Cleanup(w.emu.Close)
	t.Cleanup(w.sink.Close)
	e["CBR_ENDPOINT"], e["CBR_PROJECT_ID"], e["RESULT_SINK"] = w.emu.URL, cbrtest.DefaultProjectID, w.sink.URL+"/"
	cfg, err := app.Load(e.get)
	if err != nil {
		t.Fatal(err)
	}
	if w.app, err = app.New(cfg, slog.New(slog.DiscardHandler), "test"); err != nil {
		t.Fatal(err)
	}
	return w
}

// deployPre is a trigger that makes one restore point.
func deployPre(t *testing.T) []byte {
	t.Helper()
	e := event.New()
	e.SetID("deploy-1")
	e.SetSource("/ci/shop")
	e.SetType(events.TypeDeployPre)
	if err := e.SetData(event.ApplicationJSON, map[string]any{"service": "shop", "version": "1.4.2",
		"vault_id": cbrtest.ExampleVaultID, "resources": []string{cbrtest.ExampleServerID}}); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkFollowed checks that the answer of a follow pass, a result event
// of type typ with data, reports the one restore point made, and that its
// completion reached the sink.
func (w *followWorld) checkFollowed(t *testing.T, typ string, data []byte) {
	t.Helper()
	var report events.FollowReport
	if typ != events.TypeFollowDone || json.Unmarshal(data, &report) != nil || report.Available != 1 || report.Failed != 0 {
		t.Errorf("the follow pass answered %s %s; want %s reporting 1 available", typ, data, events.TypeFollowDone)
	}
	var completions []string
	for _, e := range w.sink.Events() {
		if e.Type() == events.TypeCheckpointAvailable {
			completions = append(completions, string(e.Data()))
		}
	}
	if len(completions) != 1 || !strings.Contains(completions[0], `"id":"deploy-1"`) {
		t.Errorf("the sink received the completions %v; want one, of trigger deploy-1", completions)
	}
}

// structuredEvent decodes a result event in the structured format.
func structuredEvent(t *testing.T, b []byte) (typ string, data []byte) {
	t.Helper()
	var e event.Event
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	return e.Type(), e.Data()
}

// TestSAMFollowSchedule: the template's schedule invokes the function with
// an EventBridge event of detail-type io.restorepoint.follow, every
// FollowSchedule (rate(5 minutes) by default).
func TestSAMFollowSchedule(t *testing.T) {
	tpl := yamlDocs(t, "template.yaml")[0]
	var schedule any
	for name, e := range yamlAt(t, tpl, "Resources", "RestorePointFunction", "Properties", "Events").(map[string]any) {
		if yamlAt(t, e, "Type") == "Schedule" {
			if schedule != nil {
				t.Fatalf("more than one Schedule event (%s)", name)
			}
			schedule = yamlAt(t, e, "Properties")
		}
	}
	if schedule == nil {
		t.Fatal("the function has no Schedule event")
	}
	param := yamlAt(t, schedule, "Schedule", "Ref").(string)
	rate := yamlAt(t, tpl, "Parameters", param, "Default").(string)
	if !regexp.MustCompile(`^rate\(\d+ (minute|minutes|hour|hours)\)$`).MatchString(rate) {
		t.Errorf("parameter %s defaults to %q, want rate(N minutes)", param, rate)
	}
	input := []byte(yamlAt(t, schedule, "Input").(string))
	for name, decode := range map[string]func([]byte) (events.Trigger, error){
		"DecodeEventBridge": events.DecodeEventBridge, "Decode": events.Decode} {
		tr, err := decode(input)
		if err != nil || tr.Kind != events.KindFollow || tr.Ref.Sender != events.SenderEventBridge {
			t.Fatalf("%s(Input) = %+v, %v; want a follow trigger from EventBridge", name, tr.Ref, err)
		}
	}

	// Twice, as a schedule sends it at every tick: each runs a pass.
	w := newFollowWorld(t, env{"CBR_TOKEN": cbrtest.DefaultToken})
	lambda := w.app.LambdaHandler()
	ctx := context.Background()
	if _, err := lambda.Invoke(ctx, deployPre(t)); err != nil {
		t.Fatalf("creating: %v", err)
	}
	for tick := range 2 {
		answer, err := lambda.Invoke(ctx, input)
		if err != nil {
			t.Fatalf("tick %d: %v", tick, err)
		}
		typ, data := structuredEvent(t, answer)
		if typ != events.TypeFollowDone {
			t.Fatalf("tick %d answered %s", tick, answer)
		}
		if tick == 0 {
			w.checkFollowed(t, typ, data)
		}
	}
}

// TestFunctionGraphFollowTimer: a TIMER trigger of the Terraform example
// whose user_event is a structured CloudEvent of type io.restorepoint.follow.
// Its event_data is evaluated as Terraform would (jsonencode, the
// variables' defaults); the timer payload FunctionGraph builds from it runs
// through the event function's front door, configured as the example's
// user_data says (per-invocation agency credentials).
func TestFunctionGraphFollowTimer(t *testing.T) {
	resources, vars := terraformResources(t)
	evalCtx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": vars},
		Functions: map[string]function.Function{"jsonencode": stdlib.JSONEncodeFunc},
	}
	type timer struct {
		Name         string `json:"name"`
		ScheduleType string `json:"schedule_type"`
		Schedule     string `json:"schedule"`
		UserEvent    string `json:"user_event"`
	}
	var follow *timer
	for name, b := range resources["opentelekomcloud_fgs_trigger_v2"] {
		if literal(t, b, "type") != "TIMER" {
			continue
		}
		v, diags := b.Body.Attributes["event_data"].Expr.Value(evalCtx)
		if diags.HasErrors() {
			continue // it names what only an apply knows
		}
		var tm timer
		if err := json.Unmarshal([]byte(v.AsString()), &tm); err != nil {
			t.Fatalf("trigger %s: event_data %s: %v", name, v.AsString(), err)
		}
		if strings.Contains(tm.UserEvent, events.TypeFollow) {
			follow = &tm
		}
	}
	if follow == nil {
		t.Fatal("no TIMER trigger's user_event asks for a follow pass")
	}
	if follow.ScheduleType != "Rate" || !regexp.MustCompile(`^\d+[mhd]$`).MatchString(follow.Schedule) {
		t.Errorf("the follow timer runs %s %q; want a Rate such as 5m", follow.ScheduleType, follow.Schedule)
	}
	payload := func(at time.Time) []byte {
		b, err := json.Marshal(map[string]string{"version": "v1.0", "time": at.Format(time.RFC3339),
			"trigger_type": "TIMER", "trigger_name": follow.Name, "user_event": follow.UserEvent})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tr, err := events.Decode(payload(time.Now()))
	if err != nil || tr.Kind != events.KindFollow || tr.Ref.Source != events.TimerSourcePrefix+follow.Name {
		t.Fatalf("the timer payload decodes to %+v, %v; want a follow trigger of the timer", tr.Ref, err)
	}

	// The function's environment: what user_data = jsonencode({...}) sets
	// to literal values (the others are the deployment's).
	fn := resources["opentelekomcloud_fgs_function_v2"]["restorepoint"]
	e := env{}
	for _, item := range fn.Body.Attributes["user_data"].Expr.(*hclsyntax.FunctionCallExpr).Args[0].(*hclsyntax.ObjectConsExpr).Items {
		if v, diags := item.ValueExpr.Value(nil); !diags.HasErrors() && v.Type() == cty.String {
			e[hcl.ExprAsKeyword(item.KeyExpr)] = v.AsString()
		}
	}
	if e["CBR_AUTH"] != app.AuthFunctionGraph || e["FUNCTIONGRAPH_MODE"] != app.ModeEvent {
		t.Fatalf("user_data sets %v; want an event function with the agency's credentials", e)
	}
	// FunctionGraph sets it; the invocations here skip the runtime API.
	e["RUNTIME_API_ADDR"] = "127.0.0.1:9000"
	w := newFollowWorld(t, e)
	fg := w.app.FunctionGraphHandler()
	agency := http.Header{handler.HeaderFunctionGraphToken: {cbrtest.DefaultToken}}
	ctx := context.Background()
	if a := fg.Invoke(ctx, handler.Invocation{RequestID: "req-1", Payload: deployPre(t), Agency: agency}); a.Error {
		t.Fatalf("creating: %s", a.Body)
	}
	a := fg.Invoke(ctx, handler.Invocation{RequestID: "req-2", Payload: payload(time.Now()), Agency: agency})
	if a.Error {
		t.Fatalf("the follow timer's invocation went to the error endpoint: %s", a.Body)
	}
	typ, data := structuredEvent(t, a.Body)
	w.checkFollowed(t, typ, data)
}

// TestKnativePingSource: deploy/knative/ping.yaml sends the Service a
// dev.knative.sources.ping CloudEvent whose data asks for a follow pass. It
// is posted as Knative delivers it (binary mode, no credentials) to the
// HTTP front door, configured with the Service's WEBHOOK_AUTH.
func TestKnativePingSource(t *testing.T) {
	docs := yamlDocs(t, "deploy/knative/ping.yaml")
	if len(docs) != 1 || yamlAt(t, docs[0], "apiVersion") != "sources.knative.dev/v1" || yamlAt(t, docs[0], "kind") != "PingSource" {
		t.Fatalf("ping.yaml: want one sources.knative.dev/v1 PingSource")
	}
	ping := docs[0]
	svc := yamlDocs(t, "deploy/knative/service.yaml")[0]
	if ref := yamlAt(t, ping, "spec", "sink", "ref"); yamlAt(t, ref, "kind") != "Service" ||
		yamlAt(t, ref, "apiVersion") != "serving.knative.dev/v1" || yamlAt(t, ref, "name") != yamlAt(t, svc, "metadata", "name") {
		t.Errorf("the PingSource's sink %v is not the restorepoint Service", ref)
	}
	if s := yamlAt(t, ping, "spec", "schedule").(string); len(strings.Fields(s)) != 5 {
		t.Errorf("schedule %q is not a five-field cron expression", s)
	}
	contentType := yamlAt(t, ping, "spec", "contentType").(string)
	data := yamlAt(t, ping, "spec", "data").(string)
	e := event.New()
	e.SetID("5b4c2d1e-ping")
	e.SetSource("/apis/v1/namespaces/backup/pingsources/" + yamlAt(t, ping, "metadata", "name").(string))
	e.SetType(events.KnativePingType)
	if err := e.SetData(contentType, []byte(data)); err != nil {
		t.Fatal(err)
	}
	if tr, err := events.DecodeEvent(e); err != nil || tr.Kind != events.KindFollow {
		t.Fatalf("the PingSource's event decodes to %+v, %v; want a follow trigger", tr.Ref, err)
	}

	var webhookAuth string
	for _, v := range yamlAt(t, svc, "spec", "template", "spec", "containers", 0, "env").([]any) {
		if yamlAt(t, v, "name") == "WEBHOOK_AUTH" {
			webhookAuth = yamlAt(t, v, "value").(string)
		}
	}
	w := newFollowWorld(t, env{"CBR_TOKEN": cbrtest.DefaultToken, "WEBHOOK_AUTH": webhookAuth})
	srv := httptest.NewServer(w.app.HTTPHandler())
	t.Cleanup(srv.Close)
	post := func(header http.Header, body string) (*http.Response, []byte) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	if resp, b := post(http.Header{"Content-Type": {event.ApplicationCloudEventsJSON}}, string(deployPre(t))); resp.StatusCode != http.StatusOK {
		t.Fatalf("creating: %d %s", resp.StatusCode, b)
	}
	resp, b := post(http.Header{"Content-Type": {contentType}, "Ce-Specversion": {"1.0"}, "Ce-Id": {e.ID()},
		"Ce-Source": {e.Source()}, "Ce-Type": {e.Type()}}, data)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the PingSource's event was answered %d %s", resp.StatusCode, b)
	}
	w.checkFollowed(t, resp.Header.Get("Ce-Type"), b)
	if !slices.Contains(w.sink.Types(), events.TypeCheckpointCreated) {
		t.Errorf("the sink received %v", w.sink.Types())
	}
}
