package handler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// RuntimeAPI is a client of FunctionGraph's custom runtime API at
// http://$RUNTIME_API_ADDR:
//
//	GET  /v1/runtime/invocation/request              the next event (body) and its headers
//	POST /v1/runtime/invocation/response/{request id} the answer
//	POST /v1/runtime/invocation/error/{request id}    the answer of a failed invocation
type RuntimeAPI struct {
	base   string
	client *http.Client
}

// NewRuntimeAPI returns a client of the runtime API at addr (host:port, as
// in RUNTIME_API_ADDR). client must not time out requests: the request for
// the next invocation waits until there is one. Nil means a client of its
// own.
func NewRuntimeAPI(addr string, client *http.Client) (*RuntimeAPI, error) {
	u, err := url.Parse("http://" + addr)
	if err != nil || u.Host == "" || u.Path != "" || u.User != nil || u.RawQuery != "" {
		return nil, fmt.Errorf("runtime API address %q is not host:port", addr)
	}
	if client == nil {
		client = &http.Client{}
	}
	return &RuntimeAPI{base: "http://" + u.Host + "/v1/runtime/invocation/", client: client}, nil
}

// Next waits for the next invocation. maxBody bounds how much of the event
// is read: a longer event comes back with maxBody+1 bytes, for the front
// door to refuse.
func (r *RuntimeAPI) Next(ctx context.Context, maxBody int64) (Invocation, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"request", nil)
	if err != nil {
		return Invocation{}, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return Invocation{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return Invocation{}, fmt.Errorf("reading the invocation: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Invocation{}, fmt.Errorf("GET %s: status %d: %s", req.URL.Path, resp.StatusCode, bytes.TrimSpace(truncate(body, 200)))
	}
	inv := Invocation{
		RequestID:  resp.Header.Get(HeaderFunctionGraphRequestID),
		InvokeType: resp.Header.Get(HeaderFunctionGraphInvokeType),
		Payload:    body,
		Agency:     agencyFromHeader(resp.Header),
	}
	if inv.RequestID == "" {
		return Invocation{}, fmt.Errorf("GET %s: no %s header", req.URL.Path, HeaderFunctionGraphRequestID)
	}
	return inv, nil
}

// Post sends the answer of the invocation requestID to the response or the
// error endpoint.
func (r *RuntimeAPI) Post(ctx context.Context, requestID string, a Answer) error {
	endpoint := "response/"
	if a.Error {
		endpoint = "error/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+endpoint+url.PathEscape(requestID), bytes.NewReader(a.Body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: status %d: %s", req.URL.Path, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// ErrRuntimeAPIUnreachable matches the error of Serve when the runtime API
// could not be reached for the first invocation.
var ErrRuntimeAPIUnreachable = errors.New("runtime API unreachable")

// answerTimeout bounds posting one answer.
const answerTimeout = 10 * time.Second

// Serve answers invocations from api until ctx ends: then, between
// invocations, it returns nil. An invocation in progress when ctx ends is
// finished and answered first (bounded by its own deadline). An error of the
// runtime API ends Serve with the error (FunctionGraph then starts a new
// instance); one before the first invocation matches
// ErrRuntimeAPIUnreachable. Credentials of an invocation are used for it
// only; the log names the request, never its headers.
func (f *FunctionGraph) Serve(ctx context.Context, api *RuntimeAPI) error {
	for n := 0; ; n++ {
		inv, err := api.Next(ctx, f.opts.MaxBodyBytes)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if n == 0 {
				return fmt.Errorf("%w: %w", ErrRuntimeAPIUnreachable, err)
			}
			return fmt.Errorf("runtime API: %w", err)
		}
		// The invocation outlives a SIGTERM that arrives while it runs.
		a := f.Invoke(context.WithoutCancel(ctx), inv)
		if f.opts.Flush != nil {
			if err := f.opts.Flush(context.WithoutCancel(ctx)); err != nil {
				f.core.logger().WarnContext(ctx, "telemetry not flushed", "error", err.Error())
			}
		}
		postCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), answerTimeout)
		err = api.Post(postCtx, inv.RequestID, a)
		cancel()
		answered, level := "response", slog.LevelInfo
		if a.Error {
			answered = "error"
		}
		attrs := []slog.Attr{slog.String("request_id", inv.RequestID), slog.String("invoke_type", inv.InvokeType),
			slog.String("answer", answered)}
		if err != nil {
			level, attrs = slog.LevelWarn, append(attrs, slog.String("error", err.Error()))
		}
		f.core.logger().LogAttrs(ctx, level, "invocation", attrs...)
		if err != nil {
			return fmt.Errorf("runtime API: answering %s: %w", inv.RequestID, err)
		}
	}
}
