package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/restorepoint/restorepoint/internal/app"
)

// runGate is the polling client of a gate, for CI jobs and deploy hooks
// (`restorepoint gate --url URL --event FILE [--timeout D]`): it sends the
// trigger event in FILE to restorepoint at URL as a gate (?gate=1), and asks
// again, with the same event, while the restore point is pending (the
// answer's Retry-After, else every 10 s), until it is available (exit 0),
// failed or refused (exit 1, the answer printed), or the timeout passes
// (exit 1). The webhook secret is WEBHOOK_SECRET, sent as a bearer token.
func runGate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "", "restorepoint's URL (the receiver's, Function URL, HTTP trigger)")
	file := fs.String("event", "", "file holding the trigger: a structured CloudEvent, or any JSON payload restorepoint decodes")
	timeout := fs.Duration("timeout", 30*time.Minute, "how long to wait for the restore point")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: restorepoint gate --url URL --event FILE [--timeout D]

Holds a deploy until its restore point is available: sends the trigger in FILE
to restorepoint as a gate and asks again while it is pending. Exit status 0
once it is available (the checkpoint.available result is printed), 1 when it
failed, was refused or the timeout passed, 2 for bad arguments. The webhook
secret is read from WEBHOOK_SECRET.

Flags:`)
		fs.PrintDefaults()
	}
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return app.UsageError{Err: errors.New("gate: --url must be an http(s) URL")}
	}
	q := u.Query()
	q.Set("gate", "1")
	u.RawQuery = q.Encode()
	if *file == "" || fs.NArg() > 0 || *timeout <= 0 {
		return app.UsageError{Err: errors.New("gate: usage: restorepoint gate --url URL --event FILE [--timeout D]")}
	}
	body, err := os.ReadFile(*file)
	if err != nil {
		return app.UsageError{Err: fmt.Errorf("gate: --event: %w", err)}
	}
	contentType := "application/json"
	var probe struct {
		SpecVersion string `json:"specversion"`
	}
	if json.Unmarshal(body, &probe) == nil && probe.SpecVersion != "" {
		contentType = "application/cloudevents+json"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Minute}
	for {
		status, wait, answer, err := gateAsk(ctx, client, u.String(), contentType, getenv("WEBHOOK_SECRET"), body)
		switch {
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("gate: the restore point is not available after %v", *timeout)
		case err != nil:
			fmt.Fprintf(stderr, "gate: %v; asking again in %v\n", err, wait)
		case status/100 == 2:
			_, err := stdout.Write(answer)
			return err
		case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests || status == http.StatusConflict || status >= 500:
			fmt.Fprintf(stderr, "gate: %d, pending; asking again in %v\n", status, wait)
		default:
			stdout.Write(answer)
			return fmt.Errorf("gate: %d %s: the restore point failed or the trigger was refused", status, http.StatusText(status))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("gate: the restore point is not available after %v", *timeout)
		case <-t.C:
		}
	}
}

// gateAsk sends the gate's trigger once: the status, how long to wait before
// asking again, and the answer's body (a result event in binary mode:
// printed as its data).
func gateAsk(ctx context.Context, client *http.Client, target, contentType, secret string, body []byte) (int, time.Duration, []byte, error) {
	wait := 10 * time.Second
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, wait, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, wait, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, wait, nil, err
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		wait = time.Duration(s) * time.Second
	}
	if t := resp.Header.Get("Ce-Type"); t != "" {
		answer = append([]byte(`{"type":"`+t+`","id":"`+resp.Header.Get("Ce-Id")+`","data":`), append(bytes.TrimSpace(answer), "}\n"...)...)
	}
	return resp.StatusCode, wait, answer, nil
}
