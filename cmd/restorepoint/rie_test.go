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
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/handler/handlertest"
	"github.com/restorepoint/restorepoint/store/redis/redistest"
)

// rieModule is the Lambda Runtime Interface Emulator's command; its module
// is required by tools/rie/go.mod, not by restorepoint's own go.mod.
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// TestBootstrapUnderRuntimeInterfaceEmulator builds the Lambda bootstrap
// (host platform, -tags lambda.norpc) and the AWS Lambda Runtime Interface
// Emulator, runs the bootstrap under it against the CBR emulator, and
// invokes it as Lambda would.
func TestBootstrapUnderRuntimeInterfaceEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bootstrap and the Runtime Interface Emulator")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bootstrap := filepath.Join(dir, "bootstrap")
	goBuild(t, ctx, []string{"CGO_ENABLED=0"}, "-tags", "lambda.norpc", "-trimpath", "-o", bootstrap, ".")
	rie := filepath.Join(dir, "aws-lambda-rie")
	goBuild(t, ctx, nil, "-C", filepath.Join("..", "..", "tools", "rie"), "-o", rie, rieModule)

	emu := cbrtest.NewServer(cbrtest.Options{})
	t.Cleanup(emu.Close)
	sink := handlertest.NewServer()
	t.Cleanup(sink.Close)
	addr, apiAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr, bootstrap)
	cmd.Dir = dir
	// RIE passes its environment on to the bootstrap and adds
	// AWS_LAMBDA_RUNTIME_API, which makes restorepoint serve Lambda.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"CBR_ENDPOINT=" + emu.URL,
		"CBR_PROJECT_ID=" + cbrtest.DefaultProjectID,
		"CBR_TOKEN=" + cbrtest.DefaultToken,
		"RESULT_SINK=" + sink.URL,
		"RESULT_SOURCE=restorepoint-rie",
	}
	out := startDeployProcess(t, cmd)
	invokeURL := "http://" + addr + "/2015-03-31/functions/function/invocations"
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
	dir := t.TempDir()
	bootstrap := filepath.Join(dir, "bootstrap")
	goBuild(t, ctx, []string{"CGO_ENABLED=0"}, "-tags", "lambda.norpc", "-trimpath", "-o", bootstrap, ".")
	rie := filepath.Join(dir, "aws-lambda-rie")
	goBuild(t, ctx, nil, "-C", filepath.Join("..", "..", "tools", "rie"), "-o", rie, rieModule)

	redis := redistest.MustStart(t)
	// Latency, so that both invocations are in flight at once.
	emu := cbrtest.NewServer(cbrtest.Options{AvailableAfter: -1})
	emu.SetLatency(300 * time.Millisecond)
	t.Cleanup(emu.Close)
	sink := handlertest.NewServer()
	t.Cleanup(sink.Close)
	var urls []string
	for range 2 {
		addr, apiAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
		cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr, bootstrap)
		cmd.Dir = dir
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"),
			"CBR_ENDPOINT=" + emu.URL,
			"CBR_PROJECT_ID=" + cbrtest.DefaultProjectID,
			"CBR_TOKEN=" + cbrtest.DefaultToken,
			"RESULT_SINK=" + sink.URL,
			"IDEMPOTENCY_STORE=" + redis.URL,
			"CBR_DEDUPE=off",
		}
		startDeployProcess(t, cmd)
		urls = append(urls, "http://"+addr+"/2015-03-31/functions/function/invocations")
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
