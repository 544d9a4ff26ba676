package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/internal/app"
)

// configEnvNames returns every environment variable Config reads.
func configEnvNames() map[string]bool {
	names := make(map[string]bool)
	typ := reflect.TypeFor[app.Config]()
	for i := range typ.NumField() {
		if name := typ.Field(i).Tag.Get("envconfig"); name != "" {
			names[name] = true
		}
	}
	return names
}

// yamlDocs reads every document of a YAML file from the repository root.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return docs
}

// at walks a decoded YAML tree along keys (strings for maps, ints for lists).
func yamlAt(t *testing.T, v any, keys ...any) any {
	t.Helper()
	for i, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a map", keys[:i])
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("%v: no key %q", keys[:i], k)
			}
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", keys[:i], k)
			}
			v = l[k]
		}
	}
	return v
}

func stringList(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func TestSAMTemplate(t *testing.T) {
	docs := yamlDocs(t, "template.yaml")
	if len(docs) != 1 {
		t.Fatalf("template.yaml has %d documents", len(docs))
	}
	tpl := docs[0]
	if yamlAt(t, tpl, "Transform") != "AWS::Serverless-2016-10-31" {
		t.Fatalf("Transform = %v", yamlAt(t, tpl, "Transform"))
	}
	resources := yamlAt(t, tpl, "Resources").(map[string]any)
	fn := yamlAt(t, resources, "RestorePointFunction")
	props := yamlAt(t, fn, "Properties")
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{"Type"}, "AWS::Serverless::Function"},
		{[]any{"Metadata", "BuildMethod"}, "makefile"},
		{[]any{"Properties", "Handler"}, "bootstrap"},
		{[]any{"Properties", "Runtime"}, "provided.al2023"},
		{[]any{"Properties", "Architectures", 0}, "arm64"},
		{[]any{"Properties", "FunctionUrlConfig", "AuthType"}, "NONE"},
	} {
		if got := yamlAt(t, fn, c.path...); got != c.want {
			t.Errorf("RestorePointFunction %v = %v, want %v", c.path, got, c.want)
		}
	}
	if n := len(yamlAt(t, props, "Architectures").([]any)); n != 1 {
		t.Errorf("%d architectures, want arm64 only", n)
	}

	// Every variable is one restorepoint reads; no credential is resolved
	// at deploy time: the secret is named, and read at run time through the
	// Parameters and Secrets extension (a layer), which may read that
	// secret only.
	known := configEnvNames()
	vars := yamlAt(t, props, "Environment", "Variables").(map[string]any)
	for name := range vars {
		if !known[name] {
			t.Errorf("Environment variable %s is not read by restorepoint (see restorepoint help env)", name)
		}
	}
	for _, name := range []string{"CBR_PROJECT_ID", "CBR_ENDPOINT", "CBR_DEFAULT_VAULT_ID", "CBR_CREDENTIALS_SECRET"} {
		if _, ok := vars[name]; !ok {
			t.Errorf("Environment has no %s", name)
		}
	}
	for _, name := range []string{"CBR_AUTH", "CBR_TOKEN", "WEBHOOK_SECRET", "CBR_SECRET_KEY", "IAM_PASSWORD"} {
		if _, ok := vars[name]; ok {
			t.Errorf("Environment sets %s: the credentials secret alone must select CBR_AUTH=aws-secret", name)
		}
	}
	if ref := yamlAt(t, vars, "CBR_CREDENTIALS_SECRET", "Ref"); ref != "CredentialsSecret" {
		t.Errorf("CBR_CREDENTIALS_SECRET = %v, want Ref CredentialsSecret", ref)
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(?m)^[^#]*\{\{resolve:`).Match(raw) {
		t.Error("template.yaml resolves a dynamic reference at deploy time; credentials are read at run time")
	}
	if ref := yamlAt(t, props, "Layers", 0, "Ref"); ref != "SecretsExtensionLayerArn" {
		t.Errorf("Layers = %v, want the Parameters and Secrets extension layer (parameter SecretsExtensionLayerArn)", yamlAt(t, props, "Layers"))
	}
	policies := yamlAt(t, props, "Policies").([]any)
	if len(policies) != 1 {
		t.Fatalf("Policies = %v, want one statement list", policies)
	}
	stmts := yamlAt(t, policies[0], "Statement").([]any)
	if len(stmts) != 1 {
		t.Fatalf("%d policy statements, want 1", len(stmts))
	}
	if yamlAt(t, stmts[0], "Effect") != "Allow" || yamlAt(t, stmts[0], "Action") != "secretsmanager:GetSecretValue" {
		t.Errorf("policy %v, want Allow secretsmanager:GetSecretValue only", stmts[0])
	}
	if res, _ := yamlAt(t, stmts[0], "Resource", "Fn::Sub").(string); !strings.Contains(res, ":secret:${CredentialsSecret}-") || strings.Contains(res, "*") {
		t.Errorf("policy resource %q, want the credentials secret only", res)
	}

	// Triggers: the three types on a custom bus, and an SQS queue with
	// per-record failures and a dead-letter queue.
	evs := yamlAt(t, props, "Events").(map[string]any)
	var rule, queue any
	for _, e := range evs {
		switch yamlAt(t, e, "Type") {
		case "EventBridgeRule":
			rule = yamlAt(t, e, "Properties")
		case "SQS":
			queue = yamlAt(t, e, "Properties")
		}
	}
	if rule == nil || queue == nil {
		t.Fatalf("Events %v: want an EventBridgeRule and an SQS event", evs)
	}
	detailTypes := stringList(yamlAt(t, rule, "Pattern", "detail-type"))
	for _, typ := range []string{events.TypeServerTagged, events.TypeDeployPre, events.TypeCheckpointRequested} {
		if !slices.Contains(detailTypes, typ) {
			t.Errorf("EventBridge pattern lacks %s", typ)
		}
	}
	if bus := yamlAt(t, rule, "EventBusName", "Ref").(string); yamlAt(t, resources, bus, "Type") != "AWS::Events::EventBus" {
		t.Errorf("the rule's bus %s is not a custom event bus", bus)
	}
	if !slices.Contains(stringList(yamlAt(t, queue, "FunctionResponseTypes")), "ReportBatchItemFailures") {
		t.Error("the SQS event source mapping lacks ReportBatchItemFailures")
	}
	q := yamlAt(t, queue, "Queue", "Fn::GetAtt", 0).(string)
	dlq := yamlAt(t, resources, q, "Properties", "RedrivePolicy", "deadLetterTargetArn", "Fn::GetAtt", 0).(string)
	if yamlAt(t, resources, q, "Type") != "AWS::SQS::Queue" || yamlAt(t, resources, dlq, "Type") != "AWS::SQS::Queue" {
		t.Errorf("queue %s or its dead-letter queue %s is not an SQS queue", q, dlq)
	}

	// Asynchronous invocations: retries, then the dead-letter queue.
	inv := yamlAt(t, props, "EventInvokeConfig")
	if n, ok := yamlAt(t, inv, "MaximumRetryAttempts").(int); !ok || n < 0 || n > 2 {
		t.Errorf("MaximumRetryAttempts = %v, want 0 to 2", yamlAt(t, inv, "MaximumRetryAttempts"))
	}
	onFailure := yamlAt(t, inv, "DestinationConfig", "OnFailure")
	if yamlAt(t, onFailure, "Type") != "SQS" || yamlAt(t, resources, yamlAt(t, onFailure, "Destination", "Fn::GetAtt", 0).(string), "Type") != "AWS::SQS::Queue" {
		t.Errorf("OnFailure = %v, want an SQS queue of the template", onFailure)
	}

	// Every reference names a parameter, a resource or a pseudo parameter.
	params := yamlAt(t, tpl, "Parameters").(map[string]any)
	defined := func(name string) bool {
		_, p := params[name]
		_, r := resources[strings.TrimSuffix(name, "Url")] // FunctionUrlConfig adds <Function>Url
		_, r2 := resources[name]
		return p || r || r2 || strings.HasPrefix(name, "AWS::")
	}
	subRef := regexp.MustCompile(`\$\{([A-Za-z0-9:]+)(\.[A-Za-z]+)?\}`)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				switch k {
				case "Ref":
					if !defined(x.(string)) {
						t.Errorf("Ref %v is not defined", x)
					}
				case "Fn::GetAtt":
					if !defined(yamlAt(t, x, 0).(string)) {
						t.Errorf("Fn::GetAtt %v is not defined", x)
					}
				case "Fn::Sub":
					for _, m := range subRef.FindAllStringSubmatch(x.(string), -1) {
						if !defined(m[1]) {
							t.Errorf("Fn::Sub ${%s} is not defined", m[1])
						}
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(tpl)

	// The Makefile target sam build calls writes a stripped bootstrap with
	// the packaged tags (and rules with RULES=1: TAGS) into ARTIFACTS_DIR.
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	target := regexp.MustCompile(`(?m)^build-RestorePointFunction:\n((?:\t.*\n)+)`).FindSubmatch(mk)
	if target == nil {
		t.Fatal("Makefile has no target build-RestorePointFunction")
	}
	for _, want := range []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "-tags '$(TAGS)'", "$(LDFLAGS)", "-o $(ARTIFACTS_DIR)/bootstrap"} {
		if !bytes.Contains(target[1], []byte(want)) {
			t.Errorf("build-RestorePointFunction lacks %q:\n%s", want, target[1])
		}
	}
	// What the target runs: make -n prints it without building.
	for vars, want := range map[string]string{
		"":               "-tags '" + packagedTags + "'",
		"RULES=1":        "-tags '" + packagedTags + ",rules'",
		"OTLP=1":         "-tags '" + packagedTags + ",otlp'",
		"RULES=1 OTLP=1": "-tags '" + packagedTags + ",rules,otlp'",
	} {
		args := append([]string{"-n", "-C", filepath.Join("..", ".."), "build-RestorePointFunction", "ARTIFACTS_DIR=/artifacts"}, strings.Fields(vars)...)
		out, err := exec.Command("make", args...).CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte(want)) {
			t.Errorf("make %s: %v\n%s\nwant %s", strings.Join(args, " "), err, out, want)
		}
	}
	if !regexp.MustCompile(`(?m)^LDFLAGS\s*:=\s*-s -w\b`).Match(mk) {
		t.Error("LDFLAGS does not strip the binary (-s -w)")
	}
}

func TestKnativeManifests(t *testing.T) {
	want := map[string][]string{
		"deploy/knative/service.yaml":     {"serving.knative.dev/v1 Service"},
		"deploy/knative/sinkbinding.yaml": {"eventing.knative.dev/v1 Broker", "sources.knative.dev/v1 SinkBinding"},
		"deploy/knative/triggers.yaml":    {"eventing.knative.dev/v1 Trigger"},
		"deploy/knative/monitoring.yaml":  {"monitoring.coreos.com/v1 PodMonitor", "monitoring.coreos.com/v1 PrometheusRule"},
		"deploy/knative/ping.yaml":        {"sources.knative.dev/v1 PingSource"}, // TestKnativePingSource
	}
	byKind := make(map[string][]map[string]any)
	for file, kinds := range want {
		for _, doc := range yamlDocs(t, file) {
			kind := yamlAt(t, doc, "apiVersion").(string) + " " + yamlAt(t, doc, "kind").(string)
			if !slices.Contains(kinds, kind) {
				t.Errorf("%s: unexpected %s", file, kind)
			}
			if yamlAt(t, doc, "metadata", "name") == "" {
				t.Errorf("%s: %s without a name", file, kind)
			}
			byKind[kind] = append(byKind[kind], doc)
		}
	}
	if len(byKind["serving.knative.dev/v1 Service"]) != 1 || len(byKind["sources.knative.dev/v1 SinkBinding"]) != 1 {
		t.Fatalf("want one Service and one SinkBinding, got %d and %d",
			len(byKind["serving.knative.dev/v1 Service"]), len(byKind["sources.knative.dev/v1 SinkBinding"]))
	}
	svc := byKind["serving.knative.dev/v1 Service"][0]
	name := yamlAt(t, svc, "metadata", "name").(string)
	for _, pm := range byKind["monitoring.coreos.com/v1 PodMonitor"] {
		if got := yamlAt(t, pm, "spec", "selector", "matchLabels", "serving.knative.dev/service"); got != name {
			t.Errorf("PodMonitor selects service %v, want %s", got, name)
		}
		if got := yamlAt(t, pm, "spec", "podMetricsEndpoints", 0, "path"); got != "/metrics" {
			t.Errorf("PodMonitor path %v, want /metrics", got)
		}
	}
	container := yamlAt(t, svc, "spec", "template", "spec", "containers", 0)
	if args := stringList(yamlAt(t, container, "args")); !slices.Equal(args, []string{"serve"}) {
		t.Errorf("container args %v, want [serve]", args)
	}
	known := configEnvNames()
	env := make(map[string]any)
	for _, e := range yamlAt(t, container, "env").([]any) {
		n := yamlAt(t, e, "name").(string)
		if !known[n] {
			t.Errorf("Service env %s is not read by restorepoint", n)
		}
		if n == "PORT" || n == "K_SINK" {
			t.Errorf("Service env sets %s, which Knative sets", n)
		}
		env[n] = e
	}
	// Cluster-local, so that only the Broker, the PingSource and the
	// cluster reach it: requests need no webhook secret (WEBHOOK_AUTH=none).
	// The secret, for the webhooks that always need it, and the metrics
	// token come from Secrets, never as values.
	if v := yamlAt(t, svc, "metadata", "labels", "networking.knative.dev/visibility"); v != "cluster-local" {
		t.Errorf("the Service's visibility label is %v, want cluster-local", v)
	}
	if e, ok := env["WEBHOOK_AUTH"]; !ok || yamlAt(t, e, "value") != app.AuthNone {
		t.Errorf("WEBHOOK_AUTH is %v, want none behind the Broker", e)
	}
	for _, n := range []string{"WEBHOOK_SECRET", "METRICS_TOKEN"} {
		if e, ok := env[n]; !ok || yamlAt(t, e, "valueFrom", "secretKeyRef", "name") == "" {
			t.Errorf("%s is not taken from a Secret", n)
		}
	}
	// Access keys, not a token; both halves are files in the Secret's
	// directory, mounted whole (a subPath mount is never updated), so that
	// a rotated pair is read without a new revision.
	for _, n := range []string{"CBR_TOKEN", "CBR_TOKEN_FILE", "CBR_SECRET_KEY", "CBR_ACCESS_KEY"} {
		if _, ok := env[n]; ok {
			t.Errorf("Service env sets %s; it should sign with access keys read from the mounted Secret", n)
		}
	}
	akFile, _ := yamlAt(t, env["CBR_ACCESS_KEY_FILE"], "value").(string)
	skFile, _ := yamlAt(t, env["CBR_SECRET_KEY_FILE"], "value").(string)
	mountSpec := yamlAt(t, container, "volumeMounts", 0).(map[string]any)
	if _, ok := mountSpec["subPath"]; ok {
		t.Error("the Secret is mounted with subPath: its files would never be updated")
	}
	mount := mountSpec["mountPath"].(string)
	volume := yamlAt(t, svc, "spec", "template", "spec", "volumes", 0, "secret").(map[string]any)
	if _, ok := volume["items"]; ok || volume["secretName"] != "restorepoint-otc" {
		t.Errorf("volume %v, want the whole Secret restorepoint-otc", volume)
	}
	if skFile != mount+"/secret-key" || akFile != mount+"/access-key" {
		t.Errorf("CBR_ACCESS_KEY_FILE %q, CBR_SECRET_KEY_FILE %q, want %s/access-key and %s/secret-key", akFile, skFile, mount, mount)
	}
	for _, p := range []struct{ probe, path string }{{"readinessProbe", "/readyz"}, {"livenessProbe", "/healthz"}} {
		if got := yamlAt(t, container, p.probe, "httpGet", "path"); got != p.path {
			t.Errorf("%s path %v, want %s", p.probe, got, p.path)
		}
	}

	sb := byKind["sources.knative.dev/v1 SinkBinding"][0]
	if yamlAt(t, sb, "spec", "subject", "kind") != "Service" || yamlAt(t, sb, "spec", "subject", "name") != name {
		t.Errorf("SinkBinding subject %v, want the Service %s", yamlAt(t, sb, "spec", "subject"), name)
	}
	if yamlAt(t, sb, "spec", "sink", "ref", "kind") == nil {
		t.Error("SinkBinding has no sink")
	}

	var types []string
	for _, tr := range byKind["eventing.knative.dev/v1 Trigger"] {
		ref := yamlAt(t, tr, "spec", "subscriber", "ref")
		if yamlAt(t, ref, "kind") != "Service" || yamlAt(t, ref, "name") != name {
			t.Errorf("Trigger %v subscribes %v, want the Service %s", yamlAt(t, tr, "metadata", "name"), ref, name)
		}
		types = append(types, yamlAt(t, tr, "spec", "filter", "attributes", "type").(string))
	}
	for _, typ := range []string{events.TypeServerTagged, events.TypeDeployPre, events.TypeCheckpointRequested, "ECS:CloudTrace:ApiCall"} {
		if !slices.Contains(types, typ) {
			t.Errorf("no Trigger for type %s", typ)
		}
	}
	for _, typ := range types {
		if strings.HasPrefix(typ, "io.restorepoint.checkpoint.created") || typ == events.TypeCheckpointFailed || typ == events.TypeTriggerIgnored {
			t.Errorf("a Trigger delivers result type %s back to restorepoint", typ)
		}
	}
}
