package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// The tests of this module use a stand-in for CBR that answers the API page's
// example; the harness's test TestSDKFunction (bench/sdkfn_test.go, in
// restorepoint's module) runs the built function against the emulator.
const (
	exampleAnswer = "../../cbr/testdata/example_response.json" // the API page's example answer
	eventFixture  = "../../testdata/events/server-tagged.json"
	project       = "f841e01fd2b14e7fa41b6ae7aa6b0594"
)

// cbrStandIn answers every create-checkpoint POST with status and body, and
// counts the requests that were signed with AK/SK.
func cbrStandIn(t *testing.T, status int, body []byte) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var signed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v3/"+project+"/checkpoints" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		if strings.HasPrefix(r.Header.Get("Authorization"), "SDK-HMAC-SHA256 Access=AK, ") {
			signed.Add(1)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &signed
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtureEvent(t *testing.T) cloudevents.Event {
	t.Helper()
	var e cloudevents.Event
	if err := json.Unmarshal(readFile(t, eventFixture), &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestAllowance holds the reason for createdCheckpoint: the SDK's own
// CreateCheckpoint fails on the API page's example answer (resource_size is a
// number there), while the function's call succeeds on it. When an SDK
// version decodes the example, the allowance can go.
func TestAllowance(t *testing.T) {
	example := readFile(t, exampleAnswer)
	if !strings.Contains(string(example), `"resource_size" : 40`) {
		t.Fatalf("%s no longer carries resource_size as a number", exampleAnswer)
	}
	srv, signed := cbrStandIn(t, http.StatusOK, example)
	f, err := newFunction(srv.URL, project, "AK", "SK")
	if err != nil {
		t.Fatal(err)
	}
	e := fixtureEvent(t)
	var d taggedServer
	if err := e.DataAs(&d); err != nil {
		t.Fatal(err)
	}

	_, err = f.client.CreateCheckpoint(checkpointRequest(e, &d))
	if err == nil || !strings.Contains(err.Error(), "ResourceSize") {
		t.Errorf("SDK CreateCheckpoint on the page's example: error %v, want one about ResourceSize (the allowance may be dropped)", err)
	}
	if err := f.createCheckpoint(checkpointRequest(e, &d)); err != nil {
		t.Errorf("createCheckpoint on the page's example: %v", err)
	}
	if n := signed.Load(); n != 2 {
		t.Errorf("%d of 2 requests signed with AK/SK", n)
	}
}

// TestReceiveStatus checks the status the function answers with: 200 when CBR
// created the checkpoint, 400 for an event it cannot use, 502 when CBR fails.
func TestReceiveStatus(t *testing.T) {
	created, _ := cbrStandIn(t, http.StatusOK, readFile(t, exampleAnswer))
	failing, _ := cbrStandIn(t, http.StatusInternalServerError,
		[]byte(`{"error_code":"BackupService.9910","error_msg":"Internal Server Error"}`))
	noID, _ := cbrStandIn(t, http.StatusOK, []byte(`{"checkpoint":{}}`))
	otherType := fixtureEvent(t)
	otherType.SetType("io.restorepoint.deploy.pre")
	noVault := fixtureEvent(t)
	if err := noVault.SetData(cloudevents.ApplicationJSON, map[string]string{"server_id": "s"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		cbr    string
		event  cloudevents.Event
		status int // 0: nil, answered 200
		msg    string
	}{
		{"created", created.URL, fixtureEvent(t), 0, ""},
		{"other type", created.URL, otherType, http.StatusBadRequest, "io.restorepoint.deploy.pre"},
		{"no vault_id", created.URL, noVault, http.StatusBadRequest, "vault_id"},
		{"CBR fails", failing.URL, fixtureEvent(t), http.StatusBadGateway, "BackupService.9910"},
		{"answer without id", noID.URL, fixtureEvent(t), http.StatusBadGateway, "without a checkpoint id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := newFunction(c.cbr, project, "AK", "SK")
			if err != nil {
				t.Fatal(err)
			}
			res := f.receive(context.Background(), c.event)
			if c.status == 0 {
				if res != nil {
					t.Errorf("result %v, want nil (200)", res)
				}
				return
			}
			var r *cehttp.Result
			if !errors.As(res, &r) || r.StatusCode != c.status || !strings.Contains(res.Error(), c.msg) {
				t.Errorf("result %v, want status %d naming %q", res, c.status, c.msg)
			}
		})
	}
}

func TestNewFunctionNeedsConfiguration(t *testing.T) {
	if _, err := newFunction("http://127.0.0.1:1", project, "AK", ""); err == nil ||
		!strings.Contains(err.Error(), "CBR_SECRET_KEY") {
		t.Errorf("no secret key: error %v, want one naming CBR_SECRET_KEY", err)
	}
}
