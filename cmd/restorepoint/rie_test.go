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
	"strings"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/handler/handlertest"
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
		"METRICS=emf",
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
				"restorepoint_cbr_requests_total":        3,
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
