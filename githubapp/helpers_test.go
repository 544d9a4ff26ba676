package githubapp_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restorepoint/restorepoint/githubapp"
	"github.com/restorepoint/restorepoint/githubapp/githubtest"
)

// clock is a settable clock shared by a client and the stand-in.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 6, 2, 9, 30, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// setup starts a stand-in (configured by opts, on clk) and a client of it
// with fast retries.
func setup(t *testing.T, opts githubtest.Options) (*githubtest.Server, *githubapp.Client, *clock) {
	t.Helper()
	clk := newClock()
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	srv := githubtest.NewServer(opts)
	t.Cleanup(srv.Close)
	c, err := githubapp.New(githubapp.Config{
		AppID:       srv.AppID(),
		PrivateKey:  githubtest.Key(),
		APIURL:      srv.APIURL(),
		HTTPClient:  srv.Client(),
		Now:         clk.Now,
		BackoffBase: time.Millisecond,
		BackoffMax:  5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, clk
}

// requestsTo returns the stand-in's requests to endpoint.
func requestsTo(srv *githubtest.Server, endpoint githubtest.Endpoint) []githubtest.Request {
	var out []githubtest.Request
	for _, r := range srv.Requests() {
		if r.Endpoint == endpoint {
			out = append(out, r)
		}
	}
	return out
}

// bearerOf returns the credential of a recorded request's Authorization.
func bearerOf(r githubtest.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// approve is a review used by several tests.
var approve = githubapp.Review{EnvironmentName: "production", State: githubapp.StateApproved,
	Comment: "restore point 3f1c… created in vault backup-prod"}
