// Command restorepoint-dev holds restorepoint's dev tools, kept out of the
// deployed binary (cmd/restorepoint) so that the Lambda and FunctionGraph
// bootstrap and the Knative image link no emulator, no fixed demo
// credentials and no test helper:
//
//	restorepoint-dev emulator [flags]  run the embedded CBR + IAM emulator
//	restorepoint-dev demo [-v]         the whole job against the emulator, offline
//	restorepoint-dev help
//
// Run it with `go run ./cmd/restorepoint-dev COMMAND`, or build it with
// `make build` (bin/restorepoint-dev).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/restorepoint/restorepoint/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "restorepoint-dev:", err)
		os.Exit(app.ExitCode(err))
	}
}

// run is the whole program: main only adds the process around it. The dev
// tools read no environment.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := ""
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "emulator":
		return runEmulator(ctx, args, stdout, stderr)
	case "demo":
		return runDemo(ctx, args, stdout, stderr)
	case "", "help", "-h", "--help":
		_, err := io.WriteString(stdout, usage)
		return err
	}
	return app.UsageError{Err: fmt.Errorf("unknown command %q; run 'restorepoint-dev help'", cmd)}
}

const usage = `restorepoint-dev: restorepoint's dev tools (not part of the deployed binary).

Usage:
  restorepoint-dev emulator [flags]  run the embedded CBR + IAM emulator
  restorepoint-dev demo [-v]         the whole job against the embedded emulator, offline
  restorepoint-dev COMMAND -h        help on a command

The function itself is restorepoint (cmd/restorepoint): restorepoint help.
`
