package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// The deployed binary links no dev tool and no test helper: not the CBR
// emulator (with its fixed demo credentials), not handlertest, not
// net/http/httptest, and not the parts of sdk-go only the demo's
// CloudEvents client needs (the client, its context package, protocol/http
// and with them go.uber.org/zap; go.uber.org/atomic comes with go-redis, the
// Redis store). The emulator and demo commands are
// unknown to it; they are in cmd/restorepoint-dev.
func TestDeployedBinaryIsLean(t *testing.T) {
	for _, cmd := range []string{"emulator", "demo"} {
		_, _, err := runCmd(t, "", cmd)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "unknown command") {
			t.Errorf("restorepoint %s: %v, want an unknown command", cmd, err)
		}
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not installed")
	}
	out, err := exec.Command(goCmd, "list", "-deps", "-tags", "lambda.norpc",
		"-f", "{{.ImportPath}} {{join .Imports \",\"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		// regexp is kept out because compiling patterns at package init
		// cost every start; go-redis (the Redis store) links it but
		// compiles its two patterns only when they are used.
		if strings.HasPrefix(pkg, "github.com/restorepoint/") && strings.Contains(","+imports+",", ",regexp,") {
			t.Errorf("%s imports regexp", pkg)
		}
		switch {
		case strings.HasSuffix(pkg, "/cbrtest"), strings.HasSuffix(pkg, "/handlertest"),
			strings.HasSuffix(pkg, "/storetest"), pkg == "net/http/httptest", pkg == "testing",
			strings.HasPrefix(pkg, "github.com/cloudevents/sdk-go/v2/client"),
			strings.HasPrefix(pkg, "github.com/cloudevents/sdk-go/v2/context"),
			strings.HasPrefix(pkg, "github.com/cloudevents/sdk-go/v2/protocol"),
			strings.HasPrefix(pkg, "go.uber.org/zap"), strings.HasPrefix(pkg, "go.uber.org/multierr"),
			strings.HasSuffix(pkg, "/redistest"),
			strings.HasPrefix(pkg, "github.com/kelseyhightower/envconfig"),
			pkg == "text/template":
			t.Errorf("the deployed binary links %s", pkg)
		}
	}
}
