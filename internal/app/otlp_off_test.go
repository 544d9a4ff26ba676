//go:build !otlp

package app

import (
	"errors"
	"strings"
	"testing"
)

// TestOTLPNeedsTheBuildTag: in a build without the otlp tag, an OTLP
// endpoint is a configuration error (exit 2) that says what to do, and
// names no header value.
func TestOTLPNeedsTheBuildTag(t *testing.T) {
	for _, v := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"} {
		env := map[string]string{"CBR_PROJECT_ID": "p1", "CBR_TOKEN": "t", v: "http://127.0.0.1:4318",
			"OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=hdr-SECRET-1"}
		_, err := Load(func(k string) string { return env[k] })
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), v+": this restorepoint is built without OTLP export") ||
			!strings.Contains(err.Error(), "-tags otlp") {
			t.Errorf("%s set: %v, want a configuration error naming the otlp build", v, err)
		}
		if err != nil && strings.Contains(err.Error(), "hdr-SECRET") {
			t.Errorf("the header value is in the error: %v", err)
		}
	}
}

// TestTelemetryConfigProblems: bad values of the observability variables
// are reported, each naming its variable and none quoting a header value.
func TestTelemetryConfigProblems(t *testing.T) {
	env := map[string]string{"CBR_PROJECT_ID": "p1", "CBR_TOKEN": "t", "METRICS": "prometheus",
		"OTEL_EXPORTER_OTLP_HEADERS": "hdr-SECRET-2", "OTEL_METRIC_EXPORT_INTERVAL": "0"}
	_, err := Load(func(k string) string { return env[k] })
	for _, want := range []string{"METRICS: must be on, off or emf", "OTEL_EXPORTER_OTLP_HEADERS: item 1 is not key=value",
		"OTEL_METRIC_EXPORT_INTERVAL: must be a positive"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "hdr-SECRET") {
		t.Errorf("the header value is in the error: %v", err)
	}
}
