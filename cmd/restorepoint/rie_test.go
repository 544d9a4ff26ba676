//go:build unix

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/handler/handlertest"
	"github.com/restorepoint/restorepoint/iam/iamtest"
	"github.com/restorepoint/restorepoint/internal/syncbuf"
	"github.com/restorepoint/restorepoint/store/redis/redistest"
)

// rieModule is the Lambda Runtime Interface Emulator's command; its module
// is required by tools/rie/go.mod, not by restorepoint's own go.mod.
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// buildUnderRIE builds the Lambda bootstrap (host platform, as packaged:
// packagedTags) and the AWS Lambda Runtime Interface Emulator into a new
// directory, and returns it and the paths of both.
func buildUnderRIE(t *testing.T, ctx context.Context) (dir, bootstrap, rie string) {
	t.Helper()
	dir = t.TempDir()
	bootstrap = filepath.Join(dir, "bootstrap")
	goBuild(t, ctx, []string{"CGO_ENABLED=0"}, "-tags", packagedTags, "-trimpath", "-o", bootstrap, ".")
	rie = filepath.Join(dir, "aws-lambda-rie")
	goBuild(t, ctx, nil, "-C", filepath.Join("..", "..", "tools", "rie"), "-o", rie, rieModule)
	return dir, bootstrap, rie
}

// startUnderRIE starts the bootstrap under the Runtime Interface Emulator
// on free loopback ports with env as their whole environment (the RIE
// passes it on and adds AWS_LAMBDA_RUNTIME_API, which makes restorepoint
// serve Lambda), and returns the invocation URL and the output of both.
func startUnderRIE(t *testing.T, dir, rie, bootstrap string, env ...string) (invokeURL string, out *syncbuf.Buffer) {
	t.Helper()
	addr, apiAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr, bootstrap)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out = startDeployProcess(t, cmd)
	return "http://" + addr + "/2015-03-31/functions/function/invocations", out
}

// TestBootstrapUnderRuntimeInterfaceEmulator builds the Lambda bootstrap
// (host platform, as packaged: packagedTags) and the AWS Lambda Runtime Interface
// Emulator, runs the bootstrap under it against the CBR emulator, and
// invokes it as Lambda would.
func TestBootstrapUnderRuntimeInterfaceEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bootstrap and the Runtime Interface Emulator")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir, bootstrap, rie := buildUnderRIE(t, ctx)

	emu := cbrtest.NewServer(cbrtest.Options{})
	t.Cleanup(emu.Close)
	sink := handlertest.NewServer()
	t.Cleanup(sink.Close)
	invokeURL, out := startUnderRIE(t, dir, rie, bootstrap,
		"CBR_ENDPOINT="+emu.URL,
		"CBR_PROJECT_ID="+cbrtest.DefaultProjectID,
		"CBR_TOKEN="+cbrtest.DefaultToken,
		"RESULT_SINK="+sink.URL,
		"RESULT_SOURCE=restorepoint-rie",
		"METRICS=emf")
	invoke := func(t *testing.T, file string) []byte {
		t.Helper()
		payload, err := os.ReadFile(filepath.Join("..", "..", "testdata", "lambda", file))
		if err != nil {
			t.Fatal(err)
		}
		status, _, body := postUntilUp(t, invokeURL, http.Header{"Content-Type": {"application/json"}}, payload, 20*time.Second)
		if status != http.StatusOK {
			t.Fatalf("invoke %s: status %d: %s", file, status, body)
		}
		return body
	}

	t.Run("EventBridge event", func(t *testing.T) {
		body := invoke(t, "eventbridge-server-tagged.json")
		var e event.Event
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("answer is not a structured CloudEvent: %v: %s", err, body)
		}
		if e.Type() != events.TypeCheckpointCreated || e.Source() != "restorepoint-rie" || e.Subject() != cbrtest.ExampleVaultID {
			t.Fatalf("answer %s", body)
		}
		if n := emu.CountCreates(); n != 1 {
			t.Fatalf("emulator saw %d creates, want 1", n)
		}
	})
	t.Run("SQS batch with one bad record", func(t *testing.T) {
		body := invoke(t, "sqs-batch.json")
		var resp awsevents.SQSEventResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatalf("answer %s: %v", body, err)
		}
		if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "c80e8021-a70a-42c7-a470-796e1186f753" {
			t.Fatalf("batchItemFailures %+v, want only the bad record", resp.BatchItemFailures)
		}
		if n := emu.CountCreates(); n != 3 {
			t.Fatalf("emulator saw %d creates in all, want 3", n)
		}
	})
	t.Run("failed trigger is a function error", func(t *testing.T) {
		invalid := []byte(`{"specversion":"1.0","id":"rie-bad-1","source":"/ci","type":"io.restorepoint.deploy.pre","data":{"version":"1"}}`)
		status, header, body := postUntilUp(t, invokeURL, http.Header{}, invalid, 5*time.Second)
		var fe struct {
			ErrorType    string `json:"errorType"`
			ErrorMessage string `json:"errorMessage"`
		}
		if err := json.Unmarshal(body, &fe); err != nil || fe.ErrorType != "TriggerError" {
			t.Fatalf("status %d %v: %s, want errorType TriggerError", status, header, body)
		}
	})
	want := []string{events.TypeCheckpointCreated, events.TypeCheckpointCreated, events.TypeCheckpointCreated,
		events.TypeCheckpointFailed, events.TypeCheckpointFailed}
	if got := sink.Types(); !slices.Equal(got, want) {
		t.Fatalf("sink got %v, want %v\n%s", got, want, out.String())
	}

	// METRICS=emf: each invocation wrote CloudWatch EMF lines before it
	// returned; they parse and add up to the triggers above.
	deadline := time.Now().Add(5 * time.Second)
	for {
		sums := emfSums(t, out.String())
		if sums["restorepoint_triggers_total"] == 5 || time.Now().After(deadline) {
			for name, n := range map[string]float64{
				"restorepoint_triggers_total":            5,
				"restorepoint_triggers_total{created}":   3,
				"restorepoint_checkpoints_created_total": 3,
				"restorepoint_cbr_requests_total":        6, // a lookup before each of the 3 creates
				"restorepoint_sink_deliveries_total":     5,
			} {
				if sums[name] != n {
					t.Errorf("EMF %s adds up to %v, want %v\n%s", name, sums[name], n, out.String())
				}
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Run("credentials secret through the Parameters and Secrets extension", func(t *testing.T) {
		rieWithCredentialsSecret(t, rie, bootstrap, dir)
	})
	t.Run("scheduled follow pass", func(t *testing.T) { rieFollowPass(t, rie, bootstrap, dir) })
}

// rieWithCredentialsSecret runs the bootstrap under the RIE as template.yaml
// configures it: CBR_CREDENTIALS_SECRET alone, the credentials read at run
// time through a stand-in for the Parameters and Secrets extension on
// loopback, with the session token the RIE passes on.
func rieWithCredentialsSecret(t *testing.T, rie, bootstrap, dir string) {
	const (
		sessionToken = "session-SECRET-token-7d1e"
		webhook      = "whk-SECRET-rie-4c2a"
		ak           = "RIEACCESSKEY00000001"
		sk           = "sk-SECRET-rie-8e3b"
		rotated      = "sk-SECRET-rie-rotated-1f6d"
	)
	emu := cbrtest.NewServer(cbrtest.Options{AvailableAfter: -1})
	t.Cleanup(emu.Close)
	emu.SetAccessKey(ak, sk)
	ext := iamtest.NewExtension(sessionToken, "restorepoint/otc",
		`{"access_key":"`+ak+`","secret_key":"`+sk+`","webhook_secret":"`+webhook+`"}`)
	port, stop := ext.Start()
	t.Cleanup(stop)

	invokeURL, out := startUnderRIE(t, dir, rie, bootstrap,
		"CBR_ENDPOINT="+emu.URL,
		"CBR_PROJECT_ID="+cbrtest.DefaultProjectID,
		"CBR_CREDENTIALS_SECRET=restorepoint/otc",
		"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT="+strconv.Itoa(port),
		"AWS_SESSION_TOKEN="+sessionToken,
		"LOG_LEVEL=debug")
	invoke := func(t *testing.T, payload []byte) []byte {
		t.Helper()
		status, _, body := postUntilUp(t, invokeURL, http.Header{"Content-Type": {"application/json"}}, payload, 20*time.Second)
		if status != http.StatusOK {
			t.Fatalf("invoke: status %d: %s", status, body)
		}
		return body
	}
	payload := func(t *testing.T, file string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "lambda", file))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	created := func(t *testing.T, body []byte) {
		t.Helper()
		var e event.Event
		if err := json.Unmarshal(body, &e); err != nil || e.Type() != events.TypeCheckpointCreated {
			t.Fatalf("answer %s, want %s", body, events.TypeCheckpointCreated)
		}
		reqs := emu.Requests()
		if last := reqs[len(reqs)-1]; last.AccessKey != ak {
			t.Fatalf("last request signed by %q, want %s", last.AccessKey, ak)
		}
	}

	created(t, invoke(t, payload(t, "eventbridge-server-tagged.json")))

	// Rotation: the secret and the emulator take a new secret key; the
	// cached one is refused once, the secret is read again.
	reads := ext.Requests()
	emu.SetAccessKey(ak, rotated)
	ext.Set(`{"access_key":"` + ak + `","secret_key":"` + rotated + `","webhook_secret":"` + webhook + `"}`)
	created(t, invoke(t, payload(t, "cloudevent-deploy-pre.json")))
	if ext.Requests() != reads+1 {
		t.Errorf("the extension was read %d times more, want 1", ext.Requests()-reads)
	}

	// The Function URL wants the secret's webhook_secret.
	var urlReq map[string]any
	if err := json.Unmarshal(payload(t, "function-url-binary.json"), &urlReq); err != nil {
		t.Fatal(err)
	}
	status := func(t *testing.T, auth string) int {
		t.Helper()
		h := urlReq["headers"].(map[string]any)
		h["authorization"] = auth
		b, _ := json.Marshal(urlReq)
		var answer struct {
			StatusCode int `json:"statusCode"`
		}
		body := invoke(t, b)
		if err := json.Unmarshal(body, &answer); err != nil {
			t.Fatalf("answer %s: %v", body, err)
		}
		return answer.StatusCode
	}
	if got := status(t, "Bearer wrong"); got != http.StatusUnauthorized {
		t.Errorf("Function URL with a wrong secret: %d, want 401", got)
	}
	if got := status(t, "Bearer "+webhook); got != http.StatusOK {
		t.Errorf("Function URL with the secret's webhook_secret: %d, want 200", got)
	}
	for _, secret := range []string{sessionToken, webhook, sk, rotated} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("the bootstrap's output shows a secret %.8s...", secret)
		}
	}
}

// TestBootstrapsShareRedis runs two bootstraps, each under its own Runtime
// Interface Emulator, sharing one Redis (and, with CBR_DEDUPE=off, nothing
// else that could deduplicate): an SQS message delivered to both at once
// makes one restore point; the invocation that lost the race reports the
// record as a batch item failure, and its redelivery answers from the record.
func TestBootstrapsShareRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bootstrap and the Runtime Interface Emulator")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir, bootstrap, rie := buildUnderRIE(t, ctx)

	redis := redistest.MustStart(t)
	// Latency, so that both invocations are in flight at once.
	emu := cbrtest.NewServer(cbrtest.Options{AvailableAfter: -1})
	emu.SetLatency(300 * time.Millisecond)
	t.Cleanup(emu.Close)
	sink := handlertest.NewServer()
	t.Cleanup(sink.Close)
	var urls []string
	for range 2 {
		url, _ := startUnderRIE(t, dir, rie, bootstrap,
			"CBR_ENDPOINT="+emu.URL,
			"CBR_PROJECT_ID="+cbrtest.DefaultProjectID,
			"CBR_TOKEN="+cbrtest.DefaultToken,
			"RESULT_SINK="+sink.URL,
			"IDEMPOTENCY_STORE="+redis.URL,
			"CBR_DEDUPE=off")
		urls = append(urls, url)
	}
	var batch awsevents.SQSEvent
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "lambda", "sqs-batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &batch); err != nil {
		t.Fatal(err)
	}
	batch.Records = batch.Records[:1]
	payload, _ := json.Marshal(batch)
	invoke := func(url string) awsevents.SQSEventResponse {
		status, _, body := postUntilUp(t, url, http.Header{"Content-Type": {"application/json"}}, payload, 20*time.Second)
		var resp awsevents.SQSEventResponse
		if err := json.Unmarshal(body, &resp); status != http.StatusOK || err != nil {
			t.Errorf("invoke: status %d: %s", status, body)
		}
		return resp
	}
	// Warm both up (the first invocation starts the bootstrap) with an
	// event that does nothing.
	for _, url := range urls {
		postUntilUp(t, url, http.Header{}, []byte(`{"specversion":"1.0","id":"warm","source":"/w","type":"io.restorepoint.deploy.pre","data":{}}`), 20*time.Second)
	}
	answers := make(chan awsevents.SQSEventResponse, 2)
	for _, url := range urls {
		go func() { answers <- invoke(url) }()
	}
	failed := 0
	for range 2 {
		failed += len((<-answers).BatchItemFailures)
	}
	if n := emu.CountCreates(); n != 1 {
		t.Fatalf("%d creates for one message delivered to two bootstraps, want 1", n)
	}
	if failed > 1 {
		t.Fatalf("%d batch item failures, want at most 1 (the one that found it in progress)", failed)
	}
	for _, url := range urls { // redeliveries: answered from the record
		if resp := invoke(url); len(resp.BatchItemFailures) != 0 {
			t.Errorf("redelivery: %+v", resp.BatchItemFailures)
		}
	}
	if n := emu.CountCreates(); n != 1 {
		t.Fatalf("%d creates after redeliveries, want 1", n)
	}
	if got := sink.Types(); slices.Index(got, events.TypeCheckpointCreated) < 0 || len(slices.DeleteFunc(got, func(s string) bool { return s != events.TypeCheckpointCreated })) != 1 {
		t.Fatalf("sink got %v, want one created result", sink.Types())
	}
}

// emfSums adds up the values of the EMF lines in out by metric name, and
// the triggers by outcome as name{outcome}. A line with an _aws member must
// be a well-formed EMF object naming the metrics it carries.
func emfSums(t *testing.T, out string) map[string]float64 {
	t.Helper()
	sums := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `"_aws"`) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("EMF line %q: %v", line, err)
		}
		var aws struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		}
		raw, _ := json.Marshal(m["_aws"])
		if err := json.Unmarshal(raw, &aws); err != nil || aws.Timestamp == 0 || len(aws.CloudWatchMetrics) != 1 ||
			aws.CloudWatchMetrics[0].Namespace != "restorepoint" {
			t.Fatalf("EMF line %q: _aws %+v %v", line, aws, err)
		}
		for _, metric := range aws.CloudWatchMetrics[0].Metrics {
			for _, dims := range aws.CloudWatchMetrics[0].Dimensions {
				for _, d := range dims {
					if _, ok := m[d].(string); !ok {
						t.Fatalf("EMF line %q: dimension %s has no value", line, d)
					}
				}
			}
			switch v := m[metric.Name].(type) {
			case float64:
				sums[metric.Name] += v
				if o, ok := m["outcome"].(string); ok && metric.Name == "restorepoint_triggers_total" {
					sums[metric.Name+"{"+o+"}"] += v
				}
			case []any:
				sums[metric.Name] += float64(len(v))
			default:
				t.Fatalf("EMF line %q: metric %s has no value", line, metric.Name)
			}
		}
	}
	return sums
}
