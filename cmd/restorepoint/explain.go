package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/handler"
	"github.com/restorepoint/restorepoint/internal/app"
)

// explanation is what `restorepoint explain` prints.
type explanation struct {
	// Rule is the rule that matched; Decoder the built-in decoder that
	// decoded the event when no rule did.
	Rule     string                        `json:"rule,omitempty"`
	Decoder  string                        `json:"decoder,omitempty"`
	Trigger  *events.Ref                   `json:"trigger,omitempty"`
	Outcome  string                        `json:"outcome"`
	Reason   string                        `json:"reason,omitempty"`
	VaultID  string                        `json:"vault_id,omitempty"`
	Requests []cbr.CreateCheckpointRequest `json:"requests"`
}

// runExplain reads one event, or one HTTP request with --request, and
// prints what it would do, calling no API.
func runExplain(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asRequest := fs.Bool("request", false, "FILE is an HTTP/1.1 request as on the wire (request line, headers, blank line, body)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: restorepoint explain [--request] [FILE|-]

Reads one event (a structured CloudEvent, an EventBridge event or a CTS trigger
payload) from FILE or standard input, or with --request one HTTP/1.1 request as
it goes over the wire (a GitHub, GitLab or Flux webhook, a binary-mode
CloudEvent...), and prints which rule (RULES_FILE, in a binary built with
RULES=1) or built-in decoder took it and the plan as JSON:
{"rule"|"decoder":...,"trigger":{...},"outcome":"planned|ignored|invalid",
"reason":...,"vault_id":...,"requests":[...]}. Signatures are not checked.
Exit status 0 for planned or ignored, 2 for invalid. Reads the same
environment as the function; credentials are not needed.`)
	}
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if fs.NArg() > 1 {
		return app.UsageError{Err: errors.New("explain takes one FILE or -")}
	}
	in := stdin
	if name := fs.Arg(0); name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return app.UsageError{Err: err}
		}
		defer f.Close()
		in = f
	}
	payload, err := io.ReadAll(io.LimitReader(in, 16<<20))
	if err != nil {
		return err
	}
	cfg, err := app.LoadPlanning(getenv)
	if err != nil {
		return err
	}
	ruleSet, err := app.LoadRules(cfg.RulesFile, app.NewLogger(cfg, stderr))
	if err != nil {
		return err
	}
	core := &handler.Core{Rules: ruleSet}
	var d handler.Decoded
	if *asRequest {
		req, body, err := handler.ReadRequest(bytes.NewReader(payload))
		if err != nil {
			return app.UsageError{Err: err}
		}
		d = core.DecodeRequest(ctx, req.Header, body)
	} else {
		d = core.DecodePayload(ctx, payload)
	}
	fn := function.New(cfg.FunctionConfig(), nil)
	out, planErr := explain(fn, d)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	if planErr != nil {
		return app.UsageError{Err: planErr}
	}
	return nil
}

// explain plans what d decoded to.
func explain(fn *function.Function, d handler.Decoded) (explanation, error) {
	out := explanation{Rule: d.Rule, Decoder: d.Decoder, Outcome: "invalid", Requests: []cbr.CreateCheckpointRequest{}}
	if d.Status == 0 && d.Trigger.Ref != (events.Ref{}) {
		ref := d.Trigger.Ref
		out.Trigger = &ref
	}
	if d.Err != nil {
		out.Reason = d.Err.Error()
		return out, d.Err
	}
	if d.Trigger.Kind == events.KindFollow {
		out.Outcome, out.Reason = "follow", "a follow pass: every restore point not yet at its end is read again and those that ended are reported"
		return out, nil
	}
	plan, err := fn.Plan(d.Trigger)
	out.VaultID = plan.VaultID
	if err != nil {
		out.Reason = err.Error()
		return out, err
	}
	out.Outcome = "planned"
	if plan.IgnoreReason != "" {
		out.Outcome, out.Reason = "ignored", plan.IgnoreReason
	}
	for _, r := range plan.Requests {
		out.Requests = append(out.Requests, cbr.CreateCheckpointRequest{Checkpoint: r})
	}
	return out, nil
}
