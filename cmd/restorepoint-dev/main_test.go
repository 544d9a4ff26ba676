package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/restorepoint/restorepoint/internal/app"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/iam"
	"github.com/restorepoint/restorepoint/internal/syncbuf"
)

func runCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestDemo(t *testing.T) {
	out, _, err := runCmd(t, "demo")
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{
		"<- HTTP 200  io.restorepoint.checkpoint.created",
		`"code": "BackupService.6135"`,
		`"duplicate": true`,
		"<- HTTP 200  io.restorepoint.trigger.ignored",
		"<- HTTP 400  io.restorepoint.checkpoint.failed",
		`"message": "data.service: required`,
		"<- HTTP 503  the backups are being made: ask again later",
		`"status": "pending"`,
		"<- HTTP 200  io.restorepoint.checkpoint.available",
		"io.restorepoint.checkpoint.available  trigger demo-1",
		"io.restorepoint.checkpoint.available  trigger demo-2",
		"io.restorepoint.checkpoint.available  trigger demo-5",
		"The emulator created 3 checkpoints; the result sink received 8 result events, 3 of them completions.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(out, cbrtest.DefaultToken) {
		t.Error("demo output shows the token")
	}
}

func TestCommandLine(t *testing.T) {
	out, _, err := runCmd(t, "help")
	if err != nil || !strings.Contains(out, "restorepoint-dev emulator") || !strings.Contains(out, "restorepoint-dev demo") {
		t.Fatalf("help: %q %v", out, err)
	}
	_, _, err = runCmd(t, "serve")
	var ue app.UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("unknown command: %v", err)
	}
	for _, cmd := range []string{"emulator", "demo"} {
		_, stderr, err := runCmd(t, cmd, "-h")
		if err != nil || !strings.Contains(stderr, "Usage: restorepoint-dev "+cmd) {
			t.Errorf("%s -h: %v %q", cmd, err, stderr)
		}
	}
}

// waitForLine waits for a line of out that starts with prefix and returns its rest.
func waitForLine(t *testing.T, out *syncbuf.Buffer, prefix string) string {
	t.Helper()
	rest, ok := out.WaitLine(prefix, 5*time.Second)
	if !ok {
		t.Fatalf("no line %q in time", prefix)
	}
	return rest
}

func TestEmulatorCommandAnswersPageExample(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() { done <- runEmulator(ctx, []string{"--addr", "127.0.0.1:0"}, out, &bytes.Buffer{}) }()
	url := waitForLine(t, out, "CBR + IAM emulator listening on ")
	body, err := os.ReadFile(filepath.Join("..", "..", "cbr", "testdata", "example_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := cbr.New(url, cbrtest.DefaultProjectID, iam.TokenAuthorizer{Source: iam.NewStatic(cbrtest.DefaultToken)})
	if err != nil {
		t.Fatal(err)
	}
	var req cbr.CreateCheckpointRequest
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	cp, err := client.CreateCheckpoint(ctx, req.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Status != "protecting" || cp.Vault.Name != "vault-be94" || cp.Vault.Resources[0].Name != "ecs-1f0f-0002" ||
		cp.Vault.Resources[0].ResourceSize.String() != "40" || cp.ExtraInfo.Name != "backup_name" {
		t.Fatalf("checkpoint = %+v", cp)
	}
	// The printed demo access keys sign a request the emulator accepts.
	ak := waitForLine(t, out, "  CBR_ACCESS_KEY=")
	sk := waitForLine(t, out, "  CBR_SECRET_KEY=")
	keys, err := iam.NewAccessKeys(iam.AccessKeysConfig{AccessKey: ak, SecretKey: iam.Secret(sk)})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := cbr.New(url, cbrtest.DefaultProjectID, iam.Signer{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signed.GetCheckpoint(ctx, cp.ID); err != nil {
		t.Fatalf("signed with the printed keys: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("emulator stopped with %v", err)
	}
}

// The demo knobs: a resource whose backups fail and a full vault, marked in
// the banner and played by the emulator.
func TestEmulatorCommandFailAndFill(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- runEmulator(ctx, []string{"--addr", "127.0.0.1:0", "--available-after", "-1ns",
			"--fail-resource", cbrtest.ExampleServerID, "--fill-vault", cbrtest.WeeklyVaultID}, out, &bytes.Buffer{})
	}()
	url := waitForLine(t, out, "CBR + IAM emulator listening on ")
	// Plain HTTP, so that the test does not depend on the client's constructors.
	checkpoints := url + "/v3/" + cbrtest.DefaultProjectID + "/checkpoints"
	status, body := request(t, http.MethodPost, checkpoints,
		`{"checkpoint":{"vault_id":"`+cbrtest.ExampleVaultID+`","parameters":{"resources":["`+cbrtest.ExampleServerID+`"]}}}`)
	var cp cbr.CheckpointResponse
	if err := json.Unmarshal(body, &cp); status != http.StatusOK || err != nil {
		t.Fatalf("create: %d %s", status, body)
	}
	status, body = request(t, http.MethodGet, checkpoints+"/"+cp.Checkpoint.ID, "")
	if err := json.Unmarshal(body, &cp); status != http.StatusOK || err != nil || cp.Checkpoint.Status != cbr.StatusError {
		t.Errorf("checkpoint of the failing server: %d %s, want status error", status, body)
	}
	status, body = request(t, http.MethodPost, checkpoints, `{"checkpoint":{"vault_id":"`+cbrtest.WeeklyVaultID+`"}}`)
	if status != http.StatusBadRequest || !strings.Contains(string(body), cbrtest.CodeVaultFull) {
		t.Errorf("checkpoint in the full vault: %d %s, want 400 %s", status, body, cbrtest.CodeVaultFull)
	}
	// The banner is printed before the first request is served.
	banner := out.String()
	for _, want := range []string{
		cbrtest.ExampleServerName + " (40 GB)  [backups fail]",
		cbrtest.WeeklyVaultName + " (any type, 1024 of 1024 GB used)  [full]",
		cbrtest.ServerVaultName + " (server, 0 of 200 GB used)\n",
		cbrtest.UnassociatedServerName + " (30 GB)\n",
		"DELETE",
		"/addresources",
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("emulator stopped with %v", err)
	}
}

func TestEmulatorCommandBadKnobs(t *testing.T) {
	for _, args := range [][]string{
		{"--fail-resource", "no-such-resource"},
		{"--fill-vault", "no-such-vault"},
		{"--fill-vault", ""},
	} {
		var stderr bytes.Buffer
		err := runEmulator(context.Background(), append([]string{"--addr", "127.0.0.1:0"}, args...), &bytes.Buffer{}, &stderr)
		var ue app.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error()+stderr.String(), args[0][2:]) {
			t.Errorf("%v: err %v (stderr %q), want a usage error naming the flag", args, err, stderr.String())
		}
	}
}

// request sends a request with the default token and returns the status and body.
func request(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", cbrtest.DefaultToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
