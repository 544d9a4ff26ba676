package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/restorepoint/restorepoint/internal/app"
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
		"The emulator created 2 checkpoints; the result sink received 4 result events.",
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
