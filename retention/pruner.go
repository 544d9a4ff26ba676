package retention

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/restorepoint/restorepoint/cbr"
	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/failure"
	"github.com/restorepoint/restorepoint/function"
)

// DefaultMaxDeletes is the most backups a pass deletes unless configured
// otherwise (RETENTION_MAX_DELETES).
const DefaultMaxDeletes = 50

// maxPages bounds the pages of one vault's list (cbr.MaxBackupsLimit each
// by default): a list that never ends is an error, not a hang.
const maxPages = 10000

// BackupAPI is the part of the CBR client a Pruner calls: *cbr.Client.
// DeleteBackup must answer a backup that is already gone with an error
// wrapping cbr.ErrNotFound, and a refusal (a locked backup) with a
// *cbr.APIError.
type BackupAPI interface {
	ListBackups(ctx context.Context, q cbr.BackupQuery) (*cbr.BackupList, error)
	DeleteBackup(ctx context.Context, id string) error
}

// Config is what a Pruner does.
type Config struct {
	// Policy decides what goes (RETENTION). It must have a rule.
	Policy Policy
	// Vaults are the vaults pruned, in this order (those restorepoint is
	// configured with, or those `restorepoint prune --vault` names).
	Vaults []string
	// MaxDeletes is the most deletions of one pass (RETENTION_MAX_DELETES),
	// at least 1: a wrong policy cannot empty a vault in one go.
	MaxDeletes int
	// DryRun decides and reports without deleting or delivering anything.
	DryRun bool
}

// Pruner runs retention passes. It is safe for concurrent use, but passes
// over the same vaults should not overlap (two passes may both delete a
// backup; the second finds it gone, and its event has the same id).
type Pruner struct {
	cfg      Config
	api      BackupAPI
	now      func() time.Time // tests: WithClock
	pageSize int              // backups a list request asks for; tests: WithPageSize
}

// Option changes how a Pruner is built. Only tests have options (the clock,
// the page size).
type Option func(*Pruner)

// New returns a Pruner that lists and deletes through api. It refuses a
// policy without a rule, no vaults, an empty vault id, a MaxDeletes below
// 1, and options that set a page size out of range or no clock.
func New(cfg Config, api BackupAPI, opts ...Option) (*Pruner, error) {
	p := &Pruner{cfg: cfg, api: api, now: time.Now, pageSize: cbr.MaxBackupsLimit}
	for _, opt := range opts {
		opt(p)
	}
	switch {
	case api == nil:
		return nil, errors.New("retention: no CBR client")
	case cfg.Policy.IsZero():
		return nil, errors.New("retention: the policy has no rule: set keep_last and/or max_age")
	case cfg.Policy.KeepLast < 0 || cfg.Policy.MaxAge < 0:
		return nil, fmt.Errorf("retention: policy %+v: negative values", cfg.Policy)
	case len(cfg.Vaults) == 0:
		return nil, errors.New("retention: no vault to prune")
	case slices.ContainsFunc(cfg.Vaults, func(v string) bool { return strings.TrimSpace(v) == "" }):
		return nil, errors.New("retention: an empty vault id")
	case cfg.MaxDeletes < 1:
		return nil, fmt.Errorf("retention: at most %d deletions a pass: want at least 1", cfg.MaxDeletes)
	case p.pageSize < 1 || p.pageSize > cbr.MaxBackupsLimit:
		return nil, fmt.Errorf("retention: page size %d: want 1 to %d", p.pageSize, cbr.MaxBackupsLimit)
	case p.now == nil:
		return nil, errors.New("retention: no clock")
	}
	return p, nil
}

// Report is what a pass did, or on a dry run would do.
type Report struct {
	// DryRun says nothing was deleted: Deleted is what would have been.
	DryRun bool
	// Policy is the policy the pass applied.
	Policy Policy
	// Vaults are the vaults listed, in order, with what was found.
	Vaults []VaultReport
	// Deleted are the backups deleted (or found already gone), in the
	// order of deletion: per vault, oldest first.
	Deleted []events.BackupDeleted
	// Refused are the backups CBR would not delete (a locked one), with
	// its code and message; they were skipped.
	Refused []Refusal
	// Spared are the backups of restorepoint's that stay although a rule
	// reaches them, or that no rule may touch, with why.
	Spared []Spared
	// Capped says the pass stopped at MaxDeletes; Left backups the policy
	// chose are left for the next pass.
	Capped     bool
	MaxDeletes int
	Left       int
	// Stopped says why the pass ended early, when it did (the error of
	// Pass says the same).
	Stopped string
}

// VaultReport is what a pass found in one vault.
type VaultReport struct {
	VaultID string
	// Listed backups in all; Marked of them restorepoint's, of Resources
	// resources; Chosen of those the policy removes.
	Listed, Marked, Resources, Chosen int
}

// Refusal is a backup CBR refused to delete.
type Refusal struct {
	Backup        events.BackupDeleted
	Code, Message string
}

// Spared is a backup of restorepoint's the policy keeps for a reason of its
// own: not available, or the newest available of its resource.
type Spared struct {
	BackupID, VaultID, Status, CreatedAt string
	Resource                             events.ResourceRef
	Reason                               string
}

// Pass prunes every vault once. It lists each vault's backups (paged by
// marker, newest first), keeps those of restorepoint's (function.Marked),
// applies the policy per resource, and then deletes what it chose, per
// vault oldest first, at most MaxDeletes. Each deletion is handed to
// deliver (when not nil) as an io.restorepoint.backup.deleted result whose
// id is derived from the backup id, so that a pass retried, or run twice,
// reaches a sink under the same id; a backup CBR answers 404 for is
// reported as already gone, under that same id.
//
// Everything is listed before anything is deleted: a list that fails
// midway ends the pass with nothing deleted. A deletion CBR refuses (a
// locked backup) is reported and skipped. Other failures end the pass
// where they happen: a delete that fails otherwise (forbidden, throttled
// after retries, unavailable), or a deliver that fails (the backup is gone,
// its event was not taken). The report holds what was done until then, and
// the error says why the pass ended. A dry run lists and decides, and
// neither deletes nor delivers.
func (p *Pruner) Pass(ctx context.Context, deliver function.Deliver) (Report, error) {
	now := p.now()
	rep := Report{DryRun: p.cfg.DryRun, Policy: p.cfg.Policy, MaxDeletes: p.cfg.MaxDeletes}
	var chosen []events.BackupDeleted
	for _, vault := range p.cfg.Vaults {
		marked, listed, err := p.list(ctx, vault)
		vr := VaultReport{VaultID: vault, Listed: listed, Marked: len(marked)}
		rep.Vaults = append(rep.Vaults, vr)
		if err != nil {
			rep.Stopped = fmt.Sprintf("listing the backups of vault %s failed after %d backups: nothing was deleted", vault, listed)
			return rep, fmt.Errorf("retention: list the backups of vault %s (failed after %d): nothing deleted: %w", vault, listed, err)
		}
		var mine []events.BackupDeleted
		resources := groupByResource(marked)
		for _, group := range resources {
			for _, d := range p.cfg.Policy.Decide(group, now) {
				switch {
				case d.Delete:
					mine = append(mine, deletion(d.Backup, vault, d.Rule, now))
				case d.Spared != "":
					b := d.Backup
					rep.Spared = append(rep.Spared, Spared{BackupID: b.ID, VaultID: vault, Status: b.Status,
						CreatedAt: b.CreatedAt.String(), Resource: resourceOf(b), Reason: d.Spared})
				}
			}
		}
		sort.SliceStable(mine, func(i, j int) bool { return mine[i].AgeSeconds > mine[j].AgeSeconds })
		rep.Vaults[len(rep.Vaults)-1].Resources, rep.Vaults[len(rep.Vaults)-1].Chosen = len(resources), len(mine)
		chosen = append(chosen, mine...)
	}

	for i, c := range chosen {
		if len(rep.Deleted) >= p.cfg.MaxDeletes {
			rep.Capped, rep.Left = true, len(chosen)-i
			break
		}
		if p.cfg.DryRun {
			rep.Deleted = append(rep.Deleted, c)
			continue
		}
		err := p.api.DeleteBackup(ctx, c.BackupID)
		var apiErr *cbr.APIError
		switch {
		case errors.Is(err, cbr.ErrNotFound):
			c.AlreadyGone = true
		case errors.As(err, &apiErr) && failure.ClassOf(err) == failure.Rejected && apiErr.StatusCode != http.StatusForbidden:
			rep.Refused = append(rep.Refused, Refusal{Backup: c, Code: apiErr.Code, Message: apiErr.Message})
			continue
		case err != nil:
			rep.Stopped = fmt.Sprintf("deleting backup %s failed: the pass ended after %d deletions", c.BackupID, len(rep.Deleted))
			if apiErr != nil && apiErr.StatusCode == http.StatusForbidden {
				err = fmt.Errorf("%w (deleting backups needs the permission cbr:backups:delete)", err)
			}
			return rep, fmt.Errorf("retention: %w", err)
		}
		rep.Deleted = append(rep.Deleted, c)
		if deliver == nil {
			continue
		}
		if err := deliver(ctx, Result(c)); err != nil {
			rep.Stopped = fmt.Sprintf("the event of deleted backup %s could not be delivered: the pass ended after %d deletions", c.BackupID, len(rep.Deleted))
			return rep, fmt.Errorf("retention: result sink: backup %s was deleted but its event was not delivered: %w", c.BackupID, err)
		}
	}
	return rep, nil
}

// Result is the io.restorepoint.backup.deleted result of deletion d: its id
// is derived from the backup id and the type, subject the vault.
func Result(d events.BackupDeleted) events.Result {
	return events.Result{
		Type:    events.TypeBackupDeleted,
		ID:      function.ResultID(d.BackupID, events.TypeBackupDeleted),
		Subject: d.VaultID,
		Deleted: &d,
	}
}

// list returns the backups of vault that restorepoint made and how many
// backups were listed, paging by marker (the last backup of a page, which
// the next page's query lists too: nothing is deleted while listing).
func (p *Pruner) list(ctx context.Context, vault string) (marked []cbr.Backup, listed int, err error) {
	seen := make(map[string]bool)
	marker := ""
	for range maxPages {
		page, err := p.api.ListBackups(ctx, cbr.BackupQuery{VaultID: vault, Limit: p.pageSize, Marker: marker, Sort: "created_at:desc"})
		if err != nil {
			return marked, listed, err
		}
		listed += len(page.Backups)
		for _, b := range page.Backups {
			if seen[b.ID] || (b.VaultID != "" && b.VaultID != vault) || !function.Marked(b.Description) {
				continue
			}
			seen[b.ID] = true
			marked = append(marked, b)
		}
		if len(page.Backups) < p.pageSize {
			return marked, listed, nil
		}
		last := page.Backups[len(page.Backups)-1].ID
		if last == "" || last == marker {
			return marked, listed, fmt.Errorf("the list does not advance past backup %q", last)
		}
		marker = last
	}
	return marked, listed, fmt.Errorf("more than %d pages", maxPages)
}

// groupByResource groups backups by resource, in the order resources first
// appear.
func groupByResource(backups []cbr.Backup) [][]cbr.Backup {
	index := make(map[string]int)
	var groups [][]cbr.Backup
	for _, b := range backups {
		i, ok := index[b.ResourceID]
		if !ok {
			i = len(groups)
			index[b.ResourceID] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], b)
	}
	return groups
}

// deletion describes backup b of vault, chosen by rule at now.
func deletion(b cbr.Backup, vault, rule string, now time.Time) events.BackupDeleted {
	return events.BackupDeleted{
		BackupID:     b.ID,
		Resource:     resourceOf(b),
		CheckpointID: b.CheckpointID,
		VaultID:      cmp.Or(b.VaultID, vault),
		CreatedAt:    b.CreatedAt.String(),
		AgeSeconds:   int64(now.Sub(b.CreatedAt.Time) / time.Second),
		Rule:         rule,
	}
}

func resourceOf(b cbr.Backup) events.ResourceRef {
	return events.ResourceRef{ID: b.ResourceID, Type: b.ResourceType, Name: b.ResourceName}
}

// Summary describes the pass in a few lines: per vault what was listed and
// chosen, then what was deleted, refused and spared, and whether the cap or
// a failure stopped it.
func (r Report) Summary() string {
	var b strings.Builder
	for _, v := range r.Vaults {
		fmt.Fprintf(&b, "vault %s: %d backups listed, %d of them restorepoint's across %d resource(s); %s chose %d\n",
			v.VaultID, v.Listed, v.Marked, v.Resources, r.Policy, v.Chosen)
	}
	gone := 0
	for _, d := range r.Deleted {
		if d.AlreadyGone {
			gone++
		}
	}
	verb := "total: deleted"
	if r.DryRun {
		verb = "total (dry run): would delete"
	}
	fmt.Fprintf(&b, "%s %d", verb, len(r.Deleted))
	if gone > 0 {
		fmt.Fprintf(&b, " (%d already gone)", gone)
	}
	fmt.Fprintf(&b, ", refused %d, spared %d\n", len(r.Refused), len(r.Spared))
	if r.Capped {
		fmt.Fprintf(&b, "capped: the pass stopped at %d deletions (RETENTION_MAX_DELETES); %d more chosen backups are left for the next pass\n",
			r.MaxDeletes, r.Left)
	}
	if r.Stopped != "" {
		fmt.Fprintf(&b, "stopped: %s\n", r.Stopped)
	}
	return b.String()
}
