package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	ceclient "github.com/cloudevents/sdk-go/v2/client"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/handler/handlertest"
	"github.com/restorepoint/restorepoint/internal/app"
)

// demoWebhookSecret is the receiver's WEBHOOK_SECRET in the demo, sent as a
// bearer token with every event.
const demoWebhookSecret = "demo-webhook-secret"

// demoStep is one event the demo sends, and what it shows.
type demoStep struct {
	title string
	event event.Event
}

// runDemo runs the whole job offline: the embedded emulator, the HTTP
// receiver and a result sink on loopback ports, and a few events sent with
// the CloudEvents client. It prints every result event.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "also print the receiver's log lines")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: restorepoint-dev demo [-v]\n\nRuns the CBR emulator, the CloudEvents receiver and a result sink on loopback\nports, sends a few trigger events and prints each result event. Needs no network\nand no credentials; reads no environment.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return app.UsageError{Err: err}
	}

	// Backups take a second to be made, so that a gate is seen waiting.
	emu := cbrtest.New(cbrtest.Options{AvailableAfter: demoBackupTime})
	emuURL, stopEmu, err := listen(ctx, emu)
	if err != nil {
		return err
	}
	defer stopEmu()
	sink := &handlertest.Sink{}
	sinkURL, stopSink, err := listen(ctx, sink)
	if err != nil {
		return err
	}
	defer stopSink()

	// The receiver is wired as restorepoint wires it, from a configuration
	// set here instead of read from the environment.
	cfg := app.Default()
	cfg.Endpoint = emuURL
	cfg.ProjectID = cbrtest.DefaultProjectID
	cfg.Auth, cfg.Token = app.AuthToken, cbrtest.DefaultToken
	cfg.VaultRoutes = "daily:" + cbrtest.ExampleVaultID + ",weekly:" + cbrtest.WeeklyVaultID
	cfg.ResultSink = sinkURL
	cfg.ResultSource = "restorepoint-demo"
	// Closed by default: every request carries the webhook secret.
	cfg.WebhookSecret = demoWebhookSecret
	if err := cfg.Check(); err != nil {
		return err
	}
	logOut := io.Discard
	if *verbose {
		logOut = stderr
	}
	a, err := app.New(cfg, app.NewLogger(cfg, logOut), "dev")
	if err != nil {
		return err
	}
	recvURL, stopRecv, err := listen(ctx, a.HTTPHandler())
	if err != nil {
		return err
	}
	defer stopRecv()
	// Every restore point is followed to its end in the background, as
	// restorepoint serve does (FOLLOW=on).
	followCtx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	go a.RunFollower(followCtx)

	client, err := ceclient.NewHTTP(cehttp.WithTarget(recvURL), cehttp.WithHeader("Authorization", "Bearer "+demoWebhookSecret))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restorepoint demo: CBR emulator %s, receiver %s, result sink %s\n", emuURL, recvURL, sinkURL)
	steps := demoSteps()
	for i, step := range steps {
		fmt.Fprintf(stdout, "\n%d. %s\n   -> %s  id=%s\n", i+1, step.title, step.event.Type(), step.event.ID())
		if err := demoSend(ctx, stdout, client, step.event); err != nil {
			return err
		}
	}

	gate := demoGate()
	fmt.Fprintf(stdout, "\n%d. A deploy asks to be held until its restore point is usable (\"gate\": true)\n   -> %s  id=%s\n",
		len(steps)+1, gate.Type(), gate.ID())
	status, body, err := demoPost(ctx, recvURL, gate)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "   <- HTTP %d  the backups are being made: ask again later\n      %s\n", status, indent(body))
	fmt.Fprintf(stdout, "\n%d. The deployer asks again, as curl --retry, Flagger or restorepoint gate do, until it is usable\n", len(steps)+2)
	for asked := 1; status == http.StatusServiceUnavailable && asked < 60; asked++ {
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
		if status, body, err = demoPost(ctx, recvURL, gate); err != nil {
			return err
		}
	}
	if status != http.StatusOK {
		return fmt.Errorf("demo: the gate answered %d: %s", status, body)
	}
	if err := demoSend(ctx, stdout, client, gate); err != nil {
		return err
	}

	// Every restore point made ends in a completion event at the sink.
	for waited := 0; countTypes(sink, events.TypeCheckpointAvailable) < 3 && waited < 100; waited++ {
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "\nThe result sink received, in the background, when the backups were made:\n")
	for _, e := range sink.Events() {
		if e.Type() == events.TypeCheckpointAvailable {
			var c events.Completion
			_ = json.Unmarshal(e.Data(), &c)
			fmt.Fprintf(stdout, "   %s  trigger %s  checkpoints %v  %.1f s\n", e.Type(), c.Trigger.ID, c.CheckpointIDs, c.Seconds)
		}
	}
	fmt.Fprintf(stdout, "\nThe emulator created %d checkpoints; the result sink received %d result events, %d of them completions.\n",
		emu.CountCreates(), len(sink.Events()), countTypes(sink, events.TypeCheckpointAvailable))
	return nil
}

// demoGate is a deploy.pre trigger that asks to be held until its restore
// point is usable.
func demoGate() event.Event {
	e := event.New()
	e.SetID("demo-5")
	e.SetSource("demo/ci")
	e.SetType(events.TypeDeployPre)
	e.SetTime(time.Now().UTC())
	_ = e.SetData(event.ApplicationJSON, map[string]any{
		"service": "billing", "version": "7.0.1", "vault_id": cbrtest.ExampleVaultID, "gate": true,
		"resources": []string{cbrtest.ExampleServerID},
	})
	return e
}

// demoPost posts e as a structured CloudEvent with the webhook secret and
// returns the status and the body.
func demoPost(ctx context.Context, url string, e event.Event) (int, []byte, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", event.ApplicationCloudEventsJSON)
	req.Header.Set("Authorization", "Bearer "+demoWebhookSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("demo: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	return resp.StatusCode, answer, err
}

// indent indents JSON for the demo's output (as it is when it is not JSON).
func indent(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, bytes.TrimSpace(b), "      ", "  ") != nil {
		return string(b)
	}
	return out.String()
}

// countTypes counts the sink's events of type typ.
func countTypes(sink *handlertest.Sink, typ string) int {
	n := 0
	for _, e := range sink.Events() {
		if e.Type() == typ {
			n++
		}
	}
	return n
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// demoBackupTime is how long the demo's backups take to be made.
const demoBackupTime = time.Second

// demoSend sends e with the CloudEvents client and prints the result event.
func demoSend(ctx context.Context, stdout io.Writer, client ceclient.Client, e event.Event) error {
	reply, res := client.Request(ctx, e)
	status := 0
	var hr *cehttp.Result
	if errors.As(res, &hr) {
		status = hr.StatusCode
	} else if !protocol.IsACK(res) {
		return fmt.Errorf("demo: sending %s: %w", e.ID(), res)
	}
	if reply == nil {
		fmt.Fprintf(stdout, "   <- HTTP %d, no result event\n", status)
		return nil
	}
	fmt.Fprintf(stdout, "   <- HTTP %d  %s  subject=%s\n      %s\n", status, reply.Type(), reply.Subject(), indent(reply.Data()))
	return nil
}

// demoSteps are the events the demo sends.
func demoSteps() []demoStep {
	at := time.Now().UTC()
	mk := func(id, typ string, data any) event.Event {
		e := event.New()
		e.SetID(id)
		e.SetSource("demo/ops")
		e.SetType(typ)
		e.SetTime(at)
		_ = e.SetData(event.ApplicationJSON, data)
		return e
	}
	tagged := mk("demo-1", events.TypeServerTagged, map[string]any{
		"server_id": cbrtest.DemoServerID, "server_name": cbrtest.DemoServerName, "tags": map[string]string{"backup": "daily"},
	})
	deploy := mk("demo-2", events.TypeDeployPre, map[string]any{
		"service": "shop", "version": "1.4.2", "environment": "production", "vault_id": cbrtest.ExampleVaultID,
		"resources": []any{
			map[string]string{"id": cbrtest.DemoDataVolumeID, "type": "OS::Cinder::Volume", "name": cbrtest.DemoDataVolumeName},
			"0f1e2d3c-4b5a-4697-8877-665544332211",
		},
	})
	off := mk("demo-3", events.TypeServerTagged, map[string]any{
		"server_id": cbrtest.WeeklyServerID, "server_name": cbrtest.WeeklyServerName, "tags": map[string]string{"backup": "off"},
	})
	invalid := mk("demo-4", events.TypeDeployPre, map[string]any{"version": "2.0.0", "resources": []string{}})
	return []demoStep{
		{"A server is tagged backup=daily: routed to vault-be94 by CBR_VAULT_ROUTES", tagged},
		{"A deployment is about to start: back up its volume first (one resource is not in the vault, so the API skips it)", deploy},
		{"The first event is delivered again: answered from the idempotency record, no second checkpoint", tagged},
		{"A server is tagged backup=off: ignored, with the reason", off},
		{"An invalid event (no service): refused with 400, naming the field", invalid},
	}
}

// listen serves h on a free loopback port until stop is called or ctx ends.
func listen(ctx context.Context, h http.Handler) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = app.Serve(ctx, ln, h)
	}()
	return "http://" + ln.Addr().String(), func() { cancel(); <-done }, nil
}
