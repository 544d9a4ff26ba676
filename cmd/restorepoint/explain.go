package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/internal/app"
)

// explanation is what `restorepoint explain` prints.
type explanation struct {
	Outcome  string                        `json:"outcome"`
	Reason   string                        `json:"reason,omitempty"`
	VaultID  string                        `json:"vault_id,omitempty"`
	Requests []cbr.CreateCheckpointRequest `json:"requests"`
}

// runExplain reads one event and prints what it would do, calling no API.
func runExplain(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: restorepoint explain [FILE|-]

Reads one event (a structured CloudEvent, an EventBridge event or a CTS trigger
payload) from FILE or standard input and prints the plan as JSON:
{"outcome":"planned|ignored|invalid","reason":...,"vault_id":...,"requests":[...]}.
Exit status 0 for planned or ignored, 2 for invalid. Reads the same
environment as the function; credentials are not needed.`)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 1 {
		return usageError{errors.New("explain takes one FILE or -")}
	}
	in := stdin
	if name := fs.Arg(0); name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return usageError{err}
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
	fn := function.New(cfg.FunctionConfig(), nil)
	out, planErr := explain(fn, payload)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	if planErr != nil {
		return usageError{planErr}
	}
	return nil
}

// explain decodes and plans payload.
func explain(fn *function.Function, payload []byte) (explanation, error) {
	t, err := events.Decode(payload)
	if err != nil {
		return explanation{Outcome: "invalid", Reason: err.Error(), Requests: []cbr.CreateCheckpointRequest{}}, err
	}
	plan, err := fn.Plan(t)
	if err != nil {
		return explanation{Outcome: "invalid", Reason: err.Error(), VaultID: plan.VaultID, Requests: []cbr.CreateCheckpointRequest{}}, err
	}
	out := explanation{Outcome: "planned", VaultID: plan.VaultID, Requests: []cbr.CreateCheckpointRequest{}}
	if plan.IgnoreReason != "" {
		out.Outcome, out.Reason = "ignored", plan.IgnoreReason
	}
	for _, r := range plan.Requests {
		out.Requests = append(out.Requests, cbr.CreateCheckpointRequest{Checkpoint: r})
	}
	return out, nil
}
