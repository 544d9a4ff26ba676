package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/restorepoint/restorepoint/events"
	"github.com/restorepoint/restorepoint/function"
	"github.com/restorepoint/restorepoint/retention"
)

// ErrNoRetention is wrapped by the error of App.Pruner when RETENTION is
// not set: there is nothing to prune by.
var ErrNoRetention = errors.New("RETENTION: not set: pruning needs a policy, e.g. RETENTION=keep_last=7,max_age=30d")

// PruneOptions say what one pruner covers.
type PruneOptions struct {
	// Vaults, when not empty, are the vaults pruned instead of those the
	// configuration names (function.Config.Vaults).
	Vaults []string
	// DryRun decides and reports without deleting anything.
	DryRun bool
}

// Pruner returns a retention pruner wired to the app's CBR client, with the
// policy RETENTION and at most RETENTION_MAX_DELETES deletions a pass, over
// opts.Vaults or the configured vaults. Its passes take DeliverResult as
// their deliver, so that each deletion reaches the result sink. Without
// RETENTION the error wraps ErrNoRetention; it, no vault at all, and a
// vault that is no UUID or not in CBR_ALLOWED_VAULTS are a UsageError.
func (a *App) Pruner(opts PruneOptions) (*retention.Pruner, error) {
	if a.cfg.Retention == "" {
		return nil, UsageError{Err: ErrNoRetention}
	}
	policy, err := retention.ParsePolicy(a.cfg.Retention)
	if err != nil { // Load has refused it already
		return nil, UsageError{Err: fmt.Errorf("RETENTION: %w", err)}
	}
	vaults := opts.Vaults
	if len(vaults) == 0 {
		vaults = a.cfg.FunctionConfig().Vaults()
	}
	if len(vaults) == 0 {
		return nil, UsageError{Err: errors.New("no vault to prune: set CBR_DEFAULT_VAULT_ID, CBR_VAULT_ROUTES or CBR_ALLOWED_VAULTS, or name one with --vault")}
	}
	allowed := a.cfg.FunctionConfig().AllowedVaults
	for _, v := range opts.Vaults {
		switch {
		case !uuidish(v):
			return nil, UsageError{Err: fmt.Errorf("--vault %q: letters, digits and - only, at most 64 characters", v)}
		case len(allowed) > 0 && !slices.Contains(allowed, v):
			return nil, UsageError{Err: fmt.Errorf("--vault %s: not in CBR_ALLOWED_VAULTS", v)}
		}
	}
	return retention.New(retention.Config{
		Policy:     policy,
		Vaults:     vaults,
		MaxDeletes: a.cfg.RetentionMaxDeletes,
		DryRun:     opts.DryRun,
	}, a.client)
}

// DeliverResult is the function.Deliver of results made outside a trigger
// (a prune pass's deletions): r rendered as a result event from
// RESULT_SOURCE, under its own id, and sent to the result sink, if any.
func (a *App) DeliverResult(ctx context.Context, r events.Result) error {
	if a.core.Sink == nil {
		return nil
	}
	e, err := r.Event(a.cfg.ResultSource, r.ID, time.Now())
	if err != nil {
		return err
	}
	sendCtx, cancel := function.Finishing(ctx)
	defer cancel()
	return a.core.Sink.Send(sendCtx, e)
}
