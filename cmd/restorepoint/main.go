// Command restorepoint turns events into Open Telekom Cloud CBR restore
// points. It is the deployed binary (the Lambda and FunctionGraph bootstrap,
// the Knative image); one binary serves every front door: a CloudEvents HTTP
// receiver (Knative, webhooks, FunctionGraph HTTP functions) and AWS Lambda.
//
//	restorepoint [serve]        serve HTTP (Lambda when AWS_LAMBDA_RUNTIME_API is set)
//	restorepoint lambda         serve AWS Lambda invocations
//	restorepoint explain FILE   show what an event would do, without calling the API
//	restorepoint version
//	restorepoint help [env]
//
// It links no test helper: the CBR emulator and the demo are in
// cmd/restorepoint-dev (a test holds this). Configuration and wiring are in
// internal/app.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/restorepoint/restorepoint/internal/app"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitUsage is the exit status for bad configuration or arguments.
const exitUsage = 2

// usageError is an error in the command line or configuration: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "restorepoint:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode is the exit status for an error of run: 2 for the command line
// or the configuration, 1 for anything else.
func exitCode(err error) int {
	var ue usageError
	var ce *app.ConfigError
	if errors.As(err, &ue) || errors.As(err, &ce) {
		return exitUsage
	}
	return 1
}

// run is the whole program: main only adds the process around it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := ""
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "":
		if getenv(envLambdaRuntimeAPI) != "" {
			return runLambda(ctx, getenv, stdout, stderr)
		}
		return runServe(ctx, nil, getenv, stdout, stderr)
	case "serve":
		return runServe(ctx, args, getenv, stdout, stderr)
	case "lambda":
		return runLambda(ctx, getenv, stdout, stderr)
	case "explain":
		return runExplain(args, getenv, stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "restorepoint", version)
		return nil
	case "help", "-h", "--help":
		return runHelp(args, stdout)
	}
	return usageError{fmt.Errorf("unknown command %q; run 'restorepoint help'", cmd)}
}

const usage = `restorepoint turns events into Open Telekom Cloud CBR restore points.

Usage:
  restorepoint [serve]          serve CloudEvents over HTTP on $PORT
                                (AWS Lambda when AWS_LAMBDA_RUNTIME_API is set)
  restorepoint lambda           serve AWS Lambda invocations through the Runtime API
  restorepoint explain [FILE|-] print what an event would do, without calling the API
  restorepoint version          print the version
  restorepoint help env         list every environment variable
  restorepoint COMMAND -h       help on a command

The CBR emulator and the demo are dev tools: go run ./cmd/restorepoint-dev help
`

func runHelp(args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "env" {
		return app.PrintEnv(stdout)
	}
	_, err := io.WriteString(stdout, usage)
	return err
}
