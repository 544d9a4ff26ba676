package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sync"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/internal/app"
)

// runFollow runs one follow pass (`restorepoint follow`), configured from
// the environment like serve: every restore point not yet at its end is read
// again (those CBR lists as still being made, by their key markers, and
// those the shared store records), each that ended is reported to the
// result sink (and printed) and its GitHub deployment reviewed; with
// RETENTION set, a retention pass follows. Exit status 0 when the pass ran
// (what it could not do is printed and tried again next pass), 1 when it
// could not run, 2 for bad configuration or arguments.
func runFollow(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("follow", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: restorepoint follow

Runs one follow pass, as a schedule's io.restorepoint.follow event does: reads
every restore point restorepoint made that is still being made, reports each
that ended to the result sink (io.restorepoint.checkpoint.available or
.failed) and prints it, reviews the GitHub deployments waiting for them, and,
with RETENTION set, prunes. For a cron job or a shell. Configured by the
environment (restorepoint help env).`)
	}
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if fs.NArg() > 0 {
		return app.UsageError{Err: fmt.Errorf("follow takes no arguments, not %q", fs.Args())}
	}
	a, err := newApp(getenv, stderr)
	if err != nil {
		return err
	}
	defer shutdownApp(a)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	var printing sync.Mutex // a pass delivers from several goroutines at once
	deliver := func(ctx context.Context, r events.Result) error {
		if err := a.DeliverResult(ctx, r); err != nil {
			return err
		}
		printing.Lock()
		defer printing.Unlock()
		return enc.Encode(map[string]any{"type": r.Type, "id": r.ID, "data": r.Data()})
	}
	report, err := a.FollowPass(ctx, deliver, true)
	if err != nil {
		return err
	}
	return enc.Encode(map[string]any{"type": events.TypeFollowDone, "data": report})
}
