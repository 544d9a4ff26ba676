package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/internal/app"
)

// The deployed binary links no dev tool and no test helper: not the CBR
// emulator (with its fixed demo credentials), not handlertest, not
// net/http/httptest, and not the parts of sdk-go only the demo's
// CloudEvents client needs (the client, its context package, protocol/http
// and with them go.uber.org/zap). The emulator and demo commands are
// unknown to it; they are in cmd/restorepoint-dev. Nor does it link the
// rules engine (CEL, protobuf, ANTLR) unless built with the tag rules.
func TestDeployedBinaryIsLean(t *testing.T) {
	for _, cmd := range []string{"emulator", "demo"} {
		_, _, err := runCmd(t, "", cmd)
		var ue app.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "unknown command") {
			t.Errorf("restorepoint %s: %v, want an unknown command", cmd, err)
		}
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not installed")
	}
	out, err := exec.Command(goCmd, "list", "-deps", "-tags", packagedTags,
		"-f", "{{.ImportPath}} {{join .Imports \",\"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		// regexp is kept out of restorepoint's packages because compiling
		// patterns at package init costs every start (redigo, the Redis
		// store's client, compiles one small pattern).
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
			// The OpenTelemetry SDK and the OTLP exporters (protobuf, gRPC)
			// are linked by the otlp build only; Prometheus' client never.
			strings.HasPrefix(pkg, "go.opentelemetry.io/otel/sdk"),
			strings.HasPrefix(pkg, "go.opentelemetry.io/otel/exporters"),
			strings.HasPrefix(pkg, "google.golang.org/protobuf"),
			strings.HasPrefix(pkg, "google.golang.org/grpc"),
			strings.HasPrefix(pkg, "github.com/prometheus/"),
			pkg == "text/template":
			t.Errorf("the deployed binary links %s", pkg)
		case isRulesEngine(pkg):
			t.Errorf("without the build tag rules, the deployed binary links %s (the rules engine: about 8 MB)", pkg)
		}
	}

	// With the tag, the rules engine is there: the tag is what keeps it out.
	out, err = exec.Command(goCmd, "list", "-deps", "-tags", packagedTags+",rules", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps -tags rules: %v", err)
	}
	if !strings.Contains(" "+strings.Join(strings.Fields(string(out)), " ")+" ", " cel.dev/cel-go/cel ") {
		t.Error("with the build tag rules, cel.dev/cel-go/cel is not linked")
	}
}

// isRulesEngine reports whether pkg belongs to the rules engine: the rules
// package, CEL and what only CEL needs (protobuf, ANTLR, YAML).
func isRulesEngine(pkg string) bool {
	for _, prefix := range []string{"cel.dev/", "github.com/google/cel-go", "github.com/antlr4-go/",
		"google.golang.org/protobuf", "google.golang.org/genproto", "gopkg.in/yaml", "github.com/restorepoint/restorepoint/rules"} {
		if strings.HasPrefix(pkg, prefix) {
			return true
		}
	}
	return false
}
