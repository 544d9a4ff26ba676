package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/restorepoint/restorepoint/cbr/cbrtest"
	"github.com/restorepoint/restorepoint/internal/app"
)

// runEmulator serves the embedded CBR + IAM emulator until ctx ends.
func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on")
	token := fs.String("token", cbrtest.DefaultToken, "static X-Auth-Token to accept")
	project := fs.String("project-id", cbrtest.DefaultProjectID, "project ID of the emulated account")
	fixture := fs.String("fixture", "", "JSON file with the vaults and resources (default: the built-in fixture)")
	availableAfter := fs.Duration("available-after", cbrtest.DefaultAvailableAfter, "how long new checkpoints stay protecting")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: restorepoint-dev emulator [flags]\n\nServes an in-process CBR v3 + IAM emulator with real API semantics (POST and GET\n/v3/{project_id}/checkpoints, POST /v3/auth/tokens) until interrupted.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return app.UsageError{Err: err}
	}
	if fs.NArg() > 0 {
		return app.UsageError{Err: fmt.Errorf("emulator takes no arguments, got %q", fs.Args())}
	}
	opts := cbrtest.Options{Token: *token, ProjectID: *project, AvailableAfter: *availableAfter}
	if *fixture != "" {
		f, err := cbrtest.LoadFixture(*fixture)
		if err != nil {
			return app.UsageError{Err: err}
		}
		opts.Fixture = &f
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	emu := cbrtest.New(opts)
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "CBR + IAM emulator listening on %s\n", url)
	fmt.Fprintf(stdout, "  CBR_ENDPOINT=%s\n  IAM_ENDPOINT=%s/v3\n  CBR_PROJECT_ID=%s\n  CBR_TOKEN=%s\n", url, url, emu.ProjectID(), *token)
	fmt.Fprintf(stdout, "  CBR_ACCESS_KEY=%s\n  CBR_SECRET_KEY=%s\n", cbrtest.DemoAccessKey, cbrtest.DemoSecretKey)
	fmt.Fprintf(stdout, "  temporary keys: %s / %s / security token %s\n",
		cbrtest.DemoTemporaryAccessKey, cbrtest.DemoTemporarySecretKey, cbrtest.DemoSecurityToken)
	fmt.Fprintf(stdout, "  IAM user %s / password %s / domain %s\n", cbrtest.DemoUser, cbrtest.DemoPassword, cbrtest.DemoDomain)
	fmt.Fprintln(stdout, "Vaults:")
	f := cbrtest.DefaultFixture()
	if opts.Fixture != nil {
		f = *opts.Fixture
	}
	for _, v := range f.Vaults {
		fmt.Fprintf(stdout, "  %s  %s\n", v.ID, v.Name)
		for _, r := range v.Resources {
			fmt.Fprintf(stdout, "    %-20s %s  %s (%d GB)\n", r.Type, r.ID, r.Name, r.SizeGB)
		}
	}
	return app.Serve(ctx, ln, emu)
}
