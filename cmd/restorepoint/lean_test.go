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
// and with them go.uber.org/zap). The emulator and demo commands are
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
	out, err := exec.Command(goCmd, "list", "-deps", "-tags", "lambda.norpc", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch {
		case strings.HasSuffix(pkg, "/cbrtest"), strings.HasSuffix(pkg, "/handlertest"),
			strings.HasSuffix(pkg, "/storetest"), pkg == "net/http/httptest", pkg == "testing",
			strings.HasPrefix(pkg, "github.com/cloudevents/sdk-go/v2/client"),
			strings.HasPrefix(pkg, "github.com/cloudevents/sdk-go/v2/context"),
			strings.HasPrefix(pkg, "github.com/cloudevents/sdk-go/v2/protocol"),
			strings.HasPrefix(pkg, "go.uber.org/"),
			strings.HasPrefix(pkg, "github.com/kelseyhightower/envconfig"),
			// The OpenTelemetry SDK and the OTLP exporters (protobuf, gRPC)
			// are linked by the otlp build only; Prometheus' client never.
			strings.HasPrefix(pkg, "go.opentelemetry.io/otel/sdk"),
			strings.HasPrefix(pkg, "go.opentelemetry.io/otel/exporters"),
			strings.HasPrefix(pkg, "google.golang.org/protobuf"),
			strings.HasPrefix(pkg, "google.golang.org/grpc"),
			strings.HasPrefix(pkg, "github.com/prometheus/"),
			pkg == "text/template", pkg == "regexp":
			t.Errorf("the deployed binary links %s", pkg)
		}
	}
}
