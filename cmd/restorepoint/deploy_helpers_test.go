//go:build unix

package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/internal/syncbuf"
)

// Helpers of the tests that run built binaries (the Lambda bootstrap under
// the Runtime Interface Emulator, the packaged FunctionGraph bootstrap).

// packagedTags are the build tags of the deployed binary: TAGS in the
// Makefile without RULES or OTLP (TestSAMTemplate holds the two together).
const packagedTags = "lambda.norpc,nethttpomithttp2"

// goBuild runs `go build args...` with env added to the environment,
// bounded by ctx.
func goBuild(t *testing.T, ctx context.Context, env []string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...)
	cmd.Env = append(cmd.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", args, err, out)
	}
}

// startDeployProcess starts cmd in its own process group, with its output
// in the returned writer, and kills the whole group (cmd and any child it
// started) when the test ends.
func startDeployProcess(t *testing.T, cmd *exec.Cmd) *syncbuf.Buffer {
	t.Helper()
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("output of %s:\n%s", cmd.Path, out.String())
		}
	})
	return out
}

// freeLoopbackAddr returns a loopback address with a port that was free a
// moment ago, for programs that must be told their port up front.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// postUntilUp posts body to url, retrying while nothing listens there yet,
// for at most wait; it returns the status and the response body.
func postUntilUp(t *testing.T, url string, header http.Header, body []byte, wait time.Duration) (int, http.Header, []byte) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	deadline := time.Now().Add(wait)
	for {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header.Clone()
		resp, err := client.Do(req)
		if err == nil {
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, resp.Header, buf.Bytes()
		}
		if time.Now().After(deadline) {
			t.Fatalf("POST %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
