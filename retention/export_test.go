package retention

import "time"

// Options only tests use (package retention and retention_test; not tests
// elsewhere).

// WithClock sets the clock ages are measured by (default time.Now).
func WithClock(now func() time.Time) Option { return func(p *Pruner) { p.now = now } }

// WithPageSize sets how many backups each list request asks for, 1 to
// cbr.MaxBackupsLimit (the default, and the fewest requests).
func WithPageSize(n int) Option { return func(p *Pruner) { p.pageSize = n } }
