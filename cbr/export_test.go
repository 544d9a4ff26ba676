package cbr

import (
	"context"
	"strconv"
	"time"
)

// Options and accessors only tests use (package cbr and cbr_test; not
// tests elsewhere).

// WithRand sets the source of jitter: a function returning a number in
// [0, 1). The default is math/rand/v2's Float64. Tests pass a constant.
func WithRand(f func() float64) Option { return func(c *Client) { c.rand = f } }

// WithSleep sets how the client waits between attempts (default otc.Sleep).
// The function must return early with ctx.Err() when ctx is done. Tests use
// it to observe waits.
func WithSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = f }
}

// WithClock sets the clock used to read Retry-After dates and to compare
// waits with the context's deadline (default time.Now).
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// Endpoint returns the endpoint the client was made with, without a trailing slash.
func (c *Client) Endpoint() string { return c.endpoint }

// ProjectID returns the project the client works in.
func (c *Client) ProjectID() string { return c.projectID }

// Float64 returns the value as a number, or an error when it is not one.
func (q Quantity) Float64() (float64, error) { return strconv.ParseFloat(q.text, 64) }
