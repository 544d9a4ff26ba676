package handler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/restorepoint/restorepoint/otc"
)

// HTTPSink sends result events to a URL as CloudEvents in binary mode,
// retrying with exponential backoff. Its errors name neither the URL nor
// the socket addresses: they go into replies and failed results.
type HTTPSink struct {
	target  string // as given
	client  *http.Client
	retries int
	backoff time.Duration
}

// NewHTTPSink returns a sink posting to target with httpClient (a client
// with a 10 s timeout when nil). target must be an absolute http(s) URL.
func NewHTTPSink(target string, httpClient *http.Client) (*HTTPSink, error) {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	if err := CheckSinkURL(target); err != nil {
		return nil, fmt.Errorf("result sink %s: %w", RedactURL(target), err)
	}
	return &HTTPSink{target: target, client: httpClient, retries: 3, backoff: 50 * time.Millisecond}, nil
}

// CheckSinkURL reports whether NewHTTPSink accepts target: an absolute
// http(s) URL with a host. The error does not repeat the URL.
func CheckSinkURL(target string) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http(s) URL")
	}
	return nil
}

// RedactURL returns s with the password of its user info, if any, replaced
// by "xxxxx", as net/url's URL.Redacted does, so that a sink URL can be
// logged and named in errors.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Send posts e and reports whether the sink acknowledged it with a 2xx
// status. A failed connection, and the statuses 404, 413, 425, 429, 502,
// 503 and 504, are retried up to three times, after 100, 200 and 400 ms
// (within ctx); any other status is final.
func (s *HTTPSink) Send(ctx context.Context, e event.Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	header := make(http.Header)
	body, err := writeEvent(ctx, &e, header)
	if err != nil {
		return err
	}
	for try := 1; ; try++ {
		retry, err := s.post(ctx, header, body)
		if err == nil {
			return nil
		}
		if !retry || try > s.retries {
			return err
		}
		t := time.NewTimer(s.backoff << try)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// post makes one attempt, and says whether a failed one may be retried.
func (s *HTTPSink) post(ctx context.Context, header http.Header, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.target, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return true, &otc.TransportError{Err: err}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so that the connection can be reused
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	switch resp.StatusCode {
	case http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusTooEarly, http.StatusTooManyRequests,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		retry = true
	}
	return retry, fmt.Errorf("%d %s: %s", resp.StatusCode, http.StatusText(resp.StatusCode), otc.OneLine(string(msg)))
}
