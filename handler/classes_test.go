package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

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

// Every failure class has its answer, and the HTTP and Lambda front doors
// give the same one: both derive from the one table.
func TestFailureClassAnswers(t *testing.T) {
	want := map[failure.Class]struct {
		status int
		retry  bool
	}{
		failure.Invalid:      {http.StatusBadRequest, false},
		failure.Rejected:     {http.StatusUnprocessableEntity, false},
		failure.Unauthorized: {http.StatusBadGateway, true},
		failure.Throttled:    {http.StatusTooManyRequests, true},
		failure.Unavailable:  {http.StatusServiceUnavailable, true},
		"from-the-future":    {http.StatusServiceUnavailable, true},
	}
	classes := append(failure.Classes(), "from-the-future")
	for _, class := range classes {
		w, ok := want[class]
		if !ok {
			t.Fatalf("class %q has no expected answer in this test", class)
		}
		t.Run(string(class), func(t *testing.T) {
			core := &handler.Core{Function: classFunction{class}, Source: "test"}
			e := taggedEvent("class-" + string(class))

			srv := httptest.NewServer(handler.NewHTTP(core, handler.HTTPOptions{}))
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
			if err := cehttp.WriteRequest(context.Background(), binaryMessage(e), req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != w.status {
				t.Errorf("HTTP status %d, want %d", resp.StatusCode, w.status)
			}

			payload, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			out, err := handler.NewLambda(core, handler.HTTPOptions{}).Handle(context.Background(), payload)
			var te *handler.TriggerError
			if !errors.As(err, &te) {
				t.Fatalf("Lambda answered %s, %v; want a *TriggerError", out, err)
			}
			if te.Status != w.status || te.Retryable != w.retry {
				t.Errorf("Lambda TriggerError status %d retryable %v, want %d %v", te.Status, te.Retryable, w.status, w.retry)
			}
			if !bytes.Contains(te.Result, []byte(`"class":"`+string(class)+`"`)) {
				t.Errorf("TriggerError carries %s, want the failed event of class %q", te.Result, class)
			}
		})
	}
}
