//go:build unix

package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/handler"
	"github.com/restorepoint/restorepoint/handler/handlertest"
)

// TestBootstrapAsFunctionGraphEventFunction builds the bootstrap and runs it
// as a FunctionGraph event function with a custom runtime would be run (no
// arguments, FUNCTIONGRAPH_MODE=event, RUNTIME_* set by the platform)
// against the runtime API stand-in and the CBR emulator.
func TestBootstrapAsFunctionGraphEventFunction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bootstrap")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	goBuild(t, ctx, []string{"CGO_ENABLED=0"}, "-tags", packagedTags, "-trimpath", "-o", bootstrap, ".")

	emu := cbrtest.NewServer(cbrtest.Options{})
	t.Cleanup(emu.Close)
	sink := handlertest.NewServer()
	t.Cleanup(sink.Close)
	rt := handlertest.NewFunctionGraphRuntimeServer()
	t.Cleanup(rt.Close)
	fgEnv := func(apiAddr string) []string {
		return []string{
			"FUNCTIONGRAPH_MODE=event",
			"RUNTIME_API_ADDR=" + apiAddr,                    // set by FunctionGraph
			"RUNTIME_PROJECT_ID=" + cbrtest.DefaultProjectID, // set by FunctionGraph
			"RUNTIME_TIMEOUT=30",                             // set by FunctionGraph
			"CBR_AUTH=functiongraph",
			"CBR_ENDPOINT=" + emu.URL,
			"CBR_DEFAULT_VAULT_ID=" + cbrtest.ExampleVaultID,
			"CBR_MAX_ATTEMPTS=1",
			"RESULT_SINK=" + sink.URL,
			"LOG_LEVEL=debug",
		}
	}

	t.Run("unreachable runtime API", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, bootstrap)
		cmd.Env = fgEnv(freeLoopbackAddr(t))
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "RUNTIME_API_ADDR") {
			t.Fatalf("exit %v, output:\n%s", err, out)
		}
	})

	cmd := exec.Command(bootstrap)
	cmd.Env = fgEnv(rt.Addr)
	logs := startDeployProcess(t, cmd)
	cts, err := os.ReadFile(filepath.Join("..", "..", "testdata", "functiongraph", "cts-create-tag.json"))
	if err != nil {
		t.Fatal(err)
	}
	invoke := func(t *testing.T, id string, body []byte, agency bool) handlertest.FunctionGraphAnswer {
		t.Helper()
		inv := handlertest.FunctionGraphInvocation{RequestID: id, Body: body}
		if agency {
			inv.AuthToken, inv.AccessKey, inv.SecretKey, inv.SecurityToken =
				cbrtest.DefaultToken, cbrtest.DemoTemporaryAccessKey, cbrtest.DemoTemporarySecretKey, cbrtest.DemoSecurityToken
		}
		ictx, icancel := context.WithTimeout(ctx, 30*time.Second)
		defer icancel()
		a, err := rt.Invoke(ictx, inv)
		if err != nil {
			t.Fatalf("invoke %s: %v\n%s", id, err, logs)
		}
		return a
	}
	result := func(t *testing.T, a handlertest.FunctionGraphAnswer) (event.Event, events.Created) {
		t.Helper()
		var e event.Event
		if err := json.Unmarshal(a.Body, &e); err != nil {
			t.Fatalf("%s answer is no structured CloudEvent: %v: %s", a.Endpoint, err, a.Body)
		}
		var c events.Created
		_ = e.DataAs(&c)
		return e, c
	}

	t.Run("no agency headers", func(t *testing.T) {
		a := invoke(t, "fg-req-0", cts, false)
		e, _ := result(t, a)
		if a.Endpoint != "response" || e.Type() != events.TypeCheckpointFailed ||
			!strings.Contains(string(a.Body), "X-CFF-Auth-Token") || !strings.Contains(string(a.Body), "X-CFF-Security-Token") {
			t.Fatalf("%s: %s", a.Endpoint, a.Body)
		}
		if n := len(emu.Requests()); n != 0 {
			t.Fatalf("%d CBR calls without credentials", n)
		}
	})

	t.Run("throttled CBR call", func(t *testing.T) {
		emu.Inject(cbrtest.Fault{Method: "POST", Path: "checkpoints", Status: 429})
		a := invoke(t, "fg-req-1", cts, true)
		var eb handler.ErrorBody
		if a.Endpoint != "error" || json.Unmarshal(a.Body, &eb) != nil || eb.Status != 429 {
			t.Fatalf("%s: %s", a.Endpoint, a.Body)
		}
		if types := sink.Types(); len(types) == 0 || types[len(types)-1] != events.TypeCheckpointFailed {
			t.Fatalf("sink got %v", types)
		}
	})

	t.Run("CTS tag creation", func(t *testing.T) {
		a := invoke(t, "fg-req-1", cts, true) // the platform's retry
		e, c := result(t, a)
		if a.Endpoint != "response" || e.Type() != events.TypeCheckpointCreated || c.Duplicate || e.Subject() != cbrtest.ExampleVaultID {
			t.Fatalf("%s: %s", a.Endpoint, a.Body)
		}
		if n := emu.CountCreates(); n != 1 {
			t.Fatalf("%d restore points, want 1", n)
		}
		// The invocation's temporary keys sign the call (they win over its token).
		for _, req := range emu.Requests() {
			if req.AccessKey != cbrtest.DemoTemporaryAccessKey || req.Token != "" {
				t.Fatalf("CBR call signed by %q with token %q, want the invocation's temporary keys", req.AccessKey, req.Token)
			}
		}
	})

	t.Run("redelivered request", func(t *testing.T) {
		a := invoke(t, "fg-req-1", cts, true)
		if e, c := result(t, a); a.Endpoint != "response" || e.Type() != events.TypeCheckpointCreated || !c.Duplicate {
			t.Fatalf("%s: %s", a.Endpoint, a.Body)
		}
		if n := emu.CountCreates(); n != 1 {
			t.Fatalf("%d restore points, want 1", n)
		}
	})

	t.Run("timer and SMN", func(t *testing.T) {
		for _, file := range []string{"timer-checkpoint-requested.json", "smn-cloudevent.json"} {
			body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "functiongraph", file))
			if err != nil {
				t.Fatal(err)
			}
			if e, _ := result(t, invoke(t, "fg-"+file, body, true)); e.Type() != events.TypeCheckpointCreated {
				t.Fatalf("%s: %v", file, e)
			}
		}
	})

	t.Run("TIMER follow pass", func(t *testing.T) { functionGraphFollowPass(t, ctx, bootstrap) })

	t.Run("SIGTERM between invocations", func(t *testing.T) {
		deadline := time.Now().Add(5 * time.Second)
		for rt.Polling() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if rt.Polling() == 0 {
			t.Fatal("the runtime does not wait for the next invocation")
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("exit after SIGTERM: %v\n%s", err, logs)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no exit after SIGTERM\n%s", logs)
		}
	})

	if refused := rt.Refused(); len(refused) > 0 {
		t.Errorf("the bootstrap strayed from the runtime API: %v", refused)
	}
	for _, secret := range []string{cbrtest.DefaultToken, cbrtest.DemoTemporarySecretKey, cbrtest.DemoSecurityToken} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the output holds a secret:\n%s", logs)
		}
	}
}
