package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"

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
	availableAfter := fs.Duration("available-after", cbrtest.DefaultAvailableAfter, "how long new checkpoints and their backups stay protecting")
	var failing, full []string
	fs.Func("fail-resource", "resource `ID` whose backups end in error instead of available (repeatable)", appendTo(&failing))
	fs.Func("fill-vault", "vault `ID` whose capacity is used up, so that it refuses checkpoints and new resources (repeatable)", appendTo(&full))
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: restorepoint-dev emulator [flags]\n\nServes an in-process CBR v3 + IAM emulator with real API semantics until interrupted:\n"+endpoints+"\nFlags:")
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
	emu := cbrtest.New(opts)
	for _, id := range failing {
		if err := emu.FailResource(id); err != nil {
			return app.UsageError{Err: fmt.Errorf("-fail-resource: %w", err)}
		}
	}
	for _, id := range full {
		if err := emu.FillVault(id); err != nil {
			return app.UsageError{Err: fmt.Errorf("-fill-vault: %w", err)}
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "CBR + IAM emulator listening on %s\n", url)
	fmt.Fprintf(stdout, "  CBR_ENDPOINT=%s\n  IAM_ENDPOINT=%s/v3\n  CBR_PROJECT_ID=%s\n  CBR_TOKEN=%s\n", url, url, emu.ProjectID(), *token)
	fmt.Fprintf(stdout, "  CBR_ACCESS_KEY=%s\n  CBR_SECRET_KEY=%s\n", cbrtest.DemoAccessKey, cbrtest.DemoSecretKey)
	fmt.Fprintf(stdout, "  temporary keys: %s / %s / security token %s\n",
		cbrtest.DemoTemporaryAccessKey, cbrtest.DemoTemporarySecretKey, cbrtest.DemoSecurityToken)
	fmt.Fprintf(stdout, "  IAM user %s / password %s / domain %s\n", cbrtest.DemoUser, cbrtest.DemoPassword, cbrtest.DemoDomain)
	fmt.Fprint(stdout, "Endpoints:\n"+endpoints)
	f := cbrtest.DefaultFixture()
	if opts.Fixture != nil {
		f = *opts.Fixture
	}
	printFixture(stdout, f, failing, full)
	return app.Serve(ctx, ln, emu)
}

// endpoints lists what the emulator answers, for the usage and the banner.
const endpoints = `  POST /v3/{project_id}/checkpoints                        create a restore point
  GET  /v3/{project_id}/checkpoints/{checkpoint_id}        follow it: protecting, then available or error
  GET  /v3/{project_id}/backups                            list backups (filters, sort, limit/offset/marker)
  GET  /v3/{project_id}/backups/{backup_id}, DELETE        read or delete one backup
  GET  /v3/{project_id}/vaults/{vault_id}                  a vault's resources and capacity
  POST /v3/{project_id}/vaults/{vault_id}/addresources     associate resources with a vault
  POST /v3/auth/tokens                                     IAM password tokens
`

// appendTo returns a flag function that appends each value to list.
func appendTo(list *[]string) func(string) error {
	return func(v string) error {
		if v == "" {
			return errors.New("empty ID")
		}
		*list = append(*list, v)
		return nil
	}
}

// printFixture prints the vaults and resources of f, marking the resources
// made to fail and the vaults filled by flags.
func printFixture(w io.Writer, f cbrtest.Fixture, failing, full []string) {
	resource := func(r cbrtest.FixtureResource) {
		note := ""
		if r.Fail || slices.Contains(failing, r.ID) {
			note = "  [backups fail]"
		}
		fmt.Fprintf(w, "    %-20s %s  %s (%d GB)%s\n", r.Type, r.ID, r.Name, r.SizeGB, note)
	}
	fmt.Fprintln(w, "Vaults:")
	for _, v := range f.Vaults {
		kind := cmp.Or(v.Type, "any type")
		size := cmp.Or(v.SizeGB, cbrtest.DefaultVaultSizeGB)
		used := v.UsedGB
		if slices.Contains(full, v.ID) {
			used = size
		}
		note := ""
		if used >= size {
			note = "  [full]"
		}
		fmt.Fprintf(w, "  %s  %s (%s, %d of %d GB used)%s\n", v.ID, v.Name, kind, used, size, note)
		for _, r := range v.Resources {
			resource(r)
		}
	}
	if len(f.Unassociated) > 0 {
		fmt.Fprintln(w, "In no vault (addresources associates them):")
		for _, r := range f.Unassociated {
			resource(r)
		}
	}
}
