//go:build unix

package main

import (
	"archive/zip"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/internal/syncbuf"
)

// TestDeployPackages builds the deployment packages with the Makefile
// (make lambda-zip functiongraph-zip), checks that each holds one executable
// bootstrap for its platform, and runs the FunctionGraph one as an HTTP
// function would: with a per-request token in X-CFF-Auth-Token.
func TestDeployPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the packages")
	}
	makeCmd, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dist := t.TempDir()
	build := exec.CommandContext(ctx, makeCmd, "-C", filepath.Join("..", ".."), "--no-print-directory",
		"lambda-zip", "functiongraph-zip", "DIST="+dist, "VERSION=test-1.2.3")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		zip     string
		machine elf.Machine
	}{
		{"restorepoint-lambda.zip", elf.EM_AARCH64},
		{"restorepoint-functiongraph.zip", elf.EM_X86_64},
	} {
		t.Run(tc.zip, func(t *testing.T) {
			exe := unpackBootstrap(t, filepath.Join(dist, tc.zip))
			f, err := elf.Open(exe)
			if err != nil {
				t.Fatalf("bootstrap is not an ELF executable: %v", err)
			}
			defer f.Close()
			if f.Machine != tc.machine || f.Type != elf.ET_EXEC {
				t.Fatalf("bootstrap is %v %v, want %v executable", f.Machine, f.Type, tc.machine)
			}
			if f.Section(".interp") != nil {
				t.Fatal("bootstrap is dynamically linked; it must be static (CGO_ENABLED=0)")
			}
			if f.Section(".symtab") != nil {
				t.Fatal("bootstrap has a symbol table; it must be stripped (-s -w)")
			}
		})
	}

	t.Run("FunctionGraph HTTP function", func(t *testing.T) {
		if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
			t.Skip("the FunctionGraph bootstrap is linux/amd64")
		}
		bootstrap := unpackBootstrap(t, filepath.Join(dist, "restorepoint-functiongraph.zip"))
		out, err := exec.CommandContext(ctx, bootstrap, "version").CombinedOutput()
		if err != nil || string(out) != "restorepoint test-1.2.3\n" {
			t.Fatalf("bootstrap version: %q %v", out, err)
		}
		testFunctionGraphHTTPFunction(t, bootstrap)
	})
}

// testFunctionGraphHTTPFunction starts bootstrap as FunctionGraph starts an
// HTTP function, with no arguments and CBR_AUTH=functiongraph, and posts CTS
// trigger payloads to it with and without the X-CFF-Auth-Token header.
func testFunctionGraphHTTPFunction(t *testing.T, bootstrap string) {
	emu := cbrtest.NewServer(cbrtest.Options{})
	t.Cleanup(emu.Close)
	cmd := exec.Command(bootstrap)
	cmd.Env = []string{
		"PORT=0", // FunctionGraph uses 8000; the test takes any free port
		"CBR_AUTH=functiongraph",
		"RUNTIME_PROJECT_ID=" + cbrtest.DefaultProjectID, // set by FunctionGraph
		"CBR_ENDPOINT=" + emu.URL,
		"CBR_DEFAULT_VAULT_ID=" + cbrtest.ExampleVaultID,
		"WEBHOOK_SECRET=fg-webhook-secret", // an HTTP function is reachable: closed by default
	}
	logs := startDeployProcess(t, cmd)
	url := "http://" + servingAddr(t, logs) + "/"
	cts, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", "cts-create-tag.json"))
	if err != nil {
		t.Fatal(err)
	}
	header := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer fg-webhook-secret"}}

	// Without the headers there are no credentials: a failed result that
	// names the headers it looked for.
	status, h, body := postUntilUp(t, url, header, cts, 5*time.Second)
	if status == http.StatusOK || h.Get("ce-type") != events.TypeCheckpointFailed ||
		!strings.Contains(string(body), "X-CFF-Auth-Token") || !strings.Contains(string(body), "X-CFF-Security-Access-Key") {
		t.Fatalf("without token: status %d ce-type %q: %s", status, h.Get("ce-type"), body)
	}
	if n := emu.CountCreates(); n != 0 {
		t.Fatalf("emulator saw %d creates without a token", n)
	}

	// With the header the same trigger (a failed attempt leaves no record)
	// creates the checkpoint with the request's token.
	header.Set("X-CFF-Auth-Token", cbrtest.DefaultToken)
	status, h, body = postUntilUp(t, url, header, cts, 5*time.Second)
	if status != http.StatusOK || h.Get("ce-type") != events.TypeCheckpointCreated || h.Get("ce-subject") != cbrtest.ExampleVaultID {
		t.Fatalf("with token: status %d ce-type %q: %s", status, h.Get("ce-type"), body)
	}
	reqs := emu.Requests() // the lookup (GET backups) and the create
	if emu.CountCreates() != 1 || len(reqs) != 2 || reqs[0].Token != cbrtest.DefaultToken || reqs[1].Token != cbrtest.DefaultToken {
		t.Fatalf("emulator saw %d creates, requests %+v", emu.CountCreates(), reqs)
	}
	if strings.Contains(logs.String(), cbrtest.DefaultToken) {
		t.Fatalf("the request token is in the log:\n%s", logs)
	}
}

// servingAddr waits for the "serving" log line of `restorepoint serve` and
// returns the loopback address of the port it names.
func servingAddr(t *testing.T, logs *syncbuf.Buffer) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for line := range strings.SplitSeq(logs.String(), "\n") {
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "serving" {
				_, port, err := net.SplitHostPort(l.Addr)
				if err != nil {
					t.Fatalf("serving on %q: %v", l.Addr, err)
				}
				return net.JoinHostPort("127.0.0.1", port)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no serving line in time:\n%s", logs)
	return ""
}

// unpackBootstrap checks that the archive holds exactly one entry,
// "bootstrap" with mode 0755, and writes it to a temporary file with that
// mode.
func unpackBootstrap(t *testing.T, archive string) string {
	t.Helper()
	zr, err := zip.OpenReader(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" || zr.File[0].Mode() != 0o755 {
		var entries []string
		for _, f := range zr.File {
			entries = append(entries, f.Name+" "+f.Mode().String())
		}
		t.Fatalf("%s holds %v, want only bootstrap -rwxr-xr-x", archive, entries)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, rc); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(exe, buf.Bytes(), zr.File[0].Mode().Perm()); err != nil {
		t.Fatal(err)
	}
	return exe
}
