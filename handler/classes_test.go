package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	awsevents "github.com/aws/aws-lambda-go/events"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/handler"
)

// classFunction fails every trigger with one class.
type classFunction struct{ class failure.Class }

func (f classFunction) Handle(ctx context.Context, t events.Trigger, deliver function.Deliver) (events.Result, error) {
	return delivered(ctx, deliver, events.Result{Type: events.TypeCheckpointFailed, ID: "class-" + t.Ref.ID, Failed: &events.Failed{Trigger: t.Ref,
		Error: events.Failure{Class: f.class, Message: "failed", Retryable: f.class.Retryable()}}})
}

// knativeRetries is how the Knative data plane (and curl --retry, and
// Flagger) read a status: 404, 409, 429 and 5xx are delivered again.
func knativeRetries(status int) bool {
	return status == http.StatusNotFound || status == http.StatusConflict || status == http.StatusTooManyRequests || status >= 500
}

// Every failure class has one answer, and every front door gives it: the
// HTTP status is read by the sender as the class's Retryable says, the
// result event says the same, the Lambda invocation (direct and as an SQS
// record) fails with a TriggerError saying the same, and FunctionGraph
// answers on its response endpoint exactly when it is not retryable.
func TestFailureClassAnswers(t *testing.T) {
	want := map[failure.Class]int{
		failure.Invalid:      http.StatusBadRequest,
		failure.Rejected:     http.StatusUnprocessableEntity,
		failure.Unauthorized: http.StatusForbidden,
		failure.Throttled:    http.StatusTooManyRequests,
		failure.Unavailable:  http.StatusServiceUnavailable,
	}
	for _, class := range failure.Classes() {
		status, ok := want[class]
		if !ok {
			t.Fatalf("class %q has no expected answer in this test", class)
		}
		retry := class.Retryable()
		t.Run(string(class), func(t *testing.T) {
			if knativeRetries(status) != retry {
				t.Fatalf("status %d is read as retry=%v, but the class is retryable=%v", status, knativeRetries(status), retry)
			}
			core := &handler.Core{Function: classFunction{class}, Source: "test"}
			e := taggedEvent("class-" + string(class))

			srv := httptest.NewServer(handler.NewHTTP(core, handler.HTTPOptions{Open: true}))
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
			if err := cehttp.WriteRequest(context.Background(), binaryMessage(e), req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != status {
				t.Errorf("HTTP status %d, want %d", resp.StatusCode, status)
			}
			if !bytes.Contains(body, []byte(fmt.Sprintf(`"retryable":%v`, retry))) {
				t.Errorf("HTTP reply %s, want retryable %v", body, retry)
			}

			payload, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			lambda := handler.NewLambda(core, handler.HTTPOptions{})
			out, err := lambda.Handle(context.Background(), payload)
			var te *handler.TriggerError
			if !errors.As(err, &te) {
				t.Fatalf("Lambda answered %s, %v; want a *TriggerError", out, err)
			}
			if te.Status != status || te.Retryable != retry {
				t.Errorf("Lambda TriggerError status %d retryable %v, want %d %v", te.Status, te.Retryable, status, retry)
			}
			if !bytes.Contains(te.Result, []byte(`"class":"`+string(class)+`"`)) {
				t.Errorf("TriggerError carries %s, want the failed event of class %q", te.Result, class)
			}
			sqs, _ := json.Marshal(awsevents.SQSEvent{Records: []awsevents.SQSMessage{{MessageId: "m1", EventSource: "aws:sqs", Body: string(payload)}}})
			out, err = lambda.Handle(context.Background(), sqs)
			if err != nil || !bytes.Contains(out, []byte(`"itemIdentifier":"m1"`)) {
				t.Errorf("SQS answer %s, %v; want the record listed as a failure", out, err)
			}

			a := handler.NewFunctionGraph(core, handler.FunctionGraphOptions{}).Invoke(context.Background(),
				handler.Invocation{RequestID: "r-" + string(class), Payload: payload})
			if a.Error != retry {
				t.Errorf("FunctionGraph answered on the error endpoint: %v, want %v: %s", a.Error, retry, a.Body)
			}
		})
	}
}
