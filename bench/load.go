package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// fixtureID is the id of testdata/events/server-tagged.json, replaced in
// every event the harness sends so that each is a new trigger.
const fixtureID = `"id": "7c4f3e2a-9b1d-4e8f-a6c5-2d3b4a5e6f70"`

// makeEvents returns n copies of the structured CloudEvent fixture, each with
// its own id, prefix-0, prefix-1, ...
func makeEvents(fixture []byte, prefix string, n int) ([][]byte, error) {
	if bytes.Count(fixture, []byte(fixtureID)) != 1 {
		return nil, fmt.Errorf("the event fixture does not hold exactly one %s", fixtureID)
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Replace(fixture, []byte(fixtureID), []byte(`"id": "`+prefix+"-"+strconv.Itoa(i)+`"`), 1)
	}
	return out, nil
}

// newClient returns an HTTP client for senders concurrent senders that keeps
// a connection per sender alive, so that the load generator measures the
// receiver and not connection setup.
func newClient(senders int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        senders + 16,
		MaxIdleConnsPerHost: senders + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// loadResult is what one load run measured.
type loadResult struct {
	sent     int
	ok       int             // answered 200 and passed the check
	non200   int             // answered another status
	failed   int             // no answer, or a 200 that failed the check
	firstErr string          // the first non-200 or failure, for the report
	elapsed  time.Duration   // from the first send to the last answer
	lat      []time.Duration // of every answered request, in send order
}

// throughput is the rate of successful events per second.
func (r loadResult) throughput() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// errors is the number of events not successfully handled.
func (r loadResult) errors() int { return r.sent - r.ok }

// checkFunc checks a 200 answer's headers and body.
type checkFunc func(h http.Header, body []byte) error

// runLoad POSTs every body to url from senders goroutines, each sending its
// next event as soon as the previous one is answered, and measures each
// request from send to the end of the answer's body.
func runLoad(ctx context.Context, client *http.Client, url string, bodies [][]byte, senders int, check checkFunc) loadResult {
	res := loadResult{lat: make([]time.Duration, len(bodies))}
	answered := make([]bool, len(bodies))
	var (
		next             atomic.Int64
		ok, non200, fail atomic.Int64
		errOnce          sync.Once
		wg               sync.WaitGroup
	)
	note := func(err error) { errOnce.Do(func() { res.firstErr = err.Error() }) }
	start := time.Now()
	for range senders {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) {
					return
				}
				t0 := time.Now()
				status, h, body, err := post(ctx, client, url, bodies[i])
				d := time.Since(t0)
				switch {
				case err != nil:
					fail.Add(1)
					note(err)
					continue
				case status != http.StatusOK:
					non200.Add(1)
					note(fmt.Errorf("status %d: %.300s", status, body))
				case check != nil:
					if err := check(h, body); err != nil {
						fail.Add(1)
						note(err)
					} else {
						ok.Add(1)
					}
				default:
					ok.Add(1)
				}
				res.lat[i], answered[i] = d, true
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.sent = int(min(next.Load(), int64(len(bodies))))
	res.ok, res.non200, res.failed = int(ok.Load()), int(non200.Load()), int(fail.Load())
	lat := res.lat[:0]
	for i, d := range res.lat {
		if answered[i] {
			lat = append(lat, d)
		}
	}
	res.lat = lat
	if ctx.Err() != nil && res.firstErr == "" {
		res.firstErr = ctx.Err().Error()
	}
	return res
}

// post sends one structured CloudEvent and reads the whole answer.
func post(ctx context.Context, client *http.Client, url string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/cloudevents+json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, b, nil
}

// checkCreated accepts restorepoint's answer to a new tagged server: a
// checkpoint.created result event in binary mode that skipped nothing and is
// not a duplicate.
func checkCreated(h http.Header, body []byte) error {
	if t := h.Get("Ce-Type"); t != "io.restorepoint.checkpoint.created" {
		return fmt.Errorf("result event type %q, want io.restorepoint.checkpoint.created: %.300s", t, body)
	}
	if !bytes.Contains(body, []byte(`"skipped_resources":[]`)) || !bytes.Contains(body, []byte(`"duplicate":false`)) {
		return errors.New("result event skipped resources or is a duplicate: " + string(body))
	}
	return nil
}
