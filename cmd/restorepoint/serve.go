package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/restorepoint/restorepoint/internal/app"
)

// runServe serves CloudEvents over HTTP on $PORT until ctx ends, or, with
// FUNCTIONGRAPH_MODE=event, answers FunctionGraph's custom runtime API at
// $RUNTIME_API_ADDR (an event function) until ctx ends.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: restorepoint serve\n\nServes CloudEvents over HTTP on $PORT, or FunctionGraph's custom runtime API "+
			"at $RUNTIME_API_ADDR with FUNCTIONGRAPH_MODE=event; configured by the environment (restorepoint help env).")
	}
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	a, err := newApp(getenv, stderr)
	if err != nil {
		return err
	}
	cfg := a.Config()
	if cfg.FunctionGraphMode == app.ModeEvent {
		a.LogStart("functiongraph runtime", "runtime_api", cfg.RuntimeAPIAddr, "timeout_s", cfg.RuntimeTimeout)
		err = a.ServeFunctionGraph(ctx)
		shutdownApp(a)
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return err
	}
	a.LogStart("serving", "addr", ln.Addr().String(), "follow", cfg.Follow)
	if cfg.Follow == "on" {
		go a.RunFollower(ctx)
	}
	err = app.Serve(ctx, ln, a.HTTPHandler())
	shutdownApp(a)
	return err
}
