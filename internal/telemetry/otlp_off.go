//go:build !otlp

package telemetry

import (
	"context"
	"errors"
)

// OTLPAvailable reports whether this build can export over OTLP (the otlp
// build tag). Without it, the OpenTelemetry SDK, the OTLP exporters and
// their protobuf and gRPC dependencies are not linked.
const OTLPAvailable = false

// ErrNoOTLP is returned when OTLP export is configured in a build without it.
var ErrNoOTLP = errors.New("this restorepoint is built without OTLP export: use a build with -tags otlp")

// newExporters fails when OTLP export is configured: this build has none.
func newExporters(_ context.Context, o Options) (exporters, error) {
	if o.OTLP.Configured() {
		return exporters{}, ErrNoOTLP
	}
	return exporters{}, nil
}
