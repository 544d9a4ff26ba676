package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/restorepoint/restorepoint/internal/app"
)

// httpPath is restorepoint's HTTP front door wired as "restorepoint serve"
// wires it, with the harness's restorepoint environment (AK/SK,
// WEBHOOK_AUTH=none, in-memory records, CBR_DEDUPE=off), against
// "restorepoint-dev emulator" in a child process.
type httpPath struct {
	handler http.Handler
	before  []byte // the fixture up to its id's value
	after   []byte // the fixture after its id's value
	body    []byte // reused for each event
}

// newHTTPPath builds restorepoint-dev, starts its emulator and wires the app
// from the environment the harness gives restorepoint. Its log lines are
// encoded as in production and written to io.Discard.
func newHTTPPath(tb testing.TB) *httpPath {
	tb.Helper()
	dir := tb.TempDir()
	dev := filepath.Join(dir, "restorepoint-dev")
	ctx := context.Background()
	if err := goBuild(ctx, "go", "..", nil, "-o", dev, "./cmd/restorepoint-dev"); err != nil {
		tb.Fatal(err)
	}
	ps := newProcs(dir)
	tb.Cleanup(ps.stopAll)
	_, emuURL, err := startEmulator(ctx, ps, dev)
	if err != nil {
		tb.Fatal(err)
	}
	vars := map[string]string{}
	for _, kv := range append(env(emuURL, 0), restorepointEnv("off")...) {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := app.Load(func(k string) string { return vars[k] })
	if err != nil {
		tb.Fatal(err)
	}
	a, err := app.New(cfg, app.NewLogger(cfg, io.Discard), "bench")
	if err != nil {
		tb.Fatal(err)
	}
	fixture, err := os.ReadFile("../testdata/events/server-tagged.json")
	if err != nil {
		tb.Fatal(err)
	}
	before, after, ok := bytes.Cut(fixture, []byte(fixtureID))
	if !ok {
		tb.Fatalf("the event fixture does not hold %s", fixtureID)
	}
	return &httpPath{handler: a.HTTPHandler(), before: append(before, `"id": "`...), after: append([]byte(`"`), after...)}
}

// serve posts the fixture with id n to the front door, as the load generator
// does, and checks that the answer is a created result.
func (p *httpPath) serve(n int) error {
	p.body = append(strconv.AppendInt(append(p.body[:0], p.before...), int64(n), 10), p.after...)
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(p.body))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	rec := httptest.NewRecorder()
	p.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return &statusError{rec.Code, rec.Body.String()}
	}
	return checkCreated(rec.Header(), rec.Body.Bytes())
}

type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string { return "status " + strconv.Itoa(e.status) + ": " + e.body }

// TestHTTPPath holds BenchmarkHTTPHandler to the real path: events it sends
// are answered with created results (the emulator accepts only requests
// signed with the demo keys: no token is configured), each a new trigger.
func TestHTTPPath(t *testing.T) {
	p := newHTTPPath(t)
	for n := range 3 {
		if err := p.serve(n); err != nil {
			t.Fatalf("event %d: %v", n, err)
		}
	}
}

// BenchmarkHTTPHandler is the per-event cost of restorepoint's HTTP front
// door in process: one structured CloudEvent with its own id through the
// handler as "restorepoint serve" wires it (decode, plan, the in-memory
// record, the CBR call signed with AK/SK over loopback to the emulator in
// another process, the result event, the log line, the metrics), answered
// into an httptest recorder. B/op and allocs/op are the receiver's (the
// request and recorder the benchmark makes stand in for the server's);
// ns/op includes the emulator's round trip. The emulator being a separate
// process, -cpuprofile holds the receiver's work only:
//
//	go test -run '^$' -bench BenchmarkHTTPHandler -benchmem -cpuprofile cpu.out ./bench/
func BenchmarkHTTPHandler(b *testing.B) {
	p := newHTTPPath(b)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		if err := p.serve(n); err != nil {
			b.Fatal(err)
		}
	}
}
