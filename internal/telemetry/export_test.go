package telemetry

import "context"

// Accessors only tests use.

// Read returns the metrics as they are now, cumulative.
func (t *Telemetry) Read(ctx context.Context) []Family { return t.reg.Read(ctx, false) }

// Tracing reports whether spans are exported.
func (t *Telemetry) Tracing() bool { return t.tracing }

// Metering reports whether metrics are kept.
func (t *Telemetry) Metering() bool { return t.metering }
