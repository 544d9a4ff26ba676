package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/internal/app"
	"github.com/restorepoint/restorepoint/retention"
)

// vaultFlags collects repeated --vault flags.
type vaultFlags []string

func (v *vaultFlags) String() string { return strings.Join(*v, ",") }
func (v *vaultFlags) Set(s string) error {
	*v = append(*v, strings.TrimSpace(s))
	return nil
}

// runPrune runs one retention pass (`restorepoint prune [--dry-run]
// [--vault ID]...`), configured from the environment like serve: it prints
// a line per backup deleted (or, with --dry-run, that would be), refused or
// spared, then a summary. Each deletion's result event goes to the result
// sink. Exit status 0 when the pass ran through (also when the cap stopped
// it), 1 when it failed, 2 for bad configuration or arguments.
func runPrune(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dryRun := fs.Bool("dry-run", false, "list what would be deleted and why; delete nothing")
	var vaults vaultFlags
	fs.Var(&vaults, "vault", "a vault to prune instead of the configured ones (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: restorepoint prune [--dry-run] [--vault ID]...

Deletes the restore points restorepoint made (those whose description ends in
its key marker [rp:...]) that RETENTION no longer keeps, per resource:
keep_last=N keeps the N newest available backups, max_age=AGE removes
available ones older than AGE (30d, 720h). The newest available backup of a
resource, backups not available (protecting, error) and backups CBR refuses
to delete (locked) stay. At most RETENTION_MAX_DELETES deletions a pass; each
is sent to the result sink as an io.restorepoint.backup.deleted event.
Vaults: CBR_DEFAULT_VAULT_ID, CBR_VAULT_ROUTES and CBR_ALLOWED_VAULTS, or those
--vault names. Configured by the environment (restorepoint help env).
Exit status 0 when the pass ran (also when the cap stopped it), 1 when it
failed (a list or delete failed, the sink refused an event), 2 for bad
configuration or arguments.

Flags:`)
		fs.PrintDefaults()
	}
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if fs.NArg() > 0 {
		return app.UsageError{Err: fmt.Errorf("prune takes no arguments, not %q; name vaults with --vault", fs.Args())}
	}
	a, err := newApp(getenv, stderr)
	if err != nil {
		return err
	}
	defer shutdownApp(a)
	p, err := a.Pruner(app.PruneOptions{Vaults: vaults, DryRun: *dryRun})
	if err != nil {
		return err
	}
	rep, passErr := p.Pass(ctx, a.DeliverResult)
	printReport(stdout, rep)
	return passErr
}

// printReport writes a line per backup the pass deleted (or would delete),
// refused or spared, then the summary.
func printReport(w io.Writer, rep retention.Report) {
	verb := "deleted"
	if rep.DryRun {
		verb = "would delete"
	}
	for _, d := range rep.Deleted {
		line := backupLine(verb, d)
		if d.AlreadyGone {
			line += " (already gone)"
		}
		fmt.Fprintln(w, line)
	}
	for _, r := range rep.Refused {
		fmt.Fprintf(w, "%s: CBR refused: %s %s\n", backupLine("refused", r.Backup), r.Code, r.Message)
	}
	for _, s := range rep.Spared {
		fmt.Fprintf(w, "spared %s vault=%s resource=%s created_at=%s status=%s: %s\n",
			s.BackupID, s.VaultID, resourceName(s.Resource), s.CreatedAt, s.Status, s.Reason)
	}
	fmt.Fprint(w, rep.Summary())
}

// backupLine describes backup d after verb.
func backupLine(verb string, d events.BackupDeleted) string {
	return fmt.Sprintf("%s %s vault=%s resource=%s checkpoint=%s created_at=%s age=%s rule=%s",
		verb, d.BackupID, d.VaultID, resourceName(d.Resource), d.CheckpointID, d.CreatedAt, ageText(d.AgeSeconds), d.Rule)
}

// resourceName is the resource's name and id, or its id.
func resourceName(r events.ResourceRef) string {
	if r.Name == "" {
		return r.ID
	}
	return r.Name + "(" + r.ID + ")"
}

// ageText writes an age in seconds in days, hours and minutes: 12d3h,
// 5h20m, 45s.
func ageText(seconds int64) string {
	d := time.Duration(seconds) * time.Second
	days := d / (24 * time.Hour)
	rest := (d % (24 * time.Hour)).Truncate(time.Minute)
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh", days, rest/time.Hour)
	case rest >= time.Hour:
		return fmt.Sprintf("%dh%dm", rest/time.Hour, rest%time.Hour/time.Minute)
	case rest > 0:
		return fmt.Sprintf("%dm", rest/time.Minute)
	}
	return d.String()
}
