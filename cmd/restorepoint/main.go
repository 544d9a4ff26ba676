// Command restorepoint turns events into Open Telekom Cloud CBR restore
// points. It is the deployed binary (the Lambda and FunctionGraph bootstrap,
// the Knative image); one binary serves every front door: a CloudEvents HTTP
// receiver (Knative, webhooks, FunctionGraph HTTP functions), FunctionGraph
// event functions (custom runtime) and AWS Lambda.
//
//	restorepoint [serve]        serve HTTP (Lambda when AWS_LAMBDA_RUNTIME_API is set,
//	                            FunctionGraph's runtime API when FUNCTIONGRAPH_MODE=event)
//	restorepoint lambda         serve AWS Lambda invocations
//	restorepoint explain [--request] FILE
//	                            show what an event (or HTTP request) would do, without calling the API
//	restorepoint rules check FILE
//	                            validate a rules file (a binary built with RULES=1)
//	restorepoint follow         one follow pass: report the restore points that ended
//	restorepoint gate --url URL --event FILE [--timeout D]
//	                            hold a deploy until its restore point is available
//	restorepoint prune [--dry-run] [--vault ID]...
//	                            delete the restore points RETENTION no longer keeps
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
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/restorepoint/restorepoint/internal/app"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "restorepoint:", err)
		os.Exit(app.ExitCode(err))
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
			return runLambda(ctx, getenv, stdout, stderr)
		}
		return runServe(ctx, nil, getenv, stdout, stderr)
	case "serve":
		return runServe(ctx, args, getenv, stdout, stderr)
	case "lambda":
		return runLambda(ctx, getenv, stdout, stderr)
	case "explain":
		return runExplain(ctx, args, getenv, stdin, stdout, stderr)
	case "rules":
		return runRules(args, stdout, stderr)
	case "follow":
		return runFollow(ctx, args, getenv, stdout, stderr)
	case "gate":
		return runGate(ctx, args, getenv, stdout, stderr)
	case "prune":
		return runPrune(ctx, args, getenv, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "restorepoint", version)
		return nil
	case "help", "-h", "--help":
		return runHelp(args, stdout)
	}
	return app.UsageError{Err: fmt.Errorf("unknown command %q; run 'restorepoint help'", cmd)}
}

const usage = `restorepoint turns events into Open Telekom Cloud CBR restore points.

Usage:
  restorepoint [serve]          serve CloudEvents over HTTP on $PORT
                                (AWS Lambda when AWS_LAMBDA_RUNTIME_API is set; FunctionGraph's
                                runtime API at $RUNTIME_API_ADDR when FUNCTIONGRAPH_MODE=event)
  restorepoint lambda           serve AWS Lambda invocations through the Runtime API
  restorepoint explain [--request] [FILE|-]
                                print what an event (or an HTTP request with
                                --request) would do, without calling the API
  restorepoint rules check FILE validate a rules file (RULES_FILE; needs a
                                binary built with RULES=1)
  restorepoint follow           one follow pass: report the restore points that
                                ended, review the deployments waiting for them
  restorepoint gate --url URL --event FILE [--timeout D]
                                send a trigger as a gate and wait until its
                                restore point is available (CI jobs, deploy hooks)
  restorepoint prune [--dry-run] [--vault ID]...
                                delete the restore points restorepoint made that
                                RETENTION no longer keeps (--dry-run: list them)
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

// runRules runs `restorepoint rules check FILE`: exit status 0 and a
// summary when the file compiles, 2 with every problem when it does not (or
// when the binary was built without rules).
func runRules(args []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") || len(args) == 0 {
		fmt.Fprintln(stderr, `Usage: restorepoint rules check FILE

Compiles and type-checks a rules file (the RULES_FILE format, see README) and
reports every problem at once, naming line, rule and field. Needs a binary
built with the rules engine (make build RULES=1).`)
		if len(args) == 0 {
			return app.UsageError{Err: errors.New("rules: missing subcommand check")}
		}
		return nil
	}
	if args[0] != "check" || len(args) != 2 {
		return app.UsageError{Err: errors.New("usage: restorepoint rules check FILE")}
	}
	summary, err := app.CheckRules(args[1])
	if errors.Is(err, app.ErrRulesNotBuiltIn) {
		return app.UsageError{Err: err}
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, summary)
	return err
}

// parseFlags parses a command's flags. Help (-h, --help) prints the
// command's usage and ends it: ok false, no error. A bad flag is a usage
// error (exit 2).
func parseFlags(fs *flag.FlagSet, args []string) (ok bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, nil
		}
		return false, app.UsageError{Err: err}
	}
	return true, nil
}

// newApp reads the configuration from getenv and wires the app, logging to
// stderr.
func newApp(getenv func(string) string, stderr io.Writer, opts ...app.Option) (*app.App, error) {
	cfg, err := app.Load(getenv)
	if err != nil {
		return nil, err
	}
	return app.New(cfg, app.NewLogger(cfg, stderr), version, opts...)
}
