// Command restorepoint turns events into Open Telekom Cloud CBR restore
// points. One binary serves every front door: a CloudEvents HTTP receiver
// (Knative, webhooks, FunctionGraph HTTP functions) and AWS Lambda.
//
//	restorepoint [serve]        serve HTTP (Lambda when AWS_LAMBDA_RUNTIME_API is set)
//	restorepoint lambda         serve AWS Lambda invocations
//	restorepoint emulator       run the embedded CBR + IAM emulator
//	restorepoint explain FILE   show what an event would do, without calling the API
//	restorepoint demo           the whole job against the emulator, offline
//	restorepoint version
//	restorepoint help [env]
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
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
		var ue usageError
		var ce *ConfigError
		if errors.As(err, &ue) || errors.As(err, &ce) {
			os.Exit(exitUsage)
		}
		os.Exit(1)
	}
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
			return runLambda(ctx, stderr)
		}
		return runServe(ctx, nil, stdout, stderr)
	case "serve":
		return runServe(ctx, args, stdout, stderr)
	case "lambda":
		return runLambda(ctx, stderr)
	case "emulator":
		return runEmulator(ctx, args, stdout, stderr)
	case "explain":
		return runExplain(args, stdin, stdout, stderr)
	case "demo":
		return runDemo(ctx, args, stdout, stderr)
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
  restorepoint emulator [flags] run the embedded CBR + IAM emulator
  restorepoint explain [FILE|-] print what an event would do, without calling the API
  restorepoint demo             the whole job against the embedded emulator, offline
  restorepoint version          print the version
  restorepoint help env         list every environment variable
  restorepoint COMMAND -h       help on a command
`

func runHelp(args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "env" {
		return printEnv(stdout)
	}
	_, err := io.WriteString(stdout, usage)
	return err
}
