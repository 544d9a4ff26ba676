package handler

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/client"
	cecontext "github.com/cloudevents/sdk-go/v2/context"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// HTTPSink sends result events to a URL with the CloudEvents sdk-go client,
// in binary mode, retrying with exponential backoff.
type HTTPSink struct {
	target  string // as shown in errors: without a password
	client  cloudevents.Client
	retries int
	backoff time.Duration
}

// NewHTTPSink returns a sink posting to target with httpClient (a client
// with a 10 s timeout when nil).
func NewHTTPSink(target string, httpClient *http.Client) (*HTTPSink, error) {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	shown := RedactURL(target)
	p, err := cehttp.New(cehttp.WithTarget(target), cehttp.WithClient(*httpClient))
	if err != nil {
		return nil, fmt.Errorf("result sink %s: %w", shown, err)
	}
	c, err := cloudevents.New(p)
	if err != nil {
		return nil, fmt.Errorf("result sink %s: %w", shown, err)
	}
	return &HTTPSink{target: shown, client: c, retries: 3, backoff: 50 * time.Millisecond}, nil
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

// Send posts e and reports whether the sink acknowledged it.
func (s *HTTPSink) Send(ctx context.Context, e event.Event) error {
	ctx = cecontext.WithRetriesExponentialBackoff(ctx, s.backoff, s.retries)
	if res := s.client.Send(ctx, e); !protocol.IsACK(res) {
		return fmt.Errorf("send to %s: %w", s.target, res)
	}
	return nil
}
